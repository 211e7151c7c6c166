//! The report of one simulated image: per layer latency and energy, totals of the encoder, the head and
//! end to end. Every figure is SIMULATED by the models of this crate.

use std::fmt;

use m3rt::model::Hyper;

use crate::cycles::Cost;
use crate::design::Design;
use crate::energy::{self, Energy, TABLE};
use crate::experts::{expert_rows, ExpertRow};
use crate::model::{self, Op, Part, TooLarge};
use crate::routes::Routing;
use crate::schedule::{self, lru_misses, Schedule};

/// One layer's simulated figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Its name (`embed`, `b0`..., `head.conv0`, ...).
    pub name: String,
    /// Encoder or head.
    pub part: Part,
    /// Cycles, MACs, traffic.
    pub cost: Cost,
    /// Energy.
    pub energy: Energy,
}

/// Totals of a part.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Total {
    /// Cycles, MACs, traffic.
    pub cost: Cost,
    /// Seconds at the design's clock.
    pub seconds: f64,
    /// Energy.
    pub energy: Energy,
}

/// A simulated profile of one image on one design point.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The design point's name.
    pub design: String,
    /// The design's clock, MHz.
    pub clock_mhz: f64,
    /// The layers in order.
    pub layers: Vec<Layer>,
    /// The encoder (patch embedding and blocks).
    pub encoder: Total,
    /// The head, or why the design cannot run it.
    pub head: Result<Total, TooLarge>,
    /// The order the MoE layers ran in.
    pub schedule: Schedule,
    /// On-chip weight memory the schedule needs, bytes ([`schedule::onchip_weight_bytes`]).
    pub onchip_weight_bytes: u64,
    /// Expert weight loads from DDR over the encoder's MoE layers: the non-empty queues (reordered) or the
    /// cache misses (token order).
    pub expert_loads: u64,
    /// Every expert that ran, per MoE layer: tokens, cost, energy.
    pub experts: Vec<ExpertRow>,
}

impl Report {
    /// Encoder and head together (the encoder alone when the head cannot run).
    pub fn end_to_end(&self) -> Total {
        let mut t = self.encoder;
        if let Ok(h) = &self.head {
            t.cost += h.cost;
            t.seconds += h.seconds;
            t.energy.dynamic_j += h.energy.dynamic_j;
            t.energy.static_j += h.energy.static_j;
        }
        t
    }
}

fn layers(d: &Design, ops: &[Op], costs: &[Cost]) -> Vec<Layer> {
    let mut out: Vec<Layer> = Vec::new();
    for (op, &cost) in ops.iter().zip(costs) {
        match out.last_mut() {
            Some(l) if l.name == op.layer => l.cost += cost,
            _ => out.push(Layer { name: op.layer.clone(), part: op.part, cost, energy: Energy::default() }),
        }
    }
    for l in &mut out {
        l.energy = energy::energy(d, &l.cost, &TABLE);
    }
    out
}

fn total(d: &Design, layers: &[Layer]) -> Total {
    let cost = layers.iter().fold(Cost::default(), |a, l| a + l.cost);
    Total { cost, seconds: d.seconds(cost.cycles), energy: energy::energy(d, &cost, &TABLE) }
}

/// The report for a model of hyperparameters `h`, a task of `channels` output channels and the MoE queue
/// lengths `queues` (from [`crate::routes::queues`], or given), reordered schedule.
pub fn simulate(d: &Design, h: &Hyper, channels: u32, queues: &[Vec<u32>]) -> Result<Report, TooLarge> {
    let loads = queues.iter().flatten().filter(|&&n| n > 0).count() as u64;
    finish(d, h, channels, model::encoder(d, h, queues)?, Schedule::Reordered, loads)
}

