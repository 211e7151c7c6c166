//! The accelerator backend of a Linux board over file-backed fakes (no hardware here): the IP's UIO device
//! found by name in a fake sysfs folder, and `AccelBackend<UioBus, UdmabufDma, StdClock>` loading a
//! hand-built fixed16 bundle. A plain file cannot behave like the IP: it holds what was written, so the
//! test checks the register page the load programmed (every pointer register = the u-dma-buf's bus
//! address + the placement's offset) and that a run times out (nothing raises `ap_done`), after which the
//! `Fallback` serves on the fixed-point engine, bit for bit what that engine gives alone.
#![cfg(target_os = "linux")]

use std::fs;
use std::path::{Path, PathBuf};

use m3rt::accel::place::{Placement, WeightPlacement};
use m3rt::accel::{regs, work_words};
use m3rt::backend::{Backend, Fallback, FixedBackend, Inference};
use m3rt::bundle::{testing, AlignedBytes, Bundle, Dtype};
use m3rt::fixed::FixedEngine;

use m3rt::Error;
use m3rt_linux::accel::{
    find_uio, open_accel, refusal, uio_device, AccelArgs, AccelError, SysRoots, IP_PROFILE, UIO_NAME,
};

/// The bus address the fake u-dma-buf reports.
const BUS: u64 = 0x7000_0000;

/// A fresh folder under the temporary directory standing for `/dev` and `/sys`, removed when dropped.
struct Fake(PathBuf);

impl Fake {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("m3rt-linux-accel-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("dev")).unwrap();
        fs::create_dir_all(dir.join("sys")).unwrap();
        Self(dir)
    }

    fn roots(&self) -> SysRoots {
        SysRoots { dev: self.0.join("dev"), sys: self.0.join("sys") }
    }

    /// Writes `bytes` into `rel` (folders made as needed); returns its path.
    fn put(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        path
    }

    /// A UIO device `uio{n}` named `name` with a 4096-byte map whose file holds `page`.
    fn uio(&self, n: u32, name: &str, page: &[u8]) {
        self.put(&format!("sys/class/uio/uio{n}/name"), format!("{name}\n").as_bytes());
        self.put(&format!("sys/class/uio/uio{n}/maps/map0/size"), b"0x00001000\n");
        self.put(&format!("dev/uio{n}"), page);
    }

