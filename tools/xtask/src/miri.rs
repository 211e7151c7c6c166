//! `cargo xtask miri`: the runtime core's `unsafe` code under Miri (nightly), so undefined behaviour in it
//! (an out-of-bounds pointer, a misaligned or uninitialised read, aliasing violations) fails CI.
//!
//! The `unsafe` blocks of `m3rt` (`grep -rn unsafe runtime/src`): the MMIO register bus and DMA window
//! (`accel::mmio`, volatile accesses and copies through raw addresses; its cache-maintenance `asm!` is
//! aarch64 only), and the AVX2 + FMA kernels (`kernels::gemm::avx2` with its packed panels,
//! `kernels::winograd`, `kernels::activation`). The kernels' tests run with `-C target-feature=+avx2,+fma`,
//! so Miri (which has no CPUID) takes the AVX2 paths; only the small cases run (Miri is about a thousand
//! times slower than native code). Installs the `miri` and `rust-src` components if missing.

use std::process::Command;

use anyhow::Result;

use crate::{fuzz, steps};

/// The `m3rt` unit tests that run `unsafe` code, small enough for Miri.
pub const TESTS: [&str; 9] = [
    "accel::mmio::tests::",
    "kernels::gemm::tests::two_by_two_by_hand",
    "kernels::gemm::tests::transposed_views_match_reference",
    "kernels::gemm::tests::fetching_ahead_changes_nothing",
    "kernels::gemm::packed::tests::small_packed_products_match_the_reference",
    "kernels::gemm::packed::tests::short_packed_matrices_are_errors",
    "kernels::activation::tests::values_by_hand",
    "kernels::winograd::tests::small_map_matches_the_direct_convolution",
    "kernels::winograd::tests::wrong_lengths_are_errors",
];

/// Runs [`TESTS`] under Miri.
pub fn run() -> Result<()> {
    steps::run(Command::new("rustup").args(["+nightly", "component", "add", "miri", "rust-src"]))?;
    let mut cmd = fuzz::nightly_cargo();
    cmd.args(["miri", "test", "-p", "m3rt", "--lib", "--"]).args(TESTS).arg("--test-threads=1");
    // The MMIO bus and DMA window take their base as an integer address (what a board's memory map gives):
    // permissive provenance lets Miri follow those casts instead of warning on each.
    cmd.env("RUSTFLAGS", "-C target-feature=+avx2,+fma").env("MIRIFLAGS", "-Zmiri-permissive-provenance");
    steps::run(&mut cmd)
}
