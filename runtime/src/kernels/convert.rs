//! Widening of stored f16 weights to f32.

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::need;
use crate::Result;

/// Writes `src` widened to f32 into `dst[..src.len()]` (exact; with `std` on x86-64 the F16C
/// instructions do it eight at a time when the CPU has them).
pub fn f16_to_f32(src: &[f16], dst: &mut [f32]) -> Result<()> {
    need("f16 widening buffer", dst.len(), src.len())?;
    src.convert_to_f32_slice(&mut dst[..src.len()]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
