//! GELU as the hardware computes it: ReLU minus an interpolated table of `a·Φ(-a)`, ReLU alone for
//! `|x| ≥ 5.5` (`docs/fixed-point.md`, "GELU"). Mirrors `hls/include/m3rt/gelu.h`.

use super::int::to_act;
use super::tables::{Tables, GELU_ENTRIES};

/// GELU of one activation (`fa` fraction bits, `wa` bits wide).
#[inline]
pub fn gelu(x: i32, fa: u32, wa: u32, t: &Tables) -> i32 {
    let x = i64::from(x);
    let a = x.abs();
    let sh = fa - 5;
    let i = (a >> sh) as usize;
    let c = if i >= GELU_ENTRIES - 1 {
        0
    } else {
        let r = a & ((1i64 << sh) - 1);
        t.gelu[i] + (((t.gelu[i + 1] - t.gelu[i]) * r) >> sh)
    };
    to_act(x.max(0) - c, wa)
}

/// GELU of every value of `xs`, in place.
pub fn gelu_inplace(xs: &mut [i32], fa: u32, wa: u32, t: &Tables) {
    for x in xs {
        *x = gelu(*x, fa, wa, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_points_and_the_erf_form() {
        let t = Tables::new(22);
        let one = 1 << 22;
        // At table points the value is ReLU minus the entry: gelu(1) = 1 - Φ(-1) = 0.841344746.
        assert_eq!(gelu(one, 22, 32, &t), one - 665_448);
        assert_eq!(gelu(-one, 22, 32, &t), -665_448);
        assert_eq!(gelu(0, 22, 32, &t), 0);
        // |x| ≥ 5.5 is ReLU.
        assert_eq!(gelu(6 * one, 22, 32, &t), 6 * one);
        assert_eq!(gelu(-6 * one, 22, 32, &t), 0);
        // Everywhere close to x·Φ(x) (linear interpolation in steps of 1/32: error below 2.5e-4).
        for k in -3000..3000 {
            let x = k * 3181;
            let xf = x as f64 / one as f64;
            let want = xf * 0.5 * libm::erfc(-xf / core::f64::consts::SQRT_2);
            let got = gelu(x, 22, 32, &t) as f64 / one as f64;
            assert!((got - want).abs() < 2.5e-4, "gelu({xf}) = {got}, want {want}");
        }
    }
}
