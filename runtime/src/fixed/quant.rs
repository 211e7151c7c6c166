//! Quantization of f32 weights into a profile's storage (the converter's side; `docs/fixed-point.md`,
//! "Quantization"): 16-bit values rounded to nearest (ties to even) and saturated, int8 values with a
//! mantissa-and-shift scale per output channel.

use super::ap::Format;
use crate::model::{Shape, TensorKind};

/// `v · 2^frac` rounded to the nearest integer (ties to even) and clamped into `format`; the second value
/// tells whether it was clamped. NaN becomes 0 and counts as clamped.
pub fn quantize(v: f64, format: Format) -> (i64, bool) {
    if v.is_nan() {
        return (0, true);
    }
    let scaled = libm::rint(v * libm::exp2(f64::from(format.frac())));
    let (lo, hi) = (format.min_raw() as f64, format.max_raw() as f64);
    if scaled < lo {
        (lo as i64, true)
    } else if scaled > hi {
        (hi as i64, true)
    } else {
        (scaled as i64, false)
    }
}

/// The scale of an int8 channel: a weight is `q · mantissa · 2^-shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int8Scale {
    /// Unsigned 16-bit mantissa (0 for an all-zero channel).
    pub mantissa: u16,
    /// Right shift, 0..=63.
    pub shift: u8,
}

impl Int8Scale {
    /// The scale for a channel whose largest magnitude is `absmax`: `σ = absmax / 127` with the mantissa
    /// normalised into `[2^15, 2^16)` where the shift range allows.
    pub fn for_absmax(absmax: f64) -> Self {
        if absmax.is_nan() || absmax <= 0.0 || absmax.is_infinite() {
            return Self { mantissa: 0, shift: 0 };
        }
        let sigma = absmax / 127.0;
        // The shift s with 2^15 <= σ·2^s < 2^16.
        let mut shift = 15 - libm::floor(libm::log2(sigma)) as i32;
        if sigma * libm::exp2(f64::from(shift)) >= 65536.0 {
            shift -= 1;
        } else if sigma * libm::exp2(f64::from(shift)) < 32768.0 {
            shift += 1;
        }
        let shift = shift.clamp(0, 63);
        let mantissa = libm::rint(sigma * libm::exp2(f64::from(shift))).min(65535.0);
        Self { mantissa: mantissa as u16, shift: shift as u8 }
    }

    /// The scale's value.
    pub fn value(self) -> f64 {
        f64::from(self.mantissa) * libm::exp2(-f64::from(self.shift))
    }

    /// `v` as an int8 of this scale: rounded to nearest (ties to even) and clamped to `[-127, 127]`; the
    /// second value tells whether it was clamped.
    pub fn quantize(self, v: f64) -> (i8, bool) {
        if self.mantissa == 0 || v.is_nan() {
            return (0, v != 0.0);
        }
        let q = libm::rint(v / self.value());
        if q < -127.0 {
            (-127, true)
        } else if q > 127.0 {
            (127, true)
        } else {
            (q as i8, false)
        }
    }

    /// The stored word: mantissa in bits 0..16, shift in bits 16..24.
    pub const fn to_word(self) -> u32 {
        self.mantissa as u32 | (self.shift as u32) << 16
    }

    /// Decodes a stored word; `None` when the reserved bits are set or the shift exceeds 63.
    pub const fn from_word(w: u32) -> Option<Self> {
        let shift = (w >> 16) & 0xff;
        if w >> 24 != 0 || shift > 63 {
            return None;
        }
        Some(Self { mantissa: (w & 0xffff) as u16, shift: shift as u8 })
    }
}

/// How the elements of a weight matrix map to output channels, for per-channel int8 scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channels {
    /// Number of output channels.
    pub count: usize,
    /// Elements per row of the channel pattern: `index / group` picks a block of `repeat` channels.
    group: usize,
    /// Channels per block (the last dimension of a linear matrix), or 1 when a channel is contiguous.
    inner: usize,
    /// Elements of one contiguous channel (convolutions), or 1.
    run: usize,
}

