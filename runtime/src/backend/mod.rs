//! The inference backend seam: everything that runs a model goes through these two traits, whatever
//! computes it (the f32 CPU engine today; a fixed-point engine and the accelerator later).
//!
//! ```text
//! let words = backend.scratch_words(&bundle);   // working memory the model needs on this backend
//! backend.fits(&bundle)?;                       // the memory the backend was given is enough
//! let mut model = backend.load(bundle)?;        // an `Inference`, borrowing that memory
//! model.select_task_by_name("semseg")?;         // O(1): one index stored, no weight byte touched
//! model.run(&input, &mut output)?;              // [3, H, W] in, the selected task's [C, H, W] out
//! ```
//! Working memory is always the caller's: a backend is made over a `&mut [f32]` of 4-byte words (a
//! fixed-point backend views the same words as `i32`), so no backend allocates, and a firmware can place
//! the buffer where it wants (a static, DDR, a DMA window).

#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
mod accel;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
mod accel_dma;
mod cpu;
mod fallback;
mod fixed;

pub use crate::engine::{Counters, IpCounters};
pub use accel::{AccelBackend, AccelConfig, AccelModel};
pub use cpu::CpuBackend;
pub use fallback::{Fallback, FallbackModel};
pub use fixed::FixedBackend;

use core::ops::Range;

use crate::bundle::Bundle;
use crate::{Error, Result};

/// A model loaded on a backend, ready to run. Every method validates its arguments and answers with a
/// typed [`Error`], never a panic. Object safe: host tools hold a `&mut dyn Inference`.
pub trait Inference {
    /// The bundle being run.
    fn bundle(&self) -> &Bundle<'_>;

    /// Selects the task of the next runs: a bounds check and one store, no weight byte touched, no
    /// allocation. An unknown task is [`Error::UnknownTask`] and keeps the current one.
    fn select_task(&mut self, task: u32) -> Result<()>;

    /// Selects a task by its name; returns its index.
    fn select_task_by_name(&mut self, name: &str) -> Result<u32> {
        let task = self.bundle().task_index(name)?;
        self.select_task(task)?;
        Ok(task)
    }

    /// The selected task's index.
    fn task(&self) -> u32;

    /// Elements of an input image `[3, H, W]`.
    fn input_len(&self) -> usize {
        let h = self.bundle().hyper();
        3 * h.image_h as usize * h.image_w as usize
    }

    /// Elements of the selected task's output `[C, H, W]`.
    fn output_len(&self) -> Result<usize> {
        task_output_len(self.bundle(), self.task())
    }

    /// Runs the selected task on `input` (`[3, H, W]`, channel-major, before normalisation) and writes the
    /// raw head output `[C, H, W]` into `output`.
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<()>;

    /// Runs several tasks on one image and writes task `tasks[i]`'s output into `outputs[i]`; every
    /// argument is checked before anything runs. The selected task is left unchanged; the counters
    /// describe the last task run. The outputs are the bits separate [`Inference::run`]s give. This
    /// default runs the tasks one by one; a backend that can share the task-independent prefix (the CPU
    /// engine) overrides it.
    fn run_tasks(&mut self, input: &[f32], tasks: &[u32], outputs: &mut [&mut [f32]]) -> Result<()> {
        if tasks.len() != outputs.len() {
            return Err(Error::ShapeMismatch {
                what: "outputs (one per task)",
                expected: tasks.len(),
                found: outputs.len(),
            });
        }
        let in_len = self.input_len();
        if input.len() != in_len {
            return Err(Error::ShapeMismatch { what: "input", expected: in_len, found: input.len() });
        }
        for (&task, out) in tasks.iter().zip(outputs.iter()) {
            let out_len = task_output_len(self.bundle(), task)?;
            if out.len() != out_len {
                return Err(Error::ShapeMismatch { what: "output", expected: out_len, found: out.len() });
            }
        }
        let selected = self.task();
        let ran = tasks.iter().zip(outputs.iter_mut()).try_for_each(|(&task, out)| {
            self.select_task(task)?;
            self.run(input, out)
        });
        self.select_task(selected)?;
        ran
    }

    /// [`Inference::run`], telling `done` which byte ranges of [`Bundle::bytes`] the run has finished
    /// reading, so a host that maps the bundle can release those pages (they are read again by later
    /// runs, never by this one). Only tensor data is reported, never the header or the tensor table,
    /// which the bundle reads on every call. The output is the bits [`Inference::run`] gives. This default
    /// runs the whole model, then reports the data of every tensor once; the CPU engine reports each
    /// stage (patch embedding, every block, the head) as soon as it is done.
    fn run_releasing(&mut self, input: &[f32], output: &mut [f32], done: &mut dyn FnMut(Range<usize>)) -> Result<()> {
        self.run(input, output)?;
        let bundle = self.bundle();
        done(bundle.span(0..bundle.tensor_count())?);
        Ok(())
    }

    /// Counters of the last run (expert reads, runs completed).
    fn counters(&self) -> &Counters;

    /// The backend computing the runs when it is not the one that loaded the model (a [`Fallback`] took
    /// over); `None` otherwise.
    fn serving(&self) -> Option<&'static str> {
        None
    }

    /// Why a fallback serves instead of the backend that was asked for; `None` while that one serves.
    fn fallback_reason(&self) -> Option<Error> {
        None
    }
}

/// Something that loads a bundle for inference over the working memory it was made with.
pub trait Backend {
    /// The loaded model, borrowing the backend's working memory.
    type Loaded<'m>: Inference
    where
        Self: 'm;

    /// The backend's name: `"cpu"` (later `"fixed"`, `"accel"`), reported by the hello exchange and the
    /// host tools.
    fn name(&self) -> &'static str;

    /// The 4-byte words of working memory [`Inference::run`] needs for `bundle` on this backend, computed
    /// from the model's hyperparameters. It depends only on the backend's kind and configuration, never on
    /// the memory it holds, so a backend made over an empty slice can size the buffer before it exists.
    fn scratch_words(&self, bundle: &Bundle<'_>) -> usize;

    /// The words [`Inference::run_tasks`] needs: [`Backend::scratch_words`] unless the backend keeps a
    /// shared prefix between the tasks.
    fn multi_task_scratch_words(&self, bundle: &Bundle<'_>) -> usize {
        self.scratch_words(bundle)
    }

    /// Checks, without loading it, that `bundle` can be loaded: the backend supports the model and its
    /// working memory is large enough ([`Error::ScratchTooSmall`] otherwise).
    fn fits(&self, bundle: &Bundle<'_>) -> Result<()>;

    /// Loads `bundle`; task 0 is selected. Fails as [`Backend::fits`] does.
    fn load<'m>(&'m mut self, bundle: Bundle<'m>) -> Result<Self::Loaded<'m>>;
}

/// Elements of task `task`'s output `[C, H, W]`, or [`Error::UnknownTask`].
fn task_output_len(bundle: &Bundle<'_>, task: u32) -> Result<usize> {
    let h = bundle.hyper();
    Ok(bundle.task(task)?.out_channels as usize * h.image_h as usize * h.image_w as usize)
}
