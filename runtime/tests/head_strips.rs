//! The heads that compute their last 3×3 convolution strip by strip (fused with the final 1×1, with or
//! without a resize before it) against the same head computed whole with the reference kernels (f64
//! convolutions and resizes) from the engine's own encoder output.

mod bundle_common;

use m3rt::bundle::{AlignedBytes, Bundle, BundleWriter, Dtype, TensorData};
use m3rt::engine::{scratch_floats, Engine};
use m3rt::kernels::conv::{conv2d_ref, ConvShape};
use m3rt::kernels::norm::layer_norm_ref;
use m3rt::kernels::resize::resize_bilinear_ref;
use m3rt::model::{self, head_conv_channels, HeadKind, Hyper, PostProcess, TensorKey, TensorKind as K};

/// The bundle tests' small backbone (D = 8, two blocks, the second MoE) on `ih × iw` pixels in patches of
/// `patch`, with head `kind` of `width` channels, one task, no input normalisation.
fn hyper(kind: HeadKind, ih: u32, iw: u32, patch: u32, width: u32) -> Hyper {
    Hyper {
        image_h: ih,
        image_w: iw,
        patch,
        head_kind: kind,
        head_width: width,
        norm_mean: [0.0; 3],
        norm_std: [1.0; 3],
        tasks: 1,
        ..bundle_common::small_hyper()
    }
}

/// Deterministic values in ±0.1 (±1 for LayerNorm gains), different for every tensor.
fn values(i: u32, n: usize, gain: bool) -> Vec<f32> {
    let mut s = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            if gain {
                1.0 + v
            } else {
                0.2 * v
            }
        })
        .collect()
}

/// A one-task bundle of `h` with `channels` outputs, f32.
fn bundle(h: &Hyper, channels: u32) -> AlignedBytes {
    let mut w = BundleWriter::new(*h, scratch_floats(h, channels, false)).unwrap();
    for i in 0..model::tensor_count(h) {
        let key = model::canonical_key(h, i).unwrap();
        let shape = model::expected_shape(h, key, channels);
        let gain = matches!(key.kind, K::HeadLnG | K::Ln1G | K::Ln2G);
        w.add_tensor(key, shape.as_slice(), &values(i, shape.numel() as usize, gain), Dtype::F32).unwrap();
    }
    w.add_task("t", channels, PostProcess::Raw).unwrap();
    AlignedBytes::from_slice(&w.finish().unwrap())
}

fn f32s<'a>(b: &Bundle<'a>, kind: K, j: u32) -> &'a [f32] {
    match b.tensor(TensorKey::head(kind, 0, j)).unwrap() {
        TensorData::F32(s) => s,
        _ => unreachable!("f32 bundle"),
    }
}

/// The head of task 0 on the encoder output `x`, every stage whole, with the reference kernels.
fn reference_head(b: &Bundle<'_>, x: &[f32], channels: u32) -> Vec<f32> {
    let h = *b.hyper();
    let (n, d) = (h.patches() as usize, h.dim as usize);
    let (mut fh, mut fw) = (h.grid_h() as usize, h.grid_w() as usize);
    let mut tokens = vec![0.0; n * d];
    let (g, beta) = (f32s(b, K::HeadLnG, 0), f32s(b, K::HeadLnB, 0));
    layer_norm_ref(&x[d..], n, d, g, beta, h.ln_eps, &mut tokens).unwrap();
    let mut map: Vec<f32> = (0..d * n).map(|i| tokens[(i % n) * d + i / n]).collect();
    let convs = h.head_kind.conv_count();
    for j in 0..convs {
        let (cin, cout) = head_conv_channels(&h, j, channels);
        let s = ConvShape::same(cin as usize, fh, fw, cout as usize, h.head_kind.conv_kernel(j) as usize);
        let mut out = vec![0.0; s.cout * fh * fw];
        conv2d_ref(&s, &map, f32s(b, K::HeadConvW, j), Some(f32s(b, K::HeadConvB, j)), &mut out).unwrap();
        if j + 1 < convs {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        map = out;
        if h.head_kind.upsamples_after(j) {
            let mut up = vec![0.0; s.cout * 4 * fh * fw];
            resize_bilinear_ref(&map, s.cout, fh, fw, &mut up, 2 * fh, 2 * fw).unwrap();
            (map, fh, fw) = (up, 2 * fh, 2 * fw);
        }
    }
    let (ih, iw) = (h.image_h as usize, h.image_w as usize);
    let mut out = vec![0.0; channels as usize * ih * iw];
    resize_bilinear_ref(&map, channels as usize, fh, fw, &mut out, ih, iw).unwrap();
    out
}

/// Runs the engine and the reference on one input; returns the largest error relative to max(1, |ref|).
fn check(h: &Hyper, channels: u32) -> f32 {
    let bytes = bundle(h, channels);
    let b = Bundle::parse(&bytes).unwrap();
    let mut scratch = vec![0.0; b.scratch_floats()];
    let mut engine = Engine::new(b, &mut scratch).unwrap();
    let input = values(999, 3 * (h.image_h * h.image_w) as usize, false);
    let x = engine.encode(&input).unwrap().to_vec();
    let mut out = vec![f32::NAN; engine.output_len().unwrap()];
    engine.run(&input, &mut out).unwrap();
    let reference = reference_head(&b, &x, channels);
    out.iter().zip(&reference).fold(0.0, |e, (a, r)| e.max((a - r).abs() / r.abs().max(1.0)))
}

#[test]
fn pup_head_resizes_and_convolves_its_tail_strip_by_strip() {
    // 64-channel head on an 8×16 grid: conv3 (64 → 64, Winograd) runs on 64×128 in two strips of 32
    // rows, each from its own resized rows of conv2's 32×64 output.
    let err = check(&hyper(HeadKind::Pup, 32, 64, 4, 64), 3);
    println!("PUP, fused resized tail: max rel err {err:.2e}");
    assert!(err < 1e-4, "{err}");
}

#[test]
fn light_head_convolves_strip_by_strip() {
    // 256-channel light head on a 20×64 grid: its 3×3 (8 → 256, im2col) runs in strips of 16 rows.
    let err = check(&hyper(HeadKind::Light, 40, 128, 2, 256), 2);
    println!("light, fused tail: max rel err {err:.2e}");
    assert!(err < 1e-4, "{err}");
}
