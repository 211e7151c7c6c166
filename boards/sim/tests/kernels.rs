//! One test per kernel: its cycle formula on a case worked by hand in the comment. Bandwidths: a port
//! moves min(256/8, 4.8e9 / 300e6) = 16 B/cycle; the ZCU104's DDR 19.2e9 / 300e6 = 64 B/cycle, the ZCU102's
//! 17.1e9 / 300e6 = 57. Pipeline depths are 10 in both committed designs.

mod support;

use m3rt_sim::cycles::{self, Cost, Linear, Panel};
use m3rt_sim::model::{self, Op, Part, Work};
use m3rt_sim::Design;

#[test]
fn linear_tokens_tiling_qkv_on_zcu104() {
    // qkv of m3vit-t: m 129, k 192, n 576. Panel width min(576, 16·floor(147456 / (16·192)) = 768) = 576.
    // compute ceil(129/16)·ceil(576/16)·192 = 9·36·192 = 62,208. Weights 192·576·2 + 576·2 = 222,336 B,
    // load 222,336 / 16 = 13,896. Input 129·192·4 = 99,072 B = 6,192 cycles, not overlapped: 68,400;
    // output 129·576·4 = 297,216 B = 18,576 on the write channel, hidden. + depth 10 = 68,410.
    let d = Design::zcu104();
    let p = Linear::rows(129, 192, 576).panels(&d);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].load, 13_896);
    assert_eq!(p[0].exec.cycles, 68_410);
    assert_eq!(p[0].exec.linear_macs, 129 * 192 * 576);
    assert_eq!(p[0].exec.ddr_read, 99_072 + 222_336);
    assert_eq!(p[0].exec.ddr_write, 297_216);
}

#[test]
fn linear_inputs_tiling_qkv_on_edge_moe() {
    // Edge-MoE: one token per cycle, 16 inputs × 16 outputs: 129·ceil(576/16)·ceil(192/16) = 129·36·12 =
    // 55,728, streams overlapped: the output 297,216 / 16 = 18,576 and the input 6,192 are hidden;
    // + 10 = 55,738.
    let p = Linear::rows(129, 192, 576).panels(&Design::edge_moe_zcu102());
    assert_eq!(p[0].exec.cycles, 55_738);
}

#[test]
fn linear_panels_of_a_head_convolution() {
    // conv3 of the PUP head: k = 9·256 = 2304, n = 256: 16·floor(147456 / (16·2304)) = 64 columns a panel,
    // 4 panels; each loads 2304·64·2 + 64·2 = 295,040 B = 18,440 cycles.
    let p = Linear::rows(8192, 2304, 256).panels(&Design::zcu104());
    assert_eq!(p.len(), 4);
    assert!(p.iter().all(|p| p.load == 18_440));
}

#[test]
fn double_buffering_overlaps_the_next_load() {
    // A (load 100, exec 50), then a fixed kernel C (30), then B (load 80, exec 200). Double buffered: A pays
    // its load and max(50, B's load 80) = 180, C 30, B max(200, nothing) = 200. Single: 150, 30, 280.
    let exec = |cycles| Cost { cycles, ..Cost::default() };
    let op = |work| Op { layer: "x".into(), kernel: "k".into(), part: Part::Encoder, work, expert: None };
    let ops = [
        op(Work::Linear(vec![Panel { load: 100, exec: exec(50) }])),
        op(Work::Fixed(exec(30))),
        op(Work::Linear(vec![Panel { load: 80, exec: exec(200) }])),
    ];
    let mut d = Design::zcu104();
    let cycles = |d: &Design| model::schedule(d, &ops).iter().map(|c| c.cycles).collect::<Vec<_>>();
    assert_eq!(cycles(&d), [180, 30, 200]);
    d.linear.double_buffered = false;
    assert_eq!(cycles(&d), [150, 30, 280]);
}

