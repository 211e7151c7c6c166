//! Bad bundles: every one is a typed error, none a panic.

mod bundle_common;
use bundle_common::*;

use m3rt::bundle::layout::{TensorRecord, RECORD_LEN};
use m3rt::bundle::{Bundle, Dtype};
use m3rt::model::{Hyper, PostProcess};
use m3rt::Error;

/// Section bounds of the tiny bundle (see `tiny_bundle_bytes_are_pinned`).
const HEADER: std::ops::Range<usize> = 40..91;
const TABLE: std::ops::Range<usize> = 96..1016;
const WEIGHTS: std::ops::Range<usize> = 1024..2628;

fn parse(bytes: &[u8]) -> Result<(), Error> {
    Bundle::parse(&aligned(bytes)).map(|_| ())
}

/// Applies `f` to tensor record `i` of the tiny bundle, re-CRCs it and parses it.
fn patch_record(i: usize, f: impl FnOnce(&mut TensorRecord)) -> Result<(), Error> {
    let mut bytes = tiny_bundle();
    let at = TABLE.start + i * RECORD_LEN;
    let mut r = TensorRecord::read(&bytes[TABLE], i as u32).unwrap();
    f(&mut r);
    bytes[at..at + RECORD_LEN].copy_from_slice(&r.to_bytes());
    recrc(&mut bytes);
    parse(&bytes)
}

/// Patches the tiny bundle's bytes, re-CRCs them and parses them.
fn patch(f: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
    let mut bytes = tiny_bundle();
    f(&mut bytes);
    recrc(&mut bytes);
    parse(&bytes)
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = tiny_bundle();
    parse(&bytes).unwrap();
    for n in 0..bytes.len() {
        let needed = if n < 40 { 40 } else { bytes.len() as u64 };
        assert_eq!(parse(&bytes[..n]), Err(Error::Truncated { needed, have: n as u64 }), "length {n}");
    }
}

#[test]
fn every_flipped_byte_is_caught_by_the_crc_of_its_part() {
    let bytes = tiny_bundle();
    for (range, part) in [(HEADER, "header"), (TABLE, "tensor table"), (WEIGHTS, "weights")] {
        for at in range {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            let err = parse(&bad).unwrap_err();
            assert!(matches!(err, Error::CrcMismatch { part: p, .. } if p == part), "byte {at}: {err:?}");
        }
    }
}

#[test]
fn bad_preambles() {
    let bytes = tiny_bundle();
    let with = |at: usize, v: u8| {
        let mut b = bytes.clone();
        b[at] = v;
        parse(&b)
    };
    assert_eq!(with(0, b'm'), Err(Error::BadMagic));
    assert_eq!(with(8, 2), Err(Error::UnsupportedVersion { found: 2, supported: 1 }));
    assert_eq!(with(9, 1), Err(Error::UnsupportedVersion { found: 257, supported: 1 }));
    assert!(matches!(with(10, 1), Err(Error::Malformed { .. })), "flags");
    assert!(matches!(with(93, 1), Err(Error::Malformed { what: "padding between sections (must be zero)" })));
    assert!(matches!(with(1020, 1), Err(Error::Malformed { what: "padding between sections (must be zero)" })));
    // A weight length past the end of the bytes, or past the address space.
    assert_eq!(with(33, 0x07), Err(Error::Truncated { needed: 1024 + 0x744, have: 2628 }));
    assert!(matches!(with(39, 0xFF), Err(Error::Malformed { .. } | Error::Truncated { .. })));
    // A table length that is not a whole number of records.
    let mut b = bytes.clone();
    b[20] = 0x97;
    recrc(&mut b);
    assert!(matches!(parse(&b), Err(Error::Inconsistent { .. })));
}

