//! The accelerator bridge (`docs/accel-bridge.md`) against independent references: the `Engine` API over
//! `AccelBackend` and the C-simulated IP (`m3rt_hls::csim_bus`, the HLS C++ compiled with g++) gives, bit for
//! bit, what the fixed-point CPU backend gives, on `micro` and `m3vit-t`, every task, both weight modes; a
//! task switch is four register writes and no DMA byte; a bus that never raises `ap_done` times out within
//! its bound; faults arrive as typed errors; bundles the IP cannot run and memory too small or misaligned
//! are refused before the IP starts.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use m3rt::accel::bus::{BusFault, DmaMemory, PollClock, RegisterBus};
use m3rt::accel::driver::SELECT_WRITES;
use m3rt::accel::regfile::ControlRegisters;
use m3rt::accel::{regs, Status};
use m3rt::backend::{AccelBackend, AccelConfig, Backend, FixedBackend, Inference};
use m3rt::bundle::Bundle;
use m3rt::fixed::WeightMode;
use m3rt::Error;
use m3rt_cli::convert::Precision;
use m3rt_cli::golden::seeded_input;
use m3rt_hls::csim_bus::{csim_ip, ip_profile, CsimBus, CsimDma};

type Csim = AccelBackend<CsimBus, CsimDma, PollClock>;

/// The C-simulated IP of `mode` with exactly the DMA memory `bundle` needs.
fn csim_backend(bundle: &Bundle<'_>, mode: WeightMode) -> Csim {
    let config = AccelConfig::new(ip_profile(mode));
    let words = AccelBackend::new(Silent, m3rt::accel::bus::SliceDma::new(&mut [], 0), PollClock::new(), config)
        .scratch_words(bundle);
    let (bus, dma) = csim_ip(mode, words * 4);
    AccelBackend::new(bus, dma, PollClock::new(), config)
}

/// A bus with nothing behind it (for sizing only).
struct Silent;

impl RegisterBus for Silent {
    fn read32(&mut self, _: u32) -> Result<u32, BusFault> {
        Err(BusFault)
    }
    fn write32(&mut self, _: u32, _: u32) -> Result<(), BusFault> {
        Err(BusFault)
    }
}

fn mode_of(precision: Precision) -> WeightMode {
    match precision {
        Precision::Int8 => WeightMode::Int8PerChannel,
        _ => WeightMode::Fixed16,
    }
}

/// Every task of `model` in `precision` on a seeded input and the golden inputs: the accelerator's outputs
/// equal the fixed-point backend's bit for bit, and the IP fetched as many experts as the engine read.
fn bit_exact(model: &str, precision: Precision, golden: usize) {
    let Some(dir) = model_dir(model) else { return };
    let bytes = bundle(&dir, precision);
    let b = Bundle::parse(&bytes).unwrap();
    let mut inputs = vec![seeded_input(3 * (b.hyper().image_h * b.hyper().image_w) as usize, 7)];
    inputs.extend((0..golden_inputs(&dir).min(golden)).map(|i| npy_f32(&dir.join(format!("golden/input_{i}.npy"))).1));

    let mut scratch = vec![0f32; FixedBackend::new(&mut []).scratch_words(&b)];
    let mut fixed_backend = FixedBackend::new(&mut scratch);
    let mut fixed = fixed_backend.load(Bundle::parse(&bytes).unwrap()).unwrap();
    let mut accel_backend = csim_backend(&b, mode_of(precision));
    let mut accel = accel_backend.load(Bundle::parse(&bytes).unwrap()).unwrap();
    for task in 0..b.task_count() {
        fixed.select_task(task).unwrap();
        accel.select_task(task).unwrap();
        for (i, input) in inputs.iter().enumerate() {
            let mut want = vec![0f32; fixed.output_len().unwrap()];
            fixed.run(input, &mut want).unwrap();
            let mut got = vec![f32::NAN; accel.output_len().unwrap()];
            accel.run(input, &mut got).unwrap();
            let differ = want.iter().zip(&got).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(
                differ,
                0,
                "{model} {precision:?} task {task} input {i}: {differ} of {} values differ",
                want.len()
            );
            let expert_loads: u32 = fixed.counters().expert_loads.iter().sum();
            assert_eq!(accel.report().expert_loads, expert_loads, "{model} task {task}: experts fetched");
            assert!(accel.report().weight_kib > 0);
        }
    }
    assert_eq!(accel.counters().runs, u64::from(b.task_count()) * inputs.len() as u64);
}

