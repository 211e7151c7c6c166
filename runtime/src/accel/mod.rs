//! The host side of the FPGA accelerator IP's contract (`docs/accel-ip.md`), as data: the control registers
//! and the top function's arguments ([`regs`]), the status codes ([`Status`]), the model descriptor, the
//! gate and head tables and the working memory ([`desc`]), and, with `alloc`, the C headers of
//! `hls/include/` generated from them ([`header`]).
//!
//! The bridge that drives the IP from the runtime (`docs/accel-bridge.md`): what it needs from a platform
//! ([`bus`]: registers, DMA memory, a clock), where it places the buffers ([`place`]), the register sequences
//! ([`driver`]), the IP's control slave in software for the buses that stand for the IP ([`regfile`]), and
//! the bare-metal buses over the real IP's register page and physical memory ([`mmio`]), and the check that
//! a register page is the IP's ([`probe`]).
//! The backend over them is [`crate::backend::AccelBackend`]. No allocation.

pub mod bus;
pub mod desc;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
pub mod driver;
#[cfg(feature = "alloc")]
pub mod header;
pub mod mmio;
pub mod place;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
pub mod probe;
pub mod regfile;
pub mod regs;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
mod status;

pub use desc::{gate_table, head_table, model_descriptor, work_words};
pub use status::Status;
