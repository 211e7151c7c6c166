//! Running commands and timing steps.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// The embedded targets the core must build for.
pub const NO_STD_TARGETS: [&str; 2] = ["thumbv7em-none-eabihf", "aarch64-unknown-none"];
/// The target of the Linux userspace board (`boards/zcu104-linux`, a ZCU104's A53s under PetaLinux).
pub const LINUX_TARGET: &str = "aarch64-unknown-linux-gnu";

/// The workspace root (this crate lives in `tools/xtask`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}

/// Runs `f`, printing a header before and the elapsed time after.
pub fn timed<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("\n==> {name}");
    let t = Instant::now();
    let out = f().with_context(|| format!("step '{name}' failed"))?;
    println!("<== {name}: ok in {:.1} s", t.elapsed().as_secs_f64());
    Ok(out)
}

/// Runs a command in the workspace root, streaming its output; fails on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.current_dir(root()).status().with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} exited with {status}");
    }
    Ok(())
}

/// Runs `cargo <args>` with extra environment variables.
pub fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// Runs the ignored tests of `m3rt-cli`'s test target `test` (the QEMU ones), one at a time, output shown.
pub fn ignored_cli_tests(test: &str, envs: &[(&str, &str)]) -> Result<()> {
    // `--workspace`: the feature set of `cargo test --workspace`, whose build of the test CI reuses.
    cargo(&["test", "--workspace", "--test", test, "--", "--ignored", "--nocapture", "--test-threads", "1"], envs)
}

/// The cargo target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Free space, in GiB, of the file system holding `path` (from `df -Pk`); `None` if `df` cannot tell.
pub fn free_gib(path: &std::path::Path) -> Option<f64> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: f64 = text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib / (1024.0 * 1024.0))
}

/// Prints the free space beside the target folder, with a warning when it is below what a fresh CI run
/// writes (2.9 GiB measured: 2.2 in `target/`, 0.6 in the boards' own targets). A full disk shows up
/// later as a linker crash (`signal 7 [Bus error]`), so the warning says what it would mean.
pub fn report_free_space(when: &str) {
    const NEEDED_GIB: f64 = 4.0;
    let dir = target_dir();
    let probe = if dir.exists() { dir } else { root() };
    match free_gib(&probe) {
        Some(gib) if gib < NEEDED_GIB => println!(
            "warning: only {gib:.1} GiB free at {} {when}; a fresh CI run needs about {NEEDED_GIB:.0} GiB \
             (a full disk makes the linker die with a bus error)",
            probe.display()
        ),
        Some(gib) => println!("disk: {gib:.1} GiB free at {} {when}", probe.display()),
        None => println!("disk: free space at {} unknown (df failed)", probe.display()),
    }
}

/// Installs the embedded targets and the Linux board's (idempotent).
pub fn targets() -> Result<()> {
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add"]).args(NO_STD_TARGETS).arg(LINUX_TARGET);
    run(&mut cmd)
}

/// Whether `program` is a file in one of the folders of `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Installs the Debian `packages` (`apt-get update`, then `apt-get install -y`, non-interactive) when any
/// of `programs` is missing from `PATH`; fails if one is still missing after.
pub fn ensure_programs(programs: &[&str], packages: &[&str]) -> Result<()> {
    if programs.iter().all(|p| on_path(p)) {
        return Ok(());
    }
    println!("{} missing: installing {} with apt-get", programs.join(" or "), packages.join(" "));
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if let Some(missing) = programs.iter().find(|p| !on_path(p)) {
        bail!("{missing} still missing after apt-get install {}", packages.join(" "));
    }
    Ok(())
}

/// Builds the core with no default features for every embedded target.
pub fn nostd() -> Result<()> {
    for target in NO_STD_TARGETS {
        cargo(&["build", "-p", "m3rt", "--no-default-features", "--target", target], &[])?;
        cargo(&["build", "-p", "m3rt", "--no-default-features", "--features", "defmt", "--target", target], &[])?;
    }
    Ok(())
}
