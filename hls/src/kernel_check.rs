//! The kernels of `docs/fixed-point.md` in C++ (`check/kernel_check.h`), for comparison with
//! `m3rt::fixed`: GELU, `exp_neg`, `rescale`, the online softmax and the linear unit, each in two
//! implementations ([`Impl`]): the IP's own native-integer code (`include/m3rt/`) and the checker's
//! formulation with `ap_fixed` / `ap_ufixed` / `ap_int` (`check/kernel_ap.cpp`).
//!
//! Both are compiled for the profile the IP is built for (`include/m3rt_profile.h`: activations `Q(32, 10)`,
//! `Fa = 22`, the tables of `include/m3rt_tables.h`). Values are raw integers, as `m3rt::fixed` keeps them.
//! Every function returns `None` for arguments outside the C side's domain (given with each function) or
//! slices shorter than the shapes say.

use m3rt::fixed::linear::Layout;

/// `M3rtSoftmax`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawSoftmax {
    max: i64,
    sum: i64,
    inv: i64,
}

unsafe extern "C" {
    fn m3rt_ip_gelu(x: i32, out: *mut i32) -> i32;
    fn m3rt_ap_gelu(x: i32, out: *mut i32) -> i32;
    fn m3rt_ip_exp_neg(x: i64, out: *mut i64) -> i32;
    fn m3rt_ap_exp_neg(x: i64, out: *mut i64) -> i32;
    fn m3rt_ip_rescale(s: i64, e: i64, out: *mut i64) -> i32;
    fn m3rt_ap_rescale(s: i64, e: i64, out: *mut i64) -> i32;
    fn m3rt_ip_softmax(v: *const i32, n: usize, state: *mut RawSoftmax, prob: *mut i32) -> i32;
    fn m3rt_ap_softmax(v: *const i32, n: usize, state: *mut RawSoftmax, prob: *mut i32) -> i32;
    fn m3rt_ip_linear16(
        a: *const i32,
        w: *const i16,
        bias: *const i16,
        rows: usize,
        k: usize,
        n: usize,
        weight_frac: i32,
        bias_frac: i32,
        out_in: i32,
        y: *mut i32,
    ) -> i32;
    fn m3rt_ap_linear16(
        a: *const i32,
        w: *const i16,
        bias: *const i16,
        rows: usize,
        k: usize,
        n: usize,
        weight_frac: i32,
        bias_frac: i32,
        y: *mut i32,
    ) -> i32;
    fn m3rt_ip_linear8(
        a: *const i32,
        q: *const i8,
        scales: *const u32,
        n_scales: usize,
        bias: *const i16,
        rows: usize,
        k: usize,
        n: usize,
        bias_frac: i32,
        out_in: i32,
        y: *mut i32,
    ) -> i32;
    fn m3rt_ap_linear8(
        a: *const i32,
        q: *const i8,
        scales: *const u32,
        n_scales: usize,
        bias: *const i16,
        rows: usize,
        k: usize,
        n: usize,
        bias_frac: i32,
        y: *mut i32,
    ) -> i32;
}

/// The longest softmax row the C side takes.
pub const MAX_ROW: usize = 1 << 20;
/// The largest `K` of the linear functions (the IP's `M3RT_MAX_K`).
pub const MAX_K: usize = 3456;
/// The largest `rows · K`, `rows · N` and `K · N` of the linear functions.
pub const MAX_WORDS: usize = 1 << 20;

/// Which C++ implementation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// The IP's own kernels: `include/m3rt/*.h` on native integers.
    Ip,
    /// The checker's `ap_fixed` formulation of the spec (`check/kernel_ap.cpp`).
    ApFixed,
}

/// Which C++ implementation of the linear unit runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearImpl {
    /// The IP's whole linear unit (`m3rt::linear`: panel loader, MAC array, epilogue `linear_out`), with the
    /// matrix stored in this layout (the functions take it `[k, n]` and store it so).
    Ip(Layout),
    /// The checker's `ap_fixed` formulation of the sum and the epilogue.
    ApFixed,
}

/// `gelu(x)` of an activation.
pub fn gelu(imp: Impl, x: i32) -> Option<i32> {
    let f = match imp {
        Impl::Ip => m3rt_ip_gelu,
        Impl::ApFixed => m3rt_ap_gelu,
    };
    let mut out = 0;
    // Safety: `out` is a live, writable i32, the only memory the call writes.
    (unsafe { f(x, &mut out) } == 0).then_some(out)
}

/// `exp_neg(x)` at F = 30 of `x ≤ 0` at F = Fa; the `ap_fixed` form takes a difference of two activations,
/// `-2^32 ≤ x ≤ 0`.
pub fn exp_neg(imp: Impl, x: i64) -> Option<i64> {
    let f = match imp {
        Impl::Ip => m3rt_ip_exp_neg,
        Impl::ApFixed => m3rt_ap_exp_neg,
    };
    let mut out = 0;
    // Safety: `out` is a live, writable i64, the only memory the call writes; the domain is checked there.
    (unsafe { f(x, &mut out) } == 0).then_some(out)
}

/// `rescale(s, e) = floor(s · e / 2^30)`, for `0 ≤ s` and `0 ≤ e ≤ 2^30`.
pub fn rescale(imp: Impl, s: i64, e: i64) -> Option<i64> {
    let f = match imp {
        Impl::Ip => m3rt_ip_rescale,
        Impl::ApFixed => m3rt_ap_rescale,
    };
    let mut out = 0;
    // Safety: `out` is a live, writable i64, the only memory the call writes; the domain is checked there.
    (unsafe { f(s, e, &mut out) } == 0).then_some(out)
}

