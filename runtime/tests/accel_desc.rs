//! The accelerator's model descriptor, gate and head tables of the tiny bundle, word for word.

mod bundle_common;
use bundle_common::*;

use m3rt::accel::desc::{self, gate_table_words, head_table_words, model_descriptor_words, word};
use m3rt::accel::{gate_table, head_table, model_descriptor, work_words};
use m3rt::bundle::{Bundle, Dtype};
use m3rt::fixed::Profile;
use m3rt::model::PostProcess;
use m3rt::Error;

/// Weight-section offsets of the tiny model's 23 tensors (f32, each at a multiple of 64), by hand: a tensor
/// of `n` elements takes `4n` bytes rounded up to 64.
///
/// | # | tensor | shape | bytes | offset |
/// |---|---|---|---|---|
/// | 0 | PatchW | [2, 3, 2, 2] | 96 | 0 |
/// | 1 | PatchB | [2] | 8 | 128 |
/// | 2 | ClsToken | [2] | 8 | 192 |
/// | 3 | PosEmbed | [2, 2] | 16 | 256 |
/// | 4..=11 | Ln1G, Ln1B, QkvW [2, 6], QkvB [6], ProjW [2, 2], ProjB, Ln2G, Ln2B | ≤ 48 | | 320, 384, ..., 768 |
/// | 12..=15 | ExpW1 [2, 2, 2], ExpB1 [2, 2], ExpW2 [2, 2, 2], ExpB2 [2, 2] | ≤ 32 | | 832, 896, 960, 1024 |
/// | 16 | Gate [2, 2] (task 0, block 0) | 16 | | 1088 |
/// | 17, 18 | HeadLnG, HeadLnB | 8 | | 1152, 1216 |
/// | 19 | HeadConvW 0 [2, 2, 3, 3] | 144 | | 1280 |
/// | 20 | HeadConvB 0 [2] | 8 | | 1472 |
/// | 21 | HeadConvW 1 [1, 2, 1, 1] | 8 | | 1536 |
/// | 22 | HeadConvB 1 [1] | 4 | | 1600 (ends at 1604 = weights_len) |
#[test]
fn tiny_descriptor_is_pinned() {
    let bytes = aligned(&tiny_bundle());
    let b = Bundle::parse(&bytes).unwrap();
    assert_eq!(b.weight_bytes(), 1604);
    #[rustfmt::skip]
    let expected: [u32; 51] = [
        0x5049_334D,            // 0: magic "M3IP"
        0x0001_0001,            // 1: numerics version 1, descriptor version 1 << 16
        0,                      // 2: weight mode fixed16
        0x0A20,                 // 3: activations Q(32, 10): 32 | 10 << 8
        0x0210,                 // 4: weights Q(16, 2)
        0x0010,                 // 5: patch weights Q(16, 0)
        0x0510,                 // 6: biases Q(16, 5)
        0x0710,                 // 7: attention biases Q(16, 7)
        0x0008,                 // 8: pixels UQ(8, 0)
        2, 2, 2, 2, 1, 1,       // 9..=14: image_h, image_w, patch, dim, depth, heads
        2, 2, 1, 2,             // 15..=18: mlp_hidden, experts, top_k, expert_hidden
        1, 2,                   // 19, 20: head kind light, head_width
        1, 0,                   // 21, 22: moe_blocks 0b1
        2,                      // 23: T = 1 patch + cls
        1,                      // 24: widest task output C
        0, 0, 0,                // 25..=27: MEAN = 0 (mean 0)
        65536, 65536, 65536,    // 28..=30: INVSTD = 2^16 / 1
        4295,                   // 31: EPS = f32 1e-6 · 2^32 = 4294.967... → 4295
        46341,                  // 32: ATT_SCALE = 2^16 / sqrt(2) = 46340.95 → 46341
        // 33: work words, T = 2, D = 2: 5·4 + 3·4 + 2·max(2, 2) + 4·2·1 + (2 + 1) + 2·M, M = 2 (grid 1×1:
        // conv0 2 in, 2 out; conv1 2 in, 1 out): 20 + 12 + 4 + 8 + 3 + 4 = 51.
        51,
        16,                     // 34: backbone tensors 4 + 12·1
        0, 128, 192, 256,       // 35..=38: PatchW, PatchB, ClsToken, PosEmbed
        320, 384, 448, 512, 576, 640, 704, 768, // 39..=46: Ln1G .. Ln2B
        832, 896, 960, 1024,    // 47..=50: ExpW1, ExpB1, ExpW2, ExpB2
    ];
    let h = b.hyper();
    assert_eq!(model_descriptor_words(h), 51);
    assert_eq!(work_words(h, 1), 51);
    let mut out = [0xFFFF_FFFFu32; 60];
    assert_eq!(model_descriptor(&b, &Profile::EDGE_MOE, &mut out), Ok(51));
    assert_eq!(&out[..51], &expected);
    assert!(out[51..].iter().all(|&w| w == 0xFFFF_FFFF), "wrote past the descriptor");

    // Gate table: the one MoE block's gate, tensor 16.
    assert_eq!(gate_table_words(h), 1);
    let mut gates = [0u32; 1];
    assert_eq!(gate_table(&b, 0, &mut gates), Ok(1));
    assert_eq!(gates, [1088]);

    // Head table: C = 1, then HeadLnG, HeadLnB, conv0 weight and bias, conv1 weight and bias.
    assert_eq!(head_table_words(h), 7);
    let mut head = [0u32; 7];
    assert_eq!(head_table(&b, 0, &mut head), Ok(7));
    assert_eq!(head, [1, 1152, 1216, 1280, 1472, 1536, 1600]);
}

