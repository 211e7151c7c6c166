//! Fixed-point values with the exact semantics of Vitis HLS `ap_fixed<W, I, AP_TRN, AP_WRAP>` and
//! `ap_ufixed<W, I, AP_TRN, AP_WRAP>`.
//!
//! A value of format `(W, I)` is a `W`-bit two's complement (or unsigned) integer `raw` standing for
//! `raw · 2^-(W - I)`: `I` bits above the binary point (sign included), `F = W - I` below. `I` may be
//! negative or larger than `W`, as in `ap_fixed`. Arithmetic follows `ap_fixed`'s result types:
//!
//! | op | result width | result integer bits | signed |
//! |---|---|---|---|
//! | `a · b` | `W1 + W2` | `I1 + I2` | `S1 or S2` |
//! | `a + b`, `a - b` | `I + max(F1, F2)` | `I = max(I1 + (S2 and not S1), I2 + (S1 and not S2)) + 1` | `S1 or S2` (`-`: always) |
//!
//! so products and sums are exact; precision is lost only by [`Fx::cast`] into a narrower format:
//! quantization `AP_TRN` drops the low bits (rounding toward minus infinity) and overflow `AP_WRAP`
//! keeps the low `W` bits (sign-extended for signed formats). These types are the reference the kernels'
//! integer code is tested against, and they are themselves tested against the C++ `ap_fixed` headers.

/// A fixed-point format: `width` bits, `int` of them above the binary point, signed or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Format {
    /// Total bits `W` (1..=[`MAX_WIDTH`]).
    pub width: u8,
    /// Integer bits `I` (sign included for signed formats); may be negative or exceed `width`.
    pub int: i8,
    /// Two's complement (`ap_fixed`) or unsigned (`ap_ufixed`).
    pub signed: bool,
}

/// The widest format a value holds exactly (products of two 63-bit values, sums of narrower ones). Wider
/// results are computed modulo 2^128: defined, never a panic, but no longer `ap_fixed`'s.
pub const MAX_WIDTH: u8 = 127;

impl Format {
    /// `ap_fixed<width, int>`.
    pub const fn signed(width: u8, int: i8) -> Self {
        Self { width, int, signed: true }
    }

    /// `ap_ufixed<width, int>`.
    pub const fn unsigned(width: u8, int: i8) -> Self {
        Self { width, int, signed: false }
    }

    /// Fraction bits `F = W - I` (may be negative).
    pub const fn frac(self) -> i32 {
        self.width as i32 - self.int as i32
    }

    /// Whether the format is usable here: `1 ≤ width ≤ MAX_WIDTH`.
    pub const fn is_valid(self) -> bool {
        self.width >= 1 && self.width <= MAX_WIDTH
    }

    /// The smallest raw value (0 for a format of width 0).
    pub const fn min_raw(self) -> i128 {
        let w = if self.width > MAX_WIDTH { MAX_WIDTH } else { self.width } as u32;
        if self.signed && w > 0 {
            -(1i128 << (w - 1))
        } else {
            0
        }
    }

    /// The largest raw value (0 for a format of width 0).
    pub const fn max_raw(self) -> i128 {
        let w = if self.width > MAX_WIDTH { MAX_WIDTH } else { self.width } as u32;
        match (self.signed, w) {
            (_, 0) => 0,
            (true, w) => (1i128 << (w - 1)) - 1,
            (false, w) => (1i128 << w) - 1,
        }
    }

    /// Keeps the low `width` bits of `raw` (AP_WRAP): sign-extended when signed, zero-extended if not.
    pub const fn wrap(self, raw: i128) -> i128 {
        let unused = 128u32.saturating_sub(self.width as u32);
        if self.signed {
            (raw << unused) >> unused
        } else {
            ((raw as u128) << unused >> unused) as i128
        }
    }

    /// The format of `a · b` (see the module table).
    pub const fn product(a: Format, b: Format) -> Format {
        Format {
            width: a.width.saturating_add(b.width),
            int: a.int.saturating_add(b.int),
            signed: a.signed || b.signed,
        }
    }

