//! `Bundle::parse` on the bytes as they come, then a load and runs on the engine the bundle is for.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| m3rt_fuzz::check_bundle(data));