/// The report under `schedule` for the MoE routes `routing` (from [`crate::routes::routing`], or given).
/// Refuses a token-order cache smaller than `top_k` ([`schedule::CacheTooSmall`]) and a kernel too wide for
/// the design ([`TooLarge`]).
pub fn simulate_routing(
    d: &Design,
    h: &Hyper,
    channels: u32,
    routing: &Routing,
    schedule: Schedule,
) -> anyhow::Result<Report> {
    schedule.check(h.top_k)?;
    let loads = match schedule {
        Schedule::Reordered => routing.queues().iter().flatten().filter(|&&n| n > 0).count() as u64,
        Schedule::TokenOrder { cache_experts } => routing.layers.iter().map(|r| lru_misses(r, cache_experts)).sum(),
    };
    let ops = model::encoder_scheduled(d, h, routing, schedule)?;
    Ok(finish(d, h, channels, ops, schedule, loads)?)
}

fn finish(
    d: &Design,
    h: &Hyper,
    channels: u32,
    encoder_ops: Vec<Op>,
    schedule: Schedule,
    expert_loads: u64,
) -> Result<Report, TooLarge> {
    let costs = model::schedule(d, &encoder_ops);
    let enc = layers(d, &encoder_ops, &costs);
    let experts = expert_rows(d, &encoder_ops, &costs);
    let encoder = total(d, &enc);
    let mut all = enc;
    let head = model::head(d, h, channels).map(|ops| {
        // The head's first weights load while the encoder's last linear computes on a real run; scheduled
        // on its own here, its first load is exposed (a small, conservative difference).
        let hl = layers(d, &ops, &model::schedule(d, &ops));
        let t = total(d, &hl);
        all.extend(hl);
        t
    });
    let onchip_weight_bytes = schedule::onchip_weight_bytes(d, h, schedule);
    Ok(Report {
        design: d.name.clone(),
        clock_mhz: d.clock_mhz,
        layers: all,
        encoder,
        head,
        schedule,
        onchip_weight_bytes,
        expert_loads,
        experts,
    })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "SIMULATED profile on {} at {} MHz (a model, not a measurement)", self.design, self.clock_mhz)?;
        writeln!(f, "{:<12} {:>10} {:>9} {:>9} {:>11} {:>10}", "layer", "cycles", "ms", "mJ", "MMAC", "DDR KiB")?;
        for l in &self.layers {
            let ms = l.cost.cycles as f64 / (self.clock_mhz * 1e3);
            let mmac = (l.cost.linear_macs + l.cost.attention_macs) as f64 / 1e6;
            let kib = (l.cost.ddr_read + l.cost.ddr_write) as f64 / 1024.0;
            let mj = l.energy.total_j() * 1e3;
            writeln!(f, "{:<12} {:>10} {:>9.3} {:>9.3} {:>11.2} {:>10.1}", l.name, l.cost.cycles, ms, mj, mmac, kib)?;
        }
        let line = |f: &mut fmt::Formatter<'_>, name: &str, t: &Total| {
            let (ms, j) = (t.seconds * 1e3, t.energy.total_j());
            let w = if t.seconds > 0.0 { j / t.seconds } else { 0.0 };
            let gmac = (t.cost.linear_macs + t.cost.attention_macs) as f64 / 1e9;
            let s = t.energy.static_j;
            writeln!(f, "{name:<12} {ms:>9.3} ms {j:>8.4} J ({s:.4} J static, {w:.2} W)  {gmac:.3} GMAC  [simulated]")
        };
        line(f, "encoder", &self.encoder)?;
        match &self.head {
            Ok(h) => line(f, "head", h)?,
            Err(e) => writeln!(f, "{:<12} not simulated: {e}", "head")?,
        }
        line(f, "end to end", &self.end_to_end())?;
        let kib = self.onchip_weight_bytes as f64 / 1024.0;
        writeln!(
            f,
            "schedule: {}, {kib:.0} KiB of on-chip weight memory, {} expert loads  [simulated]",
            self.schedule, self.expert_loads
        )?;
        crate::experts::write_grid(f, &self.experts, self.clock_mhz)
    }
}