    /// The format of `a + b` (see the module table).
    pub const fn sum(a: Format, b: Format) -> Format {
        let ia = a.int as i32 + (b.signed && !a.signed) as i32;
        let ib = b.int as i32 + (a.signed && !b.signed) as i32;
        let int = if ia > ib { ia } else { ib } + 1;
        let frac = if a.frac() > b.frac() { a.frac() } else { b.frac() };
        Format { width: clamp_u8(int + frac), int: clamp_i8(int), signed: a.signed || b.signed }
    }

    /// The format of `a - b`: as a sum, but always signed.
    pub const fn difference(a: Format, b: Format) -> Format {
        Format { signed: true, ..Format::sum(a, b) }
    }
}

const fn clamp_u8(v: i32) -> u8 {
    if v < 0 {
        0
    } else if v > 255 {
        255
    } else {
        v as u8
    }
}

const fn clamp_i8(v: i32) -> i8 {
    if v < -128 {
        -128
    } else if v > 127 {
        127
    } else {
        v as i8
    }
}

/// A fixed-point value: a raw integer and its format. Always holds `format.wrap(raw) == raw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fx {
    raw: i128,
    format: Format,
}

/// Shifts `raw` (with `from` fraction bits) to `to` fraction bits: left exactly, right rounding toward
/// minus infinity (AP_TRN). Shifts of 128 bits or more give 0 (left) or the sign (right).
const fn align(raw: i128, from: i32, to: i32) -> i128 {
    if to >= from {
        let s = (to - from) as u32;
        if s >= 128 {
            0
        } else {
            raw << s
        }
    } else {
        let s = (from - to) as u32;
        raw >> if s > 127 { 127 } else { s }
    }
}

impl Fx {
    /// The value whose raw bits are `raw`, wrapped into `format` (the low `W` bits are kept).
    pub const fn from_raw(raw: i128, format: Format) -> Self {
        Self { raw: format.wrap(raw), format }
    }

    /// Zero in `format`.
    pub const fn zero(format: Format) -> Self {
        Self { raw: 0, format }
    }

    /// `v` converted as `ap_fixed`'s constructor from `double` does: the exact binary value of `v`,
    /// truncated toward minus infinity to the format's fraction bits, then wrapped. NaN gives 0, and the
    /// infinities wrap to 0 as every multiple of `2^W` does.
    pub fn from_f64(v: f64, format: Format) -> Self {
        if !v.is_finite() || v == 0.0 {
            return Self::zero(format);
        }
        // v = mantissa · 2^exp exactly, with a 53-bit integer mantissa.
        let bits = v.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let fraction = (bits & ((1u64 << 52) - 1)) as i128;
        let (mantissa, exp) = if biased == 0 { (fraction, -1074) } else { (fraction | (1 << 52), biased - 1075) };
        let mantissa = if v < 0.0 { -mantissa } else { mantissa };
        // raw = floor(mantissa · 2^(exp + F)); a left shift past the format's width leaves only zero bits.
        let shift = exp + format.frac();
        let raw = if shift >= 0 {
            if shift >= 128 {
                0
            } else {
                mantissa << shift
            }
        } else {
            align(mantissa, -shift, 0)
        };
        Self::from_raw(raw, format)
    }

    /// The raw integer.
    pub const fn raw(self) -> i128 {
        self.raw
    }

    /// The format.
    pub const fn format(self) -> Format {
        self.format
    }

    /// The value as `f64` (exact whenever the raw value has at most 53 significant bits).
    pub fn to_f64(self) -> f64 {
        self.raw as f64 * libm::exp2(-f64::from(self.format.frac()))
    }

    /// The exact product, in [`Format::product`].
    pub const fn mul(self, other: Fx) -> Fx {
        Fx::from_raw(self.raw.wrapping_mul(other.raw), Format::product(self.format, other.format))
    }

    /// The exact sum, in [`Format::sum`].
    pub const fn add(self, other: Fx) -> Fx {
        let format = Format::sum(self.format, other.format);
        let f = format.frac();
        Fx::from_raw(
            align(self.raw, self.format.frac(), f).wrapping_add(align(other.raw, other.format.frac(), f)),
            format,
        )
    }

