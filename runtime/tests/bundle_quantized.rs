//! Quantized bundles: pinned bytes, the quantizer against the formulas of docs/fixed-point.md computed here
//! independently, the writer's checks, and the f32 engine on a quantized bundle.

mod bundle_common;
use bundle_common::*;

use m3rt::bundle::layout::crc32;
use m3rt::bundle::{quantize, quantized_dtype, Bundle, BundleWriter, Dtype, TensorData};
use m3rt::engine::Engine;
use m3rt::fixed::quant::{Channels, Int8Scale};
use m3rt::fixed::{Format, Profile, ValueClass, WeightMode};
use m3rt::model::{self, PostProcess, Shape, TensorKey, TensorKind};
use m3rt::Error;

const PER_TENSOR: Profile = Profile { weights: WeightMode::Int8PerTensor, ..Profile::INT8 };
const PROFILES: [Profile; 3] = [Profile::EDGE_MOE, Profile::INT8, PER_TENSOR];

/// The tiny model's f32 bundle quantized with `profile`.
fn tiny_quantized(profile: Profile) -> Vec<u8> {
    let f32_bytes = aligned(&tiny_bundle());
    quantize(&Bundle::parse(&f32_bytes).unwrap(), profile).unwrap().0
}

/// The expected bytes below come from `runtime/tests/data/tiny_quantized.py`, an encoder written from
/// docs/bundle-format.md and docs/fixed-point.md alone (Python's `struct`, `zlib.crc32`, `round` for
/// round-half-even and `math.frexp` for the int8 shift), run once:
/// `python3 runtime/tests/data/tiny_quantized.py int8 SCRATCH` with SCRATCH the f32 engine's figure.
#[test]
fn tiny_int8_bundle_bytes_are_pinned() {
    let bytes = tiny_quantized(Profile::INT8);
    assert_eq!(model::tensor_count(&tiny_hyper()), 23);
    assert_eq!(m3rt::engine::scratch_floats(&tiny_hyper(), 1, true), TINY_SCRATCH);
    assert_eq!(&bytes[..40], &PINNED_INT8_PREAMBLE);
    assert_eq!(&bytes[10..12], &[0x01, 0x00], "flags: bit 0, quantized");
    let header: &[u8] = &PINNED_INT8_HEADER;
    assert_eq!(&bytes[40..40 + header.len()], header);
    // The profile is the header's last 19 bytes: mode 2 (int8 per channel), then (width, int, signed) for
    // act Q(32,10), weight Q(16,2), patch weight Q(16,0), bias Q(16,5), attn bias Q(16,7), pixel UQ(8,0).
    let profile = [
        0x02, 0x20, 0x0A, 0x01, 0x10, 0x02, 0x01, 0x10, 0x00, 0x01, 0x10, 0x05, 0x01, 0x10, 0x07, 0x01, 0x08, 0x00,
        0x00,
    ];
    assert_eq!(&header[header.len() - 19..], &profile);
    // Record 21, the 1×1 head convolution [1, 2, 1, 1] as Q8: values 0x20 0x7F, two zero bytes, then one scale
    // word 0x00178102 (mantissa 33026, shift 23).
    let buf = aligned(&bytes);
    let b = Bundle::parse(&buf).unwrap();
    let r = b.record(21).unwrap();
    assert_eq!((r.dtype, r.rank, r.dims, r.len), (3, 4, [1, 2, 1, 1], 8));
    let at = r.offset as usize;
    assert_eq!(&bytes[at..at + 8], &[0x20, 0x7F, 0x00, 0x00, 0x02, 0x81, 0x17, 0x00]);
    assert_eq!(bytes.len(), PINNED_INT8_LEN);
    assert_eq!(crc32(&bytes), PINNED_INT8_CRC, "the whole bundle");
}

#[test]
fn tiny_fixed16_and_per_tensor_bundles_are_pinned() {
    // From the same script: `fixed16` and `int8-tensor` modes (length, CRC of the whole file, and the
    // saturated values per tensor: PatchW's Q(16,0) holds [-0.5, 0.5), so 16 of its 24 values clamp).
    let (bytes, report) = {
        let f32_bytes = aligned(&tiny_bundle());
        quantize(&Bundle::parse(&f32_bytes).unwrap(), Profile::EDGE_MOE).unwrap()
    };
    assert_eq!((bytes.len(), crc32(&bytes)), (PINNED_FIXED16_LEN, PINNED_FIXED16_CRC));
    let saturated: Vec<usize> = report.tensors.iter().map(|t| t.saturated).collect();
    assert_eq!(saturated, PINNED_FIXED16_SATURATED);
    assert_eq!(report.saturated(), PINNED_FIXED16_SATURATED.iter().sum::<usize>());
    let bytes = tiny_quantized(PER_TENSOR);
    assert_eq!((bytes.len(), crc32(&bytes)), (PINNED_PER_TENSOR_LEN, PINNED_PER_TENSOR_CRC));
}

