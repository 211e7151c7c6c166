//! The serial protocol's readers: the deframer over the stream, then `frame::open` (COBS, CRC) and the
//! request and response decoders on every frame; the input is also opened as one frame, and its payload
//! decoded without the CRC check. A request that decodes encodes back to a frame that decodes to itself.
#![no_main]

use m3rt::protocol::{frame, Deframer, Feed, Request, Response, MAX_FRAME};

fn payload(payload: &[u8]) {
    let _ = frame::tag_of(payload);
    let _ = frame::parse::<Response<'_>>(payload);
    if let Ok((tag, request)) = frame::parse::<Request<'_>>(payload) {
        let mut out = [0u8; MAX_FRAME];
        if let Ok(n) = frame::encode(tag, &request, &mut out) {
            let (last, body) = out[..n].split_last_mut().expect("a frame ends with its delimiter");
            assert_eq!(*last, 0);
            assert_eq!(frame::decode::<Request<'_>>(body).ok(), Some((tag, request)));
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut deframer = Deframer::new();
    for &b in data {
        if let Feed::Frame(n) = deframer.push(b) {
            let f = deframer.frame();
            assert_eq!(f.len(), n);
            if let Ok(p) = frame::open(f) {
                payload(p);
            }
        }
    }
    let mut whole = data.to_vec();
    if let Ok(p) = frame::open(&mut whole) {
        payload(p);
    }
    payload(data);
});
