//! Winograd against the f64 reference convolution: random shapes, bands, row ranges and edges, routing,
//! bad lengths.

use super::*;
use crate::kernels::conv::{conv2d, conv2d_im2col, conv2d_ref, conv2d_scratch_len, im2col_scratch_len};
use crate::kernels::simd::{set_isa, set_portable, Isa};
use crate::kernels::testing::{assert_close, fast_vs_ref, random_vec, Rng};

/// Allowed error, relative to `max(1, |ref|)`, on ±1 data: F(4×4, 3×3) rounds more than a direct sum
/// (see the module documentation); `error_at_256_channels` prints the measured errors.
const TOL: f32 = 1e-3;

/// Largest `|a − b| / max(1, |b|)`.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |e, (x, y)| e.max((x - y).abs() / y.abs().max(1.0)))
}

/// The 3×3, stride 1, padding 1 shape.
fn shape(cin: usize, cout: usize, h: usize, w: usize) -> ConvShape {
    ConvShape::same(cin, h, w, cout, 3)
}

/// Rows `rows` of every channel of a `[c][h][w]` map.
fn rows_of(map: &[f32], c: usize, h: usize, w: usize, rows: &Range<usize>) -> Vec<f32> {
    (0..c).flat_map(|ch| map[(ch * h + rows.start) * w..(ch * h + rows.end) * w].to_vec()).collect()
}

/// Winograd output rows `rows` and the reference's, on random data.
fn case(rng: &mut Rng, s: &ConvShape, rows: Range<usize>, bias: bool) -> (Vec<f32>, Vec<f32>) {
    let input = random_vec(rng, s.cin * s.h * s.w);
    let weight = random_vec(rng, s.cout * s.cin * 9);
    let b = random_vec(rng, s.cout);
    let b = bias.then_some(b.as_slice());
    let mut fast = vec![f32::NAN; s.cout * rows.len() * s.w];
    let mut slow = vec![0.0; s.cout * s.h * s.w];
    let mut scratch = vec![f32::NAN; scratch_len(s)];
    conv3x3_rows(s, rows.clone(), &input, &weight, b, &mut fast, &mut scratch).unwrap();
    conv2d_ref(s, &input, &weight, b, &mut slow).unwrap();
    (fast, rows_of(&slow, s.cout, s.h, s.w, &rows))
}

fast_vs_ref!(
    matches_reference,
    cases = 64,
    (
        cin in 1usize..=40,
        cout in 1usize..=60,
        h in 1usize..=17,
        w in 1usize..=17,
        bias in proptest::bool::ANY,
        cut in 0usize..=17,
        len in 0usize..=17
    ),
    |rng| {
        // Every output row, then any band of rows (not tile-aligned in general); more than one block of
        // output channels when cout > 48. The transforms and the GEMMs, every build (AVX-512, AVX2 and
        // portable where the CPU has them); `set_portable` and `set_isa` are process-wide, so this is the
        // only test here that changes them, and it puts them back.
        let s = shape(cin, cout, h, w);
        let start = cut.min(h);
        for rows in [0..h, start..(start + len).min(h)] {
            for (portable, cap) in [(false, None), (false, Some(Isa::Avx2)), (true, None)] {
                set_portable(portable);
                set_isa(cap);
                let (fast, slow) = case(rng, &s, rows.clone(), bias);
                set_isa(None);
                set_portable(false);
                assert_close(&fast, &slow, TOL);
            }
        }
    }
);

#[test]
fn bands_and_edges() {
    // More tiles than one band, a map not a multiple of 4 either way.
    let s = shape(200, 130, 29, 61);
    let tiles = s.h.div_ceil(4) * s.w.div_ceil(4);
    assert!(band_tiles(s.cin, s.cout, tiles) < tiles);
    let (fast, slow) = case(&mut Rng::new(3), &s, 0..s.h, true);
    assert_close(&fast, &slow, TOL);
    let (fast, slow) = case(&mut Rng::new(3), &s, 6..23, true);
    assert_close(&fast, &slow, TOL);
}

