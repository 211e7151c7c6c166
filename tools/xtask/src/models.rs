//! The Python side: the venv, the exporter's tests and the models generated at test time.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::steps::{root, run};

/// Packages the exporter needs; nothing heavier (no PyTorch).
const PACKAGES: [&str; 4] = ["numpy", "onnx", "onnxruntime", "safetensors"];

/// Models generated at test time (never committed): config name and ONNX form (`--onnx-form`; the
/// PyTorch-exporter forms go to `<config>-<form>`, tested by tools/cli/tests/convert_torch_exporter.rs).
const GENERATED: [(&str, &str); 7] = [
    ("tiny-light", "m3rt"),
    ("sparse-route", "m3rt"),
    ("m3vit-t", "m3rt"),
    ("micro", "torch-cat"),
    ("micro", "torch-loop"),
    ("m3vit-t", "torch-cat"),
    ("m3vit-t", "torch-loop"),
];

/// Where the venv and the fetched third-party files live: `$M3RT_CACHE`, else `~/.cache/m3rt`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("M3RT_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var("HOME").context("HOME is not set; set M3RT_CACHE")?;
    Ok(PathBuf::from(home).join(".cache/m3rt"))
}

/// Where generated models go: `target/models/<name>`.
pub fn out_dir() -> Result<PathBuf> {
    Ok(root().join("target/models"))
}

/// Creates the venv if needed and installs the packages; returns its python.
pub fn venv() -> Result<PathBuf> {
    let dir = cache_dir()?.join("venv");
    let python = dir.join("bin/python");
    let stamp = dir.join("m3rt-packages.txt");
    let wanted = PACKAGES.join("\n");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        println!("venv ready at {}", dir.display());
        return Ok(python);
    }
    std::fs::create_dir_all(cache_dir()?)?;
    run(Command::new("python3").args(["-m", "venv"]).arg(&dir)).context("python3 -m venv failed")?;
    run(Command::new(&python).args(["-m", "pip", "install", "--quiet", "--upgrade", "pip"]))?;
    run(Command::new(&python).args(["-m", "pip", "install", "--quiet"]).args(PACKAGES))?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// Runs the exporter's unittest suite.
pub fn python_tests(python: &Path) -> Result<()> {
    run(Command::new(python).args(["-m", "unittest", "discover", "-s", "models/tests", "-t", "."]))
}

/// Generates every test-time model whose config changed since it was last generated.
pub fn generate_all(python: &Path) -> Result<()> {
    for (config_name, form) in GENERATED {
        let name = if form == "m3rt" { config_name.to_string() } else { format!("{config_name}-{form}") };
        let config = root().join(format!("models/configs/{config_name}.toml"));
        let out = out_dir()?.join(&name);
        let config_text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
        let exporter = exporter_fingerprint()?;
        let stamp = out.join(".generated-from");
        let fingerprint = format!("{config_text}\n{exporter}");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
            println!("{name}: up to date in {}", out.display());
            continue;
        }
        let mut export = Command::new(python);
        export.arg("models/export.py").arg("--config").arg(&config).arg("--out").arg(&out);
        run(export.args(["--onnx-form", form]))?;
        std::fs::write(&stamp, fingerprint)?;
    }
    Ok(())
}

/// A fingerprint of the exporter's sources (sizes and modification-independent content hash), so a changed
/// exporter regenerates the models.
fn exporter_fingerprint() -> Result<String> {
    let mut files = Vec::new();
    collect_py(&root().join("models"), &mut files)?;
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for f in &files {
        if f.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        for b in std::fs::read(f)? {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    Ok(format!("exporter fnv1a {hash:016x}"))
}

fn collect_py(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_py(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
    Ok(())
}
