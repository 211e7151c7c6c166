//! One suite of problems run on every backend, as tract's `test-rt` and burn's `backend-tests` do: each
//! problem (a model, its inputs and an independent reference: onnxruntime's golden outputs, tract, the
//! exporter's NumPy routing, hand-worked cases) is written once in `suite/`, generic over an
//! [`suite::UnderTest`] description, and [`backend_suite!`] instantiates every problem for one backend
//! (`cargo test --test backends cpu::`). One test binary for all of it, to keep CI's link time down.
//!
//! Adding a backend: a description like [`Cpu`] below (its backend type, name, the bundle precisions it
//! loads with its primary one, what each is held to against the f32 references) and one line,
//! `suite::backend_suite!(name, Description);`.

#[path = "../common/mod.rs"]
mod common;
mod suite;

use m3rt::backend::CpuBackend;
use m3rt::bundle::Bundle;
use m3rt_cli::convert::Precision;
use suite::{AgainstPrimary, Bounds};

/// The f32 CPU engine, held to today's bounds: f32 bundles within 1e-4 of onnxruntime and tract; f16 ones
/// half the size, within 1e-2 relative RMS of the f32 run with at least 98% of its classes.
struct Cpu;

impl suite::UnderTest for Cpu {
    type Backend<'s> = CpuBackend<'s>;
    const NAME: &'static str = "cpu";
    const PRIMARY: Precision = Precision::F32;
    const EXTRA: &'static [Precision] = &[Precision::F16];

    fn bounds(_model: &str, precision: Precision) -> Bounds {
        match precision {
            Precision::F16 => Bounds {
                reference: None,
                argmax_agreement: None,
                route_flips: 0.0,
                against_primary: Some(AgainstPrimary { size_ratio: 0.45..0.56, rel_rms: 1e-2, argmax_agreement: 0.98 }),
            },
            _ => Bounds { reference: Some(1e-4), argmax_agreement: None, route_flips: 0.0, against_primary: None },
        }
    }

    fn hand_worked_bound(_: Precision) -> f32 {
        1e-4
    }

    /// The CPU engine routes as the f32 reference does: its reads must match NumPy's routing exactly.
    fn own_routes(_: &Bundle<'_>, _: u32, _: &[f32]) -> Option<Vec<i32>> {
        None
    }

    fn backend(scratch: &mut [f32]) -> CpuBackend<'_> {
        CpuBackend::new(scratch)
    }
}

suite::backend_suite!(cpu, Cpu);