    /// The u-dma-buf buffer `udmabuf0` of `size` zero bytes at [`BUS`].
    fn udmabuf(&self, size: usize) -> PathBuf {
        self.put("sys/class/u-dma-buf/udmabuf0/phys_addr", format!("{BUS:#018x}\n").as_bytes());
        self.put("sys/class/u-dma-buf/udmabuf0/size", format!("{size}\n").as_bytes());
        self.put("dev/udmabuf0", &vec![0u8; size])
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A register page after reset as far as the probe looks: `CTRL` = `ap_idle`, every other word 0.
fn idle_page() -> Vec<u8> {
    let mut page = vec![0u8; 4096];
    let at = regs::CTRL as usize;
    page[at..at + 4].copy_from_slice(&regs::CTRL_AP_IDLE.to_ne_bytes());
    page
}

fn word(bytes: &[u8], offset: u32) -> u32 {
    let at = offset as usize;
    u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// The 64-bit pointer register at `lo` (low word, then high word).
fn pointer(bytes: &[u8], lo: u32) -> u64 {
    u64::from(word(bytes, lo)) | u64::from(word(bytes, lo + regs::SECOND_WORD)) << 32
}

/// `m3rt::bundle::testing`'s tiny two-task model (2×2 image, one 2×2 patch, D = 2, one MoE block of 2
/// experts, the light head, tasks of 1 and 3 channels), simple values, quantized to the IP's profile.
fn tiny_fixed16() -> AlignedBytes {
    let f32_bytes = testing::tiny_two_task_bundle(Dtype::F32).unwrap();
    AlignedBytes::from_slice(&testing::quantized(&f32_bytes, IP_PROFILE).unwrap())
}

#[test]
fn the_ip_is_found_by_its_uio_name() {
    let fake = Fake::new("find");
    let roots = fake.roots();
    // No UIO class folder at all, then devices of other names only: not found, naming what was looked for.
    for _ in 0..2 {
        let err = find_uio(&roots, UIO_NAME).unwrap_err();
        assert!(matches!(err, AccelError::NoUio { name: UIO_NAME, .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("m3rt_accel") && text.contains("class/uio"), "{text}");
        fake.uio(0, "axi-gpio", &idle_page());
        fake.uio(10, "m3rt_accel_not", &idle_page());
    }
    fake.uio(1, UIO_NAME, &idle_page());
    fake.uio(3, UIO_NAME, &idle_page());
    let dev = find_uio(&roots, UIO_NAME).unwrap();
    assert_eq!(dev.dev, roots.dev.join("uio1"), "the lowest index named so");
    assert_eq!(dev.sysfs, roots.sys.join("class/uio/uio1"));
    // --uio names one explicitly; its sysfs folder follows from the node's name.
    let explicit = uio_device(&roots, Some(Path::new("/dev/uio3"))).unwrap();
    assert_eq!((explicit.dev, explicit.sysfs), (PathBuf::from("/dev/uio3"), roots.sys.join("class/uio/uio3")));
    for bad in ["/dev/ttyPS1", "/dev/uio", "/dev/uiox"] {
        let err = uio_device(&roots, Some(Path::new(bad))).unwrap_err();
        assert!(matches!(err, AccelError::BadUioPath(_)) && err.to_string().contains(bad), "{err}");
    }
}

#[test]
fn open_refuses_what_is_not_the_ip_and_a_missing_buffer() {
    let fake = Fake::new("refuse");
    let roots = fake.roots();
    let args = AccelArgs::default();
    // A page that does not read idle (all zeros) is not the IP.
    fake.uio(0, UIO_NAME, &[0u8; 4096]);
    let err = open_accel(&roots, &args).err().unwrap();
    assert!(matches!(err, AccelError::NotTheIp(_)) && err.to_string().contains("uio0"), "{err}");
    // The IP, but no u-dma-buf buffer: the error names it.
    fake.uio(0, UIO_NAME, &idle_page());
    let err = open_accel(&roots, &args).err().unwrap();
    assert!(matches!(err, AccelError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("u-dma-buf") && format!("{:?}", err).contains("udmabuf0"), "{err}");
    // A buffer too small for the model: the IP is opened, and the board can say why it will not load it.
    let bytes = tiny_fixed16();
    let needed = Placement::new(&Bundle::parse(&bytes).unwrap(), WeightPlacement::Copy).unwrap().total;
    fake.udmabuf(64);
    let model = fake.put("tiny.m3b", &bytes);
    let (ip, _) = open_accel(&roots, &args).unwrap();
    let why = refusal(&ip, &model).unwrap();
    assert!(why.contains("tiny.m3b") && why.contains(&format!("{needed} bytes")), "{why}");
    fake.udmabuf(needed);
    let (ip, _) = open_accel(&roots, &args).unwrap();
    assert_eq!(refusal(&ip, &model), None);
}

#[test]
fn accel_over_file_fakes_programs_the_page_times_out_and_falls_back() {
    let bytes = tiny_fixed16();
    let bundle = Bundle::parse(&bytes).unwrap();
    let place = Placement::new(&bundle, WeightPlacement::Copy).unwrap();
    let fake = Fake::new("e2e");
    fake.uio(0, "other", &[0u8; 4096]);
    fake.uio(1, UIO_NAME, &idle_page());
    let dma_file = fake.udmabuf(place.total.next_multiple_of(4096));
    let args = AccelArgs { accel_timeout_ms: 2, ..AccelArgs::default() };
    let (mut ip, line) = open_accel(&fake.roots(), &args).unwrap();
    assert!(line.contains("uio1") && line.contains("0x70000000"), "{line}");
    assert_eq!(ip.config().timeout_us, 2000);

    // The load programs every address register and task 0's tables.
    let model = ip.load(bundle).unwrap();
    assert_eq!(model.placement(), &place);
    let page = fs::read(fake.0.join("dev/uio1")).unwrap();
    let at = |offset: usize| BUS + offset as u64;
    assert_eq!(pointer(&page, regs::MODEL_LO), at(place.model.offset));
    assert_eq!(pointer(&page, regs::WQ16_LO), at(place.weights.offset));
    assert_eq!(pointer(&page, regs::WQ8_LO), at(place.weights.offset));
    assert_eq!(pointer(&page, regs::INPUT_LO), at(place.input.offset));
    assert_eq!(pointer(&page, regs::OUTPUT_LO), at(place.output.offset));
    assert_eq!(pointer(&page, regs::WORK_LO), at(place.work.offset));
    assert_eq!(u64::from(word(&page, regs::WORK_WORDS)), work_words(bundle.hyper(), bundle.max_out_channels()));
    assert_eq!(pointer(&page, regs::GATES_LO), at(place.gates_of(0).offset));
    assert_eq!(pointer(&page, regs::HEAD_LO), at(place.head_of(0).offset));
    assert_eq!(word(&page, regs::CTRL), regs::CTRL_AP_IDLE, "nothing started yet");
    // The weight section was copied where WQ16 points.
    let dma = fs::read(&dma_file).unwrap();
    assert_eq!(&dma[place.weights.offset..place.weights.end()], bundle.weight_section());

    // A run: ap_start is written, nothing raises ap_done, the bound passes.
    let mut model = model;
    let input: Vec<f32> = (0..model.input_len()).map(|i| i as f32 / 11.0).collect();
    let mut out = vec![0f32; model.output_len().unwrap()];
    match model.run(&input, &mut out) {
        Err(Error::AccelTimeout { waited_us }) => assert!(waited_us > 2000, "{waited_us}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let page = fs::read(fake.0.join("dev/uio1")).unwrap();
    assert_eq!(word(&page, regs::CTRL), regs::CTRL_AP_START);

    // The same through the Fallback: the IP holds the model, its run times out and is returned as itself,
    // then the fixed-point engine serves, as it would alone.
    fake.uio(1, UIO_NAME, &idle_page());
    let (ip, _) = open_accel(&fake.roots(), &args).unwrap();
    let mut scratch = vec![0f32; FixedEngine::scratch_words(&bundle)];
    let mut board = Fallback::new(ip, FixedBackend::new(&mut scratch));
    let mut model = board.load(bundle).unwrap();
    assert_eq!((model.serving(), model.fallback_reason()), (None, None));
    model.select_task(1).unwrap();
    let mut out = vec![0f32; model.output_len().unwrap()];
    assert!(matches!(model.run(&input, &mut out), Err(Error::AccelTimeout { .. })));
    assert_eq!(model.serving(), Some("fixed"));
    assert!(matches!(model.fallback_reason(), Some(Error::AccelTimeout { .. })));
    assert_eq!(model.task(), 1, "the task stays selected");
    model.run(&input, &mut out).unwrap();
    let mut alone_scratch = vec![0f32; FixedEngine::scratch_words(&bundle)];
    let mut alone = FixedBackend::new(&mut alone_scratch);
    let mut reference = alone.load(bundle).unwrap();
    reference.select_task(1).unwrap();
    let mut expected = vec![0f32; reference.output_len().unwrap()];
    reference.run(&input, &mut expected).unwrap();
    assert_eq!(
        out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}