#[test]
fn bad_headers() {
    // heads 1 → 3: D = 2 is not a multiple.
    assert_eq!(patch(|b| b[HEADER.start + 6] = 3), Err(Error::BadHyper { field: "heads" }));
    assert_eq!(patch(|b| b[HEADER.start + 12] = 9), Err(Error::Malformed { what: "head kind code" }));
    assert_eq!(patch(|b| b[HEADER.start + 47] = 9), Err(Error::Malformed { what: "post-process code" }));
    // out_channels 1 → 9: the last head conv no longer has its task's shape.
    assert_eq!(patch(|b| b[HEADER.start + 46] = 9), Err(Error::TensorShape { index: 21 }));
    let count = Error::Inconsistent { what: "tensor count differs from the model's" };
    assert_eq!(patch(|b| b[HEADER.start + 48] = 0x16), Err(count));
    // hyper.tasks 2, task table of 1; a task table of 2 that runs into the fields after it.
    let tasks = Error::Inconsistent { what: "task table length differs from hyper.tasks" };
    assert_eq!(patch(|b| b[HEADER.start + 42] = 2), Err(tasks));
    assert_eq!(patch(|b| b[HEADER.start + 43] = 2), Err(Error::Malformed { what: "header" }));
    // A task table of 17 (more than MAX_TASKS) is refused while decoding.
    assert_eq!(patch(|b| b[HEADER.start + 43] = 17), Err(Error::Malformed { what: "header" }));
    // scratch_floats 0: the header loses its last byte, so the table still starts at 96.
    let scratch = Error::Inconsistent { what: "scratch_floats is 0 or too large for this target" };
    assert_eq!(
        patch(|b| {
            (b[89], b[90], b[12]) = (0, 0, 50);
        }),
        Err(scratch)
    );
    // One byte too many in the header.
    let trailing = Error::Malformed { what: "header (bytes after its last field)" };
    assert_eq!(patch(|b| b[12] = 52), Err(trailing));
}

#[test]
fn duplicate_task_names_in_a_header() {
    let h = Hyper { tasks: 2, ..tiny_hyper() };
    let tasks = [("a", 1, PostProcess::Raw), ("b", 1, PostProcess::Raw)];
    let mut bytes = build(&h, &tasks, Dtype::F32, simple_values);
    let at = bytes.windows(4).position(|w| w == [0x01, b'b', 0x01, 0x00]).unwrap() + 1;
    bytes[at] = b'a';
    recrc(&mut bytes);
    assert_eq!(parse(&bytes), Err(Error::Inconsistent { what: "duplicate task name" }));
    bytes[at] = 0xFF; // not UTF-8
    recrc(&mut bytes);
    assert_eq!(parse(&bytes), Err(Error::Malformed { what: "header" }));
}

#[test]
fn bad_tensor_records() {
    assert_eq!(patch_record(1, |r| r.dims[0] = 3), Err(Error::TensorShape { index: 1 }));
    assert_eq!(patch_record(1, |r| r.rank = 2), Err(Error::TensorShape { index: 1 }));
    assert_eq!(patch_record(1, |r| r.rank = 0), Err(Error::TensorShape { index: 1 }));
    assert_eq!(patch_record(0, |r| r.dtype = 7), Err(Error::UnsupportedDtype { code: 7 }));
    let order = Error::Inconsistent { what: "tensor table not in canonical order" };
    assert_eq!(patch_record(3, |r| r.index = 4), Err(order));
    assert!(matches!(patch_record(0, |r| r.reserved = 1), Err(Error::Malformed { .. })));
    let length = Error::Inconsistent { what: "tensor byte length differs from its shape" };
    assert_eq!(patch_record(0, |r| r.len = 92), Err(length));
    assert_eq!(patch_record(0, |r| r.dtype = 1), Err(length));
    let oob = Error::Inconsistent { what: "tensor data out of bounds" };
    assert_eq!(patch_record(22, |r| r.offset = 4096), Err(oob));
    assert_eq!(patch_record(22, |r| r.offset = u64::MAX - 63), Err(oob));
    let misaligned = Error::Misaligned { what: "tensor offset", align: 64 };
    assert_eq!(patch_record(5, |r| r.offset += 4), Err(misaligned));
    let overlap = Error::Inconsistent { what: "tensor data overlaps the previous tensor or the tensor table" };
    assert_eq!(patch_record(5, |r| r.offset -= 64), Err(overlap));
    assert_eq!(patch_record(0, |r| r.offset = 960), Err(overlap));
}

#[test]
fn misaligned_base_addresses() {
    for (dtype, align) in [(Dtype::F32, 4), (Dtype::F16, 2)] {
        let bytes = build(&tiny_hyper(), TINY_TASKS, dtype, simple_values);
        for shift in 1..8 {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(&bytes);
            let buf = aligned(&shifted);
            let got = Bundle::parse(&buf[shift..]).map(|b| b.total_bytes());
            if shift % align == 0 {
                assert_eq!(got, Ok(bytes.len()), "{dtype:?} at +{shift}");
            } else {
                assert_eq!(got, Err(Error::Misaligned { what: "bundle bytes", align }), "{dtype:?} at +{shift}");
            }
        }
    }
}

#[test]
fn unknown_task() {
    let buf = aligned(&tiny_bundle());
    let b = Bundle::parse(&buf).unwrap();
    assert_eq!(b.task(1), Err(Error::UnknownTask { task: 1, tasks: 1 }));
    assert_eq!(b.task_index("depth"), Err(Error::UnknownTask { task: u32::MAX, tasks: 1 }));
    assert_eq!(b.task_index("d"), Ok(0));
}
