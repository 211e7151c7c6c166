//! Builds the C++ checker (`check/`) with g++ against the `ap_types` headers, when they are found:
//! `$M3RT_AP_TYPES`, else the cache that `cargo xtask csim` fills (`$M3RT_CACHE/ap_types/hls4ml-1.3.0`,
//! `$M3RT_CACHE` defaulting to `~/.cache/m3rt`). Without them it sets `cfg(m3rt_csim_skipped)` and the reason
//! in `M3RT_HLS_CSIM_SKIPPED`, so the tests say they were skipped (and fail under `M3RT_REQUIRE_CSIM=1`).
//!
//! Under `cargo clippy` the headers are looked for (the cfg is the same) but nothing is compiled: clippy
//! never links. The units compile side by side (at most `NUM_JOBS` at once; the four `ap_check_*` units take
//! about a minute and a half of CPU, the kernels' two about 11 s). Each library keeps a fingerprint of its
//! compiler command, its sources with every local file they include (`#include "..."`, followed through
//! `check/` and the IP's `include/`) and the headers in `OUT_DIR`: a rerun recompiles only the libraries
//! whose inputs changed and links the others as they are (another environment variable, a check build
//! after a test build, or an edit of one kernel file recompile nothing else).

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The headers' version: a subfolder of the cache, as `cargo xtask csim` installs them.
const AP_TYPES_VERSION: &str = "hls4ml-1.3.0";
/// A static library of the checker: its translation units in `check/`, and whether they include the IP's
/// headers (`include/m3rt/`, whose HLS pragmas g++ does not know: `-Wno-unknown-pragmas` for these only, as
/// `tb/Makefile` does, since g++ cannot silence that warning by pragma).
struct Unit {
    lib: &'static str,
    sources: &'static [&'static str],
    ip_headers: bool,
    /// Whether it includes the `ap_types` headers (the checker does; the IP itself does not: it is
    /// written in native integers, DESIGN.md).
    ap_types: bool,
    /// The optimisation level: the IP's top function runs whole models (`-O2`), the checks run fast at `-O1`
    /// (which compiles in half the time).
    opt: u32,
}

/// The libraries, in link order (and the order they start compiling in).
const UNITS: [Unit; 7] = [
    // The IP's top function in its three weight-mode builds, for the C-simulation bus: built whether or not
    // the ap_types headers are found (it needs only g++).
    Unit {
        lib: "m3rt_accel_ip",
        sources: &["accel_mode0.cpp", "accel_mode1.cpp", "accel_mode2.cpp"],
        ip_headers: true,
        ap_types: false,
        opt: 2,
    },
    Unit { lib: "m3rt_ap_convert", sources: &["ap_check_convert.cpp"], ip_headers: false, ap_types: true, opt: 1 },
    Unit { lib: "m3rt_ap_add", sources: &["ap_check_add.cpp"], ip_headers: false, ap_types: true, opt: 1 },
    Unit { lib: "m3rt_ap_sub", sources: &["ap_check_sub.cpp"], ip_headers: false, ap_types: true, opt: 1 },
    Unit { lib: "m3rt_ap_mul", sources: &["ap_check_mul.cpp"], ip_headers: false, ap_types: true, opt: 1 },
    // The kernels' ap_fixed formulation, and the IP's kernels in its three weight-mode builds (one archive:
    // kernel_ip.cpp calls the int8 builds).
    Unit { lib: "m3rt_kernel_ap", sources: &["kernel_ap.cpp"], ip_headers: false, ap_types: true, opt: 1 },
    Unit {
        lib: "m3rt_kernel_ip",
        sources: &["kernel_ip.cpp", "kernel_ip_q8t.cpp", "kernel_ip_q8c.cpp"],
        ip_headers: true,
        ap_types: true,
        opt: 1,
    },
];
/// The C++ standard library the checker links (g++ on Linux hosts).
const CPP_STDLIB: &str = "stdc++";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(m3rt_csim_skipped)");
    for var in ["M3RT_AP_TYPES", "M3RT_CACHE", "HOME"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let check = manifest.join("check");
    println!("cargo::rerun-if-changed={}", check.display());
    println!("cargo::rerun-if-changed={}", manifest.join("include").display());
    println!("cargo::rerun-if-changed={}", manifest.join("src/m3rt_accel.cpp").display());
    println!("cargo::rerun-if-env-changed=RUSTC_WORKSPACE_WRAPPER");
    let headers = match find_headers() {
        Ok(headers) => {
            // Present: reruns when they change. (Missing: a path that does not exist makes cargo rerun this
            // script on every build, so headers installed later are picked up.)
            println!("cargo::rerun-if-changed={}", headers.join("ap_fixed.h").display());
            println!("cargo::rustc-env=M3RT_HLS_AP_TYPES_DIR={}", headers.display());
            Some(headers)
        }
        Err((why, watched)) => {
            println!("cargo::rerun-if-changed={}", watched.display());
            println!("cargo::rustc-cfg=m3rt_csim_skipped");
            println!("cargo::rustc-env=M3RT_HLS_CSIM_SKIPPED={why}");
            None
        }
    };
    if !under_clippy() {
        build(&check, headers.as_deref());
    }
}

