//! The accelerator IP as a backend (`docs/accel-bridge.md`): the model's descriptor and every task's tables
//! placed in DMA memory once at load, a task switch as [`driver::SELECT_WRITES`] register writes, a run as
//! pixels in, `ap_start`, a bounded wait for `ap_done`, the output out. The same code drives the IP on any
//! [`RegisterBus`]: a board's MMIO or UIO mapping, the C-simulated IP, the host simulator's model.

use super::accel_dma::{dma_fault, flush, weight_address, write_words, CHUNK};
use super::{Backend, Counters, Inference, IpCounters};
use crate::accel::bus::{Clock, DmaMemory, RegisterBus};
use crate::accel::desc;
use crate::accel::driver::{self, Addresses, Report};
use crate::accel::place::{Placement, Region, WeightPlacement, DMA_ALIGN};
use crate::bundle::Bundle;
use crate::fixed::{engine, Profile};
use crate::model::MAX_DEPTH;
use crate::{Error, Result};

/// Words of the largest model descriptor (a model of [`MAX_DEPTH`] blocks).
const MAX_DESC_WORDS: usize = desc::word::OFFSETS + 4 + 12 * MAX_DEPTH as usize;

/// What the IP was built for and how the bridge drives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccelConfig {
    /// The profile (formats and weight mode) the IP was compiled for: a bundle in another is refused at load.
    pub profile: Profile,
    /// Where the IP reads the weights.
    pub weights: WeightPlacement,
    /// How long a run may take before [`Error::AccelTimeout`], in microseconds of the backend's clock.
    pub timeout_us: u64,
}

impl AccelConfig {
    /// The IP built for `profile`, weights copied into the DMA memory, a two-second bound per run.
    pub const fn new(profile: Profile) -> Self {
        Self { profile, weights: WeightPlacement::Copy, timeout_us: 2_000_000 }
    }
}

/// The accelerator over a register bus `B`, DMA memory `D` and clock `C`.
pub struct AccelBackend<B, D, C> {
    bus: B,
    dma: D,
    clock: C,
    config: AccelConfig,
}

impl<B: RegisterBus, D: DmaMemory, C: Clock> AccelBackend<B, D, C> {
    /// The IP reached through `bus`, with `dma` as the memory it reads and writes.
    pub fn new(bus: B, dma: D, clock: C, config: AccelConfig) -> Self {
        Self { bus, dma, clock, config }
    }

    /// The bus, the DMA memory and the clock (for a test that inspects them, or a board that reuses them).
    pub fn parts(&mut self) -> (&mut B, &mut D, &mut C) {
        (&mut self.bus, &mut self.dma, &mut self.clock)
    }

    /// The configuration.
    pub fn config(&self) -> &AccelConfig {
        &self.config
    }
}

impl<B: RegisterBus, D: DmaMemory, C: Clock> Backend for AccelBackend<B, D, C> {
    type Loaded<'m>
        = AccelModel<'m, B, D, C>
    where
        Self: 'm;

