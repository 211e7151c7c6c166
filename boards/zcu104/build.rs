//! Links with `link.ld` and turns the fixed self-test input (an `.npy` of the model's golden inputs) into
//! raw little-endian f32 bytes that `main.rs` includes.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rustc-link-search={}", dir.display());
    println!("cargo:rustc-link-arg=-Tlink.ld");
    println!("cargo:rerun-if-changed=link.ld");

    let input = std::env::var("M3RT_INPUT_NPY")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.join("../../models/micro/golden/input_0.npy"));
    println!("cargo:rerun-if-env-changed=M3RT_INPUT_NPY");
    println!("cargo:rerun-if-changed={}", input.display());
    let file =
        std::fs::read(&input).unwrap_or_else(|e| panic!("cannot read the self-test input {}: {e}", input.display()));
    let data = m3rt_selftest::npy::f32_data(&file).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("input.f32");
    std::fs::write(&out, data).expect("OUT_DIR is writable");
}
