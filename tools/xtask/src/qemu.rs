//! `cargo xtask qemu`: the board firmwares booted in QEMU, their output checked twice, RTIC style.
//!
//! 1. QEMU is installed if missing (`apt-get install qemu-system-arm`, which brings both system emulators).
//! 2. `micro` is converted to an f32 bundle (`m3rt convert models/micro/model.onnx`), both firmwares are built
//!    (the ZCU104's first with `--features accel` and `--features accel,serve` too, as build checks of its
//!    MMIO bus and of the command loop on the accelerator backend: those ELFs are never booted, as QEMU has
//!    no IP in the PL, and the default build then replaces them).
//! 3. Every run in [`RUNS`] boots with a hard timeout (killed when it expires) and must exit 0 (semihosting).
//! 4. Its UART transcript must equal `ci/expected/<board>/<run>.run`, and its self-test lines must equal those
//!    computed here by the host runtime's CPU backend (`m3rt::backend::CpuBackend`, the one the firmwares
//!    load) on the same bundle and input, through the same `m3rt_selftest::report`. The host build used is
//!    the portable one the firmwares run (this crate enables `alloc`, not `std`, so no AVX2/FMA kernels).
//!
//! 5. Then `tools/cli/tests/qemu_boards.rs` boots both firmwares with their command loop and drives them
//!    through the protocol client (hello, tasks, 100 switches, inference on every task, bit-identical).
//! 6. Last, the Linux userspace board (`boards/zcu104-linux`) is cross-built for aarch64 Linux and driven
//!    under `qemu-aarch64` user-mode emulation ([`linux_board`]).
//!
//! `cargo xtask qemu --bless` rewrites the expected files from the firmware output, only once the host check
//! has passed.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use m3rt::backend::{Backend, CpuBackend};
use m3rt::bundle::{AlignedBytes, Bundle};

use crate::{linux_board, steps};

/// Where QEMU's model window for the ZCU104 firmware starts (`boards/zcu104/link.ld`).
const ZCU104_MODEL_ADDR: &str = "0x10000000";
/// Longest a QEMU run may take; the self-tests finish in about a second.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// One QEMU boot of a firmware.
struct Run {
    /// Folder under `boards/` and `ci/expected/`.
    board: &'static str,
    /// Name of the expected file.
    name: &'static str,
    /// QEMU program.
    qemu: &'static str,
    /// Machine and its options; the firmware, model and devices are added by [`boot`].
    machine: &'static [&'static str],
}

/// Every run of the suite: the ZCU104 firmware entered at EL1 (QEMU's default), EL3 (as after a real FSBL)
/// and EL2, and the MPS2-AN386 firmware.
const RUNS: [Run; 4] = [
    Run { board: "zcu104", name: "selftest", qemu: "qemu-system-aarch64", machine: &["-M", "xlnx-zcu102", "-m", "2G"] },
    Run {
        board: "zcu104",
        name: "selftest-el3",
        qemu: "qemu-system-aarch64",
        machine: &["-M", "xlnx-zcu102,secure=on", "-m", "2G"],
    },
    Run {
        board: "zcu104",
        name: "selftest-el2",
        qemu: "qemu-system-aarch64",
        machine: &["-M", "xlnx-zcu102,virtualization=on", "-m", "2G"],
    },
    Run { board: "mps2-an386", name: "selftest", qemu: "qemu-system-arm", machine: &["-M", "mps2-an386"] },
];

/// The whole suite; `bless` rewrites the expected files.
pub fn qemu(bless: bool) -> Result<()> {
    steps::timed("qemu installed", ensure_qemu)?;
    steps::timed("rustup targets", steps::targets)?;
    let root = steps::root();
    let bundle = root.join("boards/zcu104/target/model.m3b");
    steps::timed("convert micro", || convert_micro(&root, &bundle))?;
    let expected_lines = steps::timed("host reference", || host_reference(&root, &bundle))?;
    print!("{expected_lines}");
    for board in ["zcu104", "mps2-an386"] {
        steps::timed(&format!("build firmware {board}"), || build_firmware(&root, board))?;
    }
    for run in &RUNS {
        steps::timed(&format!("qemu {}/{}", run.board, run.name), || {
            check_run(&root, run, &bundle, &expected_lines, bless)
        })?;
    }
    let reference = root.join("boards/zcu104/target/qemu/host-reference.txt");
    fs::write(&reference, &expected_lines)?;
    let (model, reference) = (bundle.to_string_lossy(), reference.to_string_lossy());
    steps::timed("qemu protocol tests (both boards)", || {
        steps::ignored_cli_tests(
            "qemu_boards",
            &[("M3RT_QEMU_MODEL", model.as_ref()), ("M3RT_QEMU_EXPECTED", reference.as_ref())],
        )
    })?;
    linux_board::check(&bundle)
}

