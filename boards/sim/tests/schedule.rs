//! The schedules: the token-order LRU cache on routes worked by hand, the token-order MoE kernels, and the
//! comparison with the reordered schedule (m3vit-t's shapes on a given routing; a small quantized model
//! end to end). Every figure is SIMULATED.

mod support;

use m3rt_sim::compare::compare_routing;
use m3rt_sim::model::{self, Work};
use m3rt_sim::report::simulate_routing;
use m3rt_sim::routes::Routing;
use m3rt_sim::schedule::{expert_bytes, lru_hits, lru_misses, onchip_weight_bytes, panel_buffer_bytes};
use m3rt_sim::{compare, profile, profile_with, Design, Schedule};

#[test]
fn lru_misses_on_a_hand_worked_route_list() {
    // Four tokens, top-2: t0 → (0, 1), t1 → (2, 0), t2 → (1, 3), t3 → (0, 2). LRU order, oldest first:
    // capacity 3: 0 miss [0]; 1 miss [0 1]; 2 miss [0 1 2]; 0 hit [1 2 0]; 1 hit [2 0 1]; 3 miss, evicts 2,
    //   [0 1 3]; 0 hit [1 3 0]; 2 miss, evicts 1, [3 0 2]: 5 misses.
    // capacity 2: 0, 1 miss; 2 evicts 0; 0 evicts 1; 1 evicts 2; 3 evicts 0; 0 evicts 1; 2 evicts 3: every
    //   route misses, 8. capacity 4: only the first use of each of the 4 experts misses.
    let routes = [0, 1, 2, 0, 1, 3, 0, 2];
    assert_eq!(lru_hits(&routes, 3), [false, false, false, true, true, false, true, false]);
    assert_eq!(lru_misses(&routes, 3), 5);
    assert_eq!(lru_misses(&routes, 2), 8);
    assert_eq!(lru_misses(&routes, 4), 4);
    assert_eq!(lru_misses(&routes, 16), 4);
}

/// m3vit-t routes where token `t` of every MoE layer goes to experts `t mod 16` and `(t + 5) mod 16`.
fn spread_routing() -> Routing {
    let h = support::m3vit_t();
    let routes: Vec<u32> = (0..h.tokens()).flat_map(|t| [t % 16, (t + 5) % 16]).collect();
    Routing { experts: 16, top_k: 2, layers: vec![routes; h.moe_count() as usize] }
}

#[test]
fn token_order_runs_each_token_alone_and_loads_on_misses_only() {
    // Every token of layer 0 goes to experts 3 and 7; the cache holds both after token 0. Token 0's experts
    // load their weights (fc1: 192·384·2 + 384·2 = 148,224 B), token 1's hit: no load, no weight bytes.
    // One row in the 16-token tile: fc1 computes ceil(1/16)·ceil(384/16)·192 = 4,608 cycles, as a queue
    // of 16 tokens would.
    let h = support::m3vit_t();
    let mut routing = spread_routing();
    routing.layers[0] = [3, 7].repeat(h.tokens() as usize);
    let d = Design::zcu104();
    let ops = model::encoder_scheduled(&d, &h, &routing, Schedule::TokenOrder { cache_experts: 2 }).unwrap();
    let panel = |name: &str| {
        let op = ops.iter().find(|o| o.layer == "b1" && o.kernel == name).unwrap();
        let Work::Linear(p) = &op.work else { panic!("{name} is a linear") };
        assert_eq!(p.len(), 1);
        p[0]
    };
    let (miss, hit) = (panel("t0.e3.fc1+gelu"), panel("t1.e3.fc1+gelu"));
    assert_eq!(miss.exec.ddr_weight_read, 148_224);
    assert_eq!(miss.load, 148_224 / 16);
    assert_eq!((hit.load, hit.exec.ddr_weight_read), (0, 0));
    assert_eq!(miss.exec.ddr_read - hit.exec.ddr_read, 148_224);
    assert_eq!(miss.exec.cycles, hit.exec.cycles);
    let b1_experts = ops.iter().filter(|o| o.layer == "b1" && o.kernel.ends_with(".fc2")).count();
    assert_eq!(b1_experts as u32, h.tokens() * 2);
    let r = simulate_routing(&d, &h, 7, &routing, Schedule::TokenOrder { cache_experts: 2 }).unwrap();
    // Layer 0: 2 misses; layers 1..5 (spread): each token's two experts differ from the last token's, so
    // with 2 slots every one of the 258 routes misses.
    assert_eq!(r.expert_loads, 2 + 5 * 258);
}