    /// The exact difference, in [`Format::difference`].
    pub const fn sub(self, other: Fx) -> Fx {
        let format = Format::difference(self.format, other.format);
        let f = format.frac();
        Fx::from_raw(
            align(self.raw, self.format.frac(), f).wrapping_sub(align(other.raw, other.format.frac(), f)),
            format,
        )
    }

    /// The value assigned to a variable of format `to`: AP_TRN (low bits dropped, toward minus
    /// infinity), then AP_WRAP (low `W` bits kept).
    pub const fn cast(self, to: Format) -> Fx {
        Fx::from_raw(align(self.raw, self.format.frac(), to.frac()), to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q32_10: Format = Format::signed(32, 10);
    const Q16_2: Format = Format::signed(16, 2);

    #[test]
    fn result_formats_follow_ap_fixed() {
        assert_eq!(Format::product(Q32_10, Q16_2), Format::signed(48, 12));
        assert_eq!(Format::sum(Q32_10, Q16_2), Format::signed(33, 11));
        // Mixing signed and unsigned widens the unsigned side's integer part by one.
        assert_eq!(Format::sum(Format::unsigned(8, 0), Format::signed(8, 0)), Format::signed(10, 2));
        assert_eq!(Format::difference(Format::unsigned(8, 0), Format::unsigned(8, 0)), Format::signed(9, 1));
    }

    #[test]
    fn conversions_truncate_and_wrap_by_hand() {
        // ap_fixed<8,2> = 3.3: 3.3·64 = 211.2 → 211 = 0xD3, wrapped to −45 → −0.703125.
        let x = Fx::from_f64(3.3, Format::signed(8, 2));
        assert_eq!((x.raw(), x.to_f64()), (-45, -0.703125));
        // −3/128 in ap_fixed<8,2> (F = 6): −1.5 raw units → floor → −2 = −0.03125.
        assert_eq!(Fx::from_f64(-3.0 / 128.0, Format::signed(8, 2)).to_f64(), -0.03125);
        // ap_ufixed<8,0> = 1.0 wraps to 0; 255/256 stays.
        assert_eq!(Fx::from_f64(1.0, Format::unsigned(8, 0)).raw(), 0);
        assert_eq!(Fx::from_f64(255.0 / 256.0, Format::unsigned(8, 0)).raw(), 255);
        // Negative integer bits: ap_fixed<4,-2> holds multiples of 2^-6 in [-1/32, 1/32).
        assert_eq!(Fx::from_f64(0.02, Format::signed(4, -2)).raw(), 1);
        assert_eq!(Fx::from_f64(f64::NAN, Q16_2).raw(), 0);
    }

    #[test]
    fn products_are_exact_and_casts_floor() {
        let a = Fx::from_f64(1.5, Q32_10);
        let b = Fx::from_f64(-0.75, Q16_2);
        let p = a.mul(b);
        assert_eq!((p.format(), p.to_f64()), (Format::signed(48, 12), -1.125));
        // −1.125 into ap_fixed<5,2> (F = 3): exact; into ap_fixed<4,1> it wraps (−9 → 7); into F = 2:
        // floor(−4.5) = −5 → −1.25.
        assert_eq!(p.cast(Format::signed(5, 2)).to_f64(), -1.125);
        assert_eq!(p.cast(Format::signed(4, 1)).to_f64(), 0.875);
        assert_eq!(p.cast(Format::signed(4, 2)).to_f64(), -1.25);
        // 200 · 2 = 400 into ap_fixed<9,9>: 400 − 512 = −112.
        let big = Fx::from_f64(200.0, Format::signed(16, 16)).add(Fx::from_f64(200.0, Format::signed(16, 16)));
        assert_eq!(big.cast(Format::signed(9, 9)).to_f64(), -112.0);
        let d = Fx::from_f64(0.25, Format::unsigned(8, 0)).sub(Fx::from_f64(0.5, Format::unsigned(8, 0)));
        assert_eq!(d.to_f64(), -0.25);
    }
}
