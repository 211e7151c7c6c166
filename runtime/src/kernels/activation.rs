//! Element-wise activations and the row-wise softmax.

use super::need;
use crate::Result;

/// Exact GELU in place: `0.5·x·(1 + erf(x/√2))`.
pub fn gelu_inplace(x: &mut [f32]) {
    for v in x {
        *v = 0.5 * *v * (1.0 + libm::erff(*v * core::f32::consts::FRAC_1_SQRT_2));
    }
}

/// The reference of [`gelu_inplace`], through f64.
pub fn gelu_ref(x: &mut [f32]) {
    for v in x {
        let f = f64::from(*v);
        *v = (0.5 * f * (1.0 + libm::erf(f / core::f64::consts::SQRT_2))) as f32;
    }
}

/// `max(x, 0)` in place.
pub fn relu_inplace(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// Softmax over each row of `cols` values, in place (the row maximum is subtracted first).
pub fn softmax_rows_inplace(x: &mut [f32], rows: usize, cols: usize) -> Result<()> {
    need("softmax", x.len(), rows * cols)?;
    if cols == 0 {
        return Ok(());
    }
    for row in x.chunks_exact_mut(cols).take(rows) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = libm::expf(*v - max);
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
    Ok(())
}

/// The reference of [`softmax_rows_inplace`], in f64.
pub fn softmax_rows_ref(x: &mut [f32], rows: usize, cols: usize) -> Result<()> {
    need("softmax", x.len(), rows * cols)?;
    for r in 0..rows {
        let row = &mut x[r * cols..(r + 1) * cols];
        let max = row.iter().map(|&v| f64::from(v)).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|&v| libm::exp(f64::from(v) - max)).sum();
        for v in row.iter_mut() {
            *v = (libm::exp(f64::from(*v) - max) / sum) as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_close, random_vec, Rng};

    #[test]
    fn values_by_hand() {
        let mut g = [0.0, 1.0, -1.0];
        gelu_inplace(&mut g);
        // Φ(1) = 0.8413447, so gelu(1) = 0.8413447 and gelu(-1) = -(1 - 0.8413447).
        assert_close(&g, &[0.0, 0.8413447, -0.1586553], 1e-6);
        let mut s = [1.0, 2.0, 3.0];
        softmax_rows_inplace(&mut s, 1, 3).unwrap();
        // e^-2, e^-1, 1 over their sum 1.5032147.
        assert_close(&s, &[0.09003057, 0.24472847, 0.66524096], 1e-6);
        let mut r = [-1.0, 0.5];
        relu_inplace(&mut r);
        assert_eq!(r, [0.0, 0.5]);
    }

    #[test]
    fn fast_matches_reference_on_random_values() {
        let mut rng = Rng::new(3);
        for _ in 0..20 {
            let (rows, cols) = (rng.dim(1, 30), rng.dim(1, 70));
            let x: Vec<f32> = random_vec(&mut rng, rows * cols).iter().map(|v| v * 8.0).collect();
            let (mut a, mut b) = (x.clone(), x.clone());
            gelu_inplace(&mut a);
            gelu_ref(&mut b);
            assert_close(&a, &b, 1e-6);
            let (mut a, mut b) = (x.clone(), x);
            softmax_rows_inplace(&mut a, rows, cols).unwrap();
            softmax_rows_ref(&mut b, rows, cols).unwrap();
            assert_close(&a, &b, 1e-6);
        }
    }
}