/// The outcome of an online softmax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Softmax {
    /// The maximum, F = Fa.
    pub max: i64,
    /// The sum of `exp(v - max)`, F = 30.
    pub sum: i64,
    /// `floor(2^60 / sum)`, F = 30.
    pub inv: i64,
    /// Every `prob(j)`, F = Fa.
    pub prob: Vec<i32>,
}

/// The online softmax of `v` (`1 ≤ v.len() ≤` [`MAX_ROW`]).
pub fn softmax(imp: Impl, v: &[i32]) -> Option<Softmax> {
    let f = match imp {
        Impl::Ip => m3rt_ip_softmax,
        Impl::ApFixed => m3rt_ap_softmax,
    };
    let mut state = RawSoftmax::default();
    let mut prob = vec![0; v.len()];
    // Safety: `v` is readable for `v.len()` values and `prob` writable for as many, the lengths the call is
    // given; `state` is a live, writable `M3rtSoftmax` (same `repr(C)` layout). A bad length is refused there.
    let status = unsafe { f(v.as_ptr(), v.len(), &mut state, prob.as_mut_ptr()) };
    (status == 0).then_some(Softmax { max: state.max, sum: state.sum, inv: state.inv, prob })
}

/// A bias vector and its fraction bits (the profile's `Fb` or `Fab`).
#[derive(Clone, Copy, Debug)]
pub struct Bias<'a> {
    /// One raw value per output column.
    pub values: &'a [i16],
    /// Its fraction bits.
    pub frac: u32,
}

/// A linear unit's operands: `rows × k` activations `a`, a bias of `n` values or none.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// `[rows, k]` activations.
    pub a: &'a [i32],
    /// Rows.
    pub rows: usize,
    /// Inputs `K`.
    pub k: usize,
    /// Outputs `N`.
    pub n: usize,
    /// The bias, if any.
    pub bias: Option<Bias<'a>>,
}

impl Rows<'_> {
    /// Whether the slices hold the shapes (so the C side reads only inside them).
    fn fits(&self, weights: usize) -> bool {
        let (r, k, n) = (self.rows, self.k, self.n);
        let shape = r.checked_mul(k).zip(k.checked_mul(n)).zip(r.checked_mul(n));
        let Some(((rk, kn), _)) = shape else { return false };
        self.a.len() >= rk && weights >= kn && self.bias.is_none_or(|b| b.values.len() >= n)
    }

    fn bias_parts(&self) -> (*const i16, i32) {
        match self.bias {
            Some(b) => (b.values.as_ptr(), i32::try_from(b.frac).unwrap_or(-1)),
            None => (std::ptr::null(), -1),
        }
    }
}

fn out_in(layout: Layout) -> i32 {
    i32::from(layout == Layout::OutIn)
}

/// The linear unit with 16-bit weights `w` (`[k, n]`, `weight_frac` fraction bits: the profile's `Fw` or
/// `Fpw`): `[rows, n]` outputs. `1 ≤ k ≤` [`MAX_K`], shapes up to [`MAX_WORDS`].
pub fn linear16(imp: LinearImpl, x: &Rows<'_>, w: &[i16], weight_frac: u32) -> Option<Vec<i32>> {
    if !x.fits(w.len()) {
        return None;
    }
    let mut y = vec![0; x.rows.checked_mul(x.n)?];
    let (bias, bias_frac) = x.bias_parts();
    let weight_frac = i32::try_from(weight_frac).ok()?;
    let (a, w, yp) = (x.a.as_ptr(), w.as_ptr(), y.as_mut_ptr());
    // Safety: `fits` checked that `a`, `w` and the bias hold `rows·k`, `k·n` and `n` values, and `y` holds
    // `rows·n`: the C side reads and writes only those (a null bias is none). Bad shapes and formats are
    // refused there before anything is written.
    let status = unsafe {
        match imp {
            LinearImpl::Ip(layout) => {
                m3rt_ip_linear16(a, w, bias, x.rows, x.k, x.n, weight_frac, bias_frac, out_in(layout), yp)
            }
            LinearImpl::ApFixed => m3rt_ap_linear16(a, w, bias, x.rows, x.k, x.n, weight_frac, bias_frac, yp),
        }
    };
    (status == 0).then_some(y)
}

/// The linear unit with int8 weights `q` (`[k, n]`) and scale words `scales` (`mantissa | shift << 16`,
/// shift `≤ 63`; one for the whole matrix, or one per output column): `[rows, n]` outputs.
pub fn linear8(imp: LinearImpl, x: &Rows<'_>, q: &[i8], scales: &[u32]) -> Option<Vec<i32>> {
    if !x.fits(q.len()) || (scales.len() != 1 && scales.len() != x.n) {
        return None;
    }
    let mut y = vec![0; x.rows.checked_mul(x.n)?];
    let (bias, bias_frac) = x.bias_parts();
    let (a, q, s, ns, yp) = (x.a.as_ptr(), q.as_ptr(), scales.as_ptr(), scales.len(), y.as_mut_ptr());
    // Safety: as `linear16`; `scales` holds `ns` words, the count the call is given.
    let status = unsafe {
        match imp {
            LinearImpl::Ip(layout) => {
                m3rt_ip_linear8(a, q, s, ns, bias, x.rows, x.k, x.n, bias_frac, out_in(layout), yp)
            }
            LinearImpl::ApFixed => m3rt_ap_linear8(a, q, s, ns, bias, x.rows, x.k, x.n, bias_frac, yp),
        }
    };
    (status == 0).then_some(y)
}
