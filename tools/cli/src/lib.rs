//! The `m3rt` command's library part: ONNX conversion and bundle inspection, shared by the binary and the
//! integration tests.

pub mod board;
pub mod convert;
pub mod inspect;
pub mod qemu;
