//! The backends the host commands run on, by name (`m3rt run --backend cpu`): each name maps to a runtime
//! [`Backend`] made over working memory allocated here, sized by the backend itself
//! ([`Backend::scratch_words`]), and the commands see only the loaded [`Inference`].
//!
//! Adding a backend is one entry in the `registry!` list below: its value name (`Fixed`), a doc line (the
//! help text) and either `scratch` and the function that makes it over a `&mut [f32]`
//! (`m3rt::backend::FixedBackend::new`), or `own` and a function that makes its own memory and loads the
//! bundle (the C-simulated accelerator, whose memory is the simulated DDR).

use anyhow::{anyhow, Result};
use m3rt::accel::bus::StdClock;
use m3rt::accel::place::{Placement, WeightPlacement};
use m3rt::backend::{AccelBackend, AccelConfig, Backend, CpuBackend, Fallback, FixedBackend, Inference};
use m3rt::bundle::Bundle;
use m3rt::fixed::WeightMode;
use m3rt_hls::csim_bus::{csim_ip, ip_profile, CsimBus, CsimDma};
use m3rt_sim::board::{SimBus, SimClock};

/// A model loaded on a backend, as the host commands use it.
pub struct Loaded<'a> {
    /// The backend's own name ([`Backend::name`]): what the commands print.
    pub backend: &'static str,
    /// The 4-byte words of working memory allocated for it ([`Backend::scratch_words`]).
    pub scratch_words: usize,
    /// The model, ready to run (task 0 selected).
    pub model: &'a mut dyn Inference,
}

/// Declares [`BackendName`], one variant a backend, and the dispatch from a name to its constructor.
macro_rules! registry {
    ($($(#[doc = $doc:literal])+ $variant:ident => $how:ident $make:expr,)+) => {
        /// The backends `m3rt run` and `m3rt demo` can run on (`--backend`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
        pub enum BackendName {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl BackendName {
            /// Every registered backend, in declaration order.
            pub const ALL: &[BackendName] = &[$(BackendName::$variant),+];

            /// Loads `bundle` on this backend over freshly allocated working memory of the size the backend
            /// asks for, and calls `f` with the loaded model.
            pub fn with_loaded<R>(self, bundle: Bundle<'_>, f: impl FnOnce(Loaded<'_>) -> Result<R>) -> Result<R> {
                match self {
                    $(BackendName::$variant => registry!(@load $how $make, bundle, f),)+
                }
            }
        }
    };
    (@load scratch $make:expr, $bundle:ident, $f:ident) => {
        with_backend($bundle, &mut Vec::new(), $make, $f)
    };
    (@load own $make:expr, $bundle:ident, $f:ident) => {
        $make($bundle, $f)
    };
}

registry! {
    /// The f32 CPU engine (AVX2/FMA kernels where the processor has them, else portable ones).
    Cpu => scratch CpuBackend::new,
    /// The fixed-point engine, bit for bit the accelerator IP's golden model (quantized bundles only).
    Fixed => scratch FixedBackend::new,
    /// The accelerator IP driven through its registers, its HLS C++ C-simulated (quantized bundles only;
    /// seconds per image for m3vit-t).
    Csim => own with_csim,
}

/// The accelerator a C-simulated board serves on (`m3rt serve --backend csim`): the bridge over the
/// C-simulated IP built for `mode` with `dma_bytes` of simulated DDR (pages are touched only as far as a
/// model uses them), falling back on the fixed-point engine over `scratch` (the same bits on the CPU) when
/// the IP refuses a model or faults.
pub type CsimBoardBackend<'s> = Fallback<AccelBackend<CsimBus, CsimDma, StdClock>, FixedBackend<'s>>;

/// Makes a [`CsimBoardBackend`].
pub fn csim_board_backend(mode: WeightMode, dma_bytes: usize, scratch: &mut [f32]) -> CsimBoardBackend<'_> {
    let (bus, dma) = csim_ip(mode, dma_bytes);
    let config = AccelConfig { timeout_us: 600_000_000, ..AccelConfig::new(ip_profile(mode)) };
    Fallback::new(AccelBackend::new(bus, dma, StdClock::default(), config), FixedBackend::new(scratch))
}

/// The accelerator of the host simulator's virtual board (`m3rt serve --board sim`): the bridge over
/// [`m3rt_sim::board`]'s bus (the C-simulated IP for function, the cycle model for time), falling back on the
/// fixed-point engine over `scratch`.
pub type SimBoardBackend<'s> = Fallback<AccelBackend<SimBus, CsimDma, SimClock>, FixedBackend<'s>>;

/// Makes a [`SimBoardBackend`] from the parts of [`m3rt_sim::board::virtual_board`].
pub fn sim_board_backend(
    bus: SimBus,
    dma: CsimDma,
    clock: SimClock,
    mode: WeightMode,
    scratch: &mut [f32],
) -> SimBoardBackend<'_> {
    // Simulated time: the bound is far above any simulated run.
    let config = AccelConfig { timeout_us: 600_000_000, ..AccelConfig::new(ip_profile(mode)) };
    Fallback::new(AccelBackend::new(bus, dma, clock, config), FixedBackend::new(scratch))
}

