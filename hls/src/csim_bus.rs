//! The C-simulation bus (`docs/accel-bridge.md`, "Buses"): the IP's HLS C++ (`src/m3rt_accel.cpp`, compiled
//! by `build.rs` with g++ once per weight mode) behind the [`RegisterBus`] a board's IP would sit behind.
//! Writing `ap_start` runs the top function at once over a host memory image that stands for DDR; the image
//! is reached by the driver through [`CsimDma`], a [`DmaMemory`] at bus address [`DDR_BASE`].
//!
//! ```text
//! let (bus, dma) = csim_ip(WeightMode::Fixed16, bytes);
//! let mut accel = AccelBackend::new(bus, dma, PollClock::new(), AccelConfig::new(ip_profile(mode)));
//! ```
//! The IP's C++ keeps its on-chip buffers in statics, as hardware has one of each: runs of all C-simulated
//! IPs in a process take turns (one lock).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use m3rt::accel::bus::{BusFault, DmaMemory, RegisterBus};
use m3rt::accel::regfile::{ControlRegisters, Write};
use m3rt::accel::regs;
use m3rt::fixed::{Profile, WeightMode};

/// The bus address of the memory image's first byte (a DDR address of the ZCU104's processing system).
pub const DDR_BASE: u64 = 0x1000_0000;

/// Zero bytes kept past the end of the image, never handed to the driver: what a C++ read past a buffer
/// the bridge sized would reach instead of another allocation (the pages are never touched, so they cost
/// no memory).
const GUARD: usize = 64 << 20;

type TopFn = unsafe extern "C" fn(
    model: *const u32,
    gates: *const u32,
    head: *const u32,
    wq16: *const i16,
    wq8: *const i8,
    input: *const u8,
    output: *mut i32,
    work: *mut i32,
    work_words: u32,
    status: *mut u32,
    expert_loads: *mut u32,
    weight_kib: *mut u32,
);

/// Declares the C entry points of the IP's builds (`check/accel_mode*.cpp`), all of type [`TopFn`].
macro_rules! top_functions {
    ($($name:ident),+) => {
        unsafe extern "C" {
            $(fn $name(
                model: *const u32,
                gates: *const u32,
                head: *const u32,
                wq16: *const i16,
                wq8: *const i8,
                input: *const u8,
                output: *mut i32,
                work: *mut i32,
                work_words: u32,
                status: *mut u32,
                expert_loads: *mut u32,
                weight_kib: *mut u32,
            );)+
        }
    };
}

top_functions!(m3rt_csim_accel_mode0, m3rt_csim_accel_mode1, m3rt_csim_accel_mode2);

/// The C-simulation trace hook's type (`m3rt::TraceHook` of `include/m3rt/trace.h`).
type TraceHook = Option<unsafe extern "C" fn(name: *const std::ffi::c_char, data: *const i32, count: u64)>;

unsafe extern "C" {
    fn m3rt_csim_trace_mode0(hook: TraceHook);
    fn m3rt_csim_trace_mode1(hook: TraceHook);
    fn m3rt_csim_trace_mode2(hook: TraceHook);
}

std::thread_local! {
    /// The route traces of the run in flight on this thread, when asked for ([`CsimBus::execute`]).
    static ROUTES: std::cell::RefCell<Vec<Vec<i32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The trace hook that keeps every MoE layer's routes (`b<i>.route`: per token k experts, then k
/// probabilities) of a run.
unsafe extern "C" fn keep_routes(name: *const std::ffi::c_char, data: *const i32, count: u64) {
    if name.is_null() || data.is_null() {
        return;
    }
    // Safety: the IP hands a NUL-terminated name and `count` words at `data`, valid for this call.
    let (name, words) = unsafe { (std::ffi::CStr::from_ptr(name), std::slice::from_raw_parts(data, count as usize)) };
    if name.to_bytes().ends_with(b".route") {
        ROUTES.with(|r| r.borrow_mut().push(words.to_vec()));
    }
}

/// What the top function wrote to its scalar outputs in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outputs {
    /// The status word (`m3rt::accel::Status`).
    pub status: u32,
    /// Experts fetched.
    pub expert_loads: u32,
    /// KiB of weights fetched.
    pub weight_kib: u32,
}

