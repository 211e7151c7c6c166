//! Round trips, pinned bytes and the writer's checks.

mod bundle_common;
use bundle_common::*;

use half::f16;
use m3rt::bundle::{AlignedBytes, Bundle, BundleWriter, Dtype, TensorData, FORMAT_VERSION, MAGIC};
use m3rt::model::{self, Hyper, PostProcess, TensorKey, TensorKind};
use m3rt::Error;

/// Checks every tensor of `b` against `values` through both accessors; `exact` for f32, else each
/// value must be the round-to-nearest-even f16 of the original.
fn check_values(b: &Bundle<'_>, h: &Hyper, tasks: &[(&str, u32, PostProcess)], values: fn(u32, usize) -> Vec<f32>) {
    assert_eq!(b.tensor_count(), model::tensor_count(h));
    for i in 0..b.tensor_count() {
        let (key, data) = b.tensor_at(i).unwrap();
        assert_eq!(Some(key), model::canonical_key(h, i));
        let by_key = b.tensor(key).unwrap();
        assert_eq!(by_key.byte_len(), data.byte_len());
        let shape = model::expected_shape(h, key, tasks[key.task as usize].1);
        assert_eq!(data.len() as u64, shape.numel());
        let want = values(i, data.len());
        match data {
            TensorData::F32(s) => assert_eq!(s, &want[..], "tensor {i}"),
            TensorData::F16(s) => {
                for (got, w) in s.iter().zip(&want) {
                    assert_eq!(got.to_bits(), f16::from_f32(*w).to_bits(), "tensor {i}");
                    // Round to nearest: within half an f16 ulp (2^-11 relative, normal range).
                    assert!((got.to_f32() - w).abs() <= w.abs() * 2f32.powi(-11) + 1e-7, "tensor {i}");
                }
            }
            other => panic!("tensor {i}: {:?} in an f32/f16 bundle", other.dtype()),
        }
        assert_eq!(b.record(i).unwrap().offset % 64, 0);
    }
}

#[test]
fn f32_round_trip_is_exact() {
    let h = small_hyper();
    let bytes = aligned(&build(&h, SMALL_TASKS, Dtype::F32, rough_values));
    let b = Bundle::parse(&bytes).unwrap();
    assert_eq!(b.hyper(), &h);
    assert_eq!(b.task_count(), 3);
    for (t, (name, c, post)) in SMALL_TASKS.iter().enumerate() {
        let info = b.task(t as u32).unwrap();
        assert_eq!((info.name, info.out_channels, info.post), (*name, *c, *post));
        assert_eq!(b.task_index(name).unwrap(), t as u32);
    }
    assert_eq!(b.max_out_channels(), 21);
    assert_eq!(b.scratch_floats(), 300);
    assert_eq!(b.total_bytes(), bytes.len());
    check_values(&b, &h, SMALL_TASKS, rough_values);
}

#[test]
fn f16_round_trip_rounds_to_nearest_even_and_halves_the_weights() {
    let h = small_hyper();
    let b32 = aligned(&build(&h, SMALL_TASKS, Dtype::F32, rough_values));
    let b16 = aligned(&build(&h, SMALL_TASKS, Dtype::F16, rough_values));
    let (b32, b16) = (Bundle::parse(&b32).unwrap(), Bundle::parse(&b16).unwrap());
    check_values(&b16, &h, SMALL_TASKS, rough_values);
    assert!(matches!(b16.tensor_at(0).unwrap().1, TensorData::F16(_)));
    assert_eq!(b16.tensor_at(0).unwrap().1.dtype(), Dtype::F16);
    // Half the data, plus at most 63 bytes of alignment padding per tensor.
    let (w32, w16) = (b32.weight_bytes(), b16.weight_bytes());
    assert!(w16 <= w32 / 2 + 64 * b16.tensor_count() as usize, "{w16} vs {w32}");
    assert!(w16 < w32 * 6 / 10, "{w16} vs {w32}");
}

