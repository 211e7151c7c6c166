//! Single-core SGEMM in the same run: `matrixmultiply` (a well-kept pure-Rust GEMM, single-threaded) and
//! m3rt's own `kernels::gemm::matmul`, on a square 1024³ product and the head-convolution shape
//! (M = 256, K = 2304, N = 8192: the PUP head's conv3, 3×3 from 256 to 256 channels on 64×128), where m3rt's
//! `conv2d` itself is timed too. numpy's OpenBLAS is timed on the same shapes by `benches/ort_bench.py`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use m3rt::kernels::conv::{conv2d, conv2d_scratch_len, ConvShape};
use m3rt::kernels::gemm::matmul;
use m3rt_benches::{quick, seeded};

fn peak(c: &mut Criterion) {
    for (m, k, n) in [(1024, 1024, 1024), (256, 2304, 8192)] {
        let a = seeded(m * k, 1);
        let b = seeded(k * n, 2);
        let mut c1 = vec![0f32; m * n];
        let mut c2 = vec![0f32; m * n];
        let mut group = c.benchmark_group(format!("sgemm/{m}x{k}x{n}"));
        quick(&mut group, 10);
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        group.bench_function("matrixmultiply", |bch| {
            bch.iter(|| {
                // Safety: a is m×k, b is k×n and c1 is m×n, all row-major and live for the call.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        k as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        c1.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                }
            })
        });
        group
            .bench_function("m3rt", |bch| bch.iter(|| matmul(m, k, n, &a, k, &b, n, &mut c2, n, false).expect("fits")));
        if (m, k, n) == (256, 2304, 8192) {
            // The same work as the head's conv3: a 3×3 convolution, 256 → 256 channels, on a 64×128 map.
            let (cin, h, w) = (256, 64, 128);
            let image = seeded(cin * h * w, 3);
            let weight = seeded(m * k, 4);
            let mut out = vec![0f32; m * h * w];
            let shape = ConvShape::same(cin, h, w, m, 3);
            let mut scratch = vec![0f32; conv2d_scratch_len(&shape)];
            group.bench_function("m3rt-conv", |bch| {
                bch.iter(|| conv2d(&shape, &image, &weight, None, &mut out, &mut scratch).expect("fits"))
            });
        }
        group.finish();
        let diff = c1.iter().zip(&c2).fold(0f32, |d, (x, y)| d.max((x - y).abs()));
        assert!(diff < 1e-2, "m3rt's matmul differs from matrixmultiply by {diff}");
    }
}

criterion_group!(benches, peak);
criterion_main!(benches);
