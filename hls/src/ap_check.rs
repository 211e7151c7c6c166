//! The C++ `ap_fixed` checker (`check/`, C API in `check/ap_check.h`): the real `ap_fixed` / `ap_ufixed`
//! (AP_TRN, AP_WRAP) of the `ap_types` headers, built by `build.rs`, so that `m3rt::fixed` can be compared
//! with them bit for bit.
//!
//! Formats are template arguments in C++, so the checker has a fixed table of them ([`formats`]) and every
//! function takes formats as indices into it. Raw values cross the boundary as two's complement 128-bit
//! integers in two 64-bit halves; results carry the format of their C++ type. Every function returns `None`
//! for an index out of range.

use m3rt::fixed::Format;

/// `M3rtApFormat`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawFormat {
    width: i32,
    int_bits: i32,
    is_signed: i32,
}

/// `M3rtApValue`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawValue {
    lo: u64,
    hi: u64,
    format: RawFormat,
}

unsafe extern "C" {
    fn m3rt_ap_format_count() -> usize;
    fn m3rt_ap_format(i: usize, out: *mut RawFormat) -> i32;
    fn m3rt_ap_from_double(i: usize, v: f64, out: *mut RawValue) -> i32;
    fn m3rt_ap_to_double(i: usize, lo: u64, hi: u64, out: *mut f64) -> i32;
    fn m3rt_ap_cast(i: usize, lo: u64, hi: u64, k: usize, out: *mut RawValue) -> i32;
    fn m3rt_ap_add(i: usize, a_lo: u64, a_hi: u64, j: usize, b_lo: u64, b_hi: u64, out: *mut RawValue) -> i32;
    fn m3rt_ap_sub(i: usize, a_lo: u64, a_hi: u64, j: usize, b_lo: u64, b_hi: u64, out: *mut RawValue) -> i32;
    fn m3rt_ap_mul(i: usize, a_lo: u64, a_hi: u64, j: usize, b_lo: u64, b_hi: u64, out: *mut RawValue) -> i32;
}

/// A value computed by the C++ `ap_fixed`: its raw bits (sign-extended when signed) and the format of its
/// C++ type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApValue {
    /// The raw integer: the value is `raw · 2^-(W - I)`.
    pub raw: i128,
    /// `W`, `I` and the signedness of the C++ type.
    pub format: Format,
}

type Binary = unsafe extern "C" fn(usize, u64, u64, usize, u64, u64, *mut RawValue) -> i32;

fn halves(raw: i128) -> (u64, u64) {
    let bits = raw as u128;
    (bits as u64, (bits >> 64) as u64)
}

fn format(f: RawFormat) -> Format {
    let width = u8::try_from(f.width).unwrap_or_else(|_| panic!("C++ width {} out of Format's range", f.width));
    let int = i8::try_from(f.int_bits).unwrap_or_else(|_| panic!("C++ I {} out of Format's range", f.int_bits));
    Format { width, int, signed: f.is_signed != 0 }
}

fn value(v: RawValue) -> ApValue {
    ApValue { raw: ((u128::from(v.hi) << 64) | u128::from(v.lo)) as i128, format: format(v.format) }
}

/// The number of formats in the checker's table.
pub fn format_count() -> usize {
    // Safety: a pure function of no arguments; it reads and writes no memory of ours.
    unsafe { m3rt_ap_format_count() }
}

/// The checker's formats: `formats()[i]` is the format of index `i` in every other function.
pub fn formats() -> Vec<Format> {
    (0..format_count())
        .map(|i| {
            let mut out = RawFormat::default();
            // Safety: `out` is a live, writable `M3rtApFormat` (same `repr(C)` layout), the only memory the
            // call writes; `i < format_count()`, and the C++ side checks it anyway.
            let status = unsafe { m3rt_ap_format(i, &mut out) };
            assert_eq!(status, 0, "format {i} of {}", format_count());
            format(out)
        })
        .collect()
}

/// `ap_fixed`'s constructor from `double`: `v` converted into format `i`.
pub fn from_f64(i: usize, v: f64) -> Option<ApValue> {
    let mut out = RawValue::default();
    // Safety: `out` is a live, writable `M3rtApValue`, the only memory the call writes; a bad index is
    // refused by the C++ side (non-zero status) before anything is written.
    let status = unsafe { m3rt_ap_from_double(i, v, &mut out) };
    (status == 0).then(|| value(out))
}

/// `to_double()` of the value of format `i` whose raw bits are the low `W` bits of `raw`.
pub fn to_f64(i: usize, raw: i128) -> Option<f64> {
    let (lo, hi) = halves(raw);
    let mut out = 0.0;
    // Safety: `out` is a live, writable `f64`, the only memory the call writes; a bad index is refused.
    let status = unsafe { m3rt_ap_to_double(i, lo, hi, &mut out) };
    (status == 0).then_some(out)
}

/// The value of format `i` with raw bits `raw` (its low `W` bits), assigned to a variable of format `k`.
pub fn cast(i: usize, raw: i128, k: usize) -> Option<ApValue> {
    let (lo, hi) = halves(raw);
    let mut out = RawValue::default();
    // Safety: `out` is a live, writable `M3rtApValue`, the only memory the call writes; bad indices are
    // refused.
    let status = unsafe { m3rt_ap_cast(i, lo, hi, k, &mut out) };
    (status == 0).then(|| value(out))
}

fn binary(op: Binary, i: usize, a: i128, j: usize, b: i128) -> Option<ApValue> {
    let ((a_lo, a_hi), (b_lo, b_hi)) = (halves(a), halves(b));
    let mut out = RawValue::default();
    // Safety: `op` is one of the checker's binary functions; `out` is a live, writable `M3rtApValue`, the
    // only memory it writes; bad indices are refused.
    let status = unsafe { op(i, a_lo, a_hi, j, b_lo, b_hi, &mut out) };
    (status == 0).then(|| value(out))
}

/// `a + b` in `ap_fixed`'s result type, `a` of format `i` and `b` of format `j` (raw bits as for [`cast`]).
pub fn add(i: usize, a: i128, j: usize, b: i128) -> Option<ApValue> {
    binary(m3rt_ap_add, i, a, j, b)
}

/// `a - b`, as [`add`].
pub fn sub(i: usize, a: i128, j: usize, b: i128) -> Option<ApValue> {
    binary(m3rt_ap_sub, i, a, j, b)
}

/// `a * b`, as [`add`].
pub fn mul(i: usize, a: i128, j: usize, b: i128) -> Option<ApValue> {
    binary(m3rt_ap_mul, i, a, j, b)
}
