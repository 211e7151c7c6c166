//! The per-expert table: the tokens of every expert are the queue lengths the routing gives (worked by
//! hand from a routing built in the test), its kernels' cycles add up to what the layer spends outside its
//! shared kernels, and token order runs an expert once per token. SIMULATED figures.

mod support;

use m3rt_sim::model::{self, Work};
use m3rt_sim::report::{simulate, simulate_routing};
use m3rt_sim::routes::Routing;
use m3rt_sim::{Design, Schedule};

/// m3vit-t routes where token `t` of MoE layer `j` goes to experts `(t + j) mod 16` and `(t + 5) mod 16`.
fn routing() -> Routing {
    let h = support::m3vit_t();
    let layers =
        (0..h.moe_count()).map(|j| (0..h.tokens()).flat_map(|t| [(t + j) % 16, (t + 5) % 16]).collect()).collect();
    Routing { experts: 16, top_k: 2, layers }
}

#[test]
fn expert_tokens_are_the_queue_lengths() {
    // 129 tokens: experts t mod 16 take tokens 0..=128, so expert 0 takes 9 (0, 16, ..., 128) and every
    // other expert 8. Layer 0's two choices are t mod 16 and (t + 5) mod 16: expert e gets 8 or 9 from
    // each, 9 when e = 0 (first choice) or e = 5 (second choice): e0 and e5 take 17, the rest 16.
    let (d, h) = (Design::zcu104(), support::m3vit_t());
    let r = simulate_routing(&d, &h, 7, &routing(), Schedule::Reordered).unwrap();
    assert_eq!(r.experts.len(), 6 * 16);
    let b1: Vec<u64> = r.experts.iter().filter(|e| e.layer == "b1").map(|e| e.tokens).collect();
    let mut want = vec![16; 16];
    (want[0], want[5]) = (17, 17);
    assert_eq!(b1, want);
    // Layer 1 (block b3): first choices (t + 1) mod 16 give expert 1 nine tokens, second choices expert 5.
    let b3: Vec<u64> = r.experts.iter().filter(|e| e.layer == "b3").map(|e| e.tokens).collect();
    let mut want = vec![16; 16];
    (want[1], want[5]) = (17, 17);
    assert_eq!(b3, want);
    assert!(r.experts.iter().all(|e| e.calls == 1));
    assert_eq!(r.experts.iter().map(|e| e.tokens).sum::<u64>(), 6 * 129 * 2);
}

#[test]
fn expert_rows_add_up_to_the_layers_expert_kernels() {
    let (d, h) = (Design::zcu104(), support::m3vit_t());
    let queues = support::even_queues(&h);
    let r = simulate(&d, &h, 7, &queues).unwrap();
    let ops = model::encoder(&d, &h, &queues).unwrap();
    let costs = model::schedule(&d, &ops);
    for layer in ["b1", "b5", "b11"] {
        let of_experts: u64 = ops
            .iter()
            .zip(&costs)
            .filter(|(op, _)| op.layer == layer && op.kernel.starts_with('e'))
            .map(|(_, c)| c.cycles)
            .sum();
        let rows: u64 = r.experts.iter().filter(|e| e.layer == layer).map(|e| e.cost.cycles).sum();
        assert_eq!(rows, of_experts, "{layer}");
        let total = r.layers.iter().find(|l| l.name == layer).unwrap().cost.cycles;
        assert!(rows < total, "{layer}: the shared kernels take cycles too");
    }
    // An expert's MACs are its queue's: n·(192·384 + 384·192).
    let e = &r.experts[0];
    assert_eq!(e.cost.linear_macs, e.tokens * 2 * 192 * 384);
    assert!(matches!(ops[0].work, Work::Linear(_)));
}

#[test]
fn token_order_calls_each_expert_once_per_token() {
    let (d, h) = (Design::zcu104(), support::m3vit_t());
    let r = simulate_routing(&d, &h, 7, &routing(), Schedule::TokenOrder { cache_experts: 4 }).unwrap();
    let reordered = simulate_routing(&d, &h, 7, &routing(), Schedule::Reordered).unwrap();
    for (t, o) in r.experts.iter().zip(&reordered.experts) {
        assert_eq!((&t.layer, t.expert, t.tokens), (&o.layer, o.expert, o.tokens));
        assert_eq!(t.calls, t.tokens);
        assert!(t.cost.cycles > o.cost.cycles, "{} e{}: one row at a time is slower", t.layer, t.expert);
    }
}
