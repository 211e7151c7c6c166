//! `m3rt::fixed` against the real `ap_fixed` / `ap_ufixed` (AP_TRN, AP_WRAP) of the `ap_types` headers, bit
//! for bit: properties on random formats of the checker's table, random raw values over each format's whole
//! range and random doubles of every kind; every pair of values of the narrow formats; hand-worked cases.
//!
//! Needs the C simulation (`cargo xtask csim` installs its headers): without it the test says it was skipped
//! and why, and fails under `M3RT_REQUIRE_CSIM=1`.

#[cfg(m3rt_csim_skipped)]
#[test]
fn ap_semantics_skipped() {
    assert!(!m3rt_hls::csim_available("ap_semantics"));
}

#[cfg(not(m3rt_csim_skipped))]
mod support;

#[cfg(not(m3rt_csim_skipped))]
mod csim {
    use m3rt::fixed::{Format, Fx};
    use m3rt_hls::ap_check::{self, ApValue};
    use proptest::prelude::*;

    use crate::support::{config, double, model, operand, raw_range, show, table, Operand, Spelled};

    /// Cases per property (`from_f64` and `cast` check each case into every format of the table).
    const CASES: u32 = 10_000;

    /// `rust == cpp`, or the failure spelled out.
    fn same(what: &str, rust: ApValue, cpp: ApValue) -> Result<(), TestCaseError> {
        if rust == cpp {
            return Ok(());
        }
        Err(TestCaseError::fail(format!(
            "{what}:\n  m3rt::fixed: {} raw {}\n  ap_fixed:    {} raw {}",
            Spelled(rust.format),
            rust.raw,
            Spelled(cpp.format),
            cpp.raw
        )))
    }

    /// The C++ result type is the format the model gives the result.
    fn same_type(what: &str, rust: Format, cpp: Format) -> Result<(), TestCaseError> {
        if rust == cpp {
            return Ok(());
        }
        Err(TestCaseError::fail(format!(
            "{what}: result type {} in m3rt::fixed, {} in ap_fixed",
            Spelled(rust),
            Spelled(cpp)
        )))
    }

    /// The index of `f` in the checker's table.
    fn index_of(f: Format) -> usize {
        table().iter().position(|&t| t == f).unwrap_or_else(|| panic!("{} is not in the table", Spelled(f)))
    }

    #[test]
    fn the_table_has_the_formats_the_model_is_checked_on() {
        let signed = [(32, 10), (16, 2), (16, 5), (16, 7), (16, 0), (48, 12), (8, 3), (12, -2), (20, 24), (64, 28)];
        let signed = signed.into_iter().chain([(33, 11), (7, 7), (24, 8), (8, 2)]).map(|(w, i)| Format::signed(w, i));
        for f in signed.chain([Format::unsigned(8, 0), Format::unsigned(16, 4)]) {
            index_of(f);
        }
        // The checker's product and sum types of the first two formats are table formats, to cast from.
        let (a, b) = (Format::signed(32, 10), Format::signed(16, 2));
        assert_eq!(
            ap_check::mul(index_of(a), 1, index_of(b), 1).unwrap().format,
            table()[index_of(Format::product(a, b))]
        );
        assert_eq!(ap_check::add(index_of(a), 1, index_of(b), 1).unwrap().format, table()[index_of(Format::sum(a, b))]);
    }

    proptest! {
        #![proptest_config(config(CASES))]

        #[test]
        fn from_f64_matches_ap_fixed_into_every_format(v in double()) {
            for (k, &f) in table().iter().enumerate() {
                let what = format!("{} x = {}", Spelled(f), show(v));
                same(&what, model(Fx::from_f64(v, f)), ap_check::from_f64(k, v).unwrap())?;
            }
        }

        #[test]
        fn to_f64_matches_ap_fixed(x in operand()) {
            let (rust, cpp) = (x.fx().to_f64(), ap_check::to_f64(x.index, x.raw).unwrap());
            prop_assert_eq!(rust.to_bits(), cpp.to_bits(), "{:?}.to_double(): m3rt {} ap_fixed {}", x, show(rust), show(cpp));
        }

        #[test]
        fn add_matches_ap_fixed(a in operand(), b in operand()) {
            let cpp = ap_check::add(a.index, a.raw, b.index, b.raw).unwrap();
            same_type(&format!("{a:?} + {b:?}"), Format::sum(a.format(), b.format()), cpp.format)?;
            same(&format!("{a:?} + {b:?}"), model(a.fx().add(b.fx())), cpp)?;
        }

        #[test]
        fn sub_matches_ap_fixed(a in operand(), b in operand()) {
            let cpp = ap_check::sub(a.index, a.raw, b.index, b.raw).unwrap();
            same_type(&format!("{a:?} - {b:?}"), Format::difference(a.format(), b.format()), cpp.format)?;
            same(&format!("{a:?} - {b:?}"), model(a.fx().sub(b.fx())), cpp)?;
        }

        #[test]
        fn mul_matches_ap_fixed(a in operand(), b in operand()) {
            let cpp = ap_check::mul(a.index, a.raw, b.index, b.raw).unwrap();
            same_type(&format!("{a:?} * {b:?}"), Format::product(a.format(), b.format()), cpp.format)?;
            same(&format!("{a:?} * {b:?}"), model(a.fx().mul(b.fx())), cpp)?;
        }

        #[test]
        fn from_raw_keeps_the_low_bits_as_ap_fixed(i in 0..table().len(), raw in any::<i128>()) {
            // The C++ side writes the low W bits of `raw` into the value, then assigns it to its own format.
            let what = format!("{} from raw bits {raw:#x}", Spelled(table()[i]));
            same(&what, model(Fx::from_raw(raw, table()[i])), ap_check::cast(i, raw, i).unwrap())?;
        }

        #[test]
        fn cast_matches_ap_fixed_into_every_format(x in operand()) {
            for (k, &to) in table().iter().enumerate() {
                same(&format!("{x:?} into {}", Spelled(to)), model(x.fx().cast(to)), ap_check::cast(x.index, x.raw, k).unwrap())?;
            }
        }
    }