/// `v · 2^F` rounded half to even and clamped into the 16-bit `format`: the quantizer's rule, recomputed.
fn q16_reference(v: f64, f: Format) -> (i64, bool) {
    let raw = (v * 2f64.powi(f.width as i32 - f.int as i32)).round_ties_even();
    let (lo, hi) = (-(1i64 << (f.width - 1)), (1i64 << (f.width - 1)) - 1);
    ((raw as i64).clamp(lo, hi), raw < lo as f64 || raw > hi as f64)
}

/// The scale of a channel of largest magnitude `a`, by the rule `2^15 ≤ σ·2^s < 2^16` (found with frexp-like
/// exponent arithmetic rather than a logarithm).
fn scale_reference(a: f64) -> (u16, u8) {
    if a == 0.0 {
        return (0, 0);
    }
    let sigma = a / 127.0;
    let mut s = 0i32;
    while sigma * 2f64.powi(s) < 32768.0 && s < 63 {
        s += 1;
    }
    while sigma * 2f64.powi(s) >= 65536.0 && s > 0 {
        s -= 1;
    }
    ((sigma * 2f64.powi(s)).round_ties_even().min(65535.0) as u16, s as u8)
}

/// Checks every tensor of the quantized `q` against the f32 bundle `f`: types as the profile says, Q16
/// values within half a unit of the original unless saturated (and saturated exactly when out of range),
/// int8 scales by the rule and values within half a scale step; the report's counts and errors agree.
fn check_quantized(f: &Bundle<'_>, q: &Bundle<'_>, p: Profile, report: &m3rt::bundle::QuantReport) {
    assert_eq!(q.profile(), Some(p));
    assert_eq!(report.tensors.len() as u32, q.tensor_count());
    for i in 0..q.tensor_count() {
        let ((key, orig), (key2, data)) = (f.tensor_at(i).unwrap(), q.tensor_at(i).unwrap());
        assert_eq!(key, key2);
        let TensorData::F32(orig) = orig else { panic!("f32 source") };
        let shape = q.record(i).unwrap().shape().unwrap();
        let rep = report.tensors[i as usize];
        let (mut saturated, mut max_err) = (0, 0f64);
        match data {
            TensorData::Q16 { values, frac } => {
                assert_eq!(quantized_dtype(&p, key.kind), Dtype::Q16);
                let format = p.format(ValueClass::of(key.kind));
                assert_eq!(frac, format.frac());
                let unit = 2f64.powi(-frac);
                for (&r, &v) in values.iter().zip(orig) {
                    let (want, sat) = q16_reference(v.into(), format);
                    assert_eq!(i64::from(r), want, "tensor {i} value {v}");
                    let err = (f64::from(r) * unit - f64::from(v)).abs();
                    assert!(sat || err <= unit / 2.0, "tensor {i}: {v} → {r}");
                    saturated += usize::from(sat);
                    max_err = max_err.max(err);
                }
            }
            TensorData::Q8(d) => {
                assert_eq!(quantized_dtype(&p, key.kind), Dtype::Q8);
                let per_channel = p.weights == WeightMode::Int8PerChannel;
                assert_eq!(d.per_channel, per_channel);
                let count = if per_channel { expected_channels(key.kind, shape) } else { 1 };
                assert_eq!(d.scales.len(), count, "tensor {i}");
                let ch = Channels::of(key.kind, shape);
                let mut absmax = vec![0f64; count];
                for (j, v) in orig.iter().enumerate() {
                    let c = if per_channel { ch.of_index(j) } else { 0 };
                    absmax[c] = absmax[c].max(f64::from(v.abs()));
                }
                for (c, &w) in d.scales.iter().enumerate() {
                    let s = Int8Scale::from_word(w).unwrap();
                    assert_eq!((s.mantissa, s.shift), scale_reference(absmax[c]), "tensor {i} channel {c}");
                }
                for (j, (&qv, &v)) in d.values.iter().zip(orig).enumerate() {
                    let s = d.scale(j).unwrap();
                    let step = f64::from(s.mantissa) * 2f64.powi(-i32::from(s.shift));
                    let err = (f64::from(qv) * step - f64::from(v)).abs();
                    let sat = (f64::from(v) / step).round_ties_even().abs() > 127.0;
                    assert!((-127..=127).contains(&qv));
                    assert!(sat || err <= step / 2.0, "tensor {i}: {v} → {qv} · {step}");
                    saturated += usize::from(sat);
                    max_err = max_err.max(err);
                }
            }
            other => panic!("tensor {i} stored as {:?}", other.dtype()),
        }
        assert_eq!((rep.index, rep.key, rep.elements, rep.saturated), (i, key, orig.len(), saturated), "tensor {i}");
        assert!((rep.max_abs_error - max_err).abs() <= 1e-12 * max_err.max(1.0), "tensor {i}");
        assert!(rep.rms_error <= rep.max_abs_error + 1e-15);
    }
}

