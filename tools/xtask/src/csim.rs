//! The C-simulation stage: the `ap_types` headers (fetched into the cache, never committed) and the tests
//! that run the real `ap_fixed` through g++ (`hls/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::models;
use crate::steps::{self, run};

/// The hls4ml release whose wheel ships the headers, its file name and its sha256.
const HLS4ML: &str = "1.3.0";
const WHEEL: &str = "hls4ml-1.3.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "01bf1de2cd9bca56699b9fe3385cb1735026b022f9580fe1d73faf192dfb90f2";
/// Files under `hls4ml/templates/vivado/ap_types/` in that wheel.
const AP_TYPES_FILES: usize = 16;
/// Checks the wheel and extracts the headers (run with the venv's python).
const EXTRACT: &str = include_str!("extract_ap_types.py");
/// Written into the headers' folder once they are complete.
const STAMP: &str = ".m3rt-installed";

/// The environment variable that tells later steps (and `hls/build.rs`) where the headers are.
pub const AP_TYPES_ENV: &str = "M3RT_AP_TYPES";

/// `$M3RT_CACHE/ap_types/hls4ml-1.3.0`: the include folder, holding `ap_fixed.h`, `etc/ap_private.h`, ...
pub fn headers_dir() -> Result<PathBuf> {
    Ok(models::cache_dir()?.join("ap_types").join(format!("hls4ml-{HLS4ML}")))
}

fn stamp_text() -> String {
    format!("hls4ml {HLS4ML} {WHEEL} sha256 {WHEEL_SHA256}: {AP_TYPES_FILES} files of ap_types\n")
}

/// Makes sure the headers are in the cache and returns their folder: a no-op when they are; otherwise
/// `pip download` of the wheel with `python` (the venv's), its sha256 checked, only `ap_types/` extracted
/// into a scratch folder that is renamed into place when complete.
pub fn install_headers(python: &Path) -> Result<PathBuf> {
    let dir = headers_dir()?;
    if std::fs::read_to_string(dir.join(STAMP)).ok() == Some(stamp_text()) && dir.join("ap_fixed.h").is_file() {
        println!("ap_types headers ready in {}", dir.display());
        return Ok(dir);
    }
    let parent = dir.parent().context("the headers' folder has a parent")?;
    let scratch = parent.join(format!(".hls4ml-{HLS4ML}.partial-{}", std::process::id()));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    let wheels = scratch.join("wheel");
    std::fs::create_dir_all(&wheels).with_context(|| format!("creating {}", wheels.display()))?;
    run(Command::new(python)
        .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
        .args(["--only-binary=:all:", "--dest"])
        .arg(&wheels)
        .arg(format!("hls4ml=={HLS4ML}")))
    .context("pip download of the hls4ml wheel failed")?;
    let wheel = wheels.join(WHEEL);
    if !wheel.is_file() {
        bail!("pip download did not produce {}", wheel.display());
    }
    let headers = scratch.join("ap_types");
    println!("extracting the ap_types headers of {WHEEL}:");
    run(Command::new(python)
        .arg("-c")
        .arg(EXTRACT)
        .arg(&wheel)
        .arg(WHEEL_SHA256)
        .arg(AP_TYPES_FILES.to_string())
        .arg(&headers))
    .context("checking or extracting the hls4ml wheel failed")?;
    std::fs::write(headers.join(STAMP), stamp_text())?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing the incomplete {}", dir.display()))?;
    }
    std::fs::rename(&headers, &dir).with_context(|| format!("moving the headers to {}", dir.display()))?;
    std::fs::remove_dir_all(&scratch)?;
    println!("ap_types headers installed in {}", dir.display());
    Ok(dir)
}

/// The C-simulation tests with the headers at `headers`, required (a skip fails): today the `ap_fixed`
/// semantics of `m3rt::fixed`. `--workspace`: the feature set `cargo test --workspace` builds with, so CI's
/// later full test run reuses this build.
pub fn tests(headers: &Path) -> Result<()> {
    let dir = headers.to_string_lossy();
    steps::cargo(
        &["test", "--workspace", "--test", "ap_semantics", "--test", "kernel_semantics"],
        &[(AP_TYPES_ENV, dir.as_ref()), ("M3RT_REQUIRE_CSIM", "1")],
    )
}

/// `cargo xtask csim`: the venv, the headers, then the tests.
pub fn csim() -> Result<()> {
    let python = steps::timed("python venv", models::venv)?;
    let headers = steps::timed("ap_types headers", || install_headers(&python))?;
    println!("{AP_TYPES_ENV}={}", headers.display());
    steps::timed("C simulation tests", || tests(&headers))?;
    let py = python;
    steps::timed("generate test models", || models::generate_all(&py))?;
    steps::timed("IP C simulation", || crate::ip_csim::suite(&headers, &models::out_dir()?))
}
