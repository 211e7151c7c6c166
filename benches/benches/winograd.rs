//! The PUP head's wide 3×3 convolutions, Winograd F(4×4, 3×3) (`conv2d`, which takes it on these shapes)
//! beside im2col + GEMM (`conv2d_im2col`, the path they took before) in the same run, outputs checked
//! close: conv3 (256 → 256 on 64×128), conv2 (256 → 256 on 32×64) and conv0 (192 → 256 on 8×16) of m3vit-t.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use m3rt::kernels::conv::{conv2d, conv2d_im2col, conv2d_scratch_len, im2col_scratch_len, ConvShape};
use m3rt_benches::{quick, seeded};

fn convs(c: &mut Criterion) {
    for (name, cin, cout, h, w) in [
        ("conv3", 256, 256, 64, 128),
        ("conv2", 256, 256, 32, 64),
        ("conv1", 256, 256, 16, 32),
        ("conv0", 192, 256, 8, 16),
    ] {
        let image = seeded(cin * h * w, 3);
        let weight = seeded(cout * cin * 9, 4);
        let bias = seeded(cout, 5);
        let (mut wino, mut gemm) = (vec![0f32; cout * h * w], vec![0f32; cout * h * w]);
        let shape = ConvShape::same(cin, h, w, cout, 3);
        let mut s_wino = vec![0f32; conv2d_scratch_len(&shape)];
        let mut s_gemm = vec![0f32; im2col_scratch_len(&shape)];
        let mut group = c.benchmark_group(format!("conv3x3/{name}-{cin}to{cout}-{h}x{w}"));
        quick(&mut group, 10);
        group.throughput(Throughput::Elements((2 * cout * cin * 9 * h * w) as u64));
        group.bench_function("im2col", |b| {
            b.iter(|| conv2d_im2col(&shape, &image, &weight, Some(&bias), &mut gemm, &mut s_gemm).expect("fits"))
        });
        group.bench_function("winograd", |b| {
            b.iter(|| conv2d(&shape, &image, &weight, Some(&bias), &mut wino, &mut s_wino).expect("fits"))
        });
        group.finish();
        let scale = gemm.iter().fold(1f32, |m, x| m.max(x.abs()));
        let diff = wino.iter().zip(&gemm).fold(0f32, |d, (x, y)| d.max((x - y).abs()));
        println!(
            "{name}: winograd scratch {} floats, im2col {}; max |diff| {diff:.2e} (max |out| {scale:.1})",
            s_wino.len(),
            s_gemm.len()
        );
        assert!(diff <= 1e-3 * scale, "winograd differs from im2col by {diff}");
    }
}

criterion_group!(benches, convs);
criterion_main!(benches);
