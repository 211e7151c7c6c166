//! Bad quantized bundles: every rule of "Quantized bundles" (docs/bundle-format.md) refused with a typed
//! error, none a panic.

mod bundle_common;
use bundle_common::*;

use m3rt::bundle::layout::{Preamble, TensorRecord, RECORD_LEN};
use m3rt::bundle::{quantize, Bundle, Dtype};
use m3rt::fixed::{Profile, WeightMode};
use m3rt::Error;

const PER_TENSOR: Profile = Profile { weights: WeightMode::Int8PerTensor, ..Profile::INT8 };

/// Canonical indices in the tiny model: PatchW (a matrix), PatchB (a vector), HeadConvW 1 (`[1, 2, 1, 1]`,
/// two values then two padding bytes before its scale).
const PATCH_W: usize = 0;
const PATCH_B: usize = 1;
const HEAD_1X1: usize = 21;

fn tiny(profile: Profile) -> Vec<u8> {
    let f32_bytes = aligned(&tiny_bundle());
    quantize(&Bundle::parse(&f32_bytes).unwrap(), profile).unwrap().0
}

fn parse(bytes: &[u8]) -> Result<(), Error> {
    Bundle::parse(&aligned(bytes)).map(|_| ())
}

fn header_end(bytes: &[u8]) -> usize {
    Preamble::read(bytes).unwrap().sections().unwrap().header.end
}

fn table_start(bytes: &[u8]) -> usize {
    Preamble::read(bytes).unwrap().sections().unwrap().table.start
}

/// Patches `bytes`, re-CRCs them and parses them.
fn patched(mut bytes: Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
    f(&mut bytes);
    recrc(&mut bytes);
    parse(&bytes)
}

/// Patches record `i` of `bytes`, re-CRCs them and parses them.
fn patch_record(bytes: Vec<u8>, i: usize, f: impl FnOnce(&mut TensorRecord)) -> Result<(), Error> {
    let at = table_start(&bytes) + i * RECORD_LEN;
    patched(bytes, |b| {
        let mut r = TensorRecord::read(&b[at..], 0).unwrap();
        f(&mut r);
        b[at..at + RECORD_LEN].copy_from_slice(&r.to_bytes());
    })
}

/// The offset of tensor `i`'s data.
fn data_at(bytes: &[u8], i: usize) -> usize {
    TensorRecord::read(&bytes[table_start(bytes)..], i as u32).unwrap().offset as usize
}

#[test]
fn flags() {
    let q = tiny(Profile::INT8);
    parse(&q).unwrap();
    let flags = Error::Malformed { what: "preamble flags (only bit 0 is defined in version 1)" };
    // (The preamble is not under a CRC.)
    for bit in 1..16 {
        let mut b = q.clone();
        b[10..12].copy_from_slice(&((1u16 << bit) | 1).to_le_bytes());
        assert_eq!(parse(&b), Err(flags), "bit {bit}");
    }
    // The flag on a float bundle: its header ends before the profile would start.
    let profile = Error::Malformed { what: "header (profile of a quantized bundle)" };
    assert_eq!(patched(tiny_bundle(), |b| b[10] = 1), Err(profile));
    // The flag cleared on a quantized bundle: the profile is bytes after the header's last field.
    let trailing = Error::Malformed { what: "header (bytes after its last field)" };
    assert_eq!(patched(q, |b| b[10] = 0), Err(trailing));
}

#[test]
fn bad_profiles() {
    let q = tiny(Profile::INT8);
    let p = header_end(&q) - 19;
    let mode = Error::BadProfile { what: "unknown weight mode code" };
    assert_eq!(patched(q.clone(), |b| b[p] = 3), Err(mode));
    let bad_bool = Error::Malformed { what: "header (profile of a quantized bundle)" };
    assert_eq!(patched(q.clone(), |b| b[p + 3] = 2), Err(bad_bool), "act.signed = 2");
    // act width 40; act unsigned; bias with more fraction bits than the activations; a signed pixel.
    for (at, v) in [(1, 40), (3, 0), (11, 0xF0), (18, 1), (4, 17)] {
        let got = patched(q.clone(), |b| b[p + at] = v);
        assert!(matches!(got, Err(Error::BadProfile { .. })), "profile byte {at} = {v}: {got:?}");
    }
    // The profile cut short: the header ends inside it.
    let short = patched(q.clone(), |b| b[12] -= 1);
    assert!(matches!(short, Err(Error::Malformed { .. } | Error::CrcMismatch { .. })), "{short:?}");
    // A valid other profile (per tensor) under per-channel data: the scale counts no longer match.
    let length = Error::Inconsistent { what: "tensor byte length differs from its shape" };
    assert_eq!(patched(q, |b| b[p] = 1), Err(length));
}

