//! Task switching on `m3vit-t`: m3rt's `select_task` (one bounds check and one store) against what a tract
//! user does to switch tasks (load the ONNX again and optimize it for the other task's output). The bench
//! also counts heap allocations inside `select_task` with a counting allocator and fails if there are any.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt_benches::{bundle, model_dir, quick, tract_plan};
use m3rt_cli::convert::Precision;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// Safety: every call is forwarded unchanged to the system allocator; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // Safety: the caller's contract for `alloc` is passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn switching(c: &mut Criterion) {
    let Some(dir) = model_dir("m3vit-t") else {
        eprintln!("m3vit-t: not generated; run `cargo xtask models`");
        return;
    };
    let bytes = bundle(&dir, Precision::F32);
    let bundle = Bundle::parse(&bytes).expect("bundle parses");
    let (h, w) = (bundle.hyper().image_h as usize, bundle.hyper().image_w as usize);
    let mut scratch = vec![0f32; bundle.scratch_floats()];
    let mut engine = Engine::new(bundle, &mut scratch).expect("engine");
    let tasks = bundle.task_count();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..1000 {
        engine.select_task(black_box(i % tasks)).expect("task exists");
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocations, 0, "select_task allocated");
    eprintln!("select_task: {allocations} heap allocations in 1000 switches");
    let mut group = c.benchmark_group("switch/m3vit-t");
    quick(&mut group, 20);
    let mut next = 0u32;
    group.bench_function("m3rt-select-task", |b| {
        b.iter(|| {
            next = (next + 1) % tasks;
            engine.select_task(black_box(next)).expect("task exists")
        })
    });
    let other = bundle.task(1 % tasks).expect("task").name;
    let onnx = dir.join("model.onnx");
    quick(&mut group, 10);
    group.bench_function("tract-load-optimize", |b| b.iter(|| tract_plan(&onnx, other, h, w)));
    group.finish();
}

criterion_group!(benches, switching);
criterion_main!(benches);