#[test]
fn unknown_keys_tasks_and_indices_are_typed_errors() {
    let bytes = aligned(&build(&small_hyper(), SMALL_TASKS, Dtype::F32, rough_values));
    let b = Bundle::parse(&bytes).unwrap();
    assert_eq!(b.task(3), Err(Error::UnknownTask { task: 3, tasks: 3 }));
    assert_eq!(b.task(u32::MAX), Err(Error::UnknownTask { task: u32::MAX, tasks: 3 }));
    assert_eq!(b.task_index("edges"), Err(Error::UnknownTask { task: u32::MAX, tasks: 3 }));
    let n = b.tensor_count();
    assert_eq!(b.tensor_at(n).map(|_| ()), Err(Error::UnknownTensor { index: n, count: n }));
    let missing = Error::UnknownTensor { index: u32::MAX, count: n };
    // Block 0 is dense: it has no experts. Block 1 is MoE: no dense MLP. No task 3.
    assert_eq!(b.tensor(TensorKey::block(TensorKind::ExpW1, 0)).map(|_| ()), Err(missing));
    assert_eq!(b.tensor(TensorKey::block(TensorKind::Fc1W, 1)).map(|_| ()), Err(missing));
    assert_eq!(b.tensor(TensorKey::gate(3, 1)).map(|_| ()), Err(missing));
    assert_eq!(b.tensor(TensorKey::head(TensorKind::HeadConvW, 0, 5)).map(|_| ()), Err(missing));
}

/// The tiny model's bundle, byte for byte (cross-checked with an independent Python encoder of
/// docs/bundle-format.md and zlib.crc32).
#[test]
fn tiny_bundle_bytes_are_pinned() {
    let bytes = tiny_bundle();
    #[rustfmt::skip]
    let preamble: [u8; 40] = [
        0x4D, 0x33, 0x52, 0x54, 0x42, 0x4E, 0x44, 0x4C, // magic "M3RTBNDL"
        0x01, 0x00,                                     // format version 1
        0x00, 0x00,                                     // flags 0
        0x33, 0x00, 0x00, 0x00,                         // header_len 51 (bytes 40..91)
        0x0D, 0xF6, 0x42, 0x2F,                         // header_crc 0x2F42F60D
        0x98, 0x03, 0x00, 0x00,                         // table_len 920 = 23 records × 40 (96..1016)
        0x2E, 0x92, 0xB5, 0xA6,                         // table_crc 0xA6B5922E
        0x93, 0x29, 0x10, 0x02,                         // weights_crc 0x02102993
        0x44, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // weights_len 1604 (1024..2628)
    ];
    #[rustfmt::skip]
    let header: [u8; 51] = [
        // Varints < 128 are one byte: image_h 2, image_w 2, in_chans 3, patch 2, dim 2, depth 1,
        // heads 1, mlp_hidden 2, experts 2, top_k 1, expert_hidden 2, moe_blocks 0b1.
        0x02, 0x02, 0x03, 0x02, 0x02, 0x01, 0x01, 0x02, 0x02, 0x01, 0x02, 0x01,
        0x01,                   // head_kind: u8, 1 = Light
        0x02,                   // head_width 2
        0xBD, 0x37, 0x86, 0x35, // ln_eps: f32 1e-6 = 0x358637BD, little-endian
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // norm_mean [0.0; 3]
        0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x80, 0x3F, // norm_std [1.0; 3]
        0x01,                   // tasks 1
        0x01,                   // task table: sequence of 1
        0x01, 0x64,             //   name: length 1, "d"
        0x01,                   //   out_channels 1
        0x00,                   //   post: u8, 0 = Raw
        0x17,                   // tensor_count 23 = 4 + 12 + (1 gate + 2 + 2·2)
        0xAC, 0x02,             // scratch_floats 300 = 0b10_0101100: 0x2C | 0x80, then 0x02
    ];
    #[rustfmt::skip]
    let record0: [u8; 40] = [
        0x00, 0x00, 0x00, 0x00, // index 0 (PatchW)
        0x00,                   // dtype f32
        0x04,                   // rank 4
        0x00, 0x00,             // reserved
        0x02, 0, 0, 0, 0x03, 0, 0, 0, 0x02, 0, 0, 0, 0x02, 0, 0, 0, // dims [2, 3, 2, 2]
        0x00, 0x04, 0, 0, 0, 0, 0, 0, // offset 1024
        0x60, 0, 0, 0, 0, 0, 0, 0,    // len 96 = 24 × 4
    ];
    assert_eq!(bytes.len(), 2628);
    assert_eq!(&bytes[..40], &preamble);
    assert_eq!(&bytes[40..91], &header);
    assert_eq!(&bytes[91..96], &[0; 5]); // padding to the 8-aligned table
    assert_eq!(&bytes[96..136], &record0);
    assert_eq!(&bytes[1016..1024], &[0; 8]); // padding to the 64-aligned weights
    assert_eq!(&bytes[1024..1028], &(-1.0f32).to_le_bytes()); // PatchW[0] = (0 mod 23)/8 − 1
    assert_eq!(&bytes[..8], &MAGIC);
    assert_eq!(FORMAT_VERSION, 1);
    let b = Bundle::parse(&aligned(&bytes)).unwrap().total_bytes();
    assert_eq!(b, 2628);
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut bytes = tiny_bundle();
    let n = bytes.len();
    bytes.extend_from_slice(&[0xFF; 100]);
    let a = aligned(&bytes);
    let b = Bundle::parse(&a).unwrap();
    assert_eq!((b.total_bytes(), b.bytes().len()), (n, n));
    check_values(&b, &tiny_hyper(), TINY_TASKS, simple_values);
}

