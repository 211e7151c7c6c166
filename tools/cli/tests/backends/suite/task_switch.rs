//! `select_task` touches no weight bytes: the pages holding the weights are made inaccessible with
//! `mprotect(PROT_NONE)` while tasks are switched; any read of them would fault and kill the test.

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::Bundle;
use m3rt::model::TensorKey;

use super::{scratch, UnderTest};
use crate::common::*;

/// Page-aligned anonymous memory holding a copy of some bytes.
struct Pages {
    ptr: *mut u8,
    len: usize,
}

impl Pages {
    fn copy_of(bytes: &[u8]) -> Self {
        let len = bytes.len().next_multiple_of(page());
        // Safety: a fresh private anonymous mapping; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        let ptr = ptr.cast::<u8>();
        // Safety: the mapping is `len ≥ bytes.len()` bytes, writable, and does not overlap `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
        Self { ptr, len }
    }

    fn bytes(&self, n: usize) -> &[u8] {
        // Safety: the mapping lives as long as `self` and holds at least `n` initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, n) }
    }

    /// Sets the protection of the pages from `offset` (rounded up to a page) to the end.
    fn protect_from(&self, offset: usize, prot: i32) -> usize {
        let start = offset.next_multiple_of(page());
        // Safety: the range lies inside our own mapping.
        let rc = unsafe { libc::mprotect(self.ptr.add(start).cast(), self.len - start, prot) };
        assert_eq!(rc, 0, "mprotect failed");
        self.len - start
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // Safety: unmapping our own mapping exactly once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn page() -> usize {
    // Safety: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// 10 000 switches with the weights unreadable, then a run once they are readable again.
pub fn select_task_reads_no_weight_byte<D: UnderTest>() {
    let dir = model_dir("micro").unwrap();
    let aligned = bundle(&dir, D::PRIMARY);
    let pages = Pages::copy_of(&aligned);
    let bytes = pages.bytes(aligned.len());
    let bundle = Bundle::parse(bytes).unwrap();
    // The weights start at the first tensor's data (whatever its type).
    let patch_w = bundle.tensor(TensorKey::global(m3rt::model::TensorKind::PatchW)).unwrap();
    let first = patch_w.bytes_of(0..1).unwrap().as_ptr() as usize - bytes.as_ptr() as usize;
    let mut scratch = scratch::<D>(&bundle);
    let mut backend = D::backend(&mut scratch);
    let mut model = backend.load(bundle).unwrap();
    let protected = pages.protect_from(first, libc::PROT_NONE);
    assert!(protected * 2 > bytes.len() - first, "most of the weights must be protected");
    for i in 0..10_000u32 {
        model.select_task(i % bundle.task_count()).unwrap();
    }
    assert!(model.select_task(bundle.task_count()).is_err());
    pages.protect_from(first, libc::PROT_READ);
    // And the backend still runs once the weights are readable again.
    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let mut out = vec![0f32; model.output_len().unwrap()];
    model.run(&input, &mut out).unwrap();
}
