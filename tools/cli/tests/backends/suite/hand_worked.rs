//! Hand-worked cases: small models written here whose outputs are known without running anything.

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::{AlignedBytes, Bundle, BundleWriter, Dtype};
use m3rt::model::{self, HeadKind, Hyper, PostProcess, TensorKind};
use m3rt_cli::convert::{Int8Scales, Precision};

use super::{precisions, scratch, UnderTest};
use crate::common::max_rel_err;

/// The tasks of the hand-worked models: name, channels, post-processing.
const TASKS: [(&str, u32, PostProcess); 2] = [("semseg", 3, PostProcess::Argmax), ("depth", 1, PostProcess::Raw)];

/// A small model (32×48 pixels in 16-pixel patches, D = 8, a dense block then an MoE block of 4 experts,
/// top-2) with head `kind` and the two [`TASKS`].
fn hyper(kind: HeadKind) -> Hyper {
    Hyper {
        image_h: 32,
        image_w: 48,
        in_chans: 3,
        patch: 16,
        dim: 8,
        depth: 2,
        heads: 2,
        mlp_hidden: 16,
        experts: 4,
        top_k: 2,
        expert_hidden: 12,
        moe_blocks: 0b10,
        head_kind: kind,
        head_width: 4,
        ln_eps: 1e-6,
        norm_mean: [0.485, 0.456, 0.406],
        norm_std: [0.229, 0.224, 0.225],
        tasks: TASKS.len() as u32,
    }
}

/// The bias of channel `k` of task `t`'s last convolution: a different multiple of 1/8 for every pair,
/// exact in f16 and in any fixed-point format with 3 fraction bits (between -0.5 and 0.375, so within the
/// bias format Q(16, 5) of both fixed-point profiles).
fn bias(t: u32, k: usize) -> f32 {
    0.25 * k as f32 - 0.5 + 0.125 * t as f32
}

/// A bundle of `h` stored as `dtype` whose every task's last convolution has zero weights and the bias
/// [`bias`]; every other tensor holds small deterministic values.
fn zero_last_conv_bundle(h: &Hyper, dtype: Dtype) -> AlignedBytes {
    let max_c = TASKS.iter().map(|t| t.1).max().unwrap_or(1);
    let stated = m3rt::engine::scratch_floats(h, max_c, dtype == Dtype::F16);
    let mut w = BundleWriter::new(*h, stated).unwrap();
    let last = h.head_kind.conv_count() - 1;
    for i in 0..model::tensor_count(h) {
        let key = model::canonical_key(h, i).unwrap();
        let shape = model::expected_shape(h, key, TASKS[key.task as usize].1);
        let n = shape.numel() as usize;
        let data: Vec<f32> = match key.kind {
            TensorKind::HeadConvW if key.index == last => vec![0.0; n],
            TensorKind::HeadConvB if key.index == last => (0..n).map(|k| bias(key.task, k)).collect(),
            _ => (0..n).map(|j| ((i as usize * 7 + j * 3) % 23) as f32 / 32.0 - 0.34).collect(),
        };
        w.add_tensor(key, shape.as_slice(), &data, dtype).unwrap();
    }
    for (name, c, post) in TASKS {
        w.add_task(name, c, post).unwrap();
    }
    AlignedBytes::from_slice(&w.finish().unwrap())
}

/// [`zero_last_conv_bundle`] stored as `precision`: f32 and f16 written as such, a quantized precision as
/// the f32 bundle re-encoded with its profile (int8 scaled per output channel) by `m3rt::bundle::quantize`,
/// as the converter does.
fn bundle_of(h: &Hyper, precision: Precision) -> AlignedBytes {
    match precision.profile(Int8Scales::Channel) {
        None => zero_last_conv_bundle(h, if precision == Precision::F16 { Dtype::F16 } else { Dtype::F32 }),
        Some(profile) => {
            let f32_bytes = zero_last_conv_bundle(h, Dtype::F32);
            let parsed = Bundle::parse(&f32_bytes).unwrap();
            let (bytes, report) = m3rt::bundle::quantize(&parsed, profile).expect("the hand-made bundle quantizes");
            assert_eq!(report.saturated(), 0, "{precision:?}: the hand-made values fit the profile's formats");
            AlignedBytes::from_slice(&bytes)
        }
    }
}

/// With the last convolution's weights all zero, every pixel of output channel `k` is that convolution's
/// bias `k` (the PUP head's final resize and the light head's resize of a constant map are that constant),
/// on every task, whatever the input and the rest of the model compute.
///
/// In fixed point this holds exactly (`docs/fixed-point.md`): the bias `b = bias(t, k)`, a multiple of 1/8,
/// is stored in Q(16, 5) as `b · 2^11` without rounding; the zero weights quantize to 0 (16-bit) or to
/// `q = 0` with the all-zero channel's scale `m = 0, s = 0` (int8), so the linear unit's sum is 0 and its
/// output is the bias alone, `b · 2^11 << (Fa - 11) = b · 2^22` (16-bit: `(0 + (b·2^11 << (22 + 14 - 11)))
/// >> 14`; int8: `((0 · 0) >> 0) + (b·2^11 << 11)`); the bilinear resize of a constant map is that constant
/// (its four weights sum to `2^2l`, shifted out exactly), and the output `b · 2^22 · 2^-22` is `b` in f32.
pub fn zero_last_convolution_outputs_its_bias<D: UnderTest>() {
    for kind in [HeadKind::Pup, HeadKind::Light] {
        for precision in precisions::<D>() {
            let h = hyper(kind);
            let bytes = bundle_of(&h, precision);
            let bundle = Bundle::parse(&bytes).expect("the hand-written bundle parses");
            let mut scratch = scratch::<D>(&bundle);
            let mut backend = D::backend(&mut scratch);
            let mut model = backend.load(bundle).expect("loads");
            let plane = (h.image_h * h.image_w) as usize;
            let input: Vec<f32> = (0..model.input_len()).map(|i| (i % 17) as f32 / 16.0).collect();
            for (t, (name, c, _)) in TASKS.iter().enumerate() {
                model.select_task(t as u32).unwrap();
                let mut out = vec![f32::NAN; model.output_len().unwrap()];
                assert_eq!(out.len(), *c as usize * plane);
                model.run(&input, &mut out).expect("runs");
                let expected: Vec<f32> = (0..out.len()).map(|i| bias(t as u32, i / plane)).collect();
                let err = max_rel_err(&out, &expected);
                println!("{}: {kind:?} head, {precision:?}, {name}: max rel err vs the bias {err:.2e}", D::NAME);
                let bound = D::hand_worked_bound(precision);
                assert!(err <= bound, "{}: {kind:?}/{precision:?}/{name}: {err:e} from the bias", D::NAME);
            }
        }
    }
}
