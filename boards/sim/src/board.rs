//! The virtual board: a ZCU104 whose accelerator is the C-simulated IP for function and this crate's cycle
//! and energy model for time, behind the same [`RegisterBus`] as real hardware, so the bridge
//! (`AccelBackend`), the command loop and the serial protocol run unchanged (`m3rt serve --board sim`).
//!
//! On `ap_start` the IP's C++ runs at once (the outputs are bit for bit the fixed-point engine's) with its
//! route trace kept; the model turns the descriptor's hyperparameters, the task's channels and those routes
//! into a simulated latency; `ap_done` rises only when the board's simulated clock ([`SimClock`], shared with
//! the bridge's wait loop) has passed it. Every time this board reports is SIMULATED.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use m3rt::accel::bus::{BusFault, Clock, DmaMemory, RegisterBus};
use m3rt::accel::desc::{head_word, word};
use m3rt::accel::regfile::Write;
use m3rt::accel::regs;
use m3rt::model::{HeadKind, Hyper};
use m3rt_hls::csim_bus::{csim_ip, CsimBus, CsimDma, Outputs, DDR_BASE};

use crate::report::{simulate, Report};
use crate::Design;

/// The board's simulated time in nanoseconds, shared by its bus and its clock.
#[derive(Clone, Debug, Default)]
pub struct SimTime(Arc<AtomicU64>);

impl SimTime {
    /// Nanoseconds since the board started.
    pub fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves the time to `ns` if that is later.
    fn advance_to(&self, ns: u64) {
        self.0.fetch_max(ns, Ordering::Relaxed);
    }
}

/// The bridge's clock on the virtual board: simulated microseconds; a pause jumps to the end of the run in
/// flight (or one microsecond on), so a wait takes exactly the simulated latency and no host time.
#[derive(Clone, Debug)]
pub struct SimClock {
    time: SimTime,
    next_event: Arc<AtomicU64>,
}

impl Clock for SimClock {
    fn now_us(&mut self) -> u64 {
        self.time.now_ns() / 1000
    }
    fn pause(&mut self) {
        let now = self.time.now_ns();
        let next = self.next_event.load(Ordering::Relaxed);
        self.time.advance_to(if next > now { next } else { now + 1000 });
    }
}

/// A run the IP has computed but, in simulated time, not finished.
struct Pending {
    outputs: Outputs,
    done_ns: u64,
}

/// The virtual board's accelerator: the C-simulated IP's control slave, finishing each run at its
/// simulated latency.
pub struct SimBus {
    csim: CsimBus,
    dma: CsimDma,
    design: Design,
    time: SimTime,
    next_event: Arc<AtomicU64>,
    pending: Option<Pending>,
    last: Arc<Mutex<Option<Report>>>,
}

/// The board: its bus, its DMA memory (`bytes` of simulated DDR), its clock, and a handle on the profile of
/// the last run.
pub fn virtual_board(
    design: Design,
    mode: m3rt::fixed::WeightMode,
    bytes: usize,
) -> (SimBus, CsimDma, SimClock, LastRun) {
    let (csim, dma) = csim_ip(mode, bytes);
    let reader = csim.memory();
    let time = SimTime::default();
    let next_event = Arc::new(AtomicU64::new(0));
    let last = Arc::new(Mutex::new(None));
    let clock = SimClock { time: time.clone(), next_event: Arc::clone(&next_event) };
    let bus =
        SimBus { csim, dma: reader, design, time: time.clone(), next_event, pending: None, last: Arc::clone(&last) };
    (bus, dma, clock, LastRun { last, time })
}

/// What the board reports of its last run and its time.
#[derive(Clone)]
pub struct LastRun {
    last: Arc<Mutex<Option<Report>>>,
    time: SimTime,
}

impl LastRun {
    /// The simulated profile of the last run (per layer, encoder, head, end to end).
    pub fn report(&self) -> Option<Report> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The board's simulated time in microseconds.
    pub fn now_us(&self) -> u64 {
        self.time.now_ns() / 1000
    }
}

impl SimBus {
    /// A little-endian word of the memory image at bus address `address`.
    fn word_at(&mut self, address: u64) -> Result<u32, BusFault> {
        let off = address.checked_sub(DDR_BASE).and_then(|o| usize::try_from(o).ok()).ok_or(BusFault)?;
        let mut b = [0u8; 4];
        self.dma.read(off, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// The hyperparameters the descriptor in the image holds, and the task's output channels.
    fn model(&mut self) -> Result<(Hyper, u32), BusFault> {
        let desc = self.csim.registers_mut().pointer(regs::MODEL_LO);
        let mut w = |i: usize| self.word_at(desc + 4 * i as u64);
        let h = Hyper {
            image_h: w(word::IMAGE_H)?,
            image_w: w(word::IMAGE_W)?,
            in_chans: 3,
            patch: w(word::PATCH)?,
            dim: w(word::DIM)?,
            depth: w(word::DEPTH)?,
            heads: w(word::HEADS)?,
            mlp_hidden: w(word::MLP_HIDDEN)?,
            experts: w(word::EXPERTS)?,
            top_k: w(word::TOP_K)?,
            expert_hidden: w(word::EXPERT_HIDDEN)?,
            moe_blocks: u64::from(w(word::MOE_BLOCKS_LO)?) | u64::from(w(word::MOE_BLOCKS_HI)?) << 32,
            head_kind: if w(word::HEAD_KIND)? == 0 { HeadKind::Pup } else { HeadKind::Light },
            head_width: w(word::HEAD_WIDTH)?,
            ln_eps: 1e-6,
            norm_mean: [0.0; 3],
            norm_std: [1.0; 3],
            tasks: 1,
        };
        let head = self.csim.registers_mut().pointer(regs::HEAD_LO);
        let channels = self.word_at(head + 4 * head_word::CHANNELS as u64)?;
        Ok((h, channels))
    }

    /// Runs the IP and schedules its `ap_done` at the simulated latency of this input's routing.
    fn start(&mut self) -> Result<(), BusFault> {
        let mut routes = Vec::new();
        let outputs = self.csim.execute(Some(&mut routes))?;
        let (h, channels) = self.model()?;
        let (e, k) = (h.experts as usize, h.top_k as usize);
        let queues: Vec<Vec<u32>> = routes
            .iter()
            .map(|layer| {
                let mut q = vec![0u32; e];
                for token in layer.chunks_exact(2 * k.max(1)) {
                    for &x in &token[..k] {
                        if let Some(c) = q.get_mut(x as usize) {
                            *c += 1;
                        }
                    }
                }
                q
            })
            .collect();
        // A model the cycle model cannot cost (beyond the design's maxima) finishes at once.
        let report = simulate(&self.design, &h, channels, &queues).ok();
        let ns = report.as_ref().map_or(0.0, |r| r.end_to_end().seconds * 1e9) as u64;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = report;
        let done_ns = self.time.now_ns() + ns.max(1);
        self.next_event.store(done_ns, Ordering::Relaxed);
        self.pending = Some(Pending { outputs, done_ns });
        Ok(())
    }
}

impl RegisterBus for SimBus {
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault> {
        if offset == regs::CTRL {
            if let Some(p) = self.pending.take_if(|p| self.time.now_ns() >= p.done_ns) {
                let o = p.outputs;
                self.csim.registers_mut().finish(o.status, o.expert_loads, o.weight_kib);
            }
        }
        self.csim.registers_mut().read(offset)
    }

    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        if self.csim.registers_mut().write(offset, value)? == Write::Start {
            if let Err(e) = self.start() {
                self.csim.registers_mut().abort();
                return Err(e);
            }
        }
        Ok(())
    }
}
