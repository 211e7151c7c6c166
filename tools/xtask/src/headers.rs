//! `cargo xtask headers`: writes the C headers of `hls/include/` from their Rust generators
//! (`m3rt::accel::header::generated`) and checks that they compile with `g++ -std=c++14 -fsyntax-only`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::steps::{ensure_programs, root, run, target_dir};

/// Rewrites every generated header that differs from its generator, then compiles them.
pub fn write() -> Result<()> {
    let root = root();
    for g in m3rt::accel::header::generated() {
        let path = root.join(g.path);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(g.text.as_str()) {
            println!("{}: up to date", g.path);
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, &g.text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}: written by {}", g.path, g.generator);
    }
    check_compiles(&root.join("hls/include"))
}

/// Compiles `m3rt::accel::header::cxx_probe` against the headers in `include` with
/// `g++ -std=c++14 -fsyntax-only`; a second time with the `ap_fixed` typedefs when `M3RT_AP_TYPES` names a
/// folder holding `ap_fixed.h`.
pub fn check_compiles(include: &Path) -> Result<()> {
    ensure_programs(&["g++"], &["g++"])?;
    let dir = target_dir().join("xtask-headers");
    std::fs::create_dir_all(&dir)?;
    let probe = dir.join("probe.cpp");
    std::fs::write(&probe, m3rt::accel::header::cxx_probe())?;
    let gxx = || {
        let mut cmd = Command::new("g++");
        cmd.args(["-std=c++14", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-I"])
            .arg(include)
            .arg(&probe);
        cmd
    };
    run(&mut gxx()).context("the generated headers do not compile")?;
    run(gxx().arg("-DM3RT_WEIGHT_MODE=2")).context("the generated headers do not compile with M3RT_WEIGHT_MODE=2")?;
    println!("headers compile (g++ -std=c++14 -fsyntax-only)");
    if let Some(ap) = std::env::var_os("M3RT_AP_TYPES") {
        run(gxx().arg("-DM3RT_WITH_AP_TYPES").arg("-isystem").arg(&ap))
            .context("the generated headers do not compile with M3RT_WITH_AP_TYPES")?;
        println!("headers compile with M3RT_WITH_AP_TYPES (ap_types from {})", Path::new(&ap).display());
    }
    Ok(())
}
