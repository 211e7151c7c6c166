//! `select_task`, `run`, `run_tasks` and `run_releasing` allocate nothing: a counting global allocator
//! watches them. It counts only on the watching thread, so the suite's other tests may run alongside.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::Bundle;

use super::{multi_task_scratch, precisions, UnderTest};
use crate::common::*;

struct Counting;

thread_local! {
    /// Whether this thread's allocations are counted.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    /// Allocations counted on this thread.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts one allocation if this thread is watching (`try_with`: nothing is counted while the thread's
/// locals are being torn down).
fn count() {
    if WATCHING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// Safety: every call is forwarded unchanged to the system allocator; the counter has no effect on memory
// (and, a `const`-initialised `Cell` without destructor, never allocates itself).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // Safety: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // Safety: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations_of(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    WATCHING.with(|w| w.set(true));
    f();
    WATCHING.with(|w| w.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// Three rounds of every task, then every task at once and a releasing run, on both precisions.
pub fn select_task_and_run_allocate_nothing<D: UnderTest>() {
    let counted = allocations_of(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8))));
    assert_eq!(counted, 1, "the counting allocator must see this thread's allocations");
    for precision in precisions::<D>() {
        let dir = model_dir("micro").unwrap();
        let bytes = bundle(&dir, precision);
        let bundle = Bundle::parse(&bytes).unwrap();
        let mut scratch = multi_task_scratch::<D>(&bundle);
        let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
        let max_out = (0..bundle.task_count()).map(|t| bundle.task(t).unwrap().out_channels).max().unwrap() as usize;
        let mut out = vec![0f32; max_out * input.len() / 3];
        let mut backend = D::backend(&mut scratch);
        let mut model = backend.load(bundle).unwrap();
        let lens: Vec<usize> = (0..bundle.task_count())
            .map(|t| {
                model.select_task(t).unwrap();
                model.output_len().unwrap()
            })
            .collect();
        let tasks: Vec<u32> = (0..bundle.task_count()).collect();
        let mut outs: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0f32; n]).collect();
        let mut views: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        let mut released = 0usize;
        let allocations = allocations_of(|| {
            for round in 0..3 {
                for t in 0..bundle.task_count() {
                    model.select_task(t).unwrap();
                    model.run(&input, &mut out[..lens[t as usize]]).unwrap();
                }
                model.select_task(round % bundle.task_count()).unwrap();
            }
            model.run_tasks(&input, &tasks, &mut views).unwrap();
            let len = model.output_len().unwrap();
            model.run_releasing(&input, &mut out[..len], &mut |span| released += span.len()).unwrap();
        });
        assert_eq!(allocations, 0, "{}: {precision:?}: the backend allocated", D::NAME);
        assert!(released > 0, "{}: a releasing run reports what it read", D::NAME);
    }
}
