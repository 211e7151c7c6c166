//! Integer helpers shared by every fixed-point kernel (`docs/fixed-point.md`, "Notation"). All arithmetic
//! wraps modulo 2^64, as the C++ of the IP does on `uint64_t`.

/// `wrap_W(x)`: the low `w` bits of `x`, sign-extended (`1 ≤ w ≤ 64`).
#[inline(always)]
pub const fn wrap(x: i64, w: u32) -> i64 {
    let unused = 64 - w;
    (x << unused) >> unused
}

/// An activation from a 64-bit value: `wrap_Wa(x)` as an i32 (`Wa ≤ 32`).
#[inline(always)]
pub const fn to_act(x: i64, wa: u32) -> i32 {
    wrap(x, wa) as i32
}

/// The largest integer `≤ a / b`, for `b > 0` (0 for `b ≤ 0`, which no kernel passes).
#[inline(always)]
pub const fn floor_div(a: i64, b: i64) -> i64 {
    if b <= 0 {
        return 0;
    }
    a.div_euclid(b)
}

/// The largest `s` with `s² ≤ n` (0 for `n ≤ 0`), digit by digit, as hardware computes it.
pub const fn isqrt(n: i64) -> i64 {
    if n <= 0 {
        return 0;
    }
    let mut rem = n as u64;
    let mut root = 0u64;
    // The highest power of four not above n.
    let mut bit = 1u64 << ((63 - rem.leading_zeros()) & !1);
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_by_hand() {
        assert_eq!(wrap(0x1_8000_0000, 32), -0x8000_0000);
        assert_eq!(wrap(-1, 8), -1);
        assert_eq!(wrap(200, 8), -56);
        assert_eq!(floor_div(-7, 2), -4);
        assert_eq!(floor_div(7, 2), 3);
        assert_eq!(floor_div(-8, 2), -4);
        for (n, s) in [(0, 0), (1, 1), (3, 1), (4, 2), (99, 9), (100, 10), (i64::MAX, 3_037_000_499)] {
            assert_eq!(isqrt(n), s, "isqrt({n})");
        }
        for n in 0..5000i64 {
            let s = isqrt(n);
            assert!(s * s <= n && (s + 1) * (s + 1) > n);
        }
    }
}
