//! Convolution against hand-worked cases and the f64 reference: every path, row ranges, bad lengths.

use super::*;
use crate::kernels::testing::{abs_vec, assert_close, assert_within, fast_vs_ref, random_vec, sum_error_bound, Rng};

/// A convolution shape in the order the fields are declared.
const fn conv(cin: usize, h: usize, w: usize, cout: usize, k: usize, stride: usize, pad: usize) -> ConvShape {
    ConvShape { cin, h, w, cout, k, stride, pad }
}

#[test]
fn three_by_three_by_hand() {
    // A 3×3 box filter over [[1,2],[3,4]] with padding 1: every output sees the whole image → 10,
    // plus bias 0.5.
    let input = [1.0, 2.0, 3.0, 4.0];
    let mut out = [0.0; 4];
    let box2 = conv(1, 2, 2, 1, 3, 1, 1);
    let mut scratch = vec![0.0; conv2d_scratch_len(&box2)];
    conv2d(&box2, &input, &[1.0; 9], Some(&[0.5]), &mut out, &mut scratch).unwrap();
    assert_eq!(out, [10.5; 4]);
    // Only the middle-right tap set, padding 1: each output is its right neighbour (0 past the edge).
    let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let mut tap = [0.0; 9];
    tap[5] = 1.0;
    let mut out = [0.0; 9];
    let right = conv(1, 3, 3, 1, 3, 1, 1);
    let mut scratch = vec![0.0; conv2d_scratch_len(&right)];
    conv2d(&right, &image, &tap, None, &mut out, &mut scratch).unwrap();
    assert_eq!(out, [2.0, 3.0, 0.0, 5.0, 6.0, 0.0, 8.0, 9.0, 0.0]);
    // Its rows 1..3 alone.
    conv2d_rows(&right, 1..3, &image, &tap, None, &mut out[..6], &mut scratch).unwrap();
    assert_eq!(out[..6], [5.0, 6.0, 0.0, 8.0, 9.0, 0.0]);
    // Corners +1 / −1, stride 2, no padding: one output, 1 − 9.
    let corners = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0];
    let strided = conv(1, 3, 3, 1, 3, 2, 0);
    let mut scratch = vec![0.0; conv2d_scratch_len(&strided)];
    conv2d(&strided, &image, &corners, None, &mut out[..1], &mut scratch).unwrap();
    assert_eq!(out[0], -8.0);
    // 1×1 over two channels [1, 2] and [3, 4] with weights [2, −1]: 2a − b, no scratch; then row 1 alone
    // of the same on a 2 × 1 map.
    let point = conv(2, 1, 2, 1, 1, 1, 0);
    assert_eq!(conv2d_scratch_len(&point), 0);
    conv2d(&point, &[1.0, 2.0, 3.0, 4.0], &[2.0, -1.0], Some(&[0.5]), &mut out[..2], &mut []).unwrap();
    assert_eq!(out[..2], [-0.5, 0.5]);
    let column = conv(2, 2, 1, 1, 1, 1, 0);
    conv2d_rows(&column, 1..2, &[1.0, 2.0, 3.0, 4.0], &[2.0, -1.0], None, &mut out[..1], &mut []).unwrap();
    assert_eq!(out[0], 0.0);
}

#[test]
fn wrong_lengths_are_errors() {
    let mut out = [0.0; 4];
    let img = [0.0; 4];
    let s = conv(1, 2, 2, 1, 3, 1, 1);
    assert!(conv2d(&s, &img, &[0.0; 9], None, &mut out, &mut []).is_err());
    assert!(conv2d(&s, &img, &[0.0; 8], None, &mut out, &mut [0.0; 36]).is_err());
    assert!(conv2d(&s, &img[..3], &[0.0; 9], None, &mut out, &mut [0.0; 36]).is_err());
    assert!(conv2d(&s, &img, &[0.0; 9], Some(&[]), &mut out, &mut [0.0; 36]).is_err());
    assert!(conv2d(&conv(1, 2, 2, 1, 3, 0, 1), &img, &[0.0; 9], None, &mut out, &mut [0.0; 36]).is_err());
    assert!(conv2d_ref(&s, &img, &[0.0; 9], None, &mut out[..3]).is_err());
    assert!(conv2d_rows(&s, 1..3, &img, &[0.0; 9], None, &mut out, &mut [0.0; 36]).is_err());
    assert!(conv2d_rows(&s, 1..2, &img, &[0.0; 9], None, &mut out[..1], &mut [0.0; 36]).is_err());
}

