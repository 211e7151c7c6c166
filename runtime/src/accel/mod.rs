//! The host side of the FPGA accelerator IP's contract (`docs/accel-ip.md`), as data: the control registers
//! and the top function's arguments ([`regs`]), the status codes ([`Status`]), the model descriptor, the
//! gate and head tables and the working memory ([`desc`]), and, with `alloc`, the C headers of
//! `hls/include/` generated from them ([`header`]).
//!
//! No allocation, no I/O: the driver that writes these registers over a bus is another module.

pub mod desc;
#[cfg(feature = "alloc")]
pub mod header;
pub mod regs;
mod status;

pub use desc::{gate_table, head_table, model_descriptor, work_words};
pub use status::Status;