#[test]
fn a_cache_of_every_expert_moves_what_the_reordered_schedule_moves() {
    // With all 16 experts cached each expert loads once per layer, as in the reordered schedule, and the
    // activation streams are linear in the rows: the DRAM bytes are equal, the latency is not (a 16-row
    // tile holds one useful row).
    let (d, h) = (Design::zcu104(), support::m3vit_t());
    let c = compare_routing(&d, &h, 0, 7, &spread_routing(), 16).unwrap();
    println!("{c}");
    assert_eq!(c.token_order.ddr_weight_bytes, c.reordered.ddr_weight_bytes);
    assert_eq!(c.token_order.ddr_activation_bytes, c.reordered.ddr_activation_bytes);
    assert_eq!(c.token_order.expert_loads, c.reordered.expert_loads);
    assert_eq!(c.reordered.expert_loads, 16 * 6);
    assert!(c.latency_ratio() > 1.5, "{}", c.latency_ratio());
    assert!(c.energy_ratio() > 1.0);
    // On chip: 16 experts × (2·192·384·2 + (384 + 192)·2 = 296,064 B) against 2 × 147,456 × 2 B.
    assert_eq!(expert_bytes(&d, &h), 296_064);
    assert_eq!(panel_buffer_bytes(&d), 589_824);
    assert_eq!(c.token_order.onchip_weight_bytes, 16 * 296_064);
    assert_eq!(c.reordered.onchip_weight_bytes, 589_824);
    // A two-expert cache (592,128 B) is barely larger than the panel buffers; one of 1 would not hold a
    // token's two experts, and the panel buffers bound the cache from below.
    assert_eq!(onchip_weight_bytes(&d, &h, Schedule::TokenOrder { cache_experts: 2 }), 592_128);
    assert!(compare_routing(&d, &h, 0, 7, &spread_routing(), 1).is_err());
    // Smaller caches miss more: more weight traffic and time.
    let small = compare_routing(&d, &h, 0, 7, &spread_routing(), 4).unwrap();
    println!("{small}");
    assert!(small.token_order.ddr_weight_bytes > c.token_order.ddr_weight_bytes);
    assert!(small.token_order.seconds > c.token_order.seconds);
}

#[test]
fn small_quantized_model_end_to_end() {
    let (bytes, input) = (support::small_q16_bundle(), support::small_input());
    let d = Design::zcu104();
    assert_eq!(
        profile(&d, &bytes, 1, &input).unwrap(),
        profile_with(&d, &bytes, 1, &input, Schedule::Reordered).unwrap()
    );
    let t = profile_with(&d, &bytes, 1, &input, Schedule::TokenOrder { cache_experts: 2 }).unwrap();
    assert_eq!(t.schedule, Schedule::TokenOrder { cache_experts: 2 });
    println!("{t}");
    let c = compare(&d, &bytes, 1, &input, 2).unwrap();
    println!("{c}");
    assert!(c.to_string().starts_with("SIMULATED schedule comparison on zcu104"));
    // 7 tokens × 2 routes: the reordered schedule loads each used expert (≤ 4) once, the 2-expert cache
    // misses at least as often; the head is the same under both.
    assert!(c.reordered.expert_loads <= 4);
    assert!(c.token_order.expert_loads >= c.reordered.expert_loads && c.token_order.expert_loads <= 14);
    assert_eq!(c.reports[0].head, c.reports[1].head);
    assert!(c.latency_ratio() >= 1.0);
    assert!(profile_with(&d, &bytes, 1, &input, Schedule::TokenOrder { cache_experts: 1 }).is_err());
}
