//! `cargo xtask fuzz [--seconds N] [--seeds] [target]`: the runtime's fuzz targets (`fuzz/`, cargo-fuzz on
//! nightly with libFuzzer and the address sanitizer), each for N seconds (default 60), failing on a crash;
//! prints per target the executions and the coverage libFuzzer reports in its final `#N DONE cov: X ft: Y`
//! line. libFuzzer adds what it finds to `fuzz/target/corpus/<target>` (ignored by git); the committed seeds
//! `fuzz/corpus/<target>` are only read. `--seeds` first rewrites those seeds (`fuzz/src/bin/seeds.rs`, and
//! `fuzz/cli/seeds.py` for the CLI readers' targets in `fuzz/cli/`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::steps;

/// The fuzz targets, in the order they run: the runtime's (the `[[bin]]`s of `fuzz/Cargo.toml` but
/// `seeds`), then the CLI's readers (`fuzz/cli/Cargo.toml`, a separate build since they link tract).
pub const TARGETS: [&str; 8] = ["bundle", "bundle_unchecked", "frame", "serve", "accel_status", "onnx", "npy", "png"];

/// The CLI readers' targets, in `fuzz/cli`.
const CLI_TARGETS: [&str; 3] = ["onnx", "npy", "png"];

/// The cargo-fuzz folder of `target`.
fn fuzz_dir(target: &str) -> &'static str {
    if CLI_TARGETS.contains(&target) {
        "fuzz/cli"
    } else {
        "fuzz"
    }
}

/// Seconds per target without `--seconds`.
const DEFAULT_SECONDS: u64 = 60;

/// What one target's run reported.
#[derive(Debug, Default, PartialEq, Eq)]
struct Figures {
    execs: u64,
    cov: u64,
    ft: u64,
}

/// The command's arguments after `fuzz`.
pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    let mut seeds = false;
    let mut runtime_only = false;
    let mut only = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().context("--seconds needs a number")?;
                seconds = v.parse().with_context(|| format!("--seconds {v}: not a number of seconds"))?;
            }
            "--seeds" => seeds = true,
            "--runtime" => runtime_only = true,
            t if TARGETS.contains(&t) => only = Some(t),
            other => bail!("cargo xtask fuzz: unknown argument '{other}' (targets: {})", TARGETS.join(", ")),
        }
    }
    if seeds {
        steps::cargo(&["run", "--manifest-path", "fuzz/Cargo.toml", "--bin", "seeds"], &[])?;
        let py = crate::models::venv()?;
        steps::run(Command::new(py).arg(steps::root().join("fuzz/cli/seeds.py")))?;
    }
    install()?;
    let all: Vec<&str> = TARGETS.iter().copied().filter(|t| !runtime_only || !CLI_TARGETS.contains(t)).collect();
    let targets: Vec<&str> = only.map_or(all, |t| vec![t]);
    let mut results = Vec::new();
    for t in &targets {
        let figures = steps::timed(&format!("fuzz {t} for {seconds} s"), || fuzz_one(t, seconds))?;
        results.push((*t, figures));
    }
    println!("\nfuzz: {seconds} s per target, no crash");
    println!("{:<18} {:>12} {:>8} {:>8}", "target", "executions", "cov", "ft");
    for (t, f) in &results {
        println!("{t:<18} {:>12} {:>8} {:>8}", f.execs, f.cov, f.ft);
    }
    Ok(())
}

/// A `cargo +nightly` command without the variables the outer cargo and rustup set for this process (they
/// would pin the stable toolchain of `rust-toolchain.toml`).
pub(crate) fn nightly_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly");
    for v in ["RUSTUP_TOOLCHAIN", "CARGO", "RUSTC", "RUSTDOC", "RUSTC_WRAPPER", "RUSTFLAGS", "CARGO_TARGET_DIR"] {
        cmd.env_remove(v);
    }
    cmd.current_dir(steps::root());
    cmd
}

/// Installs cargo-fuzz into the default cargo bin folder when `cargo fuzz` is missing.
fn install() -> Result<()> {
    let found = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("cargo-fuzz is missing: cargo install cargo-fuzz --locked");
        steps::cargo(&["install", "cargo-fuzz", "--locked"], &[])?;
    }
    Ok(())
}

/// Runs `target` for `seconds`; fails when libFuzzer reports a crash, a leak or a time-out (a run of one
/// input longer than 10 s is taken for a loop without end).
fn fuzz_one(target: &str, seconds: u64) -> Result<Figures> {
    let dir = fuzz_dir(target);
    let work = steps::root().join(dir).join("target/corpus").join(target);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let seeds = steps::root().join("fuzz/corpus").join(target);
    let mut cmd = nightly_cargo();
    cmd.args(["fuzz", "run", "--fuzz-dir", dir, target])
        .arg(&work)
        .arg(&seeds)
        .args(["--", &format!("-max_total_time={seconds}"), "-timeout=10", "-print_final_stats=1"])
        .stderr(Stdio::piped());
    println!("{cmd:?}");
    let start = Instant::now();
    let mut child = cmd.spawn().context("could not start cargo +nightly fuzz")?;
    let stderr = child.stderr.take().context("libFuzzer's output")?;
    let mut done = None;
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading libFuzzer's output")?;
        // The progress lines (`#N NEW ...`, `#N REDUCE ...`, `NEW_FUNC ...`) are many; the rest (build, INFO, a crash) shows.
        if let Some(f) = parse_done(&line) {
            done = Some(f);
            println!("{line}");
        } else if !line.starts_with('#') && !line.trim_start().starts_with("NEW_FUNC") {
            println!("{line}");
        }
    }
    let status = child.wait().context("waiting for cargo fuzz")?;
    if !status.success() {
        bail!("fuzz target {target} failed ({status}): see the crash above and {dir}/artifacts/{target}/");
    }
    let figures = done.with_context(|| format!("no final '#N DONE cov: X ft: Y' line from {target}"))?;
    println!(
        "{target}: {} executions in {:.0} s, cov {}, ft {}",
        figures.execs,
        start.elapsed().as_secs_f64(),
        figures.cov,
        figures.ft
    );
    Ok(figures)
}

/// The figures of libFuzzer's final line, `#4191 DONE   cov: 1312 ft: 4207 corp: 301/64Kb ...`.
fn parse_done(line: &str) -> Option<Figures> {
    let rest = line.strip_prefix('#')?;
    let mut words = rest.split_whitespace();
    let execs = words.next()?.parse().ok()?;
    if words.next()? != "DONE" {
        return None;
    }
    let mut f = Figures { execs, ..Figures::default() };
    while let Some(w) = words.next() {
        match w {
            "cov:" => f.cov = words.next()?.parse().ok()?,
            "ft:" => f.ft = words.next()?.parse().ok()?,
            _ => {}
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_line_is_parsed() {
        let line = "#4191\tDONE   cov: 1312 ft: 4207 corp: 301/64Kb lim: 4096 exec/s: 69 rss: 480Mb";
        assert_eq!(parse_done(line), Some(Figures { execs: 4191, cov: 1312, ft: 4207 }));
        assert_eq!(parse_done("#4096\tpulse  cov: 1 ft: 2 corp: 3/4b"), None);
        assert_eq!(parse_done("#12\tNEW    cov: 1 ft: 2"), None);
        assert_eq!(parse_done("INFO: seed corpus: files: 4"), None);
    }
}
