//! The fixed-point engine: the golden model of the IP, and the board fallback that matches it bit for
//! bit. It follows the IP's dataflow (whole maps, one linear unit, the MoE queues), not the f32 engine's
//! CPU schedule.
//!
//! ```text
//! FixedEngine::new(bundle, scratch)   a quantized bundle; scratch of FixedEngine::scratch_words words
//! select_task(t)                      one index store
//! run_pixels(pixels, out, trace)      u8 pixels [3, H, W] → raw activations [C, H, W], every kernel traced
//! run(input, output)                  f32 in and out (pixels quantized, output scaled by 2^-Fa)
//! ```

use super::consts::Consts;
use super::layout::FixedLayout;
use super::tables::Tables;
use super::trace::{NoTrace, Trace};
use super::{encoder, head, Profile};
use crate::bundle::Bundle;
use crate::engine::Counters;
use crate::{Error, Result};

/// The input rule of a profile with its scale worked out once: `clamp(floor(x · 2^Fp), 0, 2^Wp - 1)`
/// (`docs/fixed-point.md`, "Input"). The one rule every fixed-point path (this engine, the accelerator
/// bridge) quantizes input by.
#[derive(Clone, Copy, Debug)]
pub struct PixelRule {
    scale: f64,
    max: f64,
}

impl PixelRule {
    /// The rule of `profile`'s pixel format.
    pub fn new(profile: &Profile) -> Self {
        let p = profile.pixel;
        Self { scale: libm::exp2(f64::from(p.frac())), max: p.max_raw() as f64 }
    }

    /// The pixel of input value `x`.
    #[inline]
    pub fn pixel(&self, x: f32) -> u8 {
        libm::floor(f64::from(x) * self.scale).clamp(0.0, self.max) as u8
    }
}

/// The output rule of a profile with its scale worked out once: raw activation `raw` is `raw · 2^-Fa` as
/// f32 (the output rule of every fixed-point path). `2^-Fa` is exact in f32, so this is one rounding.
#[derive(Clone, Copy, Debug)]
pub struct ActivationRule {
    scale: f32,
}

impl ActivationRule {
    /// The rule of `profile`'s activation format.
    pub fn new(profile: &Profile) -> Self {
        Self { scale: libm::exp2(-f64::from(profile.fa())) as f32 }
    }

    /// The value of raw activation `raw`.
    #[inline]
    pub fn value(&self, raw: i32) -> f32 {
        raw as f32 * self.scale
    }
}

/// The pixel of input value `x` in `profile` ([`PixelRule`], for one value; loops build the rule once).
pub fn pixel(profile: &Profile, x: f32) -> u8 {
    PixelRule::new(profile).pixel(x)
}

/// The value of raw activation `raw` in `profile` ([`ActivationRule`], for one value).
pub fn activation(profile: &Profile, raw: i32) -> f32 {
    ActivationRule::new(profile).value(raw)
}

/// A quantized model ready to run on the CPU in fixed point.
pub struct FixedEngine<'b, 's> {
    bundle: Bundle<'b>,
    profile: Profile,
    scratch: &'s mut [i32],
    layout: FixedLayout,
    tables: Tables,
    consts: Consts,
    task: u32,
    counters: Counters,
}

impl<'b, 's> FixedEngine<'b, 's> {
    /// Words of scratch a model with these hyperparameters needs (widest head of `max_out_channels`).
    pub fn scratch_words(bundle: &Bundle<'_>) -> usize {
        FixedLayout::new(bundle.hyper(), bundle.max_out_channels()).total()
    }

