//! As `bundle`, but the three CRCs are recomputed after the mutation (when the preamble decodes), so the
//! fuzzer reaches the header, the tensor table and the engines instead of stopping at a CRC mismatch.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    m3rt_fuzz::recrc(&mut bytes);
    m3rt_fuzz::check_bundle(&bytes);
});
