//! The f32 CPU engine ([`Engine`]) as a backend.

use core::ops::Range;

use super::{Backend, Counters, Inference};
use crate::bundle::Bundle;
use crate::engine::{Engine, Layout};
use crate::{Error, Result};

/// The CPU engine over a caller-provided scratch buffer.
pub struct CpuBackend<'s> {
    scratch: &'s mut [f32],
}

impl<'s> CpuBackend<'s> {
    /// A CPU backend using `scratch` as its only working memory (at least [`Backend::scratch_words`]
    /// words; [`Backend::multi_task_scratch_words`] for [`Inference::run_tasks`]).
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

    /// What the engine's scratch [`Layout`] adds up to for the model.
    fn scratch_words(&self, bundle: &Bundle<'_>) -> usize {
        layout(bundle).total()
    }

    /// [`Backend::scratch_words`] plus one copy of the token sequence, which keeps the task-independent
    /// prefix while each task runs ([`Engine::multi_task_scratch_floats`]).
    fn multi_task_scratch_words(&self, bundle: &Bundle<'_>) -> usize {
        let layout = layout(bundle);
        layout.total() + layout.x
    }

    /// The checks [`Engine::new`] makes: the bundle states at least the scratch its model needs
    /// ([`Error::Inconsistent`] otherwise), and the buffer holds it.
    fn fits(&self, bundle: &Bundle<'_>) -> Result<()> {
        let needed = self.scratch_words(bundle);
        if bundle.scratch_floats() < needed {
            return Err(Error::Inconsistent { what: "stated scratch size is smaller than the model needs" });
        }
        if self.scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed: needed * 4, have: self.scratch.len() * 4 });
        }
        Ok(())
    }

    fn load<'m>(&'m mut self, bundle: Bundle<'m>) -> Result<Engine<'m, 'm>> {
        Engine::new(bundle, &mut *self.scratch)
    }
}

/// The engine's scratch layout for `bundle`.
fn layout(bundle: &Bundle<'_>) -> Layout {
    Layout::new(bundle.hyper(), bundle.max_out_channels(), bundle.widens())
}

impl Inference for Engine<'_, '_> {
    fn bundle(&self) -> &Bundle<'_> {
        Engine::bundle(self)
    }
    fn select_task(&mut self, task: u32) -> Result<()> {
        Engine::select_task(self, task)
    }
    fn select_task_by_name(&mut self, name: &str) -> Result<u32> {
        Engine::select_task_by_name(self, name)
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
    /// The task-independent prefix computed once ([`Engine::run_tasks`]).
    fn run_tasks(&mut self, input: &[f32], tasks: &[u32], outputs: &mut [&mut [f32]]) -> Result<()> {
        Engine::run_tasks(self, input, tasks, outputs)
    }
    /// Stage by stage ([`Engine::run_releasing`]).
    fn run_releasing(&mut self, input: &[f32], output: &mut [f32], done: &mut dyn FnMut(Range<usize>)) -> Result<()> {
        Engine::run_releasing(self, input, output, done)
    }
    fn counters(&self) -> &Counters {
        Engine::counters(self)
    }
}
