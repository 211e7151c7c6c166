//! m3rt's `matmul` on each kernel build side by side in one run (portable, AVX2 + FMA, AVX-512F, chosen
//! with `kernels::simd::set_isa`; a build the CPU lacks is skipped): the m3vit-t encoder's products
//! (129 tokens, D = 192, qkv 576, MLP hidden 768, an expert's queue of 16 tokens through hidden 384) and a
//! 2048³ SGEMM. Filter with e.g. `cargo bench -p m3rt-benches --bench isa_gemm -- 2048`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use m3rt::kernels::gemm::matmul;
use m3rt::kernels::simd::{isa, set_isa, Isa};
use m3rt_benches::{quick, seeded};

fn isa_gemm(c: &mut Criterion) {
    let shapes = [
        ("qkv", 129, 192, 576),
        ("proj", 129, 192, 192),
        ("fc1", 129, 192, 768),
        ("fc2", 129, 768, 192),
        ("expert-fc1", 16, 192, 384),
        ("expert-fc2", 16, 384, 192),
        ("square", 2048, 2048, 2048),
    ];
    for (name, m, k, n) in shapes {
        let a = seeded(m * k, 1);
        let b = seeded(k * n, 2);
        let mut out = vec![0f32; m * n];
        let mut group = c.benchmark_group(format!("isa_gemm/{name}/{m}x{k}x{n}"));
        quick(&mut group, 10);
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        // The portable build's result, which every build's must match (computed outside the filtered
        // benches, so a filter leaving some out changes nothing).
        set_isa(Some(Isa::Portable));
        let mut portable = vec![0f32; m * n];
        matmul(m, k, n, &a, k, &b, n, &mut portable, n, false).expect("fits");
        for (label, want) in [("portable", Isa::Portable), ("avx2", Isa::Avx2), ("avx512", Isa::Avx512)] {
            set_isa(Some(want));
            if isa() != want {
                eprintln!("isa_gemm: {label} skipped, this CPU runs {:?} at most", isa());
                continue;
            }
            group.bench_function(label, |bch| {
                bch.iter(|| matmul(m, k, n, &a, k, &b, n, &mut out, n, false).expect("fits"))
            });
            out.fill(f32::NAN);
            matmul(m, k, n, &a, k, &b, n, &mut out, n, false).expect("fits");
            let diff = portable.iter().zip(&out).fold(0f32, |d, (x, y)| d.max((x - y).abs()));
            assert!(diff < 1e-2, "{label} differs from the portable build by {diff}");
        }
        set_isa(None);
        group.finish();
    }
}

criterion_group!(benches, isa_gemm);
criterion_main!(benches);
