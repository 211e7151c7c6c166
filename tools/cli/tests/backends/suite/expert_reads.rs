//! Only experts picked by some token are read, each once per layer: the backend's read counters against
//! the routing the exporter's independent NumPy reference recorded (`golden/route_<task>_<i>.npy`,
//! `[moe layers, T, k]`). A backend whose routing may flip near-ties (fixed point) is checked against its
//! own router's decisions ([`UnderTest::own_routes`]), exactly, and its choices that differ from NumPy's
//! are counted and held to [`super::Bounds::route_flips`].

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::Bundle;
use m3rt::model::{TensorKey, TensorKind};
use m3rt_cli::convert::Precision;

use super::{precisions, scratch, UnderTest};
use crate::common::*;

/// Checks the read counters on every golden input and task; returns how many (layer, expert) pairs were
/// left unread over all runs.
pub fn check<D: UnderTest>(name: &str, precision: Precision) -> u32 {
    let Some(dir) = model_dir(name) else { return 0 };
    let mut unread = 0;
    let bytes = bundle(&dir, precision);
    let bundle = Bundle::parse(&bytes).unwrap();
    let h = *bundle.hyper();
    let (e, k) = (h.experts, h.top_k as usize);
    // One expert's share of its block's four stacked tensors, as stored (f16 bundles store the rank-2
    // bias stacks as f16 too; int8 ones add each expert's scales). Every MoE block has the same shapes, so
    // the first one tells.
    let first_moe = (0..h.depth).find(|&b| h.is_moe(b)).expect("an MoE block");
    let per_expert: u64 = [TensorKind::ExpW1, TensorKind::ExpB1, TensorKind::ExpW2, TensorKind::ExpB2]
        .into_iter()
        .map(|k| bundle.tensor(TensorKey::block(k, first_moe)).unwrap().byte_len() as u64 / u64::from(e))
        .sum();
    let mut scratch = scratch::<D>(&bundle);
    let mut backend = D::backend(&mut scratch);
    let mut model = backend.load(bundle).unwrap();
    let moe_blocks: Vec<u32> = (0..h.depth).filter(|&b| h.is_moe(b)).collect();
    let (mut flips, mut choices) = (0usize, 0usize);
    for i in 0..golden_inputs(&dir) {
        let (_, input) = npy_f32(&dir.join(format!("golden/input_{i}.npy")));
        for t in 0..bundle.task_count() {
            let task = bundle.task(t).unwrap().name;
            let (shape, numpy) = npy_i32(&dir.join(format!("golden/route_{task}_{i}.npy")));
            assert_eq!(shape, [moe_blocks.len(), h.tokens() as usize, k]);
            let own = D::own_routes(&bundle, t, &input);
            let route = own.as_deref().unwrap_or(&numpy);
            assert_eq!(route.len(), numpy.len(), "{name}/{task}: the backend's routes have the reference's shape");
            // Per token, the kept experts (k different ones) not among NumPy's for that token.
            for (ours, reference) in route.chunks_exact(k).zip(numpy.chunks_exact(k)) {
                assert!((1..k).all(|j| !ours[..j].contains(&ours[j])), "{name}/{task}: a token kept {ours:?}");
                flips += ours.iter().filter(|x| !reference.contains(x)).count();
                choices += k;
            }
            model.select_task(t).unwrap();
            let mut out = vec![0f32; model.output_len().unwrap()];
            model.run(&input, &mut out).unwrap();
            let c = model.counters();
            let per_layer = route.len() / moe_blocks.len();
            let mut expected_bytes = 0;
            for (layer, &b) in moe_blocks.iter().enumerate() {
                let layer_route = &route[layer * per_layer..(layer + 1) * per_layer];
                assert!(layer_route.iter().all(|&x| (0..e as i32).contains(&x)), "{name}/{task}: block {b} routes");
                let picked = layer_route.iter().fold(0u64, |m, &x| m | 1 << x);
                assert_eq!(c.experts_read[b as usize], picked, "{name}/{task}: block {b} read other experts");
                assert_eq!(c.expert_loads[b as usize], picked.count_ones(), "{name}/{task}: block {b} loads");
                assert!(picked.count_ones() <= e);
                expected_bytes += u64::from(picked.count_ones()) * per_expert;
                unread += e - picked.count_ones();
            }
            assert_eq!(c.expert_bytes, expected_bytes, "{name}/{task}: expert bytes read");
            let all = moe_blocks.len() as u64 * u64::from(e) * per_expert;
            println!("{}: {name}/{task}/input {i}/{precision:?}: read {expected_bytes} of {all} expert bytes", D::NAME);
        }
    }
    let share = flips as f64 / choices as f64;
    println!(
        "{}: {name}/{precision:?}: {flips} of {choices} routing choices differ from NumPy's ({:.3}%)",
        D::NAME,
        100.0 * share
    );
    let bound = D::bounds(name, precision).route_flips;
    assert!(share <= bound, "{}: {name}/{precision:?}: {flips} of {choices} routing choices flipped", D::NAME);
    unread
}

/// 16 experts, top-1, 9 tokens: most experts of every layer are idle, and none of them may be read.
pub fn unpicked_experts_are_never_read<D: UnderTest>() {
    let unread: u32 = precisions::<D>().map(|p| check::<D>("sparse-route", p)).sum();
    if model_dir("sparse-route").is_some() {
        assert!(unread > 0, "the sparse-route model should leave experts unread");
        println!("{}: sparse-route: {unread} (layer, expert) pairs left unread over all runs", D::NAME);
    }
}
