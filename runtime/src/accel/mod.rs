//! The host side of the FPGA accelerator IP's contract (`docs/accel-ip.md`), as data: the control registers
//! and the top function's arguments ([`regs`]), the status codes ([`Status`]), and the model descriptor, the
//! gate and head tables and the working memory ([`desc`]).
//!
//! No allocation, no I/O: the driver that writes these registers over a bus is another module.

pub mod desc;
pub mod regs;
mod status;

pub use desc::{gate_table, head_table, model_descriptor, work_words};
pub use status::Status;
