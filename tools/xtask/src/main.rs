//! Project automation: `cargo xtask ci` runs every check CI runs, from a fresh clone, installing what it
//! needs (rustup targets, a Python venv with the exporter's packages, the `ap_types` headers of the C
//! simulation).

mod bench_report;
mod csim;
mod docs_check;
mod fuzz;
mod headers;
mod ip_csim;
mod linux_board;
mod miri;
mod models;
mod qemu;
mod soak;
mod steps;

use std::time::Instant;

use anyhow::{bail, Result};

const HELP: &str = "\
cargo xtask <command>

commands:
  ci        everything CI runs: fmt, clippy, Python tests, model generation, the C simulation, all Rust
            tests, the reduced soak, Miri, no_std builds, the QEMU board suite, the guides' commands, every
            fuzz target for 30 s
  csim      the C-simulation stage: fetch the ap_types headers (hls4ml wheel) into the cache, run the tests
            that compare m3rt::fixed with the real ap_fixed through g++, then build the IP (hls/) and run its
            unit tests and its testbench on golden vectors of every task of micro and m3vit-t, fixed16 and
            int8 (bit for bit)
  models    generate the test-time models (tiny-light, sparse-route, m3vit-t, and micro and m3vit-t in the
            PyTorch-exporter ONNX forms) into target/models (needs the venv)
  venv      create or update the Python venv the exporter needs
  bench-report  run every benchmark with its peers, write benches/REPORT.md, report.json, report.svg
                (--reuse: render the last run's timings again)
  headers   rewrite the generated C headers of hls/include (m3rt_regs.h, m3rt_profile.h, m3rt_tables.h)
            from their Rust generators and compile them with g++ -std=c++14 -fsyntax-only
  fuzz      the fuzz targets (fuzz/: bundle, bundle_unchecked, frame, serve, accel_status; fuzz/cli: onnx, npy, png) under
            cargo-fuzz on nightly, each for N seconds (default 60), failing on a crash; prints executions and
            coverage per target. Installs cargo-fuzz if missing. [--seconds N] [--seeds: rewrite
            fuzz/corpus first] [--runtime: only the runtime's targets, not the CLI readers' onnx, npy,
            png] [target]
  docs-check  run the commands of every guide in docs/guides as written (m3rt = this checkout's CLI,
            python = the venv), in target/docs-check/<guide>; [filter]
  miri      the runtime core's unsafe code (MMIO bus and DMA window, AVX2 kernels) under Miri on nightly;
            installs the miri component if missing
  soak      the long reliability runs on the host board: an upload cut at every chunk boundary and commit
            operation, then 10,000 task switches with inferences over a link corrupting 1 % of the frames
            each way, checked against the host runtime, RSS unchanged [--reduced: the soak only, 1,000
            switches, as CI runs it]
  nostd     build the m3rt core without std for thumbv7em-none-eabihf and aarch64-unknown-none
  qemu      boot the board firmwares in QEMU, compare with ci/expected and the host runtime (--bless rewrites);
            then cross-build the Linux board (aarch64-unknown-linux-gnu) and test it under qemu-aarch64
  qemu-linux  only that last stage: the Linux board cross-built and tested under qemu-aarch64
  help      this text

environment:
  M3RT_CACHE     where the Python venv and the ap_types headers live (default: ~/.cache/m3rt)
  M3RT_AP_TYPES  the ap_types include folder for hls/ (csim and ci set it; default: the cache's); `headers`
                 also compiles the ap_fixed typedefs with it
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("help");
    match cmd {
        "ci" => ci(),
        "models" => {
            let py = models::venv()?;
            models::generate_all(&py)
        }
        "venv" => models::venv().map(|_| ()),
        "headers" => headers::write(),
        "csim" => csim::csim(),
        "fuzz" => fuzz::run(&args[1..]),
        "nostd" => steps::nostd(),
        "docs-check" => docs_check::run(args.get(1).map(String::as_str)),
        "miri" => miri::run(),
        "soak" => soak::run(&args[1..]),
        "qemu" => qemu::qemu(args.iter().any(|a| a == "--bless")),
        "qemu-linux" => qemu::linux_only(),
        "bench-report" => bench_report::run(args.get(1).is_some_and(|a| a == "--reuse")),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown command '{other}'\n\n{HELP}"),
    }
}

/// Every check, in the order that fails fastest.
fn ci() -> Result<()> {
    let start = Instant::now();
    // CI builds once from a fresh clone: incremental state would only take disk (650 MB) and time.
    std::env::set_var("CARGO_INCREMENTAL", "0");
    steps::report_free_space("before the build");
    steps::timed("rustup targets", steps::targets)?;
    steps::timed("cargo fmt --check", || steps::cargo(&["fmt", "--all", "--check"], &[]))?;
    steps::timed("cargo clippy", || {
        steps::cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])
    })?;
    let py = steps::timed("python venv", models::venv)?;
    steps::timed("python exporter tests", || models::python_tests(&py))?;
    steps::timed("generate test models", || models::generate_all(&py))?;
    let headers = steps::timed("ap_types headers", || csim::install_headers(&py))?;
    steps::timed("C simulation tests", || csim::tests(&headers))?;
    let models_dir = models::out_dir()?;
    let dir = models_dir.to_string_lossy().into_owned();
    let ap_types = headers.to_string_lossy().into_owned();
    steps::timed("cargo test", || {
        steps::cargo(
            &["test", "--workspace"],
            &[
                ("M3RT_TEST_MODELS", dir.as_str()),
                ("M3RT_REQUIRE_TEST_MODELS", "1"),
                (csim::AP_TYPES_ENV, ap_types.as_str()),
                ("M3RT_REQUIRE_CSIM", "1"),
            ],
        )
    })?;
    steps::timed("IP C simulation", || ip_csim::suite(&headers, &models_dir))?;
    // Issue 13: the soak at a reduced count (the full one is `cargo xtask soak`), and Miri on the unsafe code.
    steps::timed("soak, reduced", || soak::run(&["--reduced".to_string()]))?;
    steps::timed("miri", miri::run)?;
    steps::report_free_space("after the tests");
    steps::timed("no_std builds", steps::nostd)?;
    steps::timed("qemu board suite", || qemu::qemu(false))?;
    steps::timed("guides run as written (docs-check)", || docs_check::run(None))?;
    // Issue 13: every fuzz target for 30 s (the 10-minute runs are `cargo xtask fuzz --seconds 600`).
    // The CLI readers' targets (fuzz/cli) are left to `cargo xtask fuzz`: their sanitizer build of tract
    // alone takes over ten minutes on 2 cores, a quarter of CI's time budget.
    steps::timed("fuzz targets of the runtime, 30 s each", || {
        fuzz::run(&["--seconds".to_string(), "30".to_string(), "--runtime".to_string()])
    })?;
    println!("\nci: all steps passed in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}
