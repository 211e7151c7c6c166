//! The committed C headers of `hls/include/` are exactly what their Rust generators write, and they compile.

use std::path::{Path, PathBuf};
use std::process::Command;

use m3rt::accel::header::{cxx_probe, generated};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_headers_match_their_generators() {
    let mut stale = Vec::new();
    for g in generated() {
        let path = repo_root().join(g.path);
        match std::fs::read_to_string(&path) {
            Err(e) => stale.push(format!("{}: cannot read it ({e})", g.path)),
            Ok(text) if text != g.text => {
                let line = text
                    .lines()
                    .zip(g.text.lines())
                    .position(|(a, b)| a != b)
                    .map_or_else(|| text.lines().count().min(g.text.lines().count()) + 1, |i| i + 1);
                stale.push(format!("{}: differs from {} from line {line} on", g.path, g.generator));
            }
            Ok(_) => {}
        }
    }
    assert!(stale.is_empty(), "generated headers are stale; run `cargo xtask headers`:\n  {}", stale.join("\n  "));
}

/// Runs `g++ -std=c++14 -fsyntax-only` on the probe translation unit that includes every header.
fn compile(name: &str, extra: &[&str]) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("generated_headers");
    std::fs::create_dir_all(&dir).unwrap();
    let probe = dir.join(format!("{name}.cpp"));
    std::fs::write(&probe, cxx_probe()).unwrap();
    let out = Command::new("g++")
        .args(["-std=c++14", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-I"])
        .arg(repo_root().join("hls/include"))
        .args(extra)
        .arg(&probe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run g++ ({e}): install it (apt-get install g++) to check the headers"));
    assert!(
        out.status.success(),
        "the generated headers do not compile (g++ {extra:?}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn headers_compile_as_cxx14() {
    compile("probe", &[]);
    // A build that picks an int8 weight mode (`make WEIGHT_MODE=2` in hls/tb).
    compile("probe_int8", &["-DM3RT_WEIGHT_MODE=2"]);
}

/// With `M3RT_AP_TYPES` naming a folder with the `ap_types` headers, the `ap_fixed` typedefs compile too.
#[test]
fn ap_typedefs_compile_when_ap_types_are_given() {
    let Ok(ap) = std::env::var("M3RT_AP_TYPES") else {
        eprintln!("M3RT_AP_TYPES not set: the ap_fixed typedefs of m3rt_profile.h are not compiled");
        return;
    };
    compile("probe_ap", &["-DM3RT_WITH_AP_TYPES", "-isystem", &ap]);
    compile("probe_ap_int8", &["-DM3RT_WITH_AP_TYPES", "-DM3RT_WEIGHT_MODE=2", "-isystem", &ap]);
}