fast_vs_ref!(
    fast_matches_reference,
    cases = 48,
    (
        cin in 1usize..=9,
        cout in 1usize..=9,
        h in 1usize..=13,
        w in 1usize..=13,
        k in 1usize..=3,
        stride in 1usize..=2,
        pad in 0usize..=2,
        cut in 0usize..=13,
        len in 0usize..=13
    ),
    |rng| {
        let s = conv(cin, h, w, cout, k, stride, pad);
        let (ho, wo) = (s.ho(), s.wo());
        let input = random_vec(rng, cin * h * w);
        let weight = random_vec(rng, cout * cin * k * k);
        let bias = random_vec(rng, cout);
        let (mut fast, mut slow) = (vec![0.0; cout * ho * wo], vec![0.0; cout * ho * wo]);
        let mut scratch = vec![0.0; conv2d_scratch_len(&s)];
        // Each output sums cin·k² products and the bias: bounded by the sums of their absolute values.
        let (abs_in, abs_wt, abs_b) = (abs_vec(&input), abs_vec(&weight), abs_vec(&bias));
        let mut bound = vec![0.0; cout * ho * wo];
        let start = cut.min(ho);
        let rows = start..(start + len).min(ho);
        let pick = |map: &[f32]| -> Vec<f32> {
            (0..cout).flat_map(|c| map[(c * ho + rows.start) * wo..(c * ho + rows.end) * wo].to_vec()).collect()
        };
        for bias_used in [true, false] {
            let b = bias_used.then_some(bias.as_slice());
            let ab = bias_used.then_some(abs_b.as_slice());
            conv2d_ref(&s, &abs_in, &abs_wt, ab, &mut bound).unwrap();
            bound.iter_mut().for_each(|e| *e = sum_error_bound(cin * k * k + 1, *e));
            conv2d_ref(&s, &input, &weight, b, &mut slow).unwrap();
            for implicit in [true, false] {
                conv2d_with(&s, 0..ho, &input, &weight, b, &mut fast, &mut scratch, true, implicit).unwrap();
                assert_within(&fast, &slow, &bound);
                let part = &mut fast[..cout * rows.len() * wo];
                conv2d_with(&s, rows.clone(), &input, &weight, b, part, &mut scratch, true, implicit).unwrap();
                assert_within(part, &pick(&slow), &pick(&bound));
            }
        }
    }
);

#[test]
fn bands_cover_large_maps() {
    // A map large enough that the band is smaller than the output height, and K and N span several
    // packed blocks of the implicit path.
    let s = conv(64, 40, 256, 2, 3, 1, 1);
    assert!(band_rows(&s) < s.h);
    let mut rng = Rng::new(6);
    let input = random_vec(&mut rng, s.cin * s.h * s.w);
    let weight = random_vec(&mut rng, 2 * s.cin * 9);
    let (mut fast, mut slow) = (vec![0.0; 2 * s.h * s.w], vec![0.0; 2 * s.h * s.w]);
    let mut scratch = vec![0.0; conv2d_scratch_len(&s)];
    conv2d_ref(&s, &input, &weight, None, &mut slow).unwrap();
    for implicit in [true, false] {
        conv2d_with(&s, 0..s.h, &input, &weight, None, &mut fast, &mut scratch, true, implicit).unwrap();
        assert_close(&fast, &slow, 1e-4);
    }
}
