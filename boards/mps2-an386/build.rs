//! Puts `memory.x` on the linker's path, and prepares what `main.rs` includes: the model bundle (path in
//! `M3RT_BUNDLE`, default `target/model.m3b`, made by `cargo xtask qemu` with `m3rt convert`) and the fixed
//! self-test input (an `.npy` of the model's golden inputs) as raw little-endian f32 bytes.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy(dir.join("memory.x"), out.join("memory.x")).expect("memory.x is readable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let bundle = std::env::var("M3RT_BUNDLE").map(PathBuf::from).unwrap_or_else(|_| dir.join("target/model.m3b"));
    println!("cargo:rerun-if-env-changed=M3RT_BUNDLE");
    println!("cargo:rerun-if-changed={}", bundle.display());
    if !bundle.is_file() {
        panic!(
            "no model bundle at {}: run `cargo xtask qemu`, or `m3rt convert models/micro/model.onnx -o {}`",
            bundle.display(),
            bundle.display()
        );
    }
    println!("cargo:rustc-env=M3RT_BUNDLE_PATH={}", bundle.display());

    let input = std::env::var("M3RT_INPUT_NPY")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.join("../../models/micro/golden/input_0.npy"));
    println!("cargo:rerun-if-env-changed=M3RT_INPUT_NPY");
    println!("cargo:rerun-if-changed={}", input.display());
    let file =
        std::fs::read(&input).unwrap_or_else(|e| panic!("cannot read the self-test input {}: {e}", input.display()));
    let data = m3rt_selftest::npy::f32_data(&file).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    std::fs::write(out.join("input.f32"), data).expect("OUT_DIR is writable");
}
