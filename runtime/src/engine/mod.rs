//! The inference engine: borrows a bundle and a scratch buffer, selects a task, runs the model.
//!
//! ```text
//! Engine::new(bundle, scratch)   validates sizes once
//! select_task(t)                 stores one index: the gates and head of task t are found from it
//! run(input, output)             normalise → patch embed → blocks (dense / MoE) → head → output
//! run_tasks(input, tasks, outs)  the task-independent prefix once, then each task's blocks and head
//! ```
//! Nothing here allocates, and every slice access on outside data is checked.

pub mod counters;
mod encoder;
mod head;
pub mod scratch;
pub mod weights;

pub use counters::{Counters, IpCounters};
pub use scratch::{scratch_floats, Layout};

use crate::bundle::Bundle;
use crate::model::Stage;
use crate::{Error, Result};
use encoder::{EncoderWork, MoeWork};
use head::HeadWork;
use weights::WeightBufs;

/// A model ready to run: a parsed bundle, a scratch buffer and the selected task.
pub struct Engine<'b, 's> {
    bundle: Bundle<'b>,
    scratch: &'s mut [f32],
    layout: Layout,
    task: u32,
    counters: Counters,
}

impl<'b, 's> Engine<'b, 's> {
    /// Makes an engine over `bundle` with `scratch` as its only working memory (at least
    /// [`Bundle::scratch_floats`] words). Task 0 is selected.
    pub fn new(bundle: Bundle<'b>, scratch: &'s mut [f32]) -> Result<Self> {
        let layout = Layout::new(bundle.hyper(), bundle.max_out_channels(), bundle.widens());
        let needed = layout.total();
        if bundle.scratch_floats() < needed {
            return Err(Error::Inconsistent { what: "stated scratch size is smaller than the model needs" });
        }
        if scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed: needed * 4, have: scratch.len() * 4 });
        }
        // The kernel build is detected (and `M3RT_ISA` read, which allocates once) here rather than in the
        // first run, so no run allocates.
        let _ = crate::kernels::simd::isa();
        Ok(Self { bundle, scratch, layout, task: 0, counters: Counters::default() })
    }

    /// Selects the task the next runs compute. Costs one bounds check and one store: the task's gates and
    /// head are looked up from this index when they are used, and no weight byte is touched.
    pub fn select_task(&mut self, task: u32) -> Result<()> {
        let tasks = self.bundle.task_count();
        if task >= tasks {
            return Err(Error::UnknownTask { task, tasks });
        }
        self.task = task;
        Ok(())
    }

    /// Selects a task by its name; returns its index.
    pub fn select_task_by_name(&mut self, name: &str) -> Result<u32> {
        let t = self.bundle.task_index(name)?;
        self.select_task(t)?;
        Ok(t)
    }

    /// The selected task's index.
    pub fn task(&self) -> u32 {
        self.task
    }

    /// The bundle this engine runs.
    pub fn bundle(&self) -> &Bundle<'b> {
        &self.bundle
    }

    /// Elements of an input image `[3, H, W]`.
    pub fn input_len(&self) -> usize {
        let h = self.bundle.hyper();
        3 * h.image_h as usize * h.image_w as usize
    }

    /// Elements of the selected task's output `[C, H, W]`.
    pub fn output_len(&self) -> Result<usize> {
        let h = self.bundle.hyper();
        let c = self.bundle.task(self.task)?.out_channels as usize;
        Ok(c * h.image_h as usize * h.image_w as usize)
    }

    /// Counters of the last run.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Runs the selected task on `input` (`[3, H, W]`, channel-major, values as the model's input
    /// expects before normalisation) and writes the raw head output `[C, H, W]` into `output`.
    pub fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<()> {
        self.check_input(input)?;
        self.check_output(self.task, output)?;
        self.counters.start_run();
        let depth = self.bundle.hyper().depth;
        self.forward(self.task, Some(input), 0..depth, Some(output))?;
        self.counters.runs += 1;
        Ok(())
    }

    /// [`Engine::run`], stage by stage, telling `done` which bytes of [`Bundle::bytes`] each stage has
    /// finished reading as soon as it has (patch embedding, every block, the head; see [`Stage`]). A host
    /// that maps the bundle can release those pages, so a one-shot run holds about one stage's weights at
    /// a time instead of the whole pathway's; the output is the same bits as [`Engine::run`]'s.
    pub fn run_releasing(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        done: &mut dyn FnMut(core::ops::Range<usize>),
    ) -> Result<()> {
        self.check_input(input)?;
        self.check_output(self.task, output)?;
        self.counters.start_run();
        let h = *self.bundle.hyper();
        let span = |stage| self.bundle.span(crate::model::stage_tensors(&h, stage));
        let spans = (span(Stage::Embed)?, span(Stage::Head(self.task))?);
        self.forward(self.task, Some(input), 0..0, None)?;
        done(spans.0);
        for b in 0..h.depth {
            self.forward(self.task, None, b..b + 1, None)?;
            done(self.bundle.span(crate::model::stage_tensors(&h, Stage::Block(b)))?);
        }
        self.forward(self.task, None, h.depth..h.depth, Some(output))?;
        done(spans.1);
        self.counters.runs += 1;
        Ok(())
    }

    /// Runs only the backbone of the selected task on `input` and returns its output tokens `[T, D]`
    /// (cls token first), before the head's LayerNorm.
    pub fn encode(&mut self, input: &[f32]) -> Result<&[f32]> {
        self.check_input(input)?;
        self.counters.start_run();
        let depth = self.bundle.hyper().depth;
        self.forward(self.task, Some(input), 0..depth, None)?;
        Ok(&self.scratch[..self.layout.x])
    }

    /// Scratch words [`Engine::run_tasks`] needs: [`Bundle::scratch_floats`] plus one copy of the token
    /// sequence, which keeps the task-independent prefix while each task runs.
    pub fn multi_task_scratch_floats(&self) -> usize {
        self.layout.total() + self.layout.x
    }

    /// Runs several tasks on one image and writes task `tasks[i]`'s output into `outputs[i]`. The work that
    /// does not depend on the task (normalisation, patch embedding and every block before the first MoE
    /// block) is done once. The selected task is left unchanged; the counters describe the last task run.
    pub fn run_tasks(&mut self, input: &[f32], tasks: &[u32], outputs: &mut [&mut [f32]]) -> Result<()> {
        if tasks.len() != outputs.len() {
            return Err(Error::ShapeMismatch {
                what: "outputs (one per task)",
                expected: tasks.len(),
                found: outputs.len(),
            });
        }
        self.check_input(input)?;
        let tasks_total = self.bundle.task_count();
        for (&task, out) in tasks.iter().zip(outputs.iter()) {
            if task >= tasks_total {
                return Err(Error::UnknownTask { task, tasks: tasks_total });
            }
            self.check_output(task, out)?;
        }
        let needed = self.multi_task_scratch_floats();
        if self.scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed: needed * 4, have: self.scratch.len() * 4 });
        }
        let h = *self.bundle.hyper();
        let split = encoder::first_task_block(&h);
        let (x, total) = (self.layout.x, self.layout.total());
        for (i, (&task, out)) in tasks.iter().zip(outputs.iter_mut()).enumerate() {
            self.counters.start_run();
            if i == 0 {
                self.forward(task, Some(input), 0..split, None)?;
                self.scratch.copy_within(..x, total);
            } else {
                self.scratch.copy_within(total..total + x, 0);
            }
            self.forward(task, None, split..h.depth, Some(out))?;
            self.counters.runs += 1;
        }
        Ok(())
    }

    fn check_input(&self, input: &[f32]) -> Result<()> {
        let in_len = self.input_len();
        if input.len() != in_len {
            return Err(Error::ShapeMismatch { what: "input", expected: in_len, found: input.len() });
        }
        if input.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        Ok(())
    }

    fn check_output(&self, task: u32, output: &[f32]) -> Result<()> {
        let h = self.bundle.hyper();
        let out_len = self.bundle.task(task)?.out_channels as usize * h.image_h as usize * h.image_w as usize;
        if output.len() != out_len {
            return Err(Error::ShapeMismatch { what: "output", expected: out_len, found: output.len() });
        }
        Ok(())
    }

    /// One pass over part of the model for `task`: embed `input` when given (else start from the tokens in
    /// the residual region), run `blocks`, then the head into `output` when given.
    fn forward(
        &mut self,
        task: u32,
        input: Option<&[f32]>,
        blocks: core::ops::Range<u32>,
        output: Option<&mut [f32]>,
    ) -> Result<()> {
        let l = self.layout;
        let mut rest: &mut [f32] = &mut self.scratch[..l.total()];
        let x = take(&mut rest, l.x)?;
        let mut wb =
            WeightBufs { w: take(&mut rest, l.wbuf)?, va: take(&mut rest, l.vbuf)?, vb: take(&mut rest, l.vbuf)? };
        let shared = rest;
        {
            let mut r: &mut [f32] = &mut *shared;
            let s = &l.encoder;
            let mut w = EncoderWork {
                image: take(&mut r, s.image)?,
                patch: take(&mut r, s.patch)?,
                a: take(&mut r, s.a)?,
                qkv: take(&mut r, s.qkv)?,
                att: take(&mut r, s.att)?,
                att_scratch: take(&mut r, s.att_scratch)?,
                moe: MoeWork {
                    hidden: take(&mut r, s.hidden)?,
                    gathered: take(&mut r, s.gathered)?,
                    expert_out: take(&mut r, s.expert_out)?,
                    gate: take(&mut r, s.gate)?,
                    q_probs: take(&mut r, s.queue_probs)?,
                    q_tokens: bytemuck::cast_slice_mut(take(&mut r, s.queue_tokens)?),
                    q_offsets: bytemuck::cast_slice_mut(take(&mut r, s.queue_offsets)?),
                },
            };
            if let Some(input) = input {
                encoder::embed(&self.bundle, input, x, &mut w, &mut wb)?;
            }
            encoder::run_blocks(&self.bundle, task, blocks, x, &mut w, &mut wb, &mut self.counters)?;
        }
        let Some(output) = output else { return Ok(()) };
        let mut r: &mut [f32] = &mut *shared;
        let s = &l.head;
        let mut w = HeadWork {
            ping: take(&mut r, s.ping)?,
            pong: take(&mut r, s.pong)?,
            strip: take(&mut r, s.strip)?,
            conv: take(&mut r, s.conv)?,
        };
        let channels = self.bundle.task(task)?.out_channels;
        head::decode(&self.bundle, task, channels, x, &mut w, &mut wb, output)
    }
}

/// Splits the first `n` words off `rest`.
fn take<'s>(rest: &mut &'s mut [f32], n: usize) -> Result<&'s mut [f32]> {
    let all = core::mem::take(rest);
    let have = all.len();
    let (head, tail) = all.split_at_mut_checked(n).ok_or(Error::ScratchTooSmall { needed: n * 4, have: have * 4 })?;
    *rest = tail;
    Ok(head)
}