#[test]
fn micro_fixed16_is_bit_exact() {
    bit_exact("micro", Precision::Fixed16, 2);
}

#[test]
fn micro_int8_is_bit_exact() {
    bit_exact("micro", Precision::Int8, 2);
}

#[test]
fn m3vit_t_fixed16_is_bit_exact() {
    bit_exact("m3vit-t", Precision::Fixed16, 1);
}

#[test]
fn m3vit_t_int8_is_bit_exact() {
    bit_exact("m3vit-t", Precision::Int8, 0);
}

/// What a [`Counting`] bus and a [`CountingDma`] saw, shared with the test while the model holds them.
#[derive(Default)]
struct Seen {
    reads: usize,
    writes: Vec<(u32, u32)>,
    dma_writes: usize,
    dma_flushes: usize,
}

type Shared = Rc<RefCell<Seen>>;

/// A bus that records reads and writes and can fail the reads of one register.
struct Counting<B> {
    inner: B,
    seen: Shared,
    fail_read: Option<u32>,
}

impl<B: RegisterBus> RegisterBus for Counting<B> {
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault> {
        self.seen.borrow_mut().reads += 1;
        if self.fail_read == Some(offset) {
            return Err(BusFault);
        }
        self.inner.read32(offset)
    }
    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        self.seen.borrow_mut().writes.push((offset, value));
        self.inner.write32(offset, value)
    }
}

/// DMA memory that counts writes and flushes.
struct CountingDma<D> {
    inner: D,
    seen: Shared,
}

impl<D: DmaMemory> DmaMemory for CountingDma<D> {
    fn bus_address(&self) -> u64 {
        self.inner.bus_address()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), BusFault> {
        self.seen.borrow_mut().dma_writes += 1;
        self.inner.write(offset, data)
    }
    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), BusFault> {
        self.inner.read(offset, out)
    }
    fn flush(&mut self, range: core::ops::Range<usize>) -> Result<(), BusFault> {
        self.seen.borrow_mut().dma_flushes += 1;
        self.inner.flush(range)
    }
}

fn micro_fixed16() -> m3rt::bundle::AlignedBytes {
    bundle(&model_dir("micro").unwrap(), Precision::Fixed16)
}

#[test]
fn a_task_switch_is_four_register_writes_and_no_dma_byte() {
    let bytes = micro_fixed16();
    let b = Bundle::parse(&bytes).unwrap();
    assert!(b.task_count() >= 2);
    let words = csim_backend(&b, WeightMode::Fixed16).scratch_words(&b);
    let (bus, dma) = csim_ip(WeightMode::Fixed16, words * 4);
    let seen = Shared::default();
    let bus = Counting { inner: bus, seen: Rc::clone(&seen), fail_read: None };
    let dma = CountingDma { inner: dma, seen: Rc::clone(&seen) };
    let mut backend = AccelBackend::new(bus, dma, PollClock::new(), AccelConfig::new(ip_profile(WeightMode::Fixed16)));
    let mut model = backend.load(b).unwrap();
    // Load: the 13 address writes, then task 0's tables.
    assert_eq!(seen.borrow().writes.len(), 13 + SELECT_WRITES);
    let place = *model.placement();
    let input = seeded_input(model.input_len(), 3);
    let mut out = vec![0f32; model.output_len().unwrap()];
    model.run(&input, &mut out).unwrap();
    *seen.borrow_mut() = Seen::default();

    model.select_task(1).unwrap();
    let s = seen.borrow();
    let base = m3rt_hls::csim_bus::DDR_BASE;
    let gates = base + place.gates_of(1).offset as u64;
    let head = base + place.head_of(1).offset as u64;
    let expected = [
        (regs::GATES_LO, gates as u32),
        (regs::GATES_HI, (gates >> 32) as u32),
        (regs::HEAD_LO, head as u32),
        (regs::HEAD_HI, (head >> 32) as u32),
    ];
    assert_eq!(s.writes, expected, "a task switch writes the two table pointers and nothing else");
    assert_eq!((s.reads, s.dma_writes, s.dma_flushes), (0, 0, 0), "no register read, no DMA byte, no flush");
    drop(s);
    // The switch took effect: task 1's output is the fixed-point backend's.
    let mut scratch = vec![0f32; FixedBackend::new(&mut []).scratch_words(&Bundle::parse(&bytes).unwrap())];
    let mut fixed_backend = FixedBackend::new(&mut scratch);
    let mut fixed = fixed_backend.load(Bundle::parse(&bytes).unwrap()).unwrap();
    fixed.select_task(1).unwrap();
    let mut want = vec![0f32; fixed.output_len().unwrap()];
    fixed.run(&input, &mut want).unwrap();
    *seen.borrow_mut() = Seen::default();
    let mut got = vec![0f32; model.output_len().unwrap()];
    model.run(&input, &mut got).unwrap();
    assert!(want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()));
    // A run writes the pixels and nothing but the control word; the tables are not rewritten.
    let s = seen.borrow();
    assert_eq!(s.writes.iter().filter(|(o, _)| *o != regs::CTRL).count(), 0, "{:?}", s.writes);
}

