//! One suite of problems run on every backend, as tract's `test-rt` and burn's `backend-tests` do: each
//! problem (a model, its inputs and an independent reference: onnxruntime's golden outputs, tract, the
//! exporter's NumPy routing, hand-worked cases) is written once in `suite/`, generic over an
//! [`suite::UnderTest`] description, and [`backend_suite!`] instantiates every problem for one backend
//! (`cargo test --test backends cpu::`). One test binary for all of it, to keep CI's link time down.
//!
//! Adding a backend: a description like [`Cpu`] below (its backend type, name, tolerance against the f32
//! references, the bundle precisions it loads) and one line, `suite::backend_suite!(fixed, Fixed);`.

#[path = "../common/mod.rs"]
mod common;
mod suite;

use m3rt::backend::CpuBackend;
use m3rt_cli::convert::Precision;

/// The f32 CPU engine, held to today's bounds: 1e-4 against onnxruntime and tract.
struct Cpu;

impl suite::UnderTest for Cpu {
    type Backend<'s> = CpuBackend<'s>;
    const NAME: &'static str = "cpu";
    const TOLERANCE: f32 = 1e-4;
    const PRECISIONS: &'static [Precision] = &[Precision::F32, Precision::F16];

    fn backend(scratch: &mut [f32]) -> CpuBackend<'_> {
        CpuBackend::new(scratch)
    }
}

suite::backend_suite!(cpu, Cpu);