    /// An engine over the quantized `bundle` with `scratch` (at least [`FixedEngine::scratch_words`]
    /// 4-byte words) as its only working memory. Task 0 is selected.
    pub fn new(bundle: Bundle<'b>, scratch: &'s mut [f32]) -> Result<Self> {
        let profile =
            bundle.profile().ok_or(Error::Inconsistent { what: "the fixed-point engine needs a quantized bundle" })?;
        let h = *bundle.hyper();
        let layout = FixedLayout::new(&h, bundle.max_out_channels());
        let needed = layout.total();
        if scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed: needed * 4, have: scratch.len() * 4 });
        }
        let consts = Consts::new(&h, &profile)?;
        head::check_supported(&h)?;
        let scratch: &mut [i32] = bytemuck::cast_slice_mut(scratch);
        let tables = Tables::new(profile.fa());
        Ok(Self { bundle, profile, scratch, layout, tables, consts, task: 0, counters: Counters::default() })
    }

    /// Selects the task of the next runs: one bounds check and one store.
    pub fn select_task(&mut self, task: u32) -> Result<()> {
        let tasks = self.bundle.task_count();
        if task >= tasks {
            return Err(Error::UnknownTask { task, tasks });
        }
        self.task = task;
        Ok(())
    }

    /// The selected task.
    pub fn task(&self) -> u32 {
        self.task
    }

    /// The bundle.
    pub fn bundle(&self) -> &Bundle<'b> {
        &self.bundle
    }

    /// The model's profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Counters of the last run.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Elements of the input `[3, H, W]`.
    pub fn input_len(&self) -> usize {
        let h = self.bundle.hyper();
        3 * h.image_h as usize * h.image_w as usize
    }

    /// Elements of the selected task's output `[C, H, W]`.
    pub fn output_len(&self) -> Result<usize> {
        self.output_len_of(self.task)
    }

    fn output_len_of(&self, task: u32) -> Result<usize> {
        let h = self.bundle.hyper();
        Ok(self.bundle.task(task)?.out_channels as usize * h.image_h as usize * h.image_w as usize)
    }

    /// The pixel of input value `x` in the model's profile ([`pixel`]).
    pub fn pixel(&self, x: f32) -> u8 {
        pixel(&self.profile, x)
    }

    /// Runs the selected task on `input` (`[3, H, W]`, f32) into `output` (`[C, H, W]`, the raw
    /// activations scaled by `2^-Fa`).
    pub fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<()> {
        if input.len() != self.input_len() {
            return Err(Error::ShapeMismatch { what: "input", expected: self.input_len(), found: input.len() });
        }
        if input.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.scratch[self.layout.x..][..self.layout.pixels]);
        let rule = PixelRule::new(&self.profile);
        for (b, &x) in bytes.iter_mut().zip(input) {
            *b = rule.pixel(x);
        }
        let raw: &mut [i32] = bytemuck::cast_slice_mut(output);
        self.forward(self.task, None, raw, &mut NoTrace)?;
        let rule = ActivationRule::new(&self.profile);
        for v in output.iter_mut() {
            *v = rule.value(v.to_bits() as i32);
        }
        Ok(())
    }

    /// Runs the selected task on `pixels` (`[3, H, W]`, the profile's pixel format) into the raw output
    /// `[C, H, W]`, giving every kernel's output to `trace` in order.
    pub fn run_pixels(&mut self, pixels: &[u8], output: &mut [i32], trace: &mut dyn Trace) -> Result<()> {
        if pixels.len() != self.input_len() {
            return Err(Error::ShapeMismatch { what: "pixels", expected: self.input_len(), found: pixels.len() });
        }
        self.forward(self.task, Some(pixels), output, trace)
    }

    /// Runs `task` from the staged pixels (`pixels`, or the ones `run` wrote into the scratch).
    fn forward(&mut self, task: u32, pixels: Option<&[u8]>, output: &mut [i32], trace: &mut dyn Trace) -> Result<()> {
        let needed = self.output_len_of(task)?;
        if output.len() != needed {
            return Err(Error::ShapeMismatch { what: "output", expected: needed, found: output.len() });
        }
        self.counters.start_run();
        let (l, input_len) = (self.layout, self.input_len());
        let (x, rest) = self.scratch.split_at_mut(l.x);
        let (staged, work) = rest.split_at_mut(l.pixels);
        let staged: &[u8] = bytemuck::cast_slice(staged);
        let pixels = match pixels {
            Some(p) => p,
            None => staged.get(..input_len).ok_or(Error::ScratchTooSmall { needed: 0, have: 0 })?,
        };
        let ctx = encoder::Ctx {
            bundle: &self.bundle,
            profile: &self.profile,
            tables: &self.tables,
            consts: &self.consts,
            layout: &l,
        };
        encoder::run(&ctx, task, pixels, x, work, &mut self.counters, trace)?;
        head::run(&ctx, task, x, work, output, trace)?;
        self.counters.runs += 1;
        Ok(())
    }
}