/// A bus whose IP never finishes: the control slave alone, nothing runs on `ap_start`.
struct NeverDone(ControlRegisters);

impl RegisterBus for NeverDone {
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault> {
        self.0.read(offset)
    }
    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        self.0.write(offset, value).map(|_| ())
    }
}

#[test]
fn an_ip_that_never_finishes_times_out_within_its_bound() {
    let bytes = micro_fixed16();
    let b = Bundle::parse(&bytes).unwrap();
    let words = csim_backend(&b, WeightMode::Fixed16).scratch_words(&b);
    let mut mem = vec![0u64; words.div_ceil(2)];
    let mem: &mut [u8] = bytemuck::cast_slice_mut(&mut mem);
    let dma = m3rt::accel::bus::SliceDma::new(mem, 0x4000_0000);
    let config = AccelConfig { timeout_us: 500, ..AccelConfig::new(ip_profile(WeightMode::Fixed16)) };
    let mut backend = AccelBackend::new(NeverDone(ControlRegisters::new()), dma, PollClock::new(), config);
    let mut model = backend.load(b).unwrap();
    let input = vec![0.5f32; model.input_len()];
    let mut out = vec![0f32; model.output_len().unwrap()];
    // The poll clock counts one microsecond a poll: the error comes at the first poll past the bound.
    assert_eq!(model.run(&input, &mut out), Err(Error::AccelTimeout { waited_us: 501 }));
    // The IP is still "running": the next run is refused, not started twice.
    assert_eq!(model.run(&input, &mut out), Err(Error::AccelBusy));
}

#[test]
fn bus_faults_and_status_words_are_typed_errors() {
    let bytes = micro_fixed16();
    let b = Bundle::parse(&bytes).unwrap();
    let words = csim_backend(&b, WeightMode::Fixed16).scratch_words(&b);
    let (bus, dma) = csim_ip(WeightMode::Fixed16, words * 4);
    let bus = Counting { inner: bus, seen: Shared::default(), fail_read: Some(regs::STATUS) };
    let mut backend = AccelBackend::new(bus, dma, PollClock::new(), AccelConfig::new(ip_profile(WeightMode::Fixed16)));
    let mut model = backend.load(b).unwrap();
    let input = vec![0.25f32; model.input_len()];
    let mut out = vec![0f32; model.output_len().unwrap()];
    let fault = Error::BusFault { what: "accelerator register", offset: u64::from(regs::STATUS) };
    assert_eq!(model.run(&input, &mut out), Err(fault));
    assert_eq!(fault.to_string(), "bus fault: accelerator register at offset 0x78");

    // A status word the IP raised: the IP checks work_words against what the model needs, so point it at
    // 16 words and run once on the raw bus.
    let (bus, _, clock) = backend.parts();
    bus.fail_read = None;
    bus.write32(regs::WORK_WORDS, 16).unwrap();
    let e = m3rt::accel::driver::run(bus, clock, 1000).unwrap_err();
    assert_eq!(e, Error::AccelStatus { code: Status::WorkTooSmall as u32 });
    assert_eq!(
        e.to_string(),
        "the accelerator refused the run: status 4 WORK_TOO_SMALL (work_words is below what the model needs)"
    );
}

