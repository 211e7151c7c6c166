//! The whole command loop, `m3rt::serve::Server`, over an in-memory stream made of the input (raw bytes, or
//! payloads the harness frames: see `m3rt_fuzz::serve_stream`), A/B `SliceStorage` slots (slot A holding
//! the tiny f32 model, or both empty) and the CPU backend. Served until the stream ends; reboots included.
#![no_main]

use m3rt::backend::{Backend, CpuBackend};
use m3rt::bundle::Bundle;
use m3rt::serve::{ActiveMarker, Server, SliceStorage, Stopped};

/// 64-byte aligned slot memory.
#[repr(C, align(64))]
struct Slot([u8; 8192]);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (mode, stream) = m3rt_fuzz::serve_stream(data);
    let mut a = Box::new(Slot([0; 8192]));
    let mut b = Box::new(Slot([0; 8192]));
    let mut marker = ActiveMarker::default();
    let mut storage = SliceStorage::new(&mut a.0, &mut b.0, &mut marker);
    let tiny = m3rt_fuzz::tiny_f32_bundle();
    if mode & 2 == 0 {
        storage.install(tiny).expect("the tiny bundle fits a slot");
    }
    // Scratch for the tiny model and a little more (an uploaded larger model is refused as too large).
    let aligned = m3rt::bundle::AlignedBytes::from_slice(tiny);
    let words = CpuBackend::new(&mut []).scratch_words(&Bundle::parse(&aligned).expect("tiny parses"));
    let mut scratch = vec![0f32; words * 2];
    let (mut input, mut output) = (vec![0f32; 64], vec![0f32; 64]);
    let io = m3rt_fuzz::MemIo::new(&stream, 1 + usize::from(mode >> 2 & 15) * 8);
    let mut server = Server::new(io, storage, CpuBackend::new(&mut scratch), &mut input, &mut output, "fuzz");
    // Each reboot needs a request frame, so the loop ends with the stream.
    while let Ok(Stopped::Reboot) = server.run() {}
});
