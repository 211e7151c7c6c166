//! The non-linear units and the linear unit in three implementations, bit for bit: the Rust golden model
//! (`m3rt::fixed::{gelu, softmax, linear}`), the IP's own C++ (`include/m3rt/`, native integers) and the
//! checker's `ap_fixed` formulation of `docs/fixed-point.md` (`check/kernel_ap.cpp`). Properties on random
//! inputs (fixed seed) with the edges weighted in, and hand-worked cases with their arithmetic.
//!
//! Needs the C simulation (`cargo xtask csim` installs its headers): without it the test says it was skipped
//! and why, and fails under `M3RT_REQUIRE_CSIM=1`.

#[cfg(m3rt_csim_skipped)]
#[test]
fn kernel_semantics_skipped() {
    assert!(!m3rt_hls::csim_available("kernel_semantics"));
}

#[cfg(not(m3rt_csim_skipped))]
mod csim {
    use std::fmt::Debug;
    use std::sync::OnceLock;

    use m3rt::fixed::linear::{self as model_linear, Layout, LinearCfg, Weights};
    use m3rt::fixed::softmax::{self as model_softmax, OnlineSoftmax, ONE};
    use m3rt::fixed::tables::Tables;
    use m3rt::fixed::{gelu as model_gelu, Profile};
    use m3rt_hls::kernel_check::{self as cpp, Bias, Impl, LinearImpl, Rows, Softmax};
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;
    use proptest::test_runner::{Config, RngSeed};

    /// The profile the IP and the checker are compiled for.
    const PROFILE: Profile = Profile::EDGE_MOE;
    /// Its activation width and fraction bits.
    const WA: u32 = 32;
    const FA: u32 = 22;
    /// `-(32 << Fa)`: exp_neg is 0 from here down.
    const CUTOFF: i64 = -(32 << FA);
    /// The most negative difference of two activations (the `ap_fixed` exp_neg's domain starts there).
    const DIFF_MIN: i64 = -(1 << 32);
    /// `|x| = 5.5` (176 steps of 1/32): GELU is ReLU from here on.
    const RELU_FROM: i32 = 176 << 17;

