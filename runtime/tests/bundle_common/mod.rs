//! The bundle tests' view of `m3rt::bundle::testing` (the one builder of hand-made bundles), with the
//! results unwrapped, and byte surgery helpers.
#![allow(dead_code, unused_imports)]

use m3rt::bundle::testing;
pub use m3rt::bundle::testing::{rough_values, simple_values, small_hyper, tiny_hyper, SMALL_TASKS, TINY_TASKS};
use m3rt::bundle::{AlignedBytes, Dtype};
use m3rt::model::{Hyper, PostProcess};

/// Writes a bundle of `h` with `tasks`, every tensor `values(i, numel)` as `dtype`
/// ([`testing::build`], which must succeed).
pub fn build(
    h: &Hyper,
    tasks: &[(&'static str, u32, PostProcess)],
    dtype: Dtype,
    values: fn(u32, usize) -> Vec<f32>,
) -> Vec<u8> {
    testing::build(h, tasks, dtype, values).expect("test bundle")
}

/// The tiny model's bundle (simple values, f32).
pub fn tiny_bundle() -> Vec<u8> {
    testing::tiny_bundle().expect("tiny bundle")
}

/// Recomputes the three CRCs after the bytes were patched; `false` (and nothing changed) when the
/// preamble does not decode or its sections are not all in `bytes`.
pub fn try_recrc(bytes: &mut [u8]) -> bool {
    testing::try_recrc(bytes)
}

/// [`try_recrc`] that must succeed.
pub fn recrc(bytes: &mut [u8]) {
    assert!(try_recrc(bytes), "preamble no longer decodes");
}

/// A 64-byte aligned copy.
pub fn aligned(bytes: &[u8]) -> AlignedBytes {
    AlignedBytes::from_slice(bytes)
}