#[test]
fn attention_passes() {
    // ZCU104: 9 tiles of 16 queries, 129 keys, 3 heads × 64/8: compute 9·129·3·8 = 27,864. Pass 1 streams
    // q (99,072 B) and every key per tile, 9·129·192·4 = 891,648 B, on one port: 990,720 / 16 = 61,920;
    // + 10 = 61,930 (memory bound). MACs 129·129·192 = 3,195,072. Pass 2 streams the values alone
    // (891,648 / 16 = 55,728) and writes the output on the write channel: 55,738.
    let [p1, p2] = cycles::attention(&Design::zcu104(), 129, 192, 3);
    assert_eq!(p1.cycles, 61_930);
    assert_eq!(p1.attention_macs, 3_195_072);
    assert_eq!(p2.cycles, 55_738);
    // Edge-MoE: 33 tiles of 4: compute 33·129·24 = 102,168; keys 33·129·192·4 = 3,269,376 B on their own
    // port = 204,336 cycles; the scores (33·4·129·3·4 = 204,336 B) go out on another; + 10 = 204,346.
    let [e1, _] = cycles::attention(&Design::edge_moe_zcu102(), 129, 192, 3);
    assert_eq!(e1.cycles, 204_346);
    assert_eq!(e1.ddr_write, 204_336);
}

#[test]
fn layernorm_single_pass() {
    // 129·192·4 = 99,072 B read and as many written, separate AXI channels: 6,192 cycles + 10.
    assert_eq!(cycles::layernorm(&Design::zcu104(), 129, 192).cycles, 6_202);
}

#[test]
fn gelu_is_fused_into_the_linear() {
    // fc1+GELU costs fc1 plus the GELU table's pipeline depth (10) per panel, and nothing else.
    let d = Design::zcu104();
    let plain = Linear::rows(129, 192, 768).panels(&d)[0];
    let gelu = Linear { gelu: true, ..Linear::rows(129, 192, 768) }.panels(&d)[0];
    assert_eq!(gelu.exec.cycles, plain.exec.cycles + 10);
    assert_eq!(gelu.load, plain.load);
}

#[test]
fn router_softmax_and_queues() {
    // ZCU104: ceil(129/16)·16 logits = 144, queues 2·129·2 = 516, two depths: 680. Edge-MoE, a token at a
    // time: 129·16 = 2064 + 516 + 20 = 2600.
    assert_eq!(cycles::router(&Design::zcu104(), 129, 16, 2).cycles, 680);
    assert_eq!(cycles::router(&Design::edge_moe_zcu102(), 129, 16, 2).cycles, 2_600);
}

#[test]
fn patch_embedding() {
    // 128 patches × K = 3·16·16 = 768 → 192: ceil(128/16)·12·768 = 73,728; pixels 3·128·256 = 98,304 B
    // = 6,144 cycles before the MACs: 79,872 + 10.
    let d = Design::zcu104();
    let l = Linear { read_bytes: 98_304, ..Linear::rows(128, 768, 192) };
    assert_eq!(l.panels(&d)[0].exec.cycles, 79_882);
}

#[test]
fn moe_layer_runs_only_the_non_empty_queues() {
    // Layer 0 sends 3 tokens to expert 5 and nothing elsewhere: block 1 runs e5.fc1+gelu (ceil(3/16)·
    // (384/16)·192 = 4,608 compute cycles), e5.fc2 and e5.scatter, and no other expert.
    let h = support::m3vit_t();
    let mut q = vec![vec![0u32; 16]; 6];
    q[0][5] = 3;
    let d = Design::zcu104();
    let ops = model::encoder(&d, &h, &q).unwrap();
    let b1: Vec<&str> = ops.iter().filter(|o| o.layer == "b1").map(|o| o.kernel.as_str()).collect();
    assert_eq!(
        b1,
        [
            "ln1",
            "qkv",
            "attn.pass1",
            "attn.pass2",
            "proj",
            "res1",
            "ln2",
            "gate",
            "router",
            "e5.fc1+gelu",
            "e5.fc2",
            "e5.scatter",
            "res2"
        ]
    );
    assert_eq!(Linear::rows(3, 192, 384).compute_cycles(&d, 384), 4_608);
}
