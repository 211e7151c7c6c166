//! Fixed-point arithmetic and the fixed-point engine: the golden model of the FPGA accelerator IP in
//! `hls/`, bit for bit (`docs/fixed-point.md` says what every kernel computes).
//!
//! - [`ap`]: values with the exact semantics of Vitis HLS `ap_fixed` / `ap_ufixed` (AP_TRN, AP_WRAP), the
//!   reference the kernels' integer code is tested against.
//! - [`consts`]: the constants derived from the hyperparameters (`MEAN_c`, `INVSTD_c`, `EPS`, `ATT_SCALE`),
//!   shared with the IP's model descriptor ([`crate::accel::desc`]).
//! - [`profile`], [`quant`]: the formats of a quantized bundle and how f32 weights become them.
//! - One file per kernel family, named as the IP's headers in `hls/include/m3rt/`: [`linear`],
//!   [`layernorm`], [`attention`], [`softmax`], [`gelu`], [`patch_embed`], [`moe`], [`head`], [`resize`].
//! - [`FixedEngine`]: the model on the IP's dataflow, every kernel's output available to a [`trace::Trace`].

pub mod ap;
pub mod attention;
pub mod consts;
pub mod encoder;
pub mod engine;
pub mod gelu;
pub mod head;
pub mod int;
pub mod layernorm;
pub mod layout;
pub mod linear;
pub mod moe;
pub mod patch_embed;
pub mod profile;
pub mod quant;
pub mod resize;
pub mod softmax;
pub mod tables;
pub mod trace;
pub mod weights;

pub use ap::{Format, Fx};
pub use consts::{Consts, NUMERICS_VERSION};
pub use engine::FixedEngine;
pub use profile::{Profile, ValueClass, WeightMode};