#[test]
fn aligned_bytes_are_aligned_and_read_files() {
    let bytes = tiny_bundle();
    for shift in 0..3 {
        let a = AlignedBytes::from_slice(&bytes[shift..]);
        assert_eq!(a.as_ptr() as usize % 64, 0);
        assert_eq!(&a[..], &bytes[shift..]);
        assert_eq!(a.clone().as_ptr() as usize % 64, 0);
    }
    let path = std::env::temp_dir().join(format!("m3rt-bundle-test-{}.m3b", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let a = AlignedBytes::read_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(&a[..], &bytes[..]);
    Bundle::parse(&a).unwrap();
}

#[test]
fn writer_rejects_what_the_reader_would() {
    let h = tiny_hyper();
    assert_eq!(BundleWriter::new(Hyper { heads: 3, ..h }, 1).err(), Some(Error::BadHyper { field: "heads" }));
    assert_eq!(BundleWriter::new(Hyper { image_h: 1 << 20, ..h }, 1).err(), Some(Error::BadHyper { field: "image_h" }));
    assert!(BundleWriter::new(h, 0).is_err());

    let mut w = BundleWriter::new(Hyper { tasks: 2, ..h }, 1).unwrap();
    w.add_task("a", 1, PostProcess::Raw).unwrap();
    assert_eq!(w.add_task("a", 2, PostProcess::Raw), Err(Error::Inconsistent { what: "duplicate task name" }));
    assert!(w.add_task("", 2, PostProcess::Raw).is_err());
    assert!(w.add_task(&"x".repeat(33), 2, PostProcess::Raw).is_err());
    assert!(w.add_task("b", 0, PostProcess::Raw).is_err());
    w.add_task("b", 2, PostProcess::Raw).unwrap();
    assert!(w.add_task("c", 2, PostProcess::Raw).is_err(), "more than hyper.tasks");

    let key = TensorKey::global(TensorKind::PatchB);
    assert_eq!(w.add_tensor(key, &[3], &[0.0; 3], Dtype::F32), Err(Error::TensorShape { index: 1 }));
    assert!(matches!(w.add_tensor(key, &[2], &[0.0; 3], Dtype::F32), Err(Error::ShapeMismatch { .. })));
    assert!(w.add_tensor(key, &[2], &[f32::NAN, 0.0], Dtype::F32).is_err());
    assert!(w.add_tensor(key, &[2], &[1e6, 0.0], Dtype::F16).is_err(), "beyond the f16 range");
    w.add_tensor(key, &[2], &[0.0; 2], Dtype::F32).unwrap();
    assert_eq!(w.add_tensor(key, &[2], &[0.0; 2], Dtype::F32), Err(Error::Inconsistent { what: "tensor added twice" }));
    let dense = TensorKey::block(TensorKind::Fc1W, 0);
    assert!(matches!(w.add_tensor(dense, &[2, 2], &[0.0; 4], Dtype::F32), Err(Error::UnknownTensor { .. })));
    assert_eq!(w.finish().err(), Some(Error::MissingTensor { index: 0 }));

    // Head conv shapes that depend on a task added later are checked by `finish`.
    let mut w = BundleWriter::new(h, 1).unwrap();
    for i in 0..model::tensor_count(&h) {
        let key = model::canonical_key(&h, i).unwrap();
        let shape = model::expected_shape(&h, key, 5);
        w.add_tensor(key, shape.as_slice(), &vec![0.5; shape.numel() as usize], Dtype::F16).unwrap();
    }
    assert!(w.add_tensor(TensorKey::global(TensorKind::PatchW), &[2, 3, 2, 2], &[0.0; 24], Dtype::F32).is_err());
    w.add_task("d", 4, PostProcess::Sigmoid).unwrap();
    assert_eq!(w.finish().err(), Some(Error::TensorShape { index: 21 }));
}