    fn name(&self) -> &'static str {
        "accel"
    }

    /// The DMA memory the model needs, in 4-byte words ([`Placement`]); the host side needs none.
    fn scratch_words(&self, bundle: &Bundle<'_>) -> usize {
        Placement::new(bundle, self.config.weights).map_or(usize::MAX, |p| p.total.div_ceil(4))
    }

    /// The bundle is quantized in the IP's profile, its head is one the IP computes, and the DMA memory is
    /// large enough and aligned (as are the weights where they are given [`WeightPlacement::At`] an address
    /// or read [`WeightPlacement::InPlace`], which the DMA memory must be able to do).
    fn fits(&self, bundle: &Bundle<'_>) -> Result<()> {
        let profile = bundle.profile().ok_or(Error::Inconsistent {
            what: "the accelerator runs quantized bundles (convert with --precision fixed16 or int8)",
        })?;
        if desc::profile_words(&profile) != desc::profile_words(&self.config.profile) {
            return Err(Error::Inconsistent {
                what: "the bundle's precision (formats or weight mode) is not the one the accelerator IP was built for",
            });
        }
        crate::fixed::head::check_supported(bundle.hyper())?;
        crate::fixed::Consts::new(bundle.hyper(), &profile)?;
        let needed = Placement::new(bundle, self.config.weights)?.total;
        if self.dma.len() < needed {
            return Err(Error::DmaTooSmall { needed, have: self.dma.len() });
        }
        if !self.dma.bus_address().is_multiple_of(DMA_ALIGN) {
            return Err(Error::Misaligned { what: "the DMA memory's bus address", align: DMA_ALIGN as usize });
        }
        if let Some(a) = weight_address(&self.dma, self.config.weights, bundle)? {
            if !a.is_multiple_of(DMA_ALIGN) {
                return Err(Error::Misaligned { what: "the weight section's bus address", align: DMA_ALIGN as usize });
            }
        }
        let end = self.dma.bus_address().checked_add(needed as u64);
        end.ok_or(Error::Unrepresentable { what: "DMA memory past the 64-bit bus address space" })?;
        Ok(())
    }

    /// Checks as [`Backend::fits`] does, writes the descriptor, every task's tables and (if asked) the
    /// weights into the DMA memory (weights read in place are flushed where they are instead), programs the
    /// buffer addresses and selects task 0.
    fn load<'m>(&'m mut self, bundle: Bundle<'m>) -> Result<AccelModel<'m, B, D, C>> {
        self.fits(&bundle)?;
        let profile = self.config.profile;
        let place = Placement::new(&bundle, self.config.weights)?;
        let h = *bundle.hyper();
        let mut words = [0u32; MAX_DESC_WORDS];
        let n = desc::model_descriptor(&bundle, &profile, &mut words)?;
        write_words(&mut self.dma, place.model.offset, first(&words, n)?)?;
        for task in 0..bundle.task_count() {
            let n = desc::gate_table(&bundle, task, &mut words)?;
            write_words(&mut self.dma, place.gates_of(task).offset, first(&words, n)?)?;
            let n = desc::head_table(&bundle, task, &mut words)?;
            write_words(&mut self.dma, place.head_of(task).offset, first(&words, n)?)?;
        }
        let base = self.dma.bus_address();
        let weights = match weight_address(&self.dma, self.config.weights, &bundle)? {
            Some(a) => {
                if self.config.weights == WeightPlacement::InPlace {
                    let fault = Error::BusFault { what: "the bundle's weight section", offset: 0 };
                    self.dma.flush_in_place(bundle.weight_section()).map_err(|_| fault)?;
                }
                a
            }
            None => {
                let at = place.weights.offset;
                self.dma.write(at, bundle.weight_section()).map_err(dma_fault(at))?;
                flush(&mut self.dma, place.weights)?;
                base + at as u64
            }
        };
        let tables = Region { offset: 0, len: place.input.offset };
        flush(&mut self.dma, tables)?;
        let work_words = desc::work_words(&h, bundle.max_out_channels());
        let addresses = Addresses {
            model: base + place.model.offset as u64,
            weights,
            input: base + place.input.offset as u64,
            output: base + place.output.offset as u64,
            work: base + place.work.offset as u64,
            work_words: u32::try_from(work_words)
                .map_err(|_| Error::Unrepresentable { what: "work_words: the model needs 2^32 words or more" })?,
        };
        driver::program(&mut self.bus, &addresses)?;
        let mut model = AccelModel {
            backend: self,
            bundle,
            place,
            task: 0,
            selected: false,
            counters: Counters::default(),
            report: Report::default(),
        };
        model.select_task(0)?;
        Ok(model)
    }
}

/// A model loaded on the accelerator.
pub struct AccelModel<'m, B, D, C> {
    backend: &'m mut AccelBackend<B, D, C>,
    bundle: Bundle<'m>,
    place: Placement,
    task: u32,
    /// Whether the IP's table registers hold `task`'s tables (false after a failed switch).
    selected: bool,
    counters: Counters,
    report: Report,
}