/// Output channels per docs/fixed-point.md: last dimension of `[in, out]`, `E·out` of `[E, in, out]`, first
/// dimension of convolutions.
fn expected_channels(kind: TensorKind, shape: Shape) -> usize {
    let d = shape.as_slice();
    match kind {
        TensorKind::PatchW | TensorKind::HeadConvW => d[0] as usize,
        TensorKind::ExpW1 | TensorKind::ExpW2 => (d[0] * d[2]) as usize,
        _ => d[d.len() - 1] as usize,
    }
}

#[test]
fn quantization_round_trips_within_half_a_step() {
    for values in [rough_values as fn(u32, usize) -> Vec<f32>, simple_values] {
        let f32_bytes = aligned(&build(&small_hyper(), SMALL_TASKS, Dtype::F32, values));
        let f = Bundle::parse(&f32_bytes).unwrap();
        for p in PROFILES {
            let (bytes, report) = quantize(&f, p).unwrap();
            let bytes = aligned(&bytes);
            let q = Bundle::parse(&bytes).unwrap();
            check_quantized(&f, &q, p, &report);
            assert_eq!((q.hyper(), q.task_count()), (f.hyper(), 3));
            assert_eq!(q.scratch_floats() as u64, m3rt::engine::scratch_floats(f.hyper(), 21, true));
            assert!(q.widens());
        }
    }
}

