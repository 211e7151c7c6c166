//! The fixed-point engine ([`FixedEngine`], the golden model of the accelerator IP) as a backend. It
//! runs only quantized bundles (`m3rt convert --precision fixed16|int8`).

use super::{Backend, Counters, Inference};
use crate::bundle::Bundle;
use crate::fixed::FixedEngine;
use crate::{Error, Result};

/// The fixed-point engine over a caller-provided scratch buffer (4-byte words, used as i32).
pub struct FixedBackend<'s> {
    scratch: &'s mut [f32],
}

impl<'s> FixedBackend<'s> {
    /// A fixed-point backend using `scratch` as its only working memory (at least
    /// [`Backend::scratch_words`] words).
    pub fn new(scratch: &'s mut [f32]) -> Self {
        Self { scratch }
    }
}

impl Backend for FixedBackend<'_> {
    type Loaded<'m>
        = FixedEngine<'m, 'm>
    where
        Self: 'm;

    fn name(&self) -> &'static str {
        "fixed"
    }

    /// What the engine's own layout ([`crate::fixed::layout::FixedLayout`]) adds up to for the model.
    fn scratch_words(&self, bundle: &Bundle<'_>) -> usize {
        FixedEngine::scratch_words(bundle)
    }

    /// The bundle is quantized, its head is one the fixed-point dataflow computes, and the buffer holds
    /// the scratch.
    fn fits(&self, bundle: &Bundle<'_>) -> Result<()> {
        if bundle.profile().is_none() {
            return Err(Error::Inconsistent {
                what: "the fixed backend runs quantized bundles (convert with --precision fixed16 or int8)",
            });
        }
        crate::fixed::head::check_supported(bundle.hyper())?;
        let needed = self.scratch_words(bundle);
        if self.scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed: needed * 4, have: self.scratch.len() * 4 });
        }
        Ok(())
    }

    fn load<'m>(&'m mut self, bundle: Bundle<'m>) -> Result<FixedEngine<'m, 'm>> {
        FixedEngine::new(bundle, &mut *self.scratch)
    }
}

impl Inference for FixedEngine<'_, '_> {
    fn bundle(&self) -> &Bundle<'_> {
        FixedEngine::bundle(self)
    }
    fn select_task(&mut self, task: u32) -> Result<()> {
        FixedEngine::select_task(self, task)
    }
    fn task(&self) -> u32 {
        FixedEngine::task(self)
    }
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<()> {
        FixedEngine::run(self, input, output)
    }
    fn counters(&self) -> &Counters {
        FixedEngine::counters(self)
    }
}
