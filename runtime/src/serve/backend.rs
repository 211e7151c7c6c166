//! The inference backend seam: what the command loop needs from whatever computes the model. Today the CPU
//! engine; an accelerator backend implements the same two traits.

use crate::bundle::Bundle;
use crate::engine::{Counters, Engine};
use crate::Result;

/// A model loaded on a backend, ready to run.
pub trait Inference {
    /// Selects the task of the next runs (O(1), no weight byte touched).
    fn select_task(&mut self, task: u32) -> Result<()>;
    /// The selected task.
    fn task(&self) -> u32;
    /// Input size in f32 values.
    fn input_len(&self) -> usize;
    /// The selected task's output size in f32 values.
    fn output_len(&self) -> Result<usize>;
    /// Runs the selected task.
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<()>;
    /// Counters of the last run.
    fn counters(&self) -> &Counters;
}

/// Something that loads a bundle for inference.
pub trait Backend {
    /// The loaded model, borrowing the backend's working memory.
    type Loaded<'m>: Inference
    where
        Self: 'm;
    /// The name reported in the hello exchange (`"cpu"`, ...).
    fn name(&self) -> &'static str;
    /// Checks that `bundle` can be loaded (working memory is large enough) without loading it.
    fn fits(&self, bundle: &Bundle<'_>) -> Result<()>;
    /// Loads `bundle`.
    fn load<'m>(&'m mut self, bundle: Bundle<'m>) -> Result<Self::Loaded<'m>>;
}

/// The CPU engine over a caller-provided scratch buffer.
pub struct CpuBackend<'s> {
    scratch: &'s mut [f32],
}

impl<'s> CpuBackend<'s> {
    /// A CPU backend using `scratch` (at least the model's `Bundle::scratch_floats` values).
    pub fn new(scratch: &'s mut [f32]) -> Self {
        Self { scratch }
    }
}

impl Backend for CpuBackend<'_> {
    type Loaded<'m>
        = Engine<'m, 'm>
    where
        Self: 'm;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn fits(&self, bundle: &Bundle<'_>) -> Result<()> {
        let needed = bundle.scratch_floats();
        if self.scratch.len() < needed {
            return Err(crate::Error::ScratchTooSmall { needed: needed * 4, have: self.scratch.len() * 4 });
        }
        Ok(())
    }

    fn load<'m>(&'m mut self, bundle: Bundle<'m>) -> Result<Engine<'m, 'm>> {
        Engine::new(bundle, &mut *self.scratch)
    }
}

impl Inference for Engine<'_, '_> {
    fn select_task(&mut self, task: u32) -> Result<()> {
        Engine::select_task(self, task)
    }
    fn task(&self) -> u32 {
        Engine::task(self)
    }
    fn input_len(&self) -> usize {
        Engine::input_len(self)
    }
    fn output_len(&self) -> Result<usize> {
        Engine::output_len(self)
    }
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<()> {
        Engine::run(self, input, output)
    }
    fn counters(&self) -> &Counters {
        Engine::counters(self)
    }
}