/// An f32 bundle holding exactly the values the quantized bundle `q` stands for (dequantized here, in f64).
fn dequantized(q: &Bundle<'_>, tasks: &[(&str, u32, PostProcess)]) -> Vec<u8> {
    let h = *q.hyper();
    let mut w = BundleWriter::new(h, q.scratch_floats() as u64).unwrap();
    for (name, c, post) in tasks {
        w.add_task(name, *c, *post).unwrap();
    }
    for i in 0..q.tensor_count() {
        let (key, data) = q.tensor_at(i).unwrap();
        let v: Vec<f32> = match data {
            TensorData::Q16 { values, frac } => {
                values.iter().map(|&r| (f64::from(r) * 2f64.powi(-frac)) as f32).collect()
            }
            TensorData::Q8(d) => (0..d.values.len())
                .map(|j| {
                    let s = Int8Scale::from_word(d.scales[d.scale_index(j)]).unwrap();
                    (f64::from(d.values[j]) * s.value()) as f32
                })
                .collect(),
            _ => panic!("quantized bundle"),
        };
        w.add_tensor(key, q.record(i).unwrap().shape().unwrap().as_slice(), &v, Dtype::F32).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn the_f32_engine_runs_a_quantized_bundle_as_its_dequantized_model() {
    let h = small_hyper();
    let f32_bytes = aligned(&build(&h, SMALL_TASKS, Dtype::F32, simple_values));
    let f = Bundle::parse(&f32_bytes).unwrap();
    let input: Vec<f32> = (0..3 * h.image_h * h.image_w).map(|i| (i % 17) as f32 / 17.0).collect();
    for p in PROFILES {
        let bytes = aligned(&quantize(&f, p).unwrap().0);
        let q = Bundle::parse(&bytes).unwrap();
        let reference = aligned(&dequantized(&q, SMALL_TASKS));
        let r = Bundle::parse(&reference).unwrap();
        let (mut sq, mut sr) = (vec![0f32; q.scratch_floats()], vec![0f32; r.scratch_floats()]);
        let (mut eq, mut er) = (Engine::new(q, &mut sq).unwrap(), Engine::new(r, &mut sr).unwrap());
        for t in 0..3 {
            eq.select_task(t).unwrap();
            er.select_task(t).unwrap();
            let mut oq = vec![0f32; eq.output_len().unwrap()];
            let mut or = oq.clone();
            eq.run(&input, &mut oq).unwrap();
            er.run(&input, &mut or).unwrap();
            // Widening is exact, so the outputs are the same bits; so are the expert reads.
            assert!(oq.iter().zip(&or).all(|(a, b)| a.to_bits() == b.to_bits()), "{p:?} task {t}");
            assert_eq!(eq.counters().experts_read, er.counters().experts_read);
        }
    }
}

#[test]
fn expert_byte_counts_follow_the_stored_types() {
    // small_hyper's MoE block: D = 8, Dh = 12, E = 4. Per expert: 2·8·12 weights, 12 + 8 biases.
    let h = small_hyper();
    let f32_bytes = aligned(&build(&h, SMALL_TASKS, Dtype::F32, simple_values));
    let f = Bundle::parse(&f32_bytes).unwrap();
    let input = vec![0.5f32; (3 * h.image_h * h.image_w) as usize];
    for (p, per_expert) in [
        (Profile::EDGE_MOE, 2 * 192 + 2 * 20),
        (Profile::INT8, 192 + 2 * 20 + 4 * (12 + 8)),
        (PER_TENSOR, 192 + 2 * 20 + 4 * 2),
    ] {
        let bytes = aligned(&quantize(&f, p).unwrap().0);
        let q = Bundle::parse(&bytes).unwrap();
        let mut scratch = vec![0f32; q.scratch_floats()];
        let mut e = Engine::new(q, &mut scratch).unwrap();
        let mut out = vec![0f32; e.output_len().unwrap()];
        e.run(&input, &mut out).unwrap();
        let c = e.counters();
        let loads: u64 = c.expert_loads.iter().map(|&n| u64::from(n)).sum();
        assert!(loads > 0);
        assert_eq!(c.expert_bytes, loads * per_expert as u64, "{p:?}");
    }
}

#[test]
fn writer_and_quantizer_refuse_what_the_reader_would() {
    let h = tiny_hyper();
    let shape = |i: u32| model::expected_shape(&h, model::canonical_key(&h, i).unwrap(), 1);
    let bad = Profile { act: Format::signed(40, 10), ..Profile::EDGE_MOE };
    let mut w = BundleWriter::new(h, 1).unwrap();
    assert!(matches!(w.set_profile(bad), Err(Error::BadProfile { .. })));
    let f32_bytes = aligned(&tiny_bundle());
    let f = Bundle::parse(&f32_bytes).unwrap();
    assert!(matches!(quantize(&f, bad), Err(Error::BadProfile { .. })));
    let q = aligned(&tiny_quantized(Profile::EDGE_MOE));
    assert!(matches!(quantize(&Bundle::parse(&q).unwrap(), Profile::INT8), Err(Error::Inconsistent { .. })));

    // Every tensor Q16 (or Q8 for a matrix): valid only under the matching profile.
    let fill = |w: &mut BundleWriter, q8_matrices: bool, scales: usize| {
        w.add_task("d", 1, PostProcess::Raw).unwrap();
        for i in 0..model::tensor_count(&h) {
            let key = model::canonical_key(&h, i).unwrap();
            let s = shape(i);
            let n = s.numel() as usize;
            if q8_matrices && ValueClass::of(key.kind).is_matrix() {
                let c = if scales == 0 { Channels::of(key.kind, s).count } else { scales };
                w.add_q8(key, s.as_slice(), &vec![1; n], &vec![Int8Scale { mantissa: 3, shift: 2 }; c]).unwrap();
            } else {
                w.add_q16(key, s.as_slice(), &vec![-7; n]).unwrap();
            }
        }
    };
    let mut w = BundleWriter::new(h, 1).unwrap();
    fill(&mut w, false, 0);
    assert_eq!(w.finish().err(), Some(Error::WrongDtype { index: 0, code: 2 }), "Q16 without a profile");
    let mut w = BundleWriter::new(h, 1).unwrap();
    w.set_profile(Profile::EDGE_MOE).unwrap();
    fill(&mut w, true, 0);
    assert_eq!(w.finish().err(), Some(Error::WrongDtype { index: 0, code: 3 }), "Q8 in a fixed16 bundle");
    let mut w = BundleWriter::new(h, 1).unwrap();
    w.set_profile(Profile::INT8).unwrap();
    fill(&mut w, false, 0);
    assert_eq!(w.finish().err(), Some(Error::WrongDtype { index: 0, code: 2 }), "Q16 matrix in an int8 bundle");
    let mut w = BundleWriter::new(h, 1).unwrap();
    w.set_profile(Profile::INT8).unwrap();
    fill(&mut w, true, 1);
    let count = Error::Inconsistent { what: "int8 scale count differs from the profile's" };
    assert_eq!(w.finish().err(), Some(count), "one scale in a per-channel bundle");
    let mut w = BundleWriter::new(h, 1).unwrap();
    w.set_profile(PER_TENSOR).unwrap();
    fill(&mut w, true, 1);
    let bytes = aligned(&w.finish().unwrap());
    let b = Bundle::parse(&bytes).unwrap();
    let TensorData::Q16 { values, frac: 11 } = b.tensor(TensorKey::global(TensorKind::PatchB)).unwrap() else {
        panic!("PatchB is Q16 in Q(16,5)")
    };
    assert_eq!(values, &[-7, -7]);

    let mut w = BundleWriter::new(h, 1).unwrap();
    let key = TensorKey::global(TensorKind::PatchW);
    let big_shift = [Int8Scale { mantissa: 1, shift: 64 }, Int8Scale { mantissa: 1, shift: 0 }];
    assert_eq!(w.add_q8(key, &[2, 3, 2, 2], &[0; 24], &big_shift), Err(Error::BadScale { index: 0, scale: 0 }));
    assert!(matches!(w.add_q8(key, &[2, 3, 2, 2], &[0; 23], &big_shift[1..]), Err(Error::ShapeMismatch { .. })));
    assert_eq!(w.add_tensor(key, &[2, 3, 2, 2], &[0.0; 24], Dtype::Q16), Err(Error::WrongDtype { index: 0, code: 2 }));
}

// Everything below is `tiny_quantized.py`'s output with SCRATCH = 123 (`engine::scratch_floats(tiny, 1, true)`).

/// Scratch floats of the f32 engine for the tiny model with widening buffers.
const TINY_SCRATCH: u64 = 123;
/// int8 (per channel): magic, version 1, flags 1, header_len 69, header_crc, table_len 920, table_crc,
/// weights_crc, weights_len.
#[rustfmt::skip]
const PINNED_INT8_PREAMBLE: [u8; 40] = [
    0x4D, 0x33, 0x52, 0x54, 0x42, 0x4E, 0x44, 0x4C,
    0x01, 0x00, 0x01, 0x00, 0x45, 0x00, 0x00, 0x00,
    0x89, 0x2C, 0xE8, 0xD8, 0x98, 0x03, 0x00, 0x00,
    0x33, 0x67, 0x17, 0x82, 0xED, 0x81, 0x12, 0x37,
    0x82, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
/// int8 (per channel): the header of the f32 tiny bundle with scratch_floats 123 (`7B`), then the profile.
#[rustfmt::skip]
const PINNED_INT8_HEADER: [u8; 69] = [
    0x02, 0x02, 0x03, 0x02, 0x02, 0x01, 0x01, 0x02, 0x02, 0x01, 0x02, 0x01,
    0x01, 0x02, 0xBD, 0x37, 0x86, 0x35, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00,
    0x80, 0x3F, 0x00, 0x00, 0x80, 0x3F, 0x01, 0x01, 0x01, 0x64, 0x01, 0x00,
    0x17, 0x7B, 0x02, 0x20, 0x0A, 0x01, 0x10, 0x02, 0x01, 0x10, 0x00, 0x01,
    0x10, 0x05, 0x01, 0x10, 0x07, 0x01, 0x08, 0x00, 0x00,
];
const PINNED_INT8_LEN: usize = 2498;
const PINNED_INT8_CRC: u32 = 0x76527CE0;
const PINNED_FIXED16_LEN: usize = 2562;
const PINNED_FIXED16_CRC: u32 = 0x5B0F056A;
const PINNED_FIXED16_SATURATED: [usize; 23] = [16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const PINNED_PER_TENSOR_LEN: usize = 2498;
const PINNED_PER_TENSOR_CRC: u32 = 0xD76624EB;
