//! Only experts picked by some token are read, each once per layer: the backend's read counters against
//! the routing the exporter's independent NumPy reference recorded (`golden/route_<task>_<i>.npy`,
//! `[moe layers, T, k]`).

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::Bundle;
use m3rt::model::{TensorKey, TensorKind};
use m3rt_cli::convert::Precision;

use super::{loads, scratch, UnderTest};
use crate::common::*;

/// Checks the read counters on every golden input and task; returns how many (layer, expert) pairs were
/// left unread over all runs.
pub fn check<D: UnderTest>(name: &str, precision: Precision) -> u32 {
    let Some(dir) = model_dir(name) else { return 0 };
    if !loads::<D>(precision) {
        return 0;
    }
    let mut unread = 0;
    let bytes = bundle(&dir, precision);
    let bundle = Bundle::parse(&bytes).unwrap();
    let h = *bundle.hyper();
    let e = h.experts;
    // One expert's share of its block's four stacked tensors, as stored (f16 bundles store the rank-2
    // bias stacks as f16 too). Every MoE block has the same shapes, so the first one tells.
    let first_moe = (0..h.depth).find(|&b| h.is_moe(b)).expect("an MoE block");
    let per_expert: u64 = [TensorKind::ExpW1, TensorKind::ExpB1, TensorKind::ExpW2, TensorKind::ExpB2]
        .into_iter()
        .map(|k| bundle.tensor(TensorKey::block(k, first_moe)).unwrap().byte_len() as u64 / u64::from(e))
        .sum();
    let mut scratch = scratch::<D>(&bundle);
    let mut backend = D::backend(&mut scratch);
    let mut model = backend.load(bundle).unwrap();
    let moe_blocks: Vec<u32> = (0..h.depth).filter(|&b| h.is_moe(b)).collect();
    for i in 0..golden_inputs(&dir) {
        let (_, input) = npy_f32(&dir.join(format!("golden/input_{i}.npy")));
        for t in 0..bundle.task_count() {
            let task = bundle.task(t).unwrap().name;
            let (shape, route) = npy_i32(&dir.join(format!("golden/route_{task}_{i}.npy")));
            assert_eq!(shape, [moe_blocks.len(), h.tokens() as usize, h.top_k as usize]);
            model.select_task(t).unwrap();
            let mut out = vec![0f32; model.output_len().unwrap()];
            model.run(&input, &mut out).unwrap();
            let c = model.counters();
            let per_layer = route.len() / moe_blocks.len();
            let mut expected_bytes = 0;
            for (layer, &b) in moe_blocks.iter().enumerate() {
                let picked = route[layer * per_layer..(layer + 1) * per_layer].iter().fold(0u64, |m, &x| m | 1 << x);
                assert_eq!(c.experts_read[b as usize], picked, "{name}/{task}: block {b} read other experts");
                assert_eq!(c.expert_loads[b as usize], picked.count_ones(), "{name}/{task}: block {b} loads");
                assert!(picked.count_ones() <= e);
                expected_bytes += u64::from(picked.count_ones()) * per_expert;
                unread += e - picked.count_ones();
            }
            assert_eq!(c.expert_bytes, expected_bytes, "{name}/{task}: expert bytes read");
            let all = moe_blocks.len() as u64 * u64::from(e) * per_expert;
            println!("{}: {name}/{task}/input {i}: read {expected_bytes} of {all} expert bytes", D::NAME);
        }
    }
    unread
}

/// 16 experts, top-1, 9 tokens: most experts of every layer are idle, and none of them may be read.
pub fn unpicked_experts_are_never_read<D: UnderTest>() {
    let unread = check::<D>("sparse-route", Precision::F32) + check::<D>("sparse-route", Precision::F16);
    if model_dir("sparse-route").is_some() {
        assert!(unread > 0, "the sparse-route model should leave experts unread");
        println!("{}: sparse-route: {unread} (layer, expert) pairs left unread over all runs", D::NAME);
    }
}
