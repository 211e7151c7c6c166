//! Row-wise LayerNorm with affine parameters.

use super::need;
use crate::Result;

fn check(x: &[f32], rows: usize, cols: usize, gamma: &[f32], beta: &[f32], y: &[f32]) -> Result<()> {
    need("layer_norm x", x.len(), rows * cols)?;
    need("layer_norm y", y.len(), rows * cols)?;
    need("layer_norm gamma", gamma.len(), cols)?;
    need("layer_norm beta", beta.len(), cols)
}

/// `y = (x - mean) / sqrt(var + eps) · gamma + beta` over each row of `cols` values (two passes in f32,
/// the mean first, so large offsets do not cancel; 8-lane partial sums). Within 1e-5 of [`layer_norm_ref`],
/// plus the rounding of the f32 mean over the row's standard deviation.
pub fn layer_norm(
    x: &[f32],
    rows: usize,
    cols: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    y: &mut [f32],
) -> Result<()> {
    check(x, rows, cols, gamma, beta, y)?;
    if cols == 0 {
        return Ok(());
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx512() {
        // Safety: the CPU has AVX-512F, AVX2 and FMA (checked just above).
        unsafe { layer_norm_avx512(x, rows, cols, gamma, beta, eps, y) };
        return Ok(());
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx2() {
        // Safety: the CPU has AVX2 and FMA (checked just above).
        unsafe { layer_norm_avx2(x, rows, cols, gamma, beta, eps, y) };
        return Ok(());
    }
    layer_norm_all(x, rows, cols, gamma, beta, eps, y);
    Ok(())
}

/// [`layer_norm_all`] compiled for AVX2 (the same operations and summation order, no fused multiply-adds:
/// results equal the portable build's bit for bit).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn layer_norm_avx2(x: &[f32], rows: usize, cols: usize, gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) {
    layer_norm_all(x, rows, cols, gamma, beta, eps, y);
}

/// [`layer_norm_all`] compiled for AVX-512F (as [`layer_norm_avx2`], sixteen lanes).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn layer_norm_avx512(x: &[f32], rows: usize, cols: usize, gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) {
    layer_norm_all(x, rows, cols, gamma, beta, eps, y);
}

/// The loop of [`layer_norm`] on checked slices (`cols > 0`), inlined into each CPU build.
#[inline(always)]
fn layer_norm_all(x: &[f32], rows: usize, cols: usize, gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) {
    for (xr, yr) in x.chunks_exact(cols).zip(y.chunks_exact_mut(cols)).take(rows) {
        let mean = lane_sum(xr, |v| v) / cols as f32;
        let var = lane_sum(xr, |v| (v - mean) * (v - mean)) / cols as f32;
        let inv = 1.0 / libm::sqrtf(var + eps);
        for (((o, &v), g), b) in yr.iter_mut().zip(xr).zip(gamma).zip(beta) {
            *o = (v - mean) * inv * g + b;
        }
    }
}

/// `Σ f(v)` over 8 interleaved partial sums, so the compiler can vectorize it.
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    chunks.remainder().iter().fold(acc.iter().sum(), |s, &v| s + f(v))
}

/// The reference of [`layer_norm`], in f64.
pub fn layer_norm_ref(
    x: &[f32],
    rows: usize,
    cols: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    y: &mut [f32],
) -> Result<()> {
    check(x, rows, cols, gamma, beta, y)?;
    for r in 0..rows {
        let xr = &x[r * cols..(r + 1) * cols];
        let mean = xr.iter().map(|&v| f64::from(v)).sum::<f64>() / cols as f64;
        let var = xr
            .iter()
            .map(|&v| {
                let t = f64::from(v) - mean;
                t * t
            })
            .sum::<f64>()
            / cols as f64;
        for c in 0..cols {
            let n = (f64::from(xr[c]) - mean) / libm::sqrt(var + f64::from(eps));
            y[r * cols + c] = (n * f64::from(gamma[c]) + f64::from(beta[c])) as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_close, fast_vs_ref, random_vec, sum_error_bound};

    #[test]
    fn one_two_three_by_hand() {
        // mean 2, variance 2/3: (x - 2)/sqrt(2/3) = ∓1.2247449, 0.
        let mut y = [0.0; 3];
        layer_norm(&[1.0, 2.0, 3.0], 1, 3, &[1.0; 3], &[0.0; 3], 0.0, &mut y).unwrap();
        assert_close(&y, &[-1.2247449, 0.0, 1.2247449], 1e-6);
        layer_norm(&[1.0, 2.0, 3.0], 1, 3, &[2.0; 3], &[1.0; 3], 0.0, &mut y).unwrap();
        assert_close(&y, &[-1.4494898, 1.0, 3.4494898], 1e-6);
        assert!(layer_norm(&[1.0, 2.0, 3.0], 1, 3, &[1.0; 2], &[0.0; 3], 0.0, &mut y).is_err());
        assert!(layer_norm(&[1.0, 2.0, 3.0], 1, 3, &[1.0; 3], &[0.0; 3], 0.0, &mut y[..2]).is_err());
    }

    fast_vs_ref!(
        fast_matches_reference,
        cases = 48,
        (
            r in 1usize..=12,
            c in 1usize..=400,
            offset in -50f32..50.0
        ),
        |rng| {
            let x: Vec<f32> = random_vec(rng, r * c).iter().map(|v| v * 10.0 + offset).collect();
            let (g, b) = (random_vec(rng, c), random_vec(rng, c));
            let (mut fast, mut slow) = (vec![0.0; r * c], vec![0.0; r * c]);
            layer_norm(&x, r, c, &g, &b, 1e-6, &mut fast).unwrap();
            layer_norm_ref(&x, r, c, &g, &b, 1e-6, &mut slow).unwrap();
            // The f32 mean is off by at most sum_error_bound(c, Σ|x|) / c, which shifts every normalized
            // value by that over the row's std: with offsets of ±50 on a std of ~6 over 400 values this can
            // pass 1e-5 (a fixed 1e-5 failed on rare seeds), so each row gets that bound on top.
            for ((xr, fr), sr) in x.chunks(c).zip(fast.chunks(c)).zip(slow.chunks(c)) {
                let mean = xr.iter().map(|&v| f64::from(v)).sum::<f64>() / c as f64;
                let var = xr.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / c as f64;
                let abs_sum: f32 = xr.iter().map(|v| v.abs()).sum();
                let mean_err = sum_error_bound(c, abs_sum) / c as f32;
                let tol = 1e-5 + 2.0 * mean_err / (var.sqrt() as f32).max(1e-3);
                assert_close(fr, sr, tol);
            }
            // Each build called directly gives the portable result bit for bit (no fused multiply-adds,
            // one summation order); skipped where the CPU lacks it.
            let mut portable = vec![0.0; r * c];
            layer_norm_all(&x, r, c, &g, &b, 1e-6, &mut portable);
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let mut out = vec![0.0; r * c];
                // Safety: AVX2 and FMA were detected just above.
                unsafe { layer_norm_avx2(&x, r, c, &g, &b, 1e-6, &mut out) };
                assert_eq!(out, portable);
            }
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if crate::kernels::simd::avx512_detected() {
                let mut out = vec![0.0; r * c];
                // Safety: AVX-512F, AVX2 and FMA were detected just above.
                unsafe { layer_norm_avx512(&x, r, c, &g, &b, 1e-6, &mut out) };
                assert_eq!(out, portable);
            } else {
                std::eprintln!("layer_norm fast_matches_reference: AVX-512 build skipped, this CPU has no AVX-512F");
            }
        }
    );
}