#[test]
fn filters_transformed_once_serve_every_strip() {
    // A layer strip by strip from one transform of its filters: the same bits as each strip alone.
    let s = shape(70, 66, 23, 30);
    let mut rng = Rng::new(8);
    let (input, weight, bias) = (
        random_vec(&mut rng, s.cin * s.h * s.w),
        random_vec(&mut rng, s.cout * s.cin * 9),
        random_vec(&mut rng, s.cout),
    );
    // The filters' padding rows stay NaN: they must never reach an output.
    let mut u = vec![f32::NAN; filters_len(&s)];
    let mut short = vec![f32::NAN; filters_len(&s) - 1];
    assert!(transform_filters(&s, &weight, &mut short).is_err());
    assert!(transform_filters(&s, &weight[1..], &mut u).is_err());
    let filters = transform_filters(&s, &weight, &mut u).unwrap();
    let mut band = vec![f32::NAN; band_len(&s)];
    let mut scratch = vec![f32::NAN; scratch_len(&s)];
    for rows in [0..8, 8..16, 16..23, 5..11] {
        let n = s.cout * rows.len() * s.w;
        let (mut a, mut b) = (vec![f32::NAN; n], vec![f32::NAN; n]);
        conv3x3_rows_from_filters(&s, rows.clone(), &input, &filters, Some(&bias), &mut a, &mut band).unwrap();
        conv3x3_rows(&s, rows, &input, &weight, Some(&bias), &mut b, &mut scratch).unwrap();
        assert_eq!(a, b);
    }
    // Filters of other channel counts are refused.
    let other = ConvShape { cout: s.cout - 1, ..s };
    assert!(conv3x3_rows_from_filters(&other, 0..8, &input, &filters, None, &mut scratch, &mut band).is_err());
}

