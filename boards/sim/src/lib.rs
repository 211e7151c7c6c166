//! `m3rt-sim`: a host simulator of the M3RT accelerator IP (and of Edge-MoE's published design) on the
//! m3vit models. A design point (TOML, [`design`]) gives the parameters; [`cycles`] and [`model`] turn a
//! model and the input's actual MoE routing ([`routes`]) into cycles, [`energy`] into joules,
//! [`resources`] estimates what the point needs of its FPGA. Every figure it produces is SIMULATED.
//!
//! ```text
//! profile(&Design::zcu104(), bundle_bytes, task, input) -> Report   (per layer, encoder, head, end to end)
//! ```

pub mod board;
pub mod cycles;
pub mod design;
pub mod energy;
pub mod model;
pub mod report;
pub mod resources;
pub mod routes;
pub mod sweep;

pub use design::{Design, DesignError};
pub use report::Report;

use m3rt::bundle::{AlignedBytes, Bundle};

/// Simulates task `task` of the quantized bundle `bundle` (its bytes) on `input` (`[3, H, W]` f32) on design
/// point `design`: the fixed-point engine routes the input, the models cost it. Refuses a design that does
/// not fit its device.
pub fn profile(design: &Design, bundle: &[u8], task: u32, input: &[f32]) -> anyhow::Result<Report> {
    resources::check(design)?;
    let aligned = AlignedBytes::from_slice(bundle);
    let b = Bundle::parse(&aligned).map_err(|e| anyhow::anyhow!("bundle: {e}"))?;
    let channels = b.task(task).map_err(|e| anyhow::anyhow!("task {task}: {e}"))?.out_channels;
    let queues = routes::queues(&b, task, input)?;
    Ok(report::simulate(design, b.hyper(), channels, &queues)?)
}