#[test]
fn the_profile_is_in_the_descriptor() {
    let bytes = aligned(&tiny_bundle());
    let b = Bundle::parse(&bytes).unwrap();
    let mut out = [0u32; 51];
    model_descriptor(&b, &Profile::INT8, &mut out).unwrap();
    assert_eq!(out[word::WEIGHT_MODE], 2);
    assert_eq!(out[word::WEIGHT_MODE..=word::PIXEL_FORMAT], desc::profile_words(&Profile::INT8));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let bytes = aligned(&tiny_bundle());
    let b = Bundle::parse(&bytes).unwrap();
    let mut short = [0u32; 50];
    let e = model_descriptor(&b, &Profile::EDGE_MOE, &mut short);
    assert_eq!(e, Err(Error::ShapeMismatch { what: "model descriptor buffer", expected: 51, found: 50 }));
    let mut none = [0u32; 0];
    assert!(matches!(gate_table(&b, 0, &mut none), Err(Error::ShapeMismatch { expected: 1, found: 0, .. })));
    let mut head = [0u32; 6];
    assert!(matches!(head_table(&b, 0, &mut head), Err(Error::ShapeMismatch { expected: 7, found: 6, .. })));
    let mut big = [0u32; 64];
    assert_eq!(gate_table(&b, 1, &mut big), Err(Error::UnknownTask { task: 1, tasks: 1 }));
    assert_eq!(head_table(&b, 7, &mut big), Err(Error::UnknownTask { task: 7, tasks: 1 }));
    let mut bad = Profile::EDGE_MOE;
    bad.act.width = 40;
    assert!(matches!(model_descriptor(&b, &bad, &mut big), Err(Error::BadProfile { .. })));

    // A std of 2^-8 would need INVSTD = 2^24: refused.
    let h = m3rt::model::Hyper { norm_std: [1.0, 0.00390625, 1.0], ..tiny_hyper() };
    let bytes = aligned(&build(&h, &[("d", 1, PostProcess::Raw)], Dtype::F32, simple_values));
    let b = Bundle::parse(&bytes).unwrap();
    assert!(matches!(model_descriptor(&b, &Profile::EDGE_MOE, &mut big), Err(Error::Unrepresentable { .. })));
}

/// The small model (dense block then MoE block, PUP head, three tasks): each task's tables point at its
/// own tensors, in canonical order.
#[test]
fn every_task_has_its_tables() {
    let h = small_hyper();
    let bytes = aligned(&build(&h, SMALL_TASKS, Dtype::F16, simple_values));
    let b = Bundle::parse(&bytes).unwrap();
    let mut out = vec![0u32; model_descriptor_words(&h)];
    model_descriptor(&b, &Profile::EDGE_MOE, &mut out).unwrap();
    assert_eq!(out[word::OUT_CHANNELS], 21);
    assert_eq!(out[word::WORK_WORDS] as u64, work_words(&h, 21));
    assert_eq!(out[word::MOE_BLOCKS_LO..=word::MOE_BLOCKS_HI], [0b10, 0]);
    for (i, w) in out[word::OFFSETS..].iter().enumerate() {
        assert_eq!(u64::from(*w), b.weight_offset(i as u32).unwrap());
    }
    let per_task = m3rt::model::tensors_per_task(&h);
    let first_task = m3rt::model::TENSORS_BEFORE_BLOCKS + m3rt::model::TENSORS_PER_BLOCK * h.depth;
    for (t, (_, c, _)) in SMALL_TASKS.iter().enumerate() {
        let base = first_task + per_task * t as u32;
        let mut gates = [0u32; 1];
        gate_table(&b, t as u32, &mut gates).unwrap();
        assert_eq!(u64::from(gates[0]), b.weight_offset(base).unwrap());
        let mut head = [0u32; 13];
        head_table(&b, t as u32, &mut head).unwrap();
        assert_eq!(head[0], *c);
        for (j, w) in head[1..].iter().enumerate() {
            assert_eq!(u64::from(*w), b.weight_offset(base + 1 + j as u32).unwrap(), "task {t} word {}", j + 1);
        }
    }
}
