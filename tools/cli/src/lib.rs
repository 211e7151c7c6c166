//! The `m3rt` command's library part: ONNX conversion, bundle inspection, the backends the commands run on
//! and the board client, shared by the binary and the integration tests.

pub mod backends;
pub mod board;
pub mod convert;
pub mod golden;
pub mod inspect;
pub mod picture;
pub mod qemu;
pub mod tensor_io;
