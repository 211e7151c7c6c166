//! The `.npy` reader of `m3rt run --input x.npy` (and of golden files).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok((shape, values)) = m3rt_cli::tensor_io::parse_npy(data) {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "shape and values disagree");
    }
});
