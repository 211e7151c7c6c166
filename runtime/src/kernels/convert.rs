//! Widening of stored f16 weights to f32.

use half::f16;

use super::need;
use crate::Result;

/// Writes `src` widened to f32 into `dst[..src.len()]`.
pub fn f16_to_f32(src: &[f16], dst: &mut [f32]) -> Result<()> {
    need("f16 widening buffer", dst.len(), src.len())?;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f32();
    }
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
        assert!(f16_to_f32(&src, &mut [0.0; 2]).is_err());
    }
}