/// Loads `bundle` on the accelerator bridge over the C-simulated IP built for the bundle's weight mode, with
/// a simulated DDR of the size the bridge places, and calls `f`.
fn with_csim<R>(bundle: Bundle<'_>, f: impl FnOnce(Loaded<'_>) -> Result<R>) -> Result<R> {
    let profile = bundle
        .profile()
        .ok_or_else(|| anyhow!("the csim backend runs quantized bundles: convert with --precision fixed16 or int8"))?;
    let bytes = Placement::new(&bundle, WeightPlacement::Copy)?.total;
    let (bus, dma) = csim_ip(profile.weights, bytes);
    // C simulation runs within the ap_start write: the bound only matters to a bus that never finishes.
    let config = AccelConfig { timeout_us: 600_000_000, ..AccelConfig::new(ip_profile(profile.weights)) };
    let mut backend = AccelBackend::new(bus, dma, StdClock::default(), config);
    let name = backend.name();
    backend.fits(&bundle).map_err(|e| anyhow!("the C-simulated accelerator cannot load the model: {e}"))?;
    let mut model = backend.load(bundle).map_err(|e| anyhow!("loading the model on the {name} backend: {e}"))?;
    f(Loaded { backend: name, scratch_words: bytes.div_ceil(4), model: &mut model })
}

impl BackendName {
    /// The bundle precision a model is converted to when this backend is to run it (`m3rt demo`): f32 for
    /// the CPU engine, the default fixed-point profile for the fixed-point engine.
    pub fn native_precision(self) -> crate::convert::Precision {
        match self {
            BackendName::Cpu => crate::convert::Precision::F32,
            BackendName::Fixed | BackendName::Csim => crate::convert::Precision::Fixed16,
        }
    }
}

/// Sizes `scratch` for `bundle` on the backend `make` builds (asked over an empty slice first), makes the
/// backend over it, loads the bundle and calls `f`.
fn with_backend<'s, B: Backend + 's, R>(
    bundle: Bundle<'_>,
    scratch: &'s mut Vec<f32>,
    make: impl Fn(&'s mut [f32]) -> B,
    f: impl FnOnce(Loaded<'_>) -> Result<R>,
) -> Result<R> {
    let words = make(&mut []).scratch_words(&bundle);
    scratch.resize(words, 0.0);
    let mut backend = make(&mut scratch[..]);
    let name = backend.name();
    backend.fits(&bundle).map_err(|e| anyhow!("the {name} backend cannot load the model: {e}"))?;
    let mut model = backend.load(bundle).map_err(|e| anyhow!("loading the model on the {name} backend: {e}"))?;
    f(Loaded { backend: name, scratch_words: words, model: &mut model })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::convert_onnx;
    use clap::ValueEnum;
    use m3rt::bundle::AlignedBytes;

    #[test]
    fn every_name_loads_the_backend_of_that_name() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for &name in BackendName::ALL {
            // The fixed-point backend runs quantized bundles only.
            let precision = name.native_precision();
            let (bytes, _) = convert_onnx(&root.join("models/micro/model.onnx"), precision).expect("converts");
            let bytes = AlignedBytes::from_slice(&bytes);
            let bundle = Bundle::parse(&bytes).expect("parses");
            let value = name.to_possible_value().expect("every backend has a value name");
            name.with_loaded(bundle, |loaded| {
                // The C-simulated IP is an accelerator, and says so (`accel`, as a board's IP would).
                let expected = if name == BackendName::Csim { "accel" } else { value.get_name() };
                assert_eq!(loaded.backend, expected, "--backend value and Backend::name differ");
                assert!(loaded.scratch_words > 0);
                assert_eq!(loaded.model.task(), 0);
                let input = vec![0.5f32; loaded.model.input_len()];
                let mut out = vec![0f32; loaded.model.output_len()?];
                loaded.model.run(&input, &mut out)?;
                assert!(out.iter().all(|v| v.is_finite()));
                Ok(())
            })
            .expect("loads and runs");
        }
    }
}