/// Whether this is `cargo clippy`, which only checks the crate (nothing links) and runs build scripts apart
/// from other builds (clippy-driver as the workspace wrapper gives them their own hashes and `OUT_DIR`): the
/// checker is not compiled there, or a fresh clippy-then-test run would compile it twice.
fn under_clippy() -> bool {
    env::var_os("RUSTC_WORKSPACE_WRAPPER").is_some_and(|w| {
        Path::new(&w).file_name().is_some_and(|name| name.to_string_lossy().starts_with("clippy-driver"))
    })
}

/// The `ap_types` include folder, or why there is none (and the file whose appearance would change that).
fn find_headers() -> Result<PathBuf, (String, PathBuf)> {
    let (dir, from) = match env::var_os("M3RT_AP_TYPES").filter(|d| !d.is_empty()) {
        Some(dir) => (PathBuf::from(dir), "M3RT_AP_TYPES"),
        None => {
            let cache = match (env::var_os("M3RT_CACHE").filter(|d| !d.is_empty()), env::var_os("HOME")) {
                (Some(cache), _) => PathBuf::from(cache),
                (None, Some(home)) => PathBuf::from(home).join(".cache/m3rt"),
                (None, None) => {
                    let why = "neither M3RT_AP_TYPES, M3RT_CACHE nor HOME is set";
                    return Err((why.into(), PathBuf::from("ap_fixed.h")));
                }
            };
            (cache.join("ap_types").join(AP_TYPES_VERSION), "the default cache")
        }
    };
    let required = [dir.join("ap_fixed.h"), dir.join("etc/ap_private.h")];
    match required.iter().find(|f| !f.is_file()) {
        None => Ok(dir),
        Some(missing) => Err((
            format!(
                "no ap_types headers in {} ({from}): {} is missing; `cargo xtask csim` installs them",
                dir.display(),
                missing.display()
            ),
            required[0].clone(),
        )),
    }
}

