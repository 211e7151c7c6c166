//! The PNG reader of `m3rt run --input x.png`, then the resize to a model's input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(img) = m3rt_cli::picture::decode_png(data) {
        assert_eq!(img.data.len(), img.w * img.h * 3, "an RGB image of w·h pixels");
        if img.w * img.h <= 1 << 16 {
            let _ = m3rt_cli::picture::to_input(&img, 4, 8);
        }
    }
});