impl Channels {
    /// The output channels of a matrix of kind `kind` and shape `shape` (see `docs/fixed-point.md`):
    /// the last dimension of `[in, out]` and `[E, in, out]` (per expert), the first of `[out, in, k, k]`.
    pub fn of(kind: TensorKind, shape: Shape) -> Self {
        let d = shape.as_slice();
        let numel = shape.numel() as usize;
        match (kind, d) {
            (TensorKind::PatchW | TensorKind::HeadConvW, [out, ..]) => {
                let out = *out as usize;
                Self { count: out, group: numel.max(1), inner: 1, run: (numel / out.max(1)).max(1) }
            }
            (TensorKind::ExpW1 | TensorKind::ExpW2, [e, i, o]) => {
                let (e, i, o) = (*e as usize, *i as usize, *o as usize);
                Self { count: e * o, group: (i * o).max(1), inner: o.max(1), run: 1 }
            }
            (_, dims) => {
                let o = dims.last().copied().unwrap_or(1) as usize;
                Self { count: o, group: numel.max(1), inner: o.max(1), run: 1 }
            }
        }
    }

    /// The channel of element `index` (row-major).
    pub const fn of_index(&self, index: usize) -> usize {
        if self.run > 1 {
            index / self.run
        } else {
            (index / self.group) * self.inner + index % self.inner
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_values_round_to_even_and_saturate() {
        let q16_2 = Format::signed(16, 2);
        // 0.5·2^14 = 8192 exactly; (1.5 / 2^14) rounds to 2 (even), (2.5 / 2^14) to 2.
        assert_eq!(quantize(0.5, q16_2), (8192, false));
        assert_eq!(quantize(1.5 / 16384.0, q16_2), (2, false));
        assert_eq!(quantize(2.5 / 16384.0, q16_2), (2, false));
        assert_eq!(quantize(-3.0, q16_2), (-32768, true));
        assert_eq!(quantize(2.0, q16_2), (32767, true));
        assert_eq!(quantize(f64::NAN, q16_2), (0, true));
    }

    #[test]
    fn int8_scales_by_hand() {
        // absmax 0.127: σ = 0.001 = 1.024e-3·2^0 → s = 25 (σ·2^25 = 33554.4), m = 33554.
        let s = Int8Scale::for_absmax(0.127);
        assert_eq!((s.mantissa, s.shift), (33554, 25));
        assert!((s.value() - 0.001).abs() < 1e-7);
        assert_eq!(s.quantize(0.127), (127, false));
        assert_eq!(s.quantize(-0.0504), (-50, false));
        assert_eq!(s.quantize(0.2), (127, true));
        assert_eq!(Int8Scale::from_word(s.to_word()), Some(s));
        assert_eq!(Int8Scale::from_word(1 << 24), None);
        assert_eq!(Int8Scale::for_absmax(0.0).quantize(0.0), (0, false));
    }

    #[test]
    fn channels_follow_the_layouts() {
        let lin = Channels::of(TensorKind::QkvW, Shape::new(&[4, 6]));
        assert_eq!((lin.count, lin.of_index(0), lin.of_index(7), lin.of_index(23)), (6, 0, 1, 5));
        let exp = Channels::of(TensorKind::ExpW1, Shape::new(&[2, 3, 4]));
        // Element (e=1, i=2, o=3) = 12 + 8 + 3 = 23 → channel 1·4 + 3 = 7.
        assert_eq!((exp.count, exp.of_index(23), exp.of_index(5)), (8, 7, 1));
        let conv = Channels::of(TensorKind::HeadConvW, Shape::new(&[5, 2, 3, 3]));
        assert_eq!((conv.count, conv.of_index(17), conv.of_index(18)), (5, 0, 1));
    }
}
