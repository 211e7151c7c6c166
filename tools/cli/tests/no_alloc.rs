//! `select_task` and `run` allocate nothing: a counting global allocator watches them.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt_cli::convert::Precision;

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static WATCHING: AtomicBool = AtomicBool::new(false);

// Safety: every call is forwarded unchanged to the system allocator; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        // Safety: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        // Safety: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn select_task_and_run_allocate_nothing() {
    for precision in [Precision::F32, Precision::F16] {
        let dir = model_dir("micro").unwrap();
        let bytes = bundle(&dir, precision);
        let bundle = Bundle::parse(&bytes).unwrap();
        let mut scratch = vec![0f32; bundle.scratch_floats()];
        let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
        let max_out = (0..bundle.task_count()).map(|t| bundle.task(t).unwrap().out_channels).max().unwrap() as usize;
        let mut out = vec![0f32; max_out * input.len() / 3];
        let mut engine = Engine::new(bundle, &mut scratch).unwrap();
        let lens: Vec<usize> = (0..bundle.task_count())
            .map(|t| {
                engine.select_task(t).unwrap();
                engine.output_len().unwrap()
            })
            .collect();
        ALLOCATIONS.store(0, Ordering::SeqCst);
        WATCHING.store(true, Ordering::SeqCst);
        for round in 0..3 {
            for t in 0..bundle.task_count() {
                engine.select_task(t).unwrap();
                engine.run(&input, &mut out[..lens[t as usize]]).unwrap();
            }
            engine.select_task(round % bundle.task_count()).unwrap();
        }
        WATCHING.store(false, Ordering::SeqCst);
        assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "{precision:?}: the engine allocated");
    }
}
