//! Widening of stored f16 and fixed-point weights to f32. Every conversion is exact: an f16 is an f32,
//! `r · 2^-F` of a 16-bit raw `r` has 16 significant bits, and `q · m · 2^-s` of an int8 `q` and a 16-bit
//! mantissa `m` has 23 (the f32 significand holds 24; the exponents, `F ≤ 31` and `s ≤ 63`, stay normal).

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::need;
use crate::bundle::Q8Data;
use crate::{Error, Result};

/// Writes `src` widened to f32 into `dst[..src.len()]` (exact; with `std` on x86-64 the F16C
/// instructions do it eight at a time when the CPU has them).
pub fn f16_to_f32(src: &[f16], dst: &mut [f32]) -> Result<()> {
    need("f16 widening buffer", dst.len(), src.len())?;
    src.convert_to_f32_slice(&mut dst[..src.len()]);
    Ok(())
}

/// `2^e` as an f32: exact by its bits for a normal power (`-126 ≤ e ≤ 127`), else via `exp2f`.
pub fn pow2(e: i32) -> f32 {
    match e.checked_add(127).and_then(|b| u32::try_from(b).ok()) {
        Some(biased @ 1..=254) => f32::from_bits(biased << 23),
        _ => libm::exp2f(e as f32),
    }
}

/// Writes the 16-bit fixed-point values `src` (raw values of a format with `frac` fraction bits) as f32,
/// `r · 2^-frac`, into `dst[..src.len()]`.
pub fn q16_to_f32(src: &[i16], frac: i32, dst: &mut [f32]) -> Result<()> {
    need("fixed-point widening buffer", dst.len(), src.len())?;
    let unit = pow2(frac.saturating_neg());
    for (d, &r) in dst.iter_mut().zip(src) {
        *d = f32::from(r) * unit;
    }
    Ok(())
}

/// Writes elements `range` of the int8 tensor `q` as f32, `q · m · 2^-s` with each element's scale, into
/// `dst[..range.len()]`.
pub fn q8_to_f32(q: &Q8Data<'_>, range: core::ops::Range<usize>, dst: &mut [f32]) -> Result<()> {
    need("int8 widening buffer", dst.len(), range.len())?;
    let bad = Error::Inconsistent { what: "int8 element or scale out of range" };
    let src = q.values.get(range.clone()).ok_or(bad)?;
    // Neighbouring elements mostly share a scale (a channel's run, or the whole tensor): decode it once.
    let mut cached: Option<(usize, f32)> = None;
    for (j, (d, &v)) in (range.start..).zip(dst.iter_mut().zip(src)) {
        let c = q.scale_index(j);
        let scale = match cached {
            Some((k, s)) if k == c => s,
            _ => {
                let s = q.scale(j).ok_or(bad)?;
                let value = f32::from(s.mantissa) * pow2(-i32::from(s.shift));
                cached = Some((c, value));
                value
            }
        };
        *d = f32::from(v) * scale;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::quant::{Channels, Int8Scale};
    use crate::model::{Shape, TensorKind};

    #[test]
    fn fixed_point_widens_exactly() {
        assert_eq!(
            (pow2(0), pow2(-3), pow2(-63), pow2(-126)),
            (1.0, 0.125, f32::from_bits(64 << 23), f32::MIN_POSITIVE)
        );
        assert_eq!(pow2(-149), f32::from_bits(1));
        assert_eq!((pow2(i32::MAX), pow2(i32::MIN)), (f32::INFINITY, 0.0));
        let mut dst = [0.0; 3];
        q16_to_f32(&[8192, -1, i16::MIN], 14, &mut dst).unwrap();
        assert_eq!(dst, [0.5, -1.0 / 16384.0, -2.0]);
        // A [2, 3] matrix, per channel (the last dimension): scales 1·2^0, 3·2^-1, 65535·2^-63.
        let s = [
            Int8Scale { mantissa: 1, shift: 0 },
            Int8Scale { mantissa: 3, shift: 1 },
            Int8Scale { mantissa: 65535, shift: 63 },
        ];
        let words = s.map(Int8Scale::to_word);
        let q = Q8Data {
            values: &[1, -2, 127, -127, 5, -128],
            scales: &words,
            per_channel: true,
            channels: Channels::of(TensorKind::QkvW, Shape::new(&[2, 3])),
        };
        let mut dst = [0.0; 5];
        q8_to_f32(&q, 1..6, &mut dst).unwrap();
        let tiny = 65535.0 * 2f64.powi(-63);
        assert_eq!(dst.map(f64::from), [-3.0, 127.0 * tiny, -127.0, 7.5, -128.0 * tiny]);
        assert!(q8_to_f32(&q, 4..7, &mut dst).is_err());
        assert!(q8_to_f32(&Q8Data { scales: &[], ..q }, 0..1, &mut dst).is_err());
    }

    #[test]
    fn widens_exactly() {
        let src = [f16::from_f32(1.5), f16::from_f32(-0.25), f16::from_f32(65504.0)];
        let mut dst = [0.0; 3];
        f16_to_f32(&src, &mut dst).unwrap();
        assert_eq!(dst, [1.5, -0.25, 65504.0]);
        // Every f16 bit pattern widens to the value `half`'s scalar conversion gives (long enough for the
        // vector path), NaNs to NaNs.
        let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        let mut wide = vec![0.0; all.len()];
        f16_to_f32(&all, &mut wide).unwrap();
        for (h, w) in all.iter().zip(&wide) {
            let expected = h.to_f32();
            assert!(expected.to_bits() == w.to_bits() || (expected.is_nan() && w.is_nan()), "{h:?}");
        }
        assert!(f16_to_f32(&src, &mut [0.0; 2]).is_err());
    }
}
