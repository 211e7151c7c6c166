//! Fixed-point arithmetic and the fixed-point engine: the golden model of the FPGA accelerator IP in
//! `hls/`, bit for bit (see `docs/fixed-point.md`).
//!
//! - [`ap`]: values with the exact semantics of Vitis HLS `ap_fixed` / `ap_ufixed` (AP_TRN, AP_WRAP).
//! - [`consts`]: the constants derived from the hyperparameters (`MEAN_c`, `INVSTD_c`, `EPS`, `ATT_SCALE`).

pub mod ap;

pub use ap::{Format, Fx};
pub mod consts;
pub mod int;
pub mod profile;
pub mod quant;
pub mod tables;

pub use consts::{Consts, NUMERICS_VERSION};
pub use profile::{Profile, ValueClass, WeightMode};
