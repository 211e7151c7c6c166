//! Winograd against the f64 reference convolution: random shapes, bands and edges, routing, bad lengths.

use super::*;
use crate::kernels::conv::{conv2d, conv2d_im2col, conv2d_ref, conv2d_scratch_len, im2col_scratch_len};
use crate::kernels::simd::set_portable;
use crate::kernels::testing::{assert_close, fast_vs_ref, random_vec, Rng};

/// Allowed error, relative to `max(1, |ref|)`, on ±1 data: F(4×4, 3×3) rounds more than a direct sum
/// (see the module documentation); `error_at_256_channels` prints the measured errors.
const TOL: f32 = 1e-3;

/// Largest `|a − b| / max(1, |b|)`.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |e, (x, y)| e.max((x - y).abs() / y.abs().max(1.0)))
}

fn case(rng: &mut Rng, cin: usize, cout: usize, h: usize, w: usize, bias: bool) -> (Vec<f32>, Vec<f32>) {
    let input = random_vec(rng, cin * h * w);
    let weight = random_vec(rng, cout * cin * 9);
    let b = random_vec(rng, cout);
    let b = bias.then_some(b.as_slice());
    let (mut fast, mut slow) = (vec![f32::NAN; cout * h * w], vec![0.0; cout * h * w]);
    let mut scratch = vec![f32::NAN; scratch_len(cin, h, w, cout)];
    conv3x3(&input, cin, h, w, &weight, cout, b, &mut fast, &mut scratch).unwrap();
    conv2d_ref(&input, cin, h, w, &weight, cout, 3, 1, 1, b, &mut slow).unwrap();
    (fast, slow)
}

fast_vs_ref!(
    matches_reference,
    cases = 64,
    (cin in 1usize..=40, cout in 1usize..=19, h in 1usize..=17, w in 1usize..=17, bias in proptest::bool::ANY),
    |rng| {
        // The transforms and the GEMMs, both builds; `set_portable` is process-wide, so this is the
        // only test here that changes it, and it puts it back.
        for portable in [false, true] {
            set_portable(portable);
            let (fast, slow) = case(rng, cin, cout, h, w, bias);
            set_portable(false);
            assert_close(&fast, &slow, TOL);
        }
    }
);

#[test]
fn bands_and_edges() {
    // More tiles than one band (the band is 8·k tiles), a map not a multiple of 4 either way.
    let (cin, cout, h, w) = (200, 130, 29usize, 61usize);
    assert!(band_tiles(cin, cout, h.div_ceil(4) * w.div_ceil(4)) < h.div_ceil(4) * w.div_ceil(4));
    let (fast, slow) = case(&mut Rng::new(3), cin, cout, h, w, true);
    assert_close(&fast, &slow, TOL);
}

#[test]
fn error_at_256_channels() {
    // The head's 256 → 256 layers, on ±1 data: both point sets and im2col + GEMM against the f64
    // reference.
    let (cin, cout, h, w) = (256, 16, 16, 20);
    let mut rng = Rng::new(9);
    let (input, weight, bias) =
        (random_vec(&mut rng, cin * h * w), random_vec(&mut rng, cout * cin * 9), random_vec(&mut rng, cout));
    let mut slow = vec![0.0; cout * h * w];
    conv2d_ref(&input, cin, h, w, &weight, cout, 3, 1, 1, Some(&bias), &mut slow).unwrap();
    let mut fast = vec![0.0; cout * h * w];
    let mut scratch = vec![0.0; scratch_len(cin, h, w, cout).max(im2col_scratch_len(cin, h, w, cout, 3, 1, 1))];
    let b = Some(bias.as_slice());
    conv2d_im2col(&input, cin, h, w, &weight, cout, 3, 1, 1, b, &mut fast, &mut scratch).unwrap();
    let direct = rel_err(&fast, &slow);
    conv3x3_with::<Lavin>(&input, cin, h, w, &weight, cout, b, &mut fast, &mut scratch).unwrap();
    let lavin = rel_err(&fast, &slow);
    conv3x3_with::<Mixed>(&input, cin, h, w, &weight, cout, b, &mut fast, &mut scratch).unwrap();
    let mixed = rel_err(&fast, &slow);
    println!("256 input channels, max error of max(1, |ref|): im2col {direct:.2e}, 0 ±1 ±2 {lavin:.2e}, 0 ±1 1/2 -2 {mixed:.2e}");
    assert!(mixed <= TOL && mixed < lavin, "{mixed} {lavin}");
}

#[test]
fn conv2d_takes_it_only_where_it_pays() {
    // micro (head width 16) keeps im2col and its scratch; m3vit-t's 256-wide head convs take Winograd.
    assert!(!pays(64, 8, 8, 16, 3, 1, 1) && !pays(16, 16, 16, 16, 3, 1, 1));
    assert!(!pays(256, 64, 128, 256, 3, 2, 1) && !pays(256, 64, 128, 256, 1, 1, 0));
    assert!(!pays(192, 8, 16, 256, 3, 1, 1) && !pays(256, 16, 32, 256, 3, 1, 1));
    assert!(pays(256, 32, 64, 256, 3, 1, 1) && pays(256, 64, 128, 256, 3, 1, 1));
    assert_eq!(conv2d_scratch_len(256, 64, 128, 256, 3, 1, 1), scratch_len(256, 64, 128, 256));
    let (cin, cout, h, w) = (64, 64, 29, 35);
    let mut rng = Rng::new(4);
    let (input, weight) = (random_vec(&mut rng, cin * h * w), random_vec(&mut rng, cout * cin * 9));
    let (mut a, mut b) = (vec![0.0; cout * h * w], vec![0.0; cout * h * w]);
    let mut scratch = vec![0.0; conv2d_scratch_len(cin, h, w, cout, 3, 1, 1)];
    conv2d(&input, cin, h, w, &weight, cout, 3, 1, 1, None, &mut a, &mut scratch).unwrap();
    conv3x3(&input, cin, h, w, &weight, cout, None, &mut b, &mut scratch).unwrap();
    assert_eq!(a, b);
}

#[test]
fn wrong_lengths_are_errors() {
    let (img, wt, mut out) = ([0.0; 16], [0.0; 9], [0.0; 16]);
    let mut s = vec![0.0; scratch_len(1, 4, 4, 1)];
    assert!(conv3x3(&img, 1, 4, 4, &wt, 1, None, &mut out, &mut s).is_ok());
    assert!(conv3x3(&img[..15], 1, 4, 4, &wt, 1, None, &mut out, &mut s).is_err());
    assert!(conv3x3(&img, 1, 4, 4, &wt[..8], 1, None, &mut out, &mut s).is_err());
    assert!(conv3x3(&img, 1, 4, 4, &wt, 1, None, &mut out[..15], &mut s).is_err());
    assert!(conv3x3(&img, 1, 4, 4, &wt, 1, Some(&[]), &mut out, &mut s).is_err());
    assert!(conv3x3(&img, 1, 4, 4, &wt, 1, None, &mut out, &mut s[1..]).is_err());
    // Empty shapes are fine.
    assert!(conv3x3(&[], 0, 4, 4, &[], 1, Some(&[0.5]), &mut out, &mut s).is_ok() && out == [0.5; 16]);
    assert!(conv3x3(&[], 3, 0, 4, &[0.0; 27], 1, None, &mut [], &mut vec![0.0; scratch_len(3, 0, 4, 1)]).is_ok());
}