/// Only the last stage, the Linux userspace board under `qemu-aarch64` (`cargo xtask qemu-linux`).
pub fn linux_only() -> Result<()> {
    steps::timed("rustup targets", steps::targets)?;
    let root = steps::root();
    let bundle = root.join("boards/zcu104/target/model.m3b");
    steps::timed("convert micro", || convert_micro(&root, &bundle))?;
    linux_board::check(&bundle)
}

/// Installs `qemu-system-arm` (both emulators) with apt when either is missing from `PATH`.
fn ensure_qemu() -> Result<()> {
    steps::ensure_programs(&["qemu-system-aarch64", "qemu-system-arm"], &["qemu-system-arm"])
}

/// `m3rt convert models/micro/model.onnx -o <bundle>` (f32), and a copy where the M4 firmware's build reads it.
fn convert_micro(root: &Path, bundle: &Path) -> Result<()> {
    fs::create_dir_all(bundle.parent().expect("bundle path has a folder"))?;
    let onnx = root.join("models/micro/model.onnx");
    let (onnx, out) = (onnx.to_string_lossy(), bundle.to_string_lossy());
    // The `m3rt` binary as `cargo test --workspace` builds it (dev-dependencies change the feature set of
    // shared crates): CI reuses that build instead of compiling tract a second time.
    steps::cargo(&["test", "--quiet", "--workspace", "--no-run"], &[])?;
    steps::run(Command::new(steps::target_dir().join("debug/m3rt")).args(["convert", &onnx, "-o", &out]))?;
    let m4 = root.join("boards/mps2-an386/target/model.m3b");
    fs::create_dir_all(m4.parent().expect("bundle path has a folder"))?;
    // Rewrite only when different, so the firmware's build script does not rerun for nothing.
    let bytes = fs::read(bundle)?;
    if fs::read(&m4).ok().as_deref() != Some(bytes.as_slice()) {
        fs::write(&m4, &bytes)?;
    }
    Ok(())
}

/// The self-test lines computed by the host runtime on the bundle and the firmwares' fixed input.
fn host_reference(root: &Path, bundle_path: &Path) -> Result<String> {
    // The boards run the portable kernels; force them here too, whatever features the build unified.
    m3rt::kernels::simd::set_portable(true);
    let bytes = AlignedBytes::from_slice(&fs::read(bundle_path)?);
    let bundle = Bundle::parse(&bytes).map_err(|e| anyhow!("parsing the micro bundle: {e}"))?;
    let npy = fs::read(root.join("models/micro/golden/input_0.npy"))?;
    let data = m3rt_selftest::npy::f32_data(&npy).map_err(|e| anyhow!("input_0.npy: {e}"))?;
    let input: Vec<f32> = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let (h, w) = (bundle.hyper().image_h as usize, bundle.hyper().image_w as usize);
    let most = bundle.tasks().map(|t| t.out_channels as usize).max().unwrap_or(0) * h * w;
    let mut scratch = vec![0f32; CpuBackend::new(&mut []).scratch_words(&bundle)];
    let mut output = vec![0f32; most];
    let mut backend = CpuBackend::new(&mut scratch);
    let mut model = backend.load(bundle).map_err(|e| anyhow!("loading on the cpu backend: {e}"))?;
    let mut report = Vec::new();
    m3rt_selftest::report(&mut report, &mut model, &input, &mut output).map_err(|e| anyhow!("{e}"))?;
    Ok(String::from_utf8(report)?.replace("\r\n", "\n"))
}

