//! `m3rt convert` on the bytes of an ONNX file: tract's protobuf reader, the constant folding, the M³ViT
//! matcher and the bundle writer. What converts must parse back as a bundle.
#![no_main]

use m3rt_cli::convert::{convert_onnx_bytes, Int8Scales, Precision};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    m3rt_fuzz_cli::caught_panics_are_errors();
    if let Ok((bundle, _)) = convert_onnx_bytes(data, Precision::F32, Int8Scales::Channel) {
        let aligned = m3rt::bundle::AlignedBytes::from_slice(&bundle);
        if let Err(e) = m3rt::bundle::Bundle::parse(&aligned) {
            panic!("the converter wrote a bundle that does not parse: {e}");
        }
    }
});
