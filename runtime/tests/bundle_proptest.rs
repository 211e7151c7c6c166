//! Property tests: no bytes, random or mutated from a valid bundle, and no hyperparameters make the
//! reader or the writer panic.

mod bundle_common;
use bundle_common::*;

use m3rt::bundle::{Bundle, BundleWriter, Dtype};
use m3rt::model::{self, HeadKind, Hyper};
use proptest::prelude::*;

/// Parses `bytes` and, if they are accepted, uses every accessor.
fn parse_and_use(bytes: &[u8]) {
    let buf = aligned(bytes);
    if let Ok(b) = Bundle::parse(&buf) {
        for i in 0..=b.tensor_count() {
            if let Ok((key, data)) = b.tensor_at(i) {
                assert_eq!(b.tensor(key).unwrap().len(), data.len());
            }
        }
        for t in 0..=b.task_count() {
            let _ = b.task(t);
        }
        let _ = (b.scratch_floats(), b.max_out_channels(), b.weight_bytes(), format!("{b:?}"));
    }
}

fn mutation() -> impl Strategy<Value = (usize, u8)> {
    // Mostly the preamble, header and table, where the structure is.
    (prop_oneof![3 => 0usize..1024, 1 => 0usize..2628], any::<u8>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        parse_and_use(&bytes);
        let mut with_magic = b"M3RTBNDL\x01\x00\x00\x00".to_vec();
        with_magic.extend_from_slice(&bytes);
        parse_and_use(&with_magic);
    }

    #[test]
    fn mutated_bundles_never_panic(
        muts in proptest::collection::vec(mutation(), 1..6),
        fix_crcs in any::<bool>(),
        f16 in any::<bool>(),
        cut in proptest::option::of(0usize..2628),
    ) {
        let dtype = if f16 { Dtype::F16 } else { Dtype::F32 };
        let mut bytes = build(&tiny_hyper(), TINY_TASKS, dtype, simple_values);
        for (at, v) in muts {
            if let Some(b) = bytes.get_mut(at) {
                *b = v;
            }
        }
        if fix_crcs {
            try_recrc(&mut bytes);
        }
        if let Some(n) = cut {
            bytes.truncate(n);
        }
        parse_and_use(&bytes);
    }
}

fn dim() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..5, Just(16), Just(48), any::<u32>(), (0u32..32).prop_map(|b| 1u32 << b)]
}

proptest! {
    /// Checking any hyperparameters (then computing every shape of an accepted model) never panics:
    /// the reader limits keep every size in range.
    #[test]
    fn hyper_checks_never_panic(
        d in proptest::collection::vec(dim(), 12),
        moe_blocks: u64,
        light: bool,
    ) {
        let h = Hyper {
            image_h: d[0], image_w: d[1], in_chans: 3, patch: d[2], dim: d[3], depth: d[4] % 70,
            heads: d[5], mlp_hidden: d[6], experts: d[7], top_k: d[8], expert_hidden: d[9],
            moe_blocks, head_kind: if light { HeadKind::Light } else { HeadKind::Pup },
            head_width: d[10], tasks: d[11] % 20, ..tiny_hyper()
        };
        if BundleWriter::new(h, 1).is_ok() {
            for i in 0..model::tensor_count(&h) {
                let key = model::canonical_key(&h, i).unwrap();
                let _ = model::expected_shape(&h, key, m3rt::bundle::MAX_OUT_CHANNELS).numel();
            }
        }
    }
}

/// Parses `bytes` and, if they are accepted, widens every tensor as the f32 engine does (which must then
/// succeed) and reads every int8 element's scale.
fn parse_and_widen(bytes: &[u8]) {
    let buf = aligned(bytes);
    if let Ok(b) = Bundle::parse(&buf) {
        let _ = (b.profile(), b.widens(), format!("{b:?}"));
        let mut wide = Vec::new();
        for i in 0..b.tensor_count() {
            let (_, data) = b.tensor_at(i).unwrap();
            wide.resize(data.len(), 0.0);
            m3rt::engine::weights::widen_all(data, &mut wide).unwrap();
            if let m3rt::bundle::TensorData::Q8(q) = data {
                assert!((0..q.values.len()).all(|j| q.scale(j).is_some()));
            }
        }
    }
}

/// The tiny model's bundle quantized with one of the three weight modes.
fn tiny_quantized(mode: u8) -> Vec<u8> {
    use m3rt::fixed::{Profile, WeightMode};
    let weights = WeightMode::from_u8(mode).unwrap();
    let f32_bytes = aligned(&tiny_bundle());
    let profile = Profile { weights, ..Profile::EDGE_MOE };
    m3rt::bundle::quantize(&Bundle::parse(&f32_bytes).unwrap(), profile).unwrap().0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_with_the_quantized_flag_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let mut with_flag = b"M3RTBNDL\x01\x00\x01\x00".to_vec();
        with_flag.extend_from_slice(&bytes);
        parse_and_use(&with_flag);
        parse_and_widen(&with_flag);
    }

    #[test]
    fn mutated_quantized_bundles_never_panic(
        muts in proptest::collection::vec(mutation(), 1..6),
        fix_crcs in any::<bool>(),
        mode in 0u8..3,
        cut in proptest::option::of(0usize..2628),
    ) {
        let mut bytes = tiny_quantized(mode);
        for (at, v) in muts {
            if let Some(b) = bytes.get_mut(at) {
                *b = v;
            }
        }
        if fix_crcs {
            try_recrc(&mut bytes);
        }
        if let Some(n) = cut {
            bytes.truncate(n);
        }
        parse_and_use(&bytes);
        parse_and_widen(&bytes);
    }
}
