//! Which build of the fast kernels runs: the portable one (every target, `no_std`), or on x86-64 with
//! `std` the AVX2 + FMA one when the CPU has both. [`set_portable`] forces the portable build, so a host
//! reproduces a board's outputs bit for bit (the portable kernels never fuse a multiply and an add, on any
//! target).

use core::sync::atomic::{AtomicBool, Ordering};

static FORCE_PORTABLE: AtomicBool = AtomicBool::new(false);

/// Forces (`true`) or releases (`false`) the portable kernels for the whole process.
pub fn set_portable(on: bool) {
    FORCE_PORTABLE.store(on, Ordering::Relaxed);
}

/// True when the portable kernels are forced.
pub fn portable_forced() -> bool {
    FORCE_PORTABLE.load(Ordering::Relaxed)
}

/// True when the AVX2 + FMA kernels may run: x86-64 with `std`, the CPU has both, and the portable
/// build is not forced.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub fn avx2() -> bool {
    use std::sync::OnceLock;
    static DETECTED: OnceLock<bool> = OnceLock::new();
    !portable_forced()
        && *DETECTED.get_or_init(|| std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"))
}

/// Name of the kernel build the next call will use, for reports.
pub fn active() -> &'static str {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if avx2() {
        return "avx2+fma";
    }
    "portable"
}
