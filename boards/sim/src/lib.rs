//! `m3rt-sim`: a host simulator of the M3RT accelerator IP (and of Edge-MoE's published design) on the
//! m3vit models. A design point (TOML, [`design`]) gives the parameters; [`cycles`] and [`model`] turn a
//! model and the input's actual MoE routing ([`routes`]) into cycles, [`energy`] into joules,
//! [`resources`] estimates what the point needs of its FPGA. Every figure it produces is SIMULATED.
//!
//! ```text
//! profile(&Design::zcu104(), bundle_bytes, task, input) -> Report   (per layer, encoder, head, end to end)
//! profile_with(&design, bundle_bytes, task, input, Schedule::TokenOrder { cache_experts: 4 }) -> Report
//! compare(&design, bundle_bytes, task, input, cache_experts) -> Comparison   (reordered vs token order)
//! ```

pub mod board;
pub mod compare;
pub mod cycles;
pub mod design;
pub mod energy;
pub mod experts;
pub mod model;
pub mod report;
pub mod resources;
pub mod routes;
pub mod schedule;
pub mod sweep;

pub use compare::Comparison;
pub use design::{Design, DesignError};
pub use report::Report;
pub use schedule::Schedule;

use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt::model::Hyper;
use routes::Routing;

/// Simulates task `task` of the quantized bundle `bundle` (its bytes) on `input` (`[3, H, W]` f32) on design
/// point `design`: the fixed-point engine routes the input, the models cost it. Refuses a design that does
/// not fit its device. The MoE layers run reordered, expert by expert ([`profile_with`] for the others).
pub fn profile(design: &Design, bundle: &[u8], task: u32, input: &[f32]) -> anyhow::Result<Report> {
    profile_with(design, bundle, task, input, Schedule::Reordered)
}

/// [`profile`] with the MoE layers in the order `schedule` says; refuses a token-order cache smaller than
/// the model's `top_k`.
pub fn profile_with(
    design: &Design,
    bundle: &[u8],
    task: u32,
    input: &[f32],
    schedule: Schedule,
) -> anyhow::Result<Report> {
    let (b, channels, routing) = route(design, bundle, task, input)?;
    report::simulate_routing(design, &b, channels, &routing, schedule)
}

/// Both schedules on the same input's routing: reordered against token order with an LRU cache of
/// `cache_experts` experts (at least `top_k`), the encoder's figures and their ratios.
pub fn compare(
    design: &Design,
    bundle: &[u8],
    task: u32,
    input: &[f32],
    cache_experts: u32,
) -> anyhow::Result<Comparison> {
    let (h, channels, routing) = route(design, bundle, task, input)?;
    compare::compare_routing(design, &h, task, channels, &routing, cache_experts)
}

fn route(design: &Design, bundle: &[u8], task: u32, input: &[f32]) -> anyhow::Result<(Hyper, u32, Routing)> {
    resources::check(design)?;
    let aligned = AlignedBytes::from_slice(bundle);
    let b = Bundle::parse(&aligned).map_err(|e| anyhow::anyhow!("bundle: {e}"))?;
    let channels = b.task(task).map_err(|e| anyhow::anyhow!("task {task}: {e}"))?.out_channels;
    let routing = routes::routing(&b, task, input)?;
    Ok((*b.hyper(), channels, routing))
}