impl<B: RegisterBus, D: DmaMemory, C: Clock> AccelModel<'_, B, D, C> {
    /// What the IP reported for the last run: experts and KiB of weights fetched, time waited.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Where the buffers are in the DMA memory.
    pub fn placement(&self) -> &Placement {
        &self.place
    }

    /// Writes the IP's table registers for `task`.
    fn point_at(&mut self, task: u32) -> Result<()> {
        let base = self.backend.dma.bus_address();
        let gates = base + self.place.gates_of(task).offset as u64;
        let head = base + self.place.head_of(task).offset as u64;
        driver::select(&mut self.backend.bus, gates, head)
    }

    /// Stages the pixels of `input` in the input buffer.
    fn stage_input(&mut self, input: &[f32]) -> Result<()> {
        let rule = engine::PixelRule::new(&self.backend.config.profile);
        let dma = &mut self.backend.dma;
        let mut buf = [0u8; CHUNK];
        for (i, chunk) in input.chunks(CHUNK).enumerate() {
            for (b, &x) in buf.iter_mut().zip(chunk) {
                *b = rule.pixel(x);
            }
            let at = self.place.input.offset + i * CHUNK;
            let part = buf.get(..chunk.len()).ok_or(Error::Inconsistent { what: "input chunk" })?;
            dma.write(at, part).map_err(dma_fault(at))?;
        }
        flush(dma, self.place.input)
    }

    /// Reads the output buffer into `output` (raw activations to f32).
    fn read_output(&mut self, output: &mut [f32]) -> Result<()> {
        let rule = engine::ActivationRule::new(&self.backend.config.profile);
        let dma = &mut self.backend.dma;
        let bytes = Region { offset: self.place.output.offset, len: output.len() * 4 };
        dma.invalidate(bytes.offset..bytes.end()).map_err(dma_fault(bytes.offset))?;
        let mut buf = [0u8; CHUNK];
        for (i, chunk) in output.chunks_mut(CHUNK / 4).enumerate() {
            let at = bytes.offset + i * CHUNK;
            let part = buf.get_mut(..chunk.len() * 4).ok_or(Error::Inconsistent { what: "output chunk" })?;
            dma.read(at, part).map_err(dma_fault(at))?;
            for (v, b) in chunk.iter_mut().zip(part.chunks_exact(4)) {
                if let &[b0, b1, b2, b3] = b {
                    *v = rule.value(i32::from_le_bytes([b0, b1, b2, b3]));
                }
            }
        }
        Ok(())
    }
}

impl<B: RegisterBus, D: DmaMemory, C: Clock> Inference for AccelModel<'_, B, D, C> {
    fn bundle(&self) -> &Bundle<'_> {
        &self.bundle
    }

    /// [`driver::SELECT_WRITES`] register writes; no DMA byte is written. On a bus fault the current task
    /// stays selected (its tables are written again before the next run).
    fn select_task(&mut self, task: u32) -> Result<()> {
        let tasks = self.bundle.task_count();
        if task >= tasks {
            return Err(Error::UnknownTask { task, tasks });
        }
        if task == self.task && self.selected {
            return Ok(());
        }
        self.selected = false;
        self.point_at(task)?;
        self.task = task;
        self.selected = true;
        Ok(())
    }

    fn task(&self) -> u32 {
        self.task
    }

    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<()> {
        if input.len() != self.input_len() {
            return Err(Error::ShapeMismatch { what: "input", expected: self.input_len(), found: input.len() });
        }
        let out_len = self.output_len()?;
        if output.len() != out_len {
            return Err(Error::ShapeMismatch { what: "output", expected: out_len, found: output.len() });
        }
        if input.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        if !self.selected {
            self.point_at(self.task)?;
            self.selected = true;
        }
        self.counters.start_run();
        self.stage_input(input)?;
        let timeout = self.backend.config.timeout_us;
        let b = &mut *self.backend;
        self.report = driver::run(&mut b.bus, &mut b.clock, timeout)?;
        self.read_output(output)?;
        let r = self.report;
        self.counters.accel = Some(IpCounters { expert_loads: r.expert_loads, weight_kib: r.weight_kib });
        self.counters.runs += 1;
        Ok(())
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// The first `n` of `words` (a table encoder's length), or an error if it claims more than the buffer.
fn first(words: &[u32], n: usize) -> Result<&[u32]> {
    words.get(..n).ok_or(Error::Inconsistent { what: "table longer than its buffer" })
}