    /// Every operand of every format of at most 8 bits.
    fn narrow_operands() -> Vec<Operand> {
        let narrow = table().iter().enumerate().filter(|(_, f)| f.width <= 8);
        narrow
            .flat_map(|(index, &f)| {
                let (min, max) = raw_range(f);
                (min..=max).map(move |raw| Operand { index, raw })
            })
            .collect()
    }

    #[test]
    fn every_pair_of_narrow_values_adds_subtracts_and_multiplies_as_ap_fixed() {
        let all = narrow_operands();
        for &a in &all {
            for &b in &all {
                let checks = [
                    ("+", model(a.fx().add(b.fx())), ap_check::add(a.index, a.raw, b.index, b.raw)),
                    ("-", model(a.fx().sub(b.fx())), ap_check::sub(a.index, a.raw, b.index, b.raw)),
                    ("*", model(a.fx().mul(b.fx())), ap_check::mul(a.index, a.raw, b.index, b.raw)),
                ];
                for (op, rust, cpp) in checks {
                    same(&format!("{a:?} {op} {b:?}"), rust, cpp.unwrap()).unwrap();
                }
            }
        }
    }

    #[test]
    fn every_narrow_value_casts_as_ap_fixed() {
        for x in narrow_operands() {
            for (k, &to) in table().iter().enumerate() {
                same(
                    &format!("{x:?} into {}", Spelled(to)),
                    model(x.fx().cast(to)),
                    ap_check::cast(x.index, x.raw, k).unwrap(),
                )
                .unwrap();
            }
        }
    }

    /// `v` into `f` gives `raw`, in the model and in the C++.
    fn converts(v: f64, f: Format, raw: i128) {
        let what = format!("{} x = {}", Spelled(f), show(v));
        assert_eq!(Fx::from_f64(v, f).raw(), raw, "m3rt: {what}");
        assert_eq!(ap_check::from_f64(index_of(f), v).unwrap().raw, raw, "ap_fixed: {what}");
    }

    #[test]
    fn conversions_by_hand() {
        // ap_fixed<8,2> = 3.3: 3.3·64 = 211.2 → 211 = 0xD3, which wraps to −45 (−0.703125).
        converts(3.3, Format::signed(8, 2), -45);
        // ap_fixed<8,3> = −3.3: −105.6 → floor −106 (toward minus infinity, not toward zero).
        converts(-3.3, Format::signed(8, 3), -106);
        // ap_ufixed<8,0>: 1.0 wraps to 0, 255/256 stays, −0.5 = −128 wraps to 128.
        converts(1.0, Format::unsigned(8, 0), 0);
        converts(255.0 / 256.0, Format::unsigned(8, 0), 255);
        converts(-0.5, Format::unsigned(8, 0), 128);
        // ap_fixed<12,-2> (F = 14): 0.02·16384 = 327.68 → 327.
        converts(0.02, Format::signed(12, -2), 327);
        // ap_fixed<20,24> (F = −4, steps of 16): 100/16 = 6.25 → 6; −100 → −7 (−112).
        converts(100.0, Format::signed(20, 24), 6);
        converts(-100.0, Format::signed(20, 24), -7);
        // ap_fixed<7,7>: 100.9 → 100 − 128 = −28.
        converts(100.9, Format::signed(7, 7), -28);
        // NaN and the infinities give 0 (every multiple of 2^W wraps to 0); the headers warn for NaN.
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            converts(v, Format::signed(16, 2), 0);
        }
    }

    #[test]
    fn arithmetic_by_hand() {
        let (q32_10, q16_2, u8_0) = (Format::signed(32, 10), Format::signed(16, 2), Format::unsigned(8, 0));
        let x = |v: f64, f: Format| Operand { index: index_of(f), raw: Fx::from_f64(v, f).raw() };
        // 1.5 · −0.75 = −1.125 exactly, in ap_fixed<48,12> (F = 36).
        let p = ap_check::mul(index_of(q32_10), x(1.5, q32_10).raw, index_of(q16_2), x(-0.75, q16_2).raw).unwrap();
        assert_eq!(p, ApValue { raw: -(9i128 << 33), format: Format::signed(48, 12) });
        assert_eq!(p, model(x(1.5, q32_10).fx().mul(x(-0.75, q16_2).fx())));
        // −1.125 into ap_fixed<7,7>: floor → −2; into ap_ufixed<8,0>: −288 wraps to 224.
        let from = index_of(Format::signed(48, 12));
        assert_eq!(ap_check::cast(from, p.raw, index_of(Format::signed(7, 7))).unwrap().raw, -2);
        assert_eq!(ap_check::cast(from, p.raw, index_of(u8_0)).unwrap().raw, 224);
        // ap_ufixed<8,0> − ap_ufixed<8,0> is signed, ap_fixed<9,1>: 0.25 − 0.5 = −0.25 (raw −64).
        let d = ap_check::sub(index_of(u8_0), 64, index_of(u8_0), 128).unwrap();
        assert_eq!(d, ApValue { raw: -64, format: Format::signed(9, 1) });
        // ap_ufixed<8,0> + ap_fixed<8,3>: the unsigned side needs a sign bit, so ap_fixed<12,4>.
        let s = ap_check::add(index_of(u8_0), 255, index_of(Format::signed(8, 3)), -128).unwrap();
        assert_eq!(s, ApValue { raw: 255 - (128 << 3), format: Format::signed(12, 4) });
    }
}
