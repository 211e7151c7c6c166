//! The two schedules side by side on one input (issue 11, part 6): the encoder's latency, DRAM traffic
//! (weights and activations), on-chip weight memory, expert loads and energy, reordered against token
//! order with an expert cache, and their ratios. The head runs the same kernels under both schedules and
//! is left out of the figures (it is in each [`Report`]). Every figure is SIMULATED.

use std::fmt;

use m3rt::model::Hyper;

use crate::design::Design;
use crate::report::{simulate_routing, Report};
use crate::routes::Routing;
use crate::schedule::Schedule;

/// One schedule's encoder figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// The schedule.
    pub schedule: Schedule,
    /// Encoder cycles.
    pub cycles: u64,
    /// Encoder latency, seconds.
    pub seconds: f64,
    /// Weight (and bias) bytes read from DDR.
    pub ddr_weight_bytes: u64,
    /// Activation bytes read from and written to DDR.
    pub ddr_activation_bytes: u64,
    /// On-chip weight memory the schedule needs, bytes.
    pub onchip_weight_bytes: u64,
    /// Expert weight loads from DDR.
    pub expert_loads: u64,
    /// Encoder energy (dynamic and static), joules.
    pub energy_j: f64,
}

impl Figures {
    /// The encoder figures of a report.
    pub fn of(r: &Report) -> Self {
        let c = &r.encoder.cost;
        Figures {
            schedule: r.schedule,
            cycles: c.cycles,
            seconds: r.encoder.seconds,
            ddr_weight_bytes: c.ddr_weight_read,
            ddr_activation_bytes: c.ddr_read - c.ddr_weight_read + c.ddr_write,
            onchip_weight_bytes: r.onchip_weight_bytes,
            expert_loads: r.expert_loads,
            energy_j: r.encoder.energy.total_j(),
        }
    }

    /// All DRAM traffic, bytes.
    pub fn ddr_bytes(&self) -> u64 {
        self.ddr_weight_bytes + self.ddr_activation_bytes
    }
}

/// Reordered against token order on one input.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The design point's name.
    pub design: String,
    /// The task simulated.
    pub task: u32,
    /// Expert by expert.
    pub reordered: Figures,
    /// Token by token with the cache.
    pub token_order: Figures,
    /// The two full reports (reordered, token order).
    pub reports: [Report; 2],
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

impl Comparison {
    /// Token-order latency / reordered latency.
    pub fn latency_ratio(&self) -> f64 {
        ratio(self.token_order.seconds, self.reordered.seconds)
    }

    /// Token-order DRAM bytes / reordered DRAM bytes (weights and activations).
    pub fn ddr_ratio(&self) -> f64 {
        ratio(self.token_order.ddr_bytes() as f64, self.reordered.ddr_bytes() as f64)
    }

    /// Token-order DRAM weight bytes / reordered.
    pub fn ddr_weight_ratio(&self) -> f64 {
        ratio(self.token_order.ddr_weight_bytes as f64, self.reordered.ddr_weight_bytes as f64)
    }

    /// Token-order on-chip weight memory / reordered (M³ViT's "on-chip memory" reduction).
    pub fn onchip_ratio(&self) -> f64 {
        ratio(self.token_order.onchip_weight_bytes as f64, self.reordered.onchip_weight_bytes as f64)
    }

    /// Token-order energy / reordered energy, per image: the reordering's energy-efficiency gain.
    pub fn energy_ratio(&self) -> f64 {
        ratio(self.token_order.energy_j, self.reordered.energy_j)
    }
}

/// Compares the schedules for the routes `routing` of a model of hyperparameters `h` and a task of
/// `channels` output channels (`task` only labels the result).
pub fn compare_routing(
    d: &Design,
    h: &Hyper,
    task: u32,
    channels: u32,
    routing: &Routing,
    cache_experts: u32,
) -> anyhow::Result<Comparison> {
    let r = simulate_routing(d, h, channels, routing, Schedule::Reordered)?;
    let t = simulate_routing(d, h, channels, routing, Schedule::TokenOrder { cache_experts })?;
    Ok(Comparison {
        design: d.name.clone(),
        task,
        reordered: Figures::of(&r),
        token_order: Figures::of(&t),
        reports: [r, t],
    })
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (r, t) = (&self.reordered, &self.token_order);
        writeln!(
            f,
            "SIMULATED schedule comparison on {}, task {}, encoder (a model, not a measurement)",
            self.design, self.task
        )?;
        writeln!(f, "  token order: {}, one token per row tile", t.schedule)?;
        writeln!(f, "{:<22} {:>12} {:>12} {:>14}", "", "reordered", "token order", "token/reord.")?;
        let kib = |b: u64| b as f64 / 1024.0;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, a: f64, b: f64, digits: usize| {
            writeln!(f, "{name:<22} {a:>12.digits$} {b:>12.digits$} {:>13.2}x", ratio(b, a))
        };
        row(f, "latency ms", r.seconds * 1e3, t.seconds * 1e3, 3)?;
        row(f, "DRAM weights KiB", kib(r.ddr_weight_bytes), kib(t.ddr_weight_bytes), 1)?;
        row(f, "DRAM activations KiB", kib(r.ddr_activation_bytes), kib(t.ddr_activation_bytes), 1)?;
        row(f, "DRAM total KiB", kib(r.ddr_bytes()), kib(t.ddr_bytes()), 1)?;
        row(f, "on-chip weights KiB", kib(r.onchip_weight_bytes), kib(t.onchip_weight_bytes), 1)?;
        row(f, "expert loads", r.expert_loads as f64, t.expert_loads as f64, 0)?;
        row(f, "energy mJ", r.energy_j * 1e3, t.energy_j * 1e3, 3)?;
        writeln!(
            f,
            "reordering: {:.2}x less on-chip weight memory, {:.2}x the energy efficiency  [simulated]",
            self.onchip_ratio(),
            self.energy_ratio()
        )
    }
}