/// The one lock of the IP's static on-chip buffers.
static IP: Mutex<()> = Mutex::new(());

/// The profile the C-simulated IP of weight mode `mode` is built for: the formats of
/// `hls/include/m3rt_profile.h` (Edge-MoE's), the weights in `mode`.
pub fn ip_profile(mode: WeightMode) -> Profile {
    Profile { weights: mode, ..Profile::EDGE_MOE }
}

/// The memory image: `len` bytes the driver reaches, then the guard.
struct Ddr {
    words: Vec<u64>,
    len: usize,
}

fn lock(m: &Mutex<Ddr>) -> MutexGuard<'_, Ddr> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ddr {
    fn bytes(&mut self) -> &mut [u8] {
        let len = self.len;
        // The image is 8-byte words; its first `len` bytes are what the driver sees.
        &mut bytemuck_bytes(&mut self.words)[..len]
    }
}

fn bytemuck_bytes(words: &mut [u64]) -> &mut [u8] {
    let len = words.len() * 8;
    // Safety: u8 has no alignment or validity requirement, the length is the words' in bytes, and the
    // returned slice borrows `words` mutably, so nothing else reaches them meanwhile.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

/// Makes a C-simulated IP of weight mode `mode` and a memory image of `bytes` bytes it shares with the driver.
pub fn csim_ip(mode: WeightMode, bytes: usize) -> (CsimBus, CsimDma) {
    let words = (bytes + GUARD).div_ceil(8);
    let ddr = Arc::new(Mutex::new(Ddr { words: vec![0u64; words], len: bytes }));
    (CsimBus { regs: ControlRegisters::new(), ddr: Arc::clone(&ddr), mode, runs: 0, pending: false }, CsimDma { ddr })
}

/// The C-simulated IP's control slave.
pub struct CsimBus {
    regs: ControlRegisters,
    ddr: Arc<Mutex<Ddr>>,
    mode: WeightMode,
    runs: u64,
    /// A run `auto_restart` asked for, done at the next read of `CTRL`.
    pending: bool,
}

impl CsimBus {
    /// The weight mode the IP was built for.
    pub fn mode(&self) -> WeightMode {
        self.mode
    }

    /// Runs completed.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The registers as they stand.
    pub fn registers(&self) -> &ControlRegisters {
        &self.regs
    }

    /// Another handle on the memory image (for a bus that builds on this one and reads the descriptor).
    pub fn memory(&self) -> CsimDma {
        CsimDma { ddr: Arc::clone(&self.ddr) }
    }

    /// The registers, for a bus that builds on this one (the host simulator's virtual board decides when
    /// a run finishes).
    pub fn registers_mut(&mut self) -> &mut ControlRegisters {
        &mut self.regs
    }

    /// Runs the top function now over the image with the addresses in the registers and returns its
    /// outputs, without touching the control registers; with `routes`, every MoE layer's routes of the run
    /// (`[T, 2k]` each, in block order) are appended to it. `Err` (and no run) when a buffer is not inside
    /// the image.
    pub fn execute(&mut self, routes: Option<&mut Vec<Vec<i32>>>) -> Result<Outputs, BusFault> {
        let mut ddr = lock(&self.ddr);
        let len = ddr.len;
        let work_words = self.regs.scalar(regs::WORK_WORDS);
        // Each pointer's offset in the image, checked to lie in it (the work memory wholly).
        let at = |lo: u32, extent: usize| -> Result<usize, BusFault> {
            let a = self.regs.pointer(lo);
            let off = a.checked_sub(DDR_BASE).and_then(|o| usize::try_from(o).ok()).ok_or(BusFault)?;
            match off.checked_add(extent.max(1)) {
                Some(end) if end <= len => Ok(off),
                _ => Err(BusFault),
            }
        };
        let offs = [
            at(regs::MODEL_LO, 4 * m3rt::accel::desc::word::OFFSETS)?,
            at(regs::GATES_LO, 0)?,
            at(regs::HEAD_LO, 4 * m3rt::accel::desc::head_word::CONVS)?,
            at(regs::WQ16_LO, 0)?,
            at(regs::WQ8_LO, 0)?,
            at(regs::INPUT_LO, 0)?,
            at(regs::OUTPUT_LO, 0)?,
            at(regs::WORK_LO, 4 * work_words as usize)?,
        ];
        let (top, set_trace): (TopFn, unsafe extern "C" fn(TraceHook)) = match self.mode {
            WeightMode::Fixed16 => (m3rt_csim_accel_mode0, m3rt_csim_trace_mode0),
            WeightMode::Int8PerTensor => (m3rt_csim_accel_mode1, m3rt_csim_trace_mode1),
            WeightMode::Int8PerChannel => (m3rt_csim_accel_mode2, m3rt_csim_trace_mode2),
        };
        let traced = routes.is_some();
        let (mut status, mut expert_loads, mut weight_kib) = (u32::MAX, 0u32, 0u32);
        let _ip = IP.lock().unwrap_or_else(PoisonError::into_inner);
        let base = ddr.words.as_mut_ptr().cast::<u8>();
        let p = |i: usize| base.wrapping_add(offs[i]);
        ROUTES.with(|r| r.borrow_mut().clear());
        // Safety: every pointer lies inside the image (checked above) and the image is locked for the call,
        // so no Rust reference reaches it while the C++ reads and writes it; the IP's statics and its trace
        // hook are behind `IP`, and the hook is removed before the lock is released. What the C++ reads past
        // a pointer is bounded by the descriptor the bridge wrote from a parsed bundle (tensor offsets inside
        // the weight section it copied) and by the maxima and `work_words` the IP checks first (status
        // TOO_LARGE, WORK_TOO_SMALL); the guard past the image keeps a read that overran a buffer inside
        // this allocation. The outputs are locals.
        unsafe {
            set_trace(if traced { Some(keep_routes) } else { None });
            top(
                p(0).cast(),
                p(1).cast(),
                p(2).cast(),
                p(3).cast(),
                p(4).cast(),
                p(5),
                p(6).cast(),
                p(7).cast(),
                work_words,
                &mut status,
                &mut expert_loads,
                &mut weight_kib,
            );
            set_trace(None);
        }
        drop(ddr);
        if let Some(out) = routes {
            ROUTES.with(|r| out.append(&mut r.borrow_mut()));
        }
        self.runs += 1;
        Ok(Outputs { status, expert_loads, weight_kib })
    }

    /// Runs the top function and finishes the run in the registers at once.
    fn run(&mut self) -> Result<(), BusFault> {
        let o = self.execute(None)?;
        self.pending = self.regs.finish(o.status, o.expert_loads, o.weight_kib) == Write::Start;
        Ok(())
    }
}

impl RegisterBus for CsimBus {
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault> {
        if offset == regs::CTRL && std::mem::take(&mut self.pending) {
            self.run()?;
        }
        self.regs.read(offset)
    }

    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        if self.regs.write(offset, value)? == Write::Start {
            if let Err(e) = self.run() {
                self.regs.abort();
                return Err(e);
            }
        }
        Ok(())
    }
}

/// The driver's side of the C-simulated IP's memory image.
pub struct CsimDma {
    ddr: Arc<Mutex<Ddr>>,
}

impl DmaMemory for CsimDma {
    fn bus_address(&self) -> u64 {
        DDR_BASE
    }

    fn len(&self) -> usize {
        lock(&self.ddr).len
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), BusFault> {
        let mut ddr = lock(&self.ddr);
        let end = offset.checked_add(data.len()).ok_or(BusFault)?;
        ddr.bytes().get_mut(offset..end).ok_or(BusFault)?.copy_from_slice(data);
        Ok(())
    }

    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), BusFault> {
        let mut ddr = lock(&self.ddr);
        let end = offset.checked_add(out.len()).ok_or(BusFault)?;
        out.copy_from_slice(ddr.bytes().get(offset..end).ok_or(BusFault)?);
        Ok(())
    }
}