#[test]
fn rows_outside_the_read_rows_do_not_matter() {
    // Input rows outside `input_rows` hold NaN: the output rows asked for stay the same bits.
    let s = shape(24, 20, 22, 30);
    let mut rng = Rng::new(12);
    let (input, weight) = (random_vec(&mut rng, s.cin * s.h * s.w), random_vec(&mut rng, s.cout * s.cin * 9));
    assert_eq!((input_rows(22, &(4..12)), input_rows(22, &(0..8)), input_rows(22, &(13..22))), (3..13, 0..9, 11..22));
    let mut scratch = vec![0.0; scratch_len(&s)];
    for rows in [4..12, 0..8, 13..22, 9..10] {
        let read = input_rows(s.h, &rows);
        let mut masked = input.clone();
        for (i, v) in masked.iter_mut().enumerate() {
            if !read.contains(&(i / s.w % s.h)) {
                *v = f32::NAN;
            }
        }
        let n = s.cout * rows.len() * s.w;
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        conv3x3_rows(&s, rows.clone(), &input, &weight, None, &mut a, &mut scratch).unwrap();
        conv3x3_rows(&s, rows, &masked, &weight, None, &mut b, &mut scratch).unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn error_at_256_channels() {
    // The head's 256 → 256 layers, on ±1 data: both point sets and im2col + GEMM against the f64
    // reference.
    let s = shape(256, 16, 16, 20);
    let mut rng = Rng::new(9);
    let (input, weight, bias) = (
        random_vec(&mut rng, s.cin * s.h * s.w),
        random_vec(&mut rng, s.cout * s.cin * 9),
        random_vec(&mut rng, s.cout),
    );
    let mut slow = vec![0.0; s.cout * s.h * s.w];
    conv2d_ref(&s, &input, &weight, Some(&bias), &mut slow).unwrap();
    let mut fast = vec![0.0; s.cout * s.h * s.w];
    let mut scratch = vec![0.0; scratch_len(&s).max(im2col_scratch_len(&s))];
    let b = Some(bias.as_slice());
    conv2d_im2col(&s, &input, &weight, b, &mut fast, &mut scratch).unwrap();
    let direct = rel_err(&fast, &slow);
    conv3x3_rows_with::<Lavin>(&s, 0..s.h, &input, &weight, b, &mut fast, &mut scratch).unwrap();
    let lavin = rel_err(&fast, &slow);
    conv3x3_rows_with::<Mixed>(&s, 0..s.h, &input, &weight, b, &mut fast, &mut scratch).unwrap();
    let mixed = rel_err(&fast, &slow);
    println!("256 input channels, max error of max(1, |ref|): im2col {direct:.2e}, 0 ±1 ±2 {lavin:.2e}, 0 ±1 1/2 -2 {mixed:.2e}");
    assert!(mixed <= TOL && mixed < lavin, "{mixed} {lavin}");
}

#[test]
fn conv2d_takes_it_only_where_it_pays() {
    // micro (head width 16) keeps im2col and its scratch; m3vit-t's 256-wide head convs take Winograd.
    let conv = |cin, h, w, cout, k, stride, pad| ConvShape { cin, h, w, cout, k, stride, pad };
    assert!(!pays(&conv(64, 8, 8, 16, 3, 1, 1)) && !pays(&conv(16, 16, 16, 16, 3, 1, 1)));
    assert!(!pays(&conv(256, 64, 128, 256, 3, 2, 1)) && !pays(&conv(256, 64, 128, 256, 1, 1, 0)));
    assert!(!pays(&conv(192, 8, 16, 256, 3, 1, 1)) && !pays(&conv(256, 16, 32, 256, 3, 1, 1)));
    assert!(pays(&conv(256, 32, 64, 256, 3, 1, 1)) && pays(&conv(256, 64, 128, 256, 3, 1, 1)));
    let conv3 = shape(256, 256, 64, 128);
    assert_eq!(conv2d_scratch_len(&conv3), scratch_len(&conv3));
    // m3vit-t's conv3: every transformed filter (36 matrices of 256 rows, rounded up to 43 panels of 6, by
    // 256) and a band of 64 tiles (36·(256 + 256)·64).
    assert_eq!(scratch_len(&conv3), 36 * 258 * 256 + 36 * 512 * 64);
    let s = shape(64, 64, 29, 35);
    let mut rng = Rng::new(4);
    let (input, weight) = (random_vec(&mut rng, s.cin * s.h * s.w), random_vec(&mut rng, s.cout * s.cin * 9));
    let (mut a, mut b) = (vec![0.0; s.cout * s.h * s.w], vec![0.0; s.cout * s.h * s.w]);
    let mut scratch = vec![0.0; conv2d_scratch_len(&s)];
    conv2d(&s, &input, &weight, None, &mut a, &mut scratch).unwrap();
    conv3x3_rows(&s, 0..s.h, &input, &weight, None, &mut b, &mut scratch).unwrap();
    assert_eq!(a, b);
}

#[test]
fn wrong_lengths_are_errors() {
    let (img, wt, mut out) = ([0.0; 16], [0.0; 9], [0.0; 16]);
    let s1 = shape(1, 1, 4, 4);
    let mut s = vec![0.0; scratch_len(&s1)];
    assert!(conv3x3_rows(&s1, 0..s1.h, &img, &wt, None, &mut out, &mut s).is_ok());
    assert!(conv3x3_rows(&s1, 0..s1.h, &img[..15], &wt, None, &mut out, &mut s).is_err());
    assert!(conv3x3_rows(&s1, 0..s1.h, &img, &wt[..8], None, &mut out, &mut s).is_err());
    assert!(conv3x3_rows(&s1, 0..s1.h, &img, &wt, None, &mut out[..15], &mut s).is_err());
    assert!(conv3x3_rows(&s1, 0..s1.h, &img, &wt, Some(&[]), &mut out, &mut s).is_err());
    assert!(conv3x3_rows(&s1, 0..s1.h, &img, &wt, None, &mut out, &mut s[1..]).is_err());
    // Rows past the map, or backwards, are errors; rows 1..3 need only 2 rows of output.
    assert!(conv3x3_rows(&s1, 2..5, &img, &wt, None, &mut out, &mut s).is_err());
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = 3..1;
    assert!(conv3x3_rows(&s1, backwards, &img, &wt, None, &mut out, &mut s).is_err());
    assert!(conv3x3_rows(&s1, 1..3, &img, &wt, None, &mut out[..8], &mut s).is_ok());
    // Empty shapes are fine.
    let empty = shape(0, 1, 4, 4);
    assert!(conv3x3_rows(&empty, 0..empty.h, &[], &[], Some(&[0.5]), &mut out, &mut s).is_ok() && out == [0.5; 16]);
    let flat = shape(3, 1, 0, 4);
    assert!(conv3x3_rows(&flat, 0..flat.h, &[], &[0.0; 27], None, &mut [], &mut vec![0.0; scratch_len(&flat)]).is_ok());
}

#[test]
fn small_map_matches_the_direct_convolution() {
    // Small enough for Miri (`cargo xtask miri`): two bands' worth of edge tiles, both kernel builds.
    let s = shape(3, 5, 9, 7);
    for portable in [false, true] {
        set_portable(portable);
        let (fast, slow) = case(&mut Rng::new(5), &s, 0..s.h, true);
        set_portable(false);
        assert_close(&fast, &slow, TOL);
    }
}