#[test]
fn types_the_profile_does_not_allow() {
    let (fixed, int8, float) = (tiny(Profile::EDGE_MOE), tiny(Profile::INT8), tiny_bundle());
    let wrong = |index: u32, code: u8| Err(Error::WrongDtype { index, code });
    // Without the flag: no Q16 or Q8.
    assert_eq!(patch_record(float.clone(), PATCH_B, |r| (r.dtype, r.len) = (2, 4)), wrong(1, 2));
    assert_eq!(patch_record(float, PATCH_W, |r| r.dtype = 3), wrong(0, 3));
    // fixed16: everything Q16; no f32, f16 or Q8.
    for code in [0, 1, 3] {
        assert_eq!(patch_record(fixed.clone(), PATCH_W, |r| r.dtype = code), wrong(0, code), "code {code}");
    }
    // int8: matrices Q8, vectors Q16.
    assert_eq!(patch_record(int8.clone(), PATCH_W, |r| r.dtype = 2), wrong(0, 2));
    assert_eq!(patch_record(int8.clone(), PATCH_B, |r| r.dtype = 3), wrong(1, 3));
    assert_eq!(patch_record(int8.clone(), PATCH_B, |r| r.dtype = 0), wrong(1, 0));
    assert_eq!(patch_record(int8, PATCH_W, |r| r.dtype = 9), Err(Error::UnsupportedDtype { code: 9 }));
}

#[test]
fn bad_lengths_padding_and_scales() {
    let q = tiny(Profile::INT8);
    let length = Error::Inconsistent { what: "tensor byte length differs from its shape" };
    // [1, 2, 1, 1]: len = align4(2) + 4 · 1 = 8.
    for len in [6, 7, 9, 12] {
        assert_eq!(patch_record(q.clone(), HEAD_1X1, |r| r.len = len), Err(length), "len {len}");
    }
    assert_eq!(patch_record(tiny(Profile::EDGE_MOE), PATCH_B, |r| r.len = 6), Err(length));
    let at = data_at(&q, HEAD_1X1);
    let pad = Error::Malformed { what: "int8 tensor (padding before its scales must be zero)" };
    assert_eq!(patched(q.clone(), |b| b[at + 2] = 1), Err(pad));
    assert_eq!(patched(q.clone(), |b| b[at + 3] = 0x80), Err(pad));
    // The scale word: bits 24..32 reserved, shift (bits 16..24) at most 63.
    assert_eq!(patched(q.clone(), |b| b[at + 7] = 1), Err(Error::BadScale { index: 21, scale: 0 }));
    assert_eq!(patched(q.clone(), |b| b[at + 6] = 64), Err(Error::BadScale { index: 21, scale: 0 }));
    assert_eq!(patched(q.clone(), |b| b[at + 6] = 63), Ok(()));
    // PatchW [2, 3, 2, 2] per channel: 24 values, then scales 0 and 1.
    let at = data_at(&q, PATCH_W);
    assert_eq!(patched(q.clone(), |b| b[at + 24 + 4 + 3] = 0xFF), Err(Error::BadScale { index: 0, scale: 1 }));
    // Values may be any i8 (the quantizer writes −127..=127).
    assert_eq!(patched(q, |b| b[at] = 0x80), Ok(()));
    let t = tiny(PER_TENSOR);
    let at = data_at(&t, PATCH_W);
    assert_eq!(patched(t, |b| b[at + 24 + 2] = 0x40), Err(Error::BadScale { index: 0, scale: 0 }));
}

#[test]
fn truncations_flips_and_alignment() {
    for (profile, align) in [(Profile::EDGE_MOE, 2), (Profile::INT8, 4), (PER_TENSOR, 4)] {
        let bytes = tiny(profile);
        for n in (0..bytes.len()).step_by(7) {
            let needed = if n < 40 { 40 } else { bytes.len() as u64 };
            assert_eq!(parse(&bytes[..n]), Err(Error::Truncated { needed, have: n as u64 }), "length {n}");
        }
        let s = Preamble::read(&bytes).unwrap().sections().unwrap();
        for (range, part) in [(s.header, "header"), (s.table, "tensor table"), (s.weights, "weights")] {
            for at in range.step_by(5) {
                let mut bad = bytes.clone();
                bad[at] ^= 0x04;
                let err = parse(&bad).unwrap_err();
                assert!(matches!(err, Error::CrcMismatch { part: p, .. } if p == part), "byte {at}: {err:?}");
            }
        }
        for shift in 1..8 {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(&bytes);
            let buf = aligned(&shifted);
            let got = Bundle::parse(&buf[shift..]).map(|b| b.total_bytes());
            let want = if shift % align == 0 {
                Ok(bytes.len())
            } else {
                Err(Error::Misaligned { what: "bundle bytes", align })
            };
            assert_eq!(got, want, "{profile:?} at +{shift}");
        }
    }
    // Dtype::align is what the reader needs.
    assert_eq!([Dtype::F32, Dtype::F16, Dtype::Q16, Dtype::Q8].map(Dtype::align), [4, 2, 2, 4]);
}