#[test]
fn bundles_and_memory_the_ip_cannot_use_are_refused_at_load() {
    let dir = model_dir("micro").unwrap();
    let f32_bytes = bundle(&dir, Precision::F32);
    let int8_bytes = bundle(&dir, Precision::Int8);
    let q16 = micro_fixed16();
    let b16 = Bundle::parse(&q16).unwrap();
    // An f32 bundle, and an int8 bundle on the 16-bit IP.
    let mut backend = csim_backend(&b16, WeightMode::Fixed16);
    let e = backend.load(Bundle::parse(&f32_bytes).unwrap()).err().unwrap();
    assert!(matches!(e, Error::Inconsistent { .. }), "{e}");
    let e = backend.load(Bundle::parse(&int8_bytes).unwrap()).err().unwrap();
    assert!(e.to_string().contains("not the one the accelerator IP was built for"), "{e}");
    // DMA memory one byte short, and misaligned.
    let words = backend.scratch_words(&b16);
    let (bus, dma) = csim_ip(WeightMode::Fixed16, words * 4 - 65);
    let mut short = AccelBackend::new(bus, dma, PollClock::new(), AccelConfig::new(ip_profile(WeightMode::Fixed16)));
    let e = short.load(Bundle::parse(&q16).unwrap()).err().unwrap();
    assert!(matches!(e, Error::DmaTooSmall { .. }), "{e}");
    let mut mem = vec![0u8; words * 4];
    let dma = m3rt::accel::bus::SliceDma::new(&mut mem, 0x4000_0020);
    let mut skew = AccelBackend::new(Silent, dma, PollClock::new(), AccelConfig::new(ip_profile(WeightMode::Fixed16)));
    let e = skew.load(Bundle::parse(&q16).unwrap()).err().unwrap();
    assert_eq!(e, Error::Misaligned { what: "the DMA memory's bus address", align: 64 });
}

/// The name `docs/accel-bridge.md` gives the register word at `offset` (`MODEL_LO`, `STATUS_CTRL`, ...).
fn register_name(offset: u32) -> String {
    use m3rt::accel::regs::Kind;
    for r in regs::REGISTERS {
        let name = r.name.to_uppercase();
        match r.kind {
            Kind::Block | Kind::ScalarIn | Kind::ScalarOut if offset == r.offset => return name,
            Kind::Pointer if offset == r.offset => return format!("{name}_LO"),
            Kind::Pointer if Some(offset) == r.hi() => return format!("{name}_HI"),
            Kind::ScalarOut if Some(offset) == r.ctrl() => return format!("{name}_CTRL"),
            _ => {}
        }
    }
    format!("{offset:#x}")
}

/// The (access, register) rows of the table under `### {section}` of the bridge page.
fn doc_sequence(section: &str) -> Vec<(String, String)> {
    let page = std::fs::read_to_string(root().join("docs/accel-bridge.md")).unwrap();
    let start = page.find(&format!("### {section}\n")).unwrap_or_else(|| panic!("no section {section}"));
    page[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 4 && cells[1].parse::<u32>().is_ok()).then(|| (cells[2].to_string(), cells[3].to_string()))
        })
        .collect()
}

/// A bus that records every access by name, in order.
struct Recording<B> {
    inner: B,
    log: Rc<RefCell<Vec<(String, String)>>>,
}

impl<B: RegisterBus> RegisterBus for Recording<B> {
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault> {
        self.log.borrow_mut().push(("R".into(), register_name(offset)));
        self.inner.read32(offset)
    }
    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        self.log.borrow_mut().push(("W".into(), register_name(offset)));
        self.inner.write32(offset, value)
    }
}

#[test]
fn the_register_sequences_are_the_pages() {
    let bytes = micro_fixed16();
    let b = Bundle::parse(&bytes).unwrap();
    let words = csim_backend(&b, WeightMode::Fixed16).scratch_words(&b);
    let (bus, dma) = csim_ip(WeightMode::Fixed16, words * 4);
    let log = Rc::new(RefCell::new(Vec::new()));
    let bus = Recording { inner: bus, log: Rc::clone(&log) };
    let mut backend = AccelBackend::new(bus, dma, PollClock::new(), AccelConfig::new(ip_profile(WeightMode::Fixed16)));
    let mut model = backend.load(b).unwrap();
    assert_eq!(log.take(), doc_sequence("Load"));
    model.select_task(1).unwrap();
    assert_eq!(log.take(), doc_sequence("Task switch"));
    let input = seeded_input(model.input_len(), 5);
    let mut out = vec![0f32; model.output_len().unwrap()];
    model.run(&input, &mut out).unwrap();
    // The C-simulated IP finishes within the ap_start write, so the poll reads CTRL once.
    assert_eq!(log.take(), doc_sequence("One inference"));
}
