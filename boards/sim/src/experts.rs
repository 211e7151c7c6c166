//! The per-expert table of a report: for every MoE layer and every expert that ran, the tokens it took,
//! the cycles, MACs, DRAM traffic and energy of its kernels (fc1+GELU, fc2, the scatter) as scheduled.
//! SIMULATED, like every figure of this crate.

use std::collections::BTreeMap;

use crate::cycles::Cost;
use crate::design::Design;
use crate::energy::{self, Energy, TABLE};
use crate::model::Op;

/// One expert of one MoE layer.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpertRow {
    /// The layer (`b1`, `b3`, ...).
    pub layer: String,
    /// The expert's index in the layer.
    pub expert: u32,
    /// Tokens routed to it (queue entries: a token counts once per expert it picked).
    pub tokens: u64,
    /// Kernel calls: 1 (reordered, the whole queue at once) or one per token (token order).
    pub calls: u64,
    /// Cycles, MACs and traffic of its kernels as scheduled.
    pub cost: Cost,
    /// Their energy (dynamic and the static share of their cycles).
    pub energy: Energy,
}

/// The experts' rows of `ops`, scheduled at `costs` (one per op, [`crate::model::schedule`]), in layer
/// order then expert order.
pub fn expert_rows(d: &Design, ops: &[Op], costs: &[Cost]) -> Vec<ExpertRow> {
    let mut order: Vec<String> = Vec::new();
    let mut rows: BTreeMap<(usize, u32), ExpertRow> = BTreeMap::new();
    for (op, cost) in ops.iter().zip(costs) {
        let Some(call) = op.expert else { continue };
        let layer = match order.iter().position(|l| *l == op.layer) {
            Some(i) => i,
            None => {
                order.push(op.layer.clone());
                order.len() - 1
            }
        };
        let row = rows.entry((layer, call.expert)).or_insert_with(|| ExpertRow {
            layer: op.layer.clone(),
            expert: call.expert,
            tokens: 0,
            calls: 0,
            cost: Cost::default(),
            energy: Energy::default(),
        });
        if call.tokens > 0 {
            row.tokens += call.tokens;
            row.calls += 1;
        }
        row.cost += *cost;
    }
    let mut out: Vec<ExpertRow> = rows.into_values().collect();
    for r in &mut out {
        r.energy = energy::energy(d, &r.cost, &TABLE);
    }
    out
}

/// Writes the rows as two grids, MoE layers down and experts across: the tokens each expert took, then
/// its microseconds as scheduled at `clock_mhz` (`.` where an expert took no token). Nothing when no
/// MoE layer ran.
pub fn write_grid(f: &mut impl std::fmt::Write, rows: &[ExpertRow], clock_mhz: f64) -> std::fmt::Result {
    let Some(experts) = rows.iter().map(|r| r.expert + 1).max() else { return Ok(()) };
    let mut layers: Vec<&str> = Vec::new();
    for r in rows {
        if !layers.contains(&r.layer.as_str()) {
            layers.push(&r.layer);
        }
    }
    let cell = |layer: &str, e: u32| rows.iter().find(|r| r.layer == layer && r.expert == e);
    let header = |f: &mut dyn std::fmt::Write, what: &str, width: usize| -> std::fmt::Result {
        write!(f, "{what:<12}")?;
        for e in 0..experts {
            write!(f, " {:>width$}", format!("e{e}"))?;
        }
        writeln!(f)
    };
    writeln!(f, "per expert (MoE layers down, experts across)  [simulated]")?;
    header(f, "tokens", 4)?;
    for l in &layers {
        write!(f, "{l:<12}")?;
        for e in 0..experts {
            match cell(l, e) {
                Some(r) => write!(f, " {:>4}", r.tokens)?,
                None => write!(f, " {:>4}", ".")?,
            }
        }
        writeln!(f)?;
    }
    header(f, "µs", 6)?;
    for l in &layers {
        write!(f, "{l:<12}")?;
        for e in 0..experts {
            match cell(l, e) {
                Some(r) => {
                    let us = r.cost.cycles as f64 / clock_mhz;
                    let digits = if us >= 100.0 { 0 } else { 1 };
                    write!(f, " {us:>6.digits$}")?
                }
                None => write!(f, " {:>6}", ".")?,
            }
        }
        writeln!(f)?;
    }
    Ok(())
}