/// `cargo build --release` in `boards/<board>` (its own workspace, target and target folder). For the
/// ZCU104 first with `--features accel` (the MMIO bus and the IP's probe) and `--features accel,serve` (the
/// command loop on `Fallback<AccelBackend, CpuBackend>`), built for `aarch64-unknown-none` but never booted
/// here, then without, so the ELF the runs boot is the default one.
fn build_firmware(root: &Path, board: &str) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let dir = root.join("boards").join(board);
    let variants: &[&[&str]] =
        if board == "zcu104" { &[&["--features", "accel"], &["--features", "accel,serve"], &[]] } else { &[&[]] };
    for extra in variants {
        let mut cmd = Command::new(&cargo);
        cmd.args(["build", "--release"]).args(*extra).current_dir(&dir).env_remove("CARGO_TARGET_DIR");
        if board == "mps2-an386" {
            cmd.env("M3RT_BUNDLE", dir.join("target/model.m3b"));
        }
        let status = cmd.status().with_context(|| format!("could not start cargo in {}", dir.display()))?;
        ensure!(status.success(), "building the {board} firmware {extra:?} failed ({status})");
    }
    Ok(())
}

/// The firmware ELF of a board.
fn elf(root: &Path, board: &str) -> PathBuf {
    let target = if board == "zcu104" { "aarch64-unknown-none" } else { "thumbv7em-none-eabihf" };
    root.join("boards").join(board).join("target").join(target).join("release").join(format!("m3rt-{board}"))
}

/// Boots `run`, then checks its exit status, its self-test lines against the host and its transcript
/// against the expected file.
fn check_run(root: &Path, run: &Run, bundle: &Path, host_lines: &str, bless: bool) -> Result<()> {
    let out_dir = root.join("boards").join(run.board).join("target/qemu");
    fs::create_dir_all(&out_dir)?;
    let uart = out_dir.join(format!("{}.uart", run.name));
    let semihosting = out_dir.join(format!("{}.semihosting", run.name));
    let elapsed = boot(run, &elf(root, run.board), bundle, &uart, &semihosting)?;
    let transcript = fs::read_to_string(&uart)?.replace("\r\n", "\n");
    print!("{transcript}");
    let defmt_bytes = fs::metadata(&semihosting).map(|m| m.len()).unwrap_or(0);
    println!("({} in {:.2} s; {defmt_bytes} bytes on semihosting stdout)", run.qemu, elapsed.as_secs_f64());
    let start = transcript.find("model: ").context("no self-test report in the UART output")?;
    ensure!(
        transcript[start..] == *host_lines,
        "the firmware's self-test differs from the host runtime's:\n--- host\n{host_lines}--- firmware\n{}",
        &transcript[start..]
    );
    let expected = root.join("ci/expected").join(run.board).join(format!("{}.run", run.name));
    if bless {
        fs::create_dir_all(expected.parent().expect("expected file has a folder"))?;
        fs::write(&expected, &transcript)?;
        println!("blessed {}", expected.display());
        return Ok(());
    }
    let want = fs::read_to_string(&expected)
        .with_context(|| format!("reading {} (make it with `cargo xtask qemu --bless`)", expected.display()))?;
    ensure!(
        transcript == want,
        "UART output differs from {}:\n--- expected\n{want}--- got\n{transcript}",
        expected.display()
    );
    Ok(())
}

/// Runs QEMU on `elf` with UART0 into `uart` and semihosting stdout into `semihosting`; kills it after
/// [`RUN_TIMEOUT`]. Fails unless it exits 0. Returns the wall time.
fn boot(run: &Run, elf: &Path, bundle: &Path, uart: &Path, semihosting: &Path) -> Result<Duration> {
    let mut cmd = Command::new(run.qemu);
    cmd.args(run.machine)
        .args(["-display", "none", "-monitor", "none", "-semihosting-config", "enable=on,target=native"])
        .arg("-serial")
        .arg(format!("file:{}", uart.display()));
    if run.board == "zcu104" {
        cmd.arg("-device").arg(format!("loader,file={},addr={ZCU104_MODEL_ADDR},force-raw=on", bundle.display()));
    }
    cmd.arg("-kernel").arg(elf).env("QEMU_AUDIO_DRV", "none").stdin(Stdio::null());
    let stderr_path = semihosting.with_extension("stderr");
    cmd.stdout(File::create(semihosting)?).stderr(File::create(&stderr_path)?);
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("could not start {}", run.qemu))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > RUN_TIMEOUT {
            child.kill()?;
            child.wait()?;
            bail!("{} did not finish within {} s: killed", run.qemu, RUN_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    if !status.success() {
        let err = fs::read_to_string(&stderr_path).unwrap_or_default();
        bail!("{} exited with {status}\n{err}", run.qemu);
    }
    Ok(elapsed)
}