/// Compiles the static libraries into `OUT_DIR` (those that need the `ap_types` headers only when `headers`
/// are found), each unless the one there was built from the same compiler command, sources and headers;
/// then links them all, in `UNITS` order.
fn build(check: &Path, headers: Option<&Path>) {
    let units: Vec<&Unit> = UNITS.iter().filter(|u| headers.is_some() || !u.ap_types).collect();
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut base = cc::Build::new();
    base.cpp(true)
        .std("c++14")
        .debug(false)
        .cpp_link_stdlib(CPP_STDLIB)
        // The link lines are printed below, in a fixed order, not by each compile.
        .cargo_metadata(false)
        .include(check)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true);
    let mut header_files = headers.map(files).unwrap_or_default();
    header_files.sort();
    let no_headers = PathBuf::from("(none)");
    let stale: Vec<(&Unit, cc::Build, String)> = units
        .iter()
        .filter_map(|&unit| {
            let mut build = base.clone();
            // Fixed, whatever the profile.
            build.opt_level(unit.opt);
            if let (true, Some(headers)) = (unit.ap_types, headers) {
                // -isystem: the third-party headers' warnings are not ours; our own files must have none.
                build.flag("-isystem").flag(headers);
            }
            let headers = if unit.ap_types { headers.unwrap_or(&no_headers) } else { &no_headers };
            let header_files: &[PathBuf] = if unit.ap_types { &header_files } else { &[] };
            if unit.ip_headers {
                // The IP's sources include its headers as "m3rt/..." (the include path of tb/Makefile).
                build.flag("-Wno-unknown-pragmas").include(check.join("../include"));
            }
            let fingerprint = fingerprint(&build, unit, check, headers, header_files);
            let stamp = stamp(&out, unit);
            let built = out.join(format!("lib{}.a", unit.lib)).is_file();
            if built && fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
                return None;
            }
            let _ = fs::remove_file(&stamp);
            Some((unit, build, fingerprint))
        })
        .collect();
    let jobs = env::var("NUM_JOBS").ok().and_then(|n| n.parse::<usize>().ok()).unwrap_or(1).clamp(1, units.len());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(stale.len()) {
            s.spawn(|| {
                while let Some((unit, build, fingerprint)) = stale.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut build = build.clone();
                    build.files(unit.sources.iter().map(|src| check.join(src))).compile(unit.lib);
                    fs::write(stamp(&out, unit), fingerprint).expect("writing a checker fingerprint into OUT_DIR");
                }
            });
        }
    });
    for unit in &units {
        println!("cargo::rustc-link-lib=static={}", unit.lib);
    }
    println!("cargo::rustc-link-search=native={}", out.display());
    println!("cargo::rustc-link-lib={CPP_STDLIB}");
}

/// Where the fingerprint of `unit`'s library is kept.
fn stamp(out: &Path, unit: &Unit) -> PathBuf {
    out.join(format!("lib{}.fingerprint", unit.lib))
}

/// What `unit`'s library is built from: the compiler command, the unit's sources with the local files they
/// include, and every file of the headers' folder (contents, not times: headers installed again unchanged
/// need no rebuild).
fn fingerprint(build: &cc::Build, unit: &Unit, check: &Path, headers: &Path, header_files: &[PathBuf]) -> String {
    let compiler = build.try_get_compiler().unwrap_or_else(|e| panic!("no C++ compiler for the ap checker: {e}"));
    // The program and its arguments only: the command's environment is the whole of this process's.
    let command = std::iter::once(compiler.path().as_os_str())
        .chain(compiler.args().iter().map(|a| a.as_os_str()))
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let mut sources = Vec::new();
    for src in unit.sources {
        local_includes(&check.join(src), &mut sources);
    }
    sources.sort();
    let mut hasher = DefaultHasher::new();
    (unit.lib, unit.sources).hash(&mut hasher);
    for f in sources.iter().chain(header_files) {
        f.hash(&mut hasher);
        fs::read(f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display())).hash(&mut hasher);
    }
    format!("{command}\nheaders {}\nsources and headers {:016x}\n", headers.display(), hasher.finish())
}

/// `file` and, recursively, every file it includes with `#include "..."` that exists next to the including
/// file or in the IP's `include/` (how the checker's and the IP's headers include one another; `<...>`
/// headers are the system's or the headers' folder, fingerprinted apart). A conditional include counts
/// whether or not it is taken.
fn local_includes(file: &Path, seen: &mut Vec<PathBuf>) {
    let file = fs::canonicalize(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    if seen.contains(&file) {
        return;
    }
    let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
    seen.push(file.clone());
    let dir = file.parent().expect("a source file has a folder").to_path_buf();
    for line in text.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix('#').map(str::trim_start).and_then(|l| l.strip_prefix("include")) else {
            continue;
        };
        let Some(name) = rest.trim_start().strip_prefix('"').and_then(|r| r.split('"').next()) else {
            continue;
        };
        let ip_include = dir.join("../include").join(name);
        for included in [dir.join(name), ip_include] {
            if included.is_file() {
                local_includes(&included, seen);
                break;
            }
        }
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