    fn tables() -> &'static Tables {
        static T: OnceLock<Tables> = OnceLock::new();
        T.get_or_init(|| Tables::new(FA))
    }

    /// The properties' runner: a fixed seed (the same cases every run), no persisted failures.
    fn config(cases: u32) -> Config {
        Config { cases, rng_seed: RngSeed::Fixed(0x6b63_6865_636b), failure_persistence: None, ..Config::default() }
    }

    #[test]
    fn the_checker_is_built_for_the_profile_tested_here() {
        assert_eq!((PROFILE.act.width, PROFILE.fa()), (WA as u8, FA));
        assert_eq!((PROFILE.weight.frac(), PROFILE.patch_weight.frac()), (14, 16));
        assert_eq!((PROFILE.bias.frac(), PROFILE.attn_bias.frac()), (11, 9));
        // The C side refuses the formats of another profile.
        let x = Rows { a: &[1], rows: 1, k: 1, n: 1, bias: None };
        for imp in [LinearImpl::Ip(Layout::InOut), LinearImpl::ApFixed] {
            assert_eq!(cpp::linear16(imp, &x, &[1], 13), None, "{imp:?}");
            let b = Rows { bias: Some(Bias { values: &[1], frac: 10 }), ..x };
            assert_eq!(cpp::linear16(imp, &b, &[1], 14), None, "{imp:?}");
            assert_eq!(cpp::linear8(imp, &x, &[1], &[1 << 22]), None, "{imp:?}: a shift above 63");
        }
        assert_eq!(cpp::exp_neg(Impl::ApFixed, DIFF_MIN - 1), None);
        assert_eq!(cpp::softmax(Impl::Ip, &[]), None);
    }

    /// The three results, or the failure spelled out.
    fn three<T: PartialEq + Debug>(what: &str, rust: T, ip: Option<T>, ap: Option<T>) -> Result<(), TestCaseError> {
        if ip.as_ref() == Some(&rust) && ap.as_ref() == Some(&rust) {
            return Ok(());
        }
        Err(TestCaseError::fail(format!(
            "{what}:\n  m3rt::fixed:          {rust:?}\n  IP (include/m3rt):    {ip:?}\n  ap_fixed formulation: {ap:?}"
        )))
    }

    /// Equal vectors from every implementation, or the first difference spelled out.
    fn same_vecs<T: PartialEq + Debug>(what: &str, results: &[(&str, Option<Vec<T>>)]) -> Result<(), TestCaseError> {
        let (first, want) = &results[0];
        let want = want.as_ref().expect("the Rust model always has a result");
        for (name, got) in &results[1..] {
            let Some(got) = got else {
                return Err(TestCaseError::fail(format!("{what}: {name} refused the arguments")));
            };
            if got.len() != want.len() {
                return Err(TestCaseError::fail(format!(
                    "{what}: {name} gave {} values, {first} {}",
                    got.len(),
                    want.len()
                )));
            }
            if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
                let all: Vec<String> =
                    results.iter().map(|(n, v)| format!("\n  {n:<28} {:?}", v.as_ref().map(|v| &v[i]))).collect();
                return Err(TestCaseError::fail(format!(
                    "{what}: value {i} of {} differs:{}",
                    want.len(),
                    all.concat()
                )));
            }
        }
        Ok(())
    }

    // ---- GELU ------------------------------------------------------------------------------------------

    fn rust_gelu(x: i32) -> i32 {
        model_gelu::gelu(x, FA, WA, tables())
    }

    /// Activations over the whole i32 range and at every scale, densely around the table points (steps of
    /// 1/32 = 2^17 raw, both signs, one past the table too), 0 and ±5.5.
    fn gelu_input() -> impl Strategy<Value = i32> {
        prop_oneof![
            3 => any::<i32>(),
            2 => (any::<i32>(), 0u32..32).prop_map(|(v, s)| v >> s),
            3 => (0i32..=178, -300i32..=300, any::<bool>()).prop_map(|(i, d, neg)| {
                let v = (i << 17) + d;
                if neg { -v } else { v }
            }),
            1 => -3000i32..=3000,
            1 => (-3000i32..=3000, any::<bool>()).prop_map(|(d, neg)| (RELU_FROM + d) * if neg { -1 } else { 1 }),
            1 => select(vec![i32::MIN, i32::MIN + 1, i32::MAX, i32::MAX - 1, 0, 1, -1, RELU_FROM, -RELU_FROM]),
        ]
    }

    proptest! {
        #![proptest_config(config(20_000))]

        #[test]
        fn gelu_matches_in_all_three(x in gelu_input()) {
            three(&format!("gelu({x}) (≈ {})", f64::from(x) / f64::from(1 << FA)), rust_gelu(x),
                cpp::gelu(Impl::Ip, x), cpp::gelu(Impl::ApFixed, x))?;
        }
    }

    #[test]
    fn gelu_around_every_table_point() {
        // Every activation within 256 units of each step point i/32 (i = 0..=178, past the table's end),
        // both signs: 179 · 513 · 2 values.
        for i in 0..=178i32 {
            for d in -256..=256 {
                for x in [(i << 17) + d, -((i << 17) + d)] {
                    let (rust, ip, ap) = (rust_gelu(x), cpp::gelu(Impl::Ip, x), cpp::gelu(Impl::ApFixed, x));
                    assert!(ip == Some(rust) && ap == Some(rust), "gelu({x}): m3rt {rust}, IP {ip:?}, ap_fixed {ap:?}");
                }
            }
        }
    }

    #[test]
    fn gelu_by_hand() {
        let cases = [
            // 1.0: i = 32, r = 0, so c = GELU_T[32] = 665448 (Φ(-1)·2^22): 4194304 - 665448.
            (1 << 22, 3_528_856),
            // -1.0: ReLU 0 minus the same c.
            (-(1 << 22), -665_448),
            // 0.515625 = 16.5 steps: i = 16, r = 2^16; T[16] = 647050, T[17] = 663170, (16120·2^16) >> 17 = 8060,
            // c = 655110: 2162688 - 655110 = 1507578 (≈ 0.359433; x·Φ(x) = 0.359350).
            (2_162_688, 1_507_578),
            // 5.5 - 2^-22: i = 175, r = 2^17 - 1; T[175] = 1, T[176] = 0: (-1·131071) >> 17 = -1 (floor, not
            // toward zero), so c = 0 and the result is x itself; toward zero would have given c = 1.
            (RELU_FROM - 1, RELU_FROM - 1),
            (-(RELU_FROM - 1), 0),
            // 5.5 and beyond: ReLU.
            (RELU_FROM, RELU_FROM),
            (-RELU_FROM, 0),
            // -512: |x| = 2^31 needs the 33rd bit (the IP takes it in 64, the ap_fixed form in ap_ufixed<32,10>).
            (i32::MIN, 0),
            (i32::MAX, i32::MAX),
            (0, 0),
        ];
        for (x, want) in cases {
            assert_eq!(rust_gelu(x), want, "m3rt::fixed gelu({x})");
            assert_eq!(cpp::gelu(Impl::Ip, x), Some(want), "IP gelu({x})");
            assert_eq!(cpp::gelu(Impl::ApFixed, x), Some(want), "ap_fixed gelu({x})");
        }
    }

    // ---- exp_neg and rescale -----------------------------------------------------------------------------

    fn rust_exp(x: i64) -> i64 {
        model_softmax::exp_neg(x, FA, tables())
    }

    /// Non-positive differences of two activations: uniform, at every scale, around the cutoff -32, around
    /// the points where x·log2(e) crosses an integer (the shift changes there) and the edges.
    fn exp_input() -> impl Strategy<Value = i64> {
        // x with x·LOG2E = -k·2^52: the integer part of t steps from -k to -k - 1 about here.
        let crossings: Vec<i64> = (0..=47i64).map(|k| -((k << 52) / m3rt::fixed::tables::LOG2E)).collect();
        prop_oneof![
            3 => DIFF_MIN..=0i64,
            3 => (any::<u32>(), 0u32..32).prop_map(|(r, s)| -i64::from(r >> s)),
            2 => (CUTOFF - 500..=CUTOFF + 500).boxed(),
            2 => (select(crossings), -64i64..=64).prop_map(|(x, d)| (x + d).min(0)),
            1 => select(vec![0, -1, -2, DIFF_MIN, DIFF_MIN + 1, CUTOFF, CUTOFF + 1, CUTOFF - 1, -(1 << FA)]),
        ]
    }

    /// `0 ..= i64::MAX` at every scale.
    fn magnitude() -> impl Strategy<Value = i64> {
        (any::<u64>(), 0u32..64).prop_map(|(r, sh)| (r >> 1 >> sh) as i64)
    }

    proptest! {
        #![proptest_config(config(20_000))]

        #[test]
        fn exp_neg_matches_in_all_three(x in exp_input()) {
            three(&format!("exp_neg({x}) (x ≈ {})", x as f64 / f64::from(1 << FA)), rust_exp(x),
                cpp::exp_neg(Impl::Ip, x), cpp::exp_neg(Impl::ApFixed, x))?;
        }

        #[test]
        fn exp_neg_of_any_non_positive_i64_matches_the_ip(
            x in prop_oneof![i64::MIN..=0, magnitude().prop_map(|m| -m)],
        ) {
            // Outside the differences of two activations only the model and the IP (any x <= 0) take x.
            prop_assert_eq!(Some(rust_exp(x)), cpp::exp_neg(Impl::Ip, x), "exp_neg({})", x);
        }

        #[test]
        fn rescale_is_the_exact_floor_in_all_three(
            s in prop_oneof![magnitude(), select(vec![0, 1, ONE, i64::MAX])],
            e in prop_oneof![0..=ONE, select(vec![0, 1, ONE - 1, ONE])],
        ) {
            let exact = ((i128::from(s) * i128::from(e)) >> 30) as i64;
            let what = format!("rescale({s}, {e}) (exact floor {exact})");
            prop_assert_eq!(model_softmax::rescale(s, e), exact, "{}", what);
            three(&what, exact, cpp::rescale(Impl::Ip, s, e), cpp::rescale(Impl::ApFixed, s, e))?;
        }
    }

    #[test]
    fn exp_neg_by_hand() {
        let cases = [
            // exp(0) = 1 = 2^30.
            (0, ONE),
            // exp(-1): t = floor(-2^22·1549082005 / 2^30) = -6051102; ip = floor(t / 2^22) = -2 (t ≈ -1.4427),
            // fp = t + 2·2^22 = 2337506; i = fp >> 16 = 35, r = 43746; T[35] = 1568648537, T[36] = 1585730000,
            // ((T[36] - T[35])·r) >> 16 = 11402064, m = 1580050601 (2^0.5573); >> 2: 395012650 (e^-1·2^30 =
            // 395007542.4).
            (-(1 << 22), 395_012_650),
            // exp(-2^-22): t = floor(-1549082005 / 2^30) = -2 (floor, not -1), ip = -1, fp = 2^22 - 2: i = 63,
            // r = 65534, m = 2147482942; >> 1: 1073741471.
            (-1, 1_073_741_471),
            // -32 and below: 0. Just above, t = -193635250, ip = -47: m = 1913780678 >> 47 = 0 too.
            (CUTOFF, 0),
            (CUTOFF + 1, 0),
            (DIFF_MIN, 0),
        ];
        for (x, want) in cases {
            assert_eq!(rust_exp(x), want, "m3rt::fixed exp_neg({x})");
            assert_eq!(cpp::exp_neg(Impl::Ip, x), Some(want), "IP exp_neg({x})");
            assert_eq!(cpp::exp_neg(Impl::ApFixed, x), Some(want), "ap_fixed exp_neg({x})");
        }
        // rescale: s = 300.5 (300 ones and a half), e = 1/3 (357913941): floor(s·e / 2^30) = 107553139270
        // (≈ 100.1667·2^30), what the spec's two halves give: 300·357913941 + ((2^29·357913941) >> 30).
        let (s, e) = (300 * ONE + ONE / 2, 357_913_941);
        let want = 300 * e + ((ONE / 2 * e) >> 30);
        assert_eq!(want, 107_553_139_270);
        assert_eq!(i128::from(want), (i128::from(s) * i128::from(e)) >> 30);
        for imp in [Impl::Ip, Impl::ApFixed] {
            assert_eq!(cpp::rescale(imp, s, e), Some(want), "{imp:?}");
        }
    }

    // ---- the online softmax ------------------------------------------------------------------------------

    fn rust_softmax(v: &[i32]) -> (Softmax, Vec<i64>) {
        let t = tables();
        let mut s = OnlineSoftmax::start(v[0].into());
        for &x in &v[1..] {
            s.push(x.into(), FA, t);
        }
        let inv = s.inverse();
        let prob: Vec<i64> = v.iter().map(|&x| s.prob(x.into(), inv, FA, t)).collect();
        (Softmax { max: s.max, sum: s.sum, inv, prob: vec![] }, prob)
    }

    fn clamp_act(v: i64) -> i32 {
        v.clamp(i32::MIN.into(), i32::MAX.into()) as i32
    }

    /// Rows of 1..=300 activations: spread over the whole range, narrow around a random centre (spreads
    /// 2^0..2^30), ties among a few values, and walks that mostly rise (steps of 0 = ties, tiny, up to 1.0,
    /// or a drop): long rising runs after plateaus make every new maximum rescale a sum of many terms.
    fn row() -> impl Strategy<Value = Vec<i32>> {
        let len = 1usize..=300;
        let step = prop_oneof![
            2 => Just(0i64),
            3 => 1i64..=1024,
            3 => 1i64..=(1 << 22),
            1 => -(1i64 << 24)..0,
        ];
        prop_oneof![
            2 => vec(any::<i32>(), len.clone()),
            3 => (any::<i32>(), 0u32..=30, len.clone()).prop_flat_map(|(c, bits, n)| {
                vec(-(1i64 << bits)..=(1i64 << bits), n)
                    .prop_map(move |d| d.into_iter().map(|d| clamp_act(i64::from(c) + d)).collect())
            }),
            2 => (vec(any::<i32>(), 1..=3), vec(any::<prop::sample::Index>(), len.clone()))
                .prop_map(|(vals, picks)| picks.iter().map(|p| vals[p.index(vals.len())]).collect()),
            3 => (any::<i32>(), vec(step, len)).prop_map(|(start, steps)| {
                let walk = steps.iter().scan(i64::from(start >> 2), |v, d| {
                    *v = i64::from(clamp_act(*v + d));
                    Some(*v as i32)
                });
                walk.collect()
            }),
        ]
    }

    fn check_softmax(v: &[i32]) -> Result<(), TestCaseError> {
        let (rust, rust_prob) = rust_softmax(v);
        let what =
            format!("softmax of {} values {:?}{}", v.len(), &v[..v.len().min(8)], if v.len() > 8 { "…" } else { "" });
        let (ip, ap) = (cpp::softmax(Impl::Ip, v), cpp::softmax(Impl::ApFixed, v));
        let state = |s: &Softmax| (s.max, s.sum, s.inv);
        three(&format!("{what}: (max, sum, inv)"), state(&rust), ip.as_ref().map(state), ap.as_ref().map(state))?;
        let wide = |s: Option<Softmax>| s.map(|s| s.prob.iter().map(|&p| i64::from(p)).collect::<Vec<_>>());
        same_vecs(
            &format!("{what}: prob"),
            &[("m3rt::fixed", Some(rust_prob)), ("IP (include/m3rt)", wide(ip)), ("ap_fixed formulation", wide(ap))],
        )
    }

    proptest! {
        #![proptest_config(config(10_000))]

        #[test]
        fn online_softmax_matches_in_all_three(v in row()) {
            check_softmax(&v)?;
        }
    }

    #[test]
    fn softmax_by_hand() {
        // One value: s = 2^30, inv = 2^60 / 2^30 = 2^30, prob = (2^30·2^30) >> 38 = 2^22 = 1.
        // Two ties: s = 2^31, inv = 2^29, each prob 2^21 = 0.5.
        // [0, 1, 2] (rising, F = 22): at 1, s = rescale(2^30, exp(-1) = 395012650) + 2^30 = 1468754474; at 2,
        // s = rescale(1468754474, 395012650) + 2^30 = 1614073386; inv = floor(2^60 / s) = 714293113;
        // probs (145317034, 395012650, 2^30)·inv >> 38 = 377618, 1026473, 2790207 (sum 4194298 = 1 - 6·2^-22).
        // [2, 1, 0] (falling) adds exp(-1) and exp(-2) = 145317034 directly: s = 1614071508, not 1614073386 —
        // the one-pass sum depends on the order (the rescale floors), and so does inv = 714293944.
        let one = 1 << FA;
        let cases: [(&[i32], i64, i64, &[i32]); 4] = [
            (&[5], ONE, ONE, &[one]),
            (&[0, 0], 2 * ONE, ONE / 2, &[one / 2, one / 2]),
            (&[0, one, 2 * one], 1_614_073_386, 714_293_113, &[377_618, 1_026_473, 2_790_207]),
            (&[2 * one, one, 0], 1_614_071_508, 714_293_944, &[2_790_210, 1_026_474, 377_618]),
        ];
        for (v, sum, inv, prob) in cases {
            let max = i64::from(*v.iter().max().unwrap());
            let want = Softmax { max, sum, inv, prob: prob.to_vec() };
            let (rust, rust_prob) = rust_softmax(v);
            assert_eq!((rust.max, rust.sum, rust.inv), (max, sum, inv), "m3rt::fixed {v:?}");
            assert_eq!(rust_prob, prob.iter().map(|&p| i64::from(p)).collect::<Vec<_>>(), "m3rt::fixed {v:?}");
            assert_eq!(cpp::softmax(Impl::Ip, v).as_ref(), Some(&want), "IP {v:?}");
            assert_eq!(cpp::softmax(Impl::ApFixed, v).as_ref(), Some(&want), "ap_fixed {v:?}");
        }
        // 300 ties then a rise of 2^-22: the sum holds 300 ones when the new maximum rescales it.
        let mut v = vec![7 << 20; 300];
        v.push((7 << 20) + 1);
        check_softmax(&v).unwrap();
    }

    // ---- the linear unit ---------------------------------------------------------------------------------

    /// A random invocation of the linear unit.
    #[derive(Clone, Debug)]
    struct Case<W> {
        rows: usize,
        k: usize,
        n: usize,
        a: Vec<i32>,
        /// `[k, n]`.
        w: Vec<W>,
        bias: Option<(Vec<i16>, u32)>,
    }

    impl<W: Copy> Case<W> {
        fn rows(&self) -> Rows<'_> {
            let bias = self.bias.as_ref().map(|(values, frac)| Bias { values, frac: *frac });
            Rows { a: &self.a, rows: self.rows, k: self.k, n: self.n, bias }
        }

        /// `w` stored `[n, k]`.
        fn transposed(&self) -> Vec<W> {
            (0..self.n).flat_map(|j| (0..self.k).map(move |c| self.w[c * self.n + j])).collect()
        }

        fn what(&self, extra: &str) -> String {
            let bias = self.bias.as_ref().map_or("no bias".into(), |(_, f)| format!("bias F = {f}"));
            format!("linear {}×{} · {}×{} ({bias}{extra})", self.rows, self.k, self.k, self.n)
        }
    }

    /// Activations: the whole range, every scale, the edges.
    fn act() -> impl Strategy<Value = i32> {
        prop_oneof![
            2 => any::<i32>(),
            2 => (any::<i32>(), 0u32..31).prop_map(|(v, s)| v >> s),
            1 => select(vec![i32::MIN, i32::MAX, 0, 1, -1]),
        ]
    }

    fn shapes(max_k: usize) -> impl Strategy<Value = (usize, usize, usize)> {
        // n past 64 (the model's column tile) and 16 (the IP's column group) now and then.
        (1usize..=4, 1usize..=max_k, prop_oneof![4 => 1usize..=20, 1 => 21usize..=80])
    }

    fn case<W: Debug + Clone + 'static>(
        max_k: usize,
        weight: impl Strategy<Value = W> + Clone + 'static,
    ) -> impl Strategy<Value = Case<W>> {
        let bias_frac = select(vec![PROFILE.bias.frac() as u32, PROFILE.attn_bias.frac() as u32]);
        shapes(max_k).prop_flat_map(move |(rows, k, n)| {
            let bias = proptest::option::of((vec(any::<i16>(), n), bias_frac.clone()));
            (vec(act(), rows * k), vec(weight.clone(), k * n), bias).prop_map(move |(a, w, bias)| Case {
                rows,
                k,
                n,
                a,
                w,
                bias,
            })
        })
    }

    fn rust_linear(c: &Case<impl Copy>, weights: Weights<'_>, layout: Layout) -> Vec<i32> {
        let cfg = LinearCfg { rows: c.rows, cols_in: c.k, cols_out: c.n, wa: WA, fa: FA, layout };
        let bias = c.bias.as_ref().map(|(values, frac)| model_linear::Bias { values, frac: *frac });
        let mut y = vec![0; c.rows * c.n];
        model_linear::linear(&cfg, &c.a, &weights, bias.as_ref(), &mut y).expect("a valid linear call");
        y
    }

    fn check_linear16(c: &Case<i16>, frac: u32) -> Result<(), TestCaseError> {
        let t = c.transposed();
        let x = c.rows();
        same_vecs(
            &c.what(&format!(", weights F = {frac}")),
            &[
                ("m3rt::fixed [in, out]", Some(rust_linear(c, Weights::Q16 { values: &c.w, frac }, Layout::InOut))),
                ("m3rt::fixed [out, in]", Some(rust_linear(c, Weights::Q16 { values: &t, frac }, Layout::OutIn))),
                ("IP linear() [in, out]", cpp::linear16(LinearImpl::Ip(Layout::InOut), &x, &c.w, frac)),
                ("IP linear() [out, in]", cpp::linear16(LinearImpl::Ip(Layout::OutIn), &x, &c.w, frac)),
                ("ap_fixed formulation", cpp::linear16(LinearImpl::ApFixed, &x, &c.w, frac)),
            ],
        )
    }

    fn check_linear8(c: &Case<i8>, scales: &[u32]) -> Result<(), TestCaseError> {
        let t = c.transposed();
        let x = c.rows();
        let per = if scales.len() == 1 { "one scale" } else { "a scale per column" };
        same_vecs(
            &c.what(&format!(", int8 weights, {per}: {:x?}", &scales[..scales.len().min(4)])),
            &[
                ("m3rt::fixed [in, out]", Some(rust_linear(c, Weights::Q8 { values: &c.w, scales }, Layout::InOut))),
                ("m3rt::fixed [out, in]", Some(rust_linear(c, Weights::Q8 { values: &t, scales }, Layout::OutIn))),
                ("IP linear() [in, out]", cpp::linear8(LinearImpl::Ip(Layout::InOut), &x, &c.w, scales)),
                ("IP linear() [out, in]", cpp::linear8(LinearImpl::Ip(Layout::OutIn), &x, &c.w, scales)),
                ("ap_fixed formulation", cpp::linear8(LinearImpl::ApFixed, &x, &c.w, scales)),
            ],
        )
    }

    /// A scale word `mantissa | shift << 16`: any mantissa (0 included), shift 0..=63.
    fn scale_word() -> impl Strategy<Value = u32> {
        (prop_oneof![3 => any::<u16>(), 1 => select(vec![0u16, 1, 0x8000, 0xffff])], 0u32..=63)
            .prop_map(|(m, s)| u32::from(m) | s << 16)
    }

    /// One scale word or one per column.
    fn scales_for(n: usize) -> impl Strategy<Value = Vec<u32>> {
        prop_oneof![vec(scale_word(), 1), vec(scale_word(), n)]
    }

    proptest! {
        #![proptest_config(config(5_000))]

        #[test]
        fn linear_with_16_bit_weights_matches_in_all_three(
            c in case(64, prop_oneof![4 => any::<i16>(), 1 => select(vec![i16::MIN, i16::MAX, 0, 1, -1])]),
            frac in select(vec![PROFILE.weight.frac() as u32, PROFILE.patch_weight.frac() as u32]),
        ) {
            check_linear16(&c, frac)?;
        }

        #[test]
        fn linear_with_int8_weights_matches_in_all_three(
            (c, scales) in case(64, any::<i8>()).prop_flat_map(|c| { let n = c.n; (Just(c), scales_for(n)) }),
        ) {
            check_linear8(&c, &scales)?;
        }
    }

    proptest! {
        #![proptest_config(config(256))]

        /// Long rows of large values: |acc·m| passes 2^63 (K·2^31·2^7·2^16), where the spec's 128-bit product
        /// is needed before the shift.
        #[test]
        fn int8_products_past_64_bits_match_in_all_three(
            (c, scales) in (1usize..=2, 512usize..=3456, 1usize..=3)
                .prop_flat_map(|(rows, k, n)| (
                    vec(prop_oneof![any::<i32>(), select(vec![i32::MIN, i32::MAX])], rows * k),
                    vec(prop_oneof![any::<i8>(), select(vec![i8::MIN, i8::MAX])], k * n),
                    vec(scale_word(), n),
                    Just((rows, k, n)),
                ))
                .prop_map(|(a, w, scales, (rows, k, n))| (Case { rows, k, n, a, w, bias: None }, scales)),
        ) {
            check_linear8(&c, &scales)?;
        }
    }

    #[test]
    fn linear_by_hand() {
        let fb = PROFILE.bias.frac() as u32;
        // a = [1.5, -0.25], W = [[0.5, 1], [2^-14, -1]] (F = 14), b = [0.125, 0] (F = 11):
        // column 0: 1.5·0.5 - 0.25·2^-14 + 0.125 = 0.875 - 2^-16, floored to F = 22: 3670016 - 64 = 3669952;
        // column 1: 1.5 + 0.25 = 1.75 = 7340032.
        let c = Case {
            rows: 1,
            k: 2,
            n: 2,
            a: vec![6_291_456, -(1 << 20)],
            w: vec![8192, 16384, 1, -16384],
            bias: Some((vec![256, 0], fb)),
        };
        check_linear16(&c, 14).unwrap();
        assert_eq!(cpp::linear16(LinearImpl::ApFixed, &c.rows(), &c.w, 14), Some(vec![3_669_952, 7_340_032]));
        // Wrapping: a = 2^31 - 1 (≈ 512), w = 2^15 - 1 (≈ 2): acc = 2^46 - 2^31 - 2^15 + 1 (F = 36), >> 14 =
        // 2^32 - 131074, wrapped to 32 bits: -131074 (the product ≈ 1024 does not fit Q(32, 10)).
        let c = Case { rows: 1, k: 1, n: 1, a: vec![i32::MAX], w: vec![i16::MAX], bias: None };
        check_linear16(&c, 14).unwrap();
        assert_eq!(cpp::linear16(LinearImpl::Ip(Layout::InOut), &c.rows(), &c.w, 14), Some(vec![-131_074]));
        // int8: q = [2, -3], m = 0x8000, s = 20 (scale 2^-5): W = [1/16, -3/32]; a = [1, 1] gives -1/32 = -2^17.
        let c = Case { rows: 1, k: 2, n: 1, a: vec![1 << 22, 1 << 22], w: vec![2i8, -3], bias: None };
        let word = 0x8000 | 20 << 16;
        check_linear8(&c, &[word]).unwrap();
        assert_eq!(cpp::linear8(LinearImpl::ApFixed, &c.rows(), &c.w, &[word]), Some(vec![-(1 << 17)]));
        // int8 past 64 bits: 3456 × (-2^31)·(-128): acc = 3456·2^38; acc·65535 ≈ 6.2·10^19 > 2^63; >> 40 =
        // 3456·65535 / 4 = 56622240 exactly (a 64-bit product would have wrapped first).
        let c = Case { rows: 1, k: 3456, n: 1, a: vec![i32::MIN; 3456], w: vec![i8::MIN; 3456], bias: None };
        let word = 0xffff | 40 << 16;
        check_linear8(&c, &[word]).unwrap();
        assert_eq!(cpp::linear8(LinearImpl::Ip(Layout::InOut), &c.rows(), &c.w, &[word]), Some(vec![56_622_240]));
    }

    #[test]
    fn a_matrix_of_two_panels_matches() {
        // K = 64: a weight buffer holds 16·floor(9216 / 64) = 2304 columns, clamped to 1536 (M3RT_MAX_PANEL), so
        // 1600 columns are two panels; the bias and the per-channel scales of the second start at column 1536.
        let (rows, k, n) = (2, 64, 1600);
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let a: Vec<i32> = (0..rows * k).map(|_| next() as i32 >> 6).collect();
        let bias = Some(((0..n).map(|_| next() as i16).collect(), PROFILE.bias.frac() as u32));
        let c16 = Case { rows, k, n, a: a.clone(), w: (0..k * n).map(|_| next() as i16).collect(), bias: bias.clone() };
        check_linear16(&c16, 14).unwrap();
        let c8 = Case { rows, k, n, a, w: (0..k * n).map(|_| next() as i8).collect(), bias };
        let scales: Vec<u32> = (0..n).map(|_| (next() as u32 & 0xffff) | (next() as u32 % 64) << 16).collect();
        check_linear8(&c8, &scales).unwrap();
    }
}
