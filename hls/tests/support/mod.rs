//! What the `ap_semantics` properties are made of: the checker's format table, operands drawn from a
//! format's whole raw range (edges weighted in) and doubles of every kind, printed readably on a failure.

use std::fmt;
use std::sync::OnceLock;

use m3rt::fixed::{Format, Fx};
use m3rt_hls::ap_check::{self, ApValue};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// The checker's formats (index `i` is `table()[i]`).
pub fn table() -> &'static [Format] {
    static TABLE: OnceLock<Vec<Format>> = OnceLock::new();
    TABLE.get_or_init(ap_check::formats)
}

/// `ap_fixed<W,I>` / `ap_ufixed<W,I>`, as the C++ spells it.
pub struct Spelled(pub Format);

impl fmt::Display for Spelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = if self.0.signed { "" } else { "u" };
        write!(f, "ap_{u}fixed<{},{}>", self.0.width, self.0.int)
    }
}

/// A fixed-point operand: a format of the table and a raw value in its range.
#[derive(Clone, Copy)]
pub struct Operand {
    /// Index into [`table`].
    pub index: usize,
    /// The raw integer, within the format's range.
    pub raw: i128,
}

impl Operand {
    /// The format.
    pub fn format(self) -> Format {
        table()[self.index]
    }

    /// The operand as the Rust model's value.
    pub fn fx(self) -> Fx {
        Fx::from_raw(self.raw, self.format())
    }
}

impl fmt::Debug for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} raw {} (#{}, ≈ {})", Spelled(self.format()), self.raw, self.index, self.fx().to_f64())
    }
}

/// The raw range of `f`, computed here rather than by the code under test.
pub fn raw_range(f: Format) -> (i128, i128) {
    let w = u32::from(f.width);
    if f.signed {
        (-(1i128 << (w - 1)), (1i128 << (w - 1)) - 1)
    } else {
        (0, (1i128 << w) - 1)
    }
}

/// Raw values of `f`: its edges (min, max, 0, ±1 and their neighbours), small magnitudes, and uniform over
/// the whole range.
pub fn raw_in(f: Format) -> BoxedStrategy<i128> {
    let (min, max) = raw_range(f);
    let edges: Vec<i128> =
        [min, min + 1, max - 1, max, 0, 1, -1, 2, -2].into_iter().filter(|r| (min..=max).contains(r)).collect();
    prop_oneof![
        2 => proptest::sample::select(edges),
        1 => (-300i128..=300).prop_map(move |r| r.clamp(min, max)),
        5 => min..=max,
    ]
    .boxed()
}

/// An operand of any format of the table.
pub fn operand() -> impl Strategy<Value = Operand> {
    (0..table().len()).prop_flat_map(|index| raw_in(table()[index]).prop_map(move |raw| Operand { index, raw }))
}

/// `m · 2^e` exactly (for `|e|` within the range of normal doubles).
fn scaled(m: f64, e: i32) -> f64 {
    m * 2f64.powi(e)
}

/// Doubles of every kind: finite doubles of any bit pattern (huge, tiny, subnormal, both zeros), short
/// mantissas at every scale the table uses, values on a table format's grid and exactly half-way between
/// two of its steps (also pushed far outside its range), plain decimals, and the infinities. (NaN is a
/// hand-worked case: the headers print a warning for each.)
pub fn double() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    let outside = proptest::sample::select(vec![0, 0, 0, 0, 1, 2, 5, 9, 17, 40, 100]);
    let on_grid = (0..table().len(), any::<bool>(), outside).prop_flat_map(|(i, half, out)| {
        let f = table()[i];
        raw_in(f).prop_map(move |raw| scaled(raw as f64 + if half { 0.5 } else { 0.0 }, out - f.frac()))
    });
    prop_oneof![
        3 => POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO,
        3 => (any::<bool>(), 0u64..(1 << 53), -130i32..130).prop_map(|(neg, m, e)| {
            let v = scaled(m as f64, e - 52);
            if neg { -v } else { v }
        }),
        4 => on_grid,
        2 => -1e4f64..1e4,
        1 => proptest::sample::select(vec![f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::MIN_POSITIVE, f64::MAX]),
    ]
}

/// The properties' runner: a fixed seed (the same cases every run), no persisted failures, `cases` cases.
pub fn config(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(0x6d33_7274_6170), failure_persistence: None, ..Config::default() }
}

/// The Rust model's value as the checker reports values.
pub fn model(x: Fx) -> ApValue {
    ApValue { raw: x.raw(), format: x.format() }
}

/// `v` printed with its bits, so that a failing double can be typed back in exactly.
pub fn show(v: f64) -> String {
    format!("{v:e} (0x{:016x})", v.to_bits())
}
