//! Which build of the fast kernels runs: the portable one (every target, `no_std`), or on x86-64 with
//! `std` the AVX2 + FMA one or the AVX-512 one when the CPU has them. [`set_portable`] forces the portable
//! build, so a host reproduces a board's outputs bit for bit (the portable kernels never fuse a multiply
//! and an add, on any target).
//!
//! The highest build allowed can be capped for comparisons: [`set_isa`] at run time, or the environment
//! variable `M3RT_ISA` (`portable`, `avx2` or `avx512`; read once, at the first detection). A cap above
//! what the CPU has changes nothing. Kernels without an AVX-512 build run their AVX2 one under `avx512`.
//! Reading the variable allocates once; [`crate::engine::Engine::new`] detects (calls [`isa`]) so that no
//! run is the first to.

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

static FORCE_PORTABLE: AtomicBool = AtomicBool::new(false);

/// A build of the fast kernels, in increasing order of the instructions it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// The portable build (every target).
    Portable,
    /// AVX2 + FMA (x86-64 with `std`).
    Avx2,
    /// AVX-512F (x86-64 with `std`).
    Avx512,
}

impl Isa {
    /// Parses `portable`, `avx2` or `avx512` (the values of `M3RT_ISA`).
    pub fn parse(s: &str) -> Option<Isa> {
        match s.trim() {
            "portable" => Some(Isa::Portable),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }
}

/// No cap set by [`set_isa`]: `M3RT_ISA` (or nothing) decides.
const UNSET: u8 = u8::MAX;
static CAP: AtomicU8 = AtomicU8::new(UNSET);

/// Forces (`true`) or releases (`false`) the portable kernels for the whole process.
pub fn set_portable(on: bool) {
    FORCE_PORTABLE.store(on, Ordering::Relaxed);
}

/// True when the portable kernels are forced.
pub fn portable_forced() -> bool {
    FORCE_PORTABLE.load(Ordering::Relaxed)
}

/// Caps the builds allowed for the whole process at `isa` (`None`: back to `M3RT_ISA`, or no cap).
pub fn set_isa(isa: Option<Isa>) {
    CAP.store(isa.map_or(UNSET, |i| i as u8), Ordering::Relaxed);
}

/// The highest build allowed: [`set_isa`]'s, else `M3RT_ISA`'s, else AVX-512.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn cap() -> u8 {
    use std::sync::OnceLock;
    static ENV: OnceLock<u8> = OnceLock::new();
    match CAP.load(Ordering::Relaxed) {
        UNSET => *ENV.get_or_init(|| {
            let var = std::env::var("M3RT_ISA").ok();
            var.as_deref().and_then(Isa::parse).unwrap_or(Isa::Avx512) as u8
        }),
        c => c,
    }
}

/// True when the AVX2 + FMA kernels may run: x86-64 with `std`, the CPU has both, and neither the portable
/// build is forced nor the cap is below AVX2.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub fn avx2() -> bool {
    use std::sync::OnceLock;
    static DETECTED: OnceLock<bool> = OnceLock::new();
    !portable_forced()
        && cap() >= Isa::Avx2 as u8
        && *DETECTED.get_or_init(|| std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"))
}

/// True when the CPU has AVX-512F (and AVX2 + FMA), whatever is forced: what tests of the AVX-512
/// kernels check before calling them directly.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub fn avx512_detected() -> bool {
    use std::sync::OnceLock;
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
    })
}

/// True when the AVX-512 kernels may run: [`avx2`] holds, the CPU has AVX-512F and the cap allows it.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub fn avx512() -> bool {
    avx2() && cap() >= Isa::Avx512 as u8 && avx512_detected()
}

/// The build the next call will use.
pub fn isa() -> Isa {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        if avx512() {
            return Isa::Avx512;
        }
        if avx2() {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// Name of the kernel build the next call will use, for reports.
pub fn active() -> &'static str {
    match isa() {
        Isa::Avx512 => "avx512f",
        Isa::Avx2 => "avx2+fma",
        Isa::Portable => "portable",
    }
}

#[cfg(all(test, feature = "std", target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(Isa::parse("avx512"), Some(Isa::Avx512));
        assert_eq!(Isa::parse(" avx2\n"), Some(Isa::Avx2));
        assert_eq!(Isa::parse("portable"), Some(Isa::Portable));
        assert_eq!(Isa::parse("sse"), None);
        assert!(Isa::Portable < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
    }
}
