//! Numbers as JSON: floats (a fast path for the common short decimals, `ryu` past it; NaN and
//! infinities as strings) and integers (`itoa`, and the file writer's inlined `u64` / `i64`);
//! decimal digits two at a time, for those integers and the timestamps' fields.

use super::json::{SHORT, put_padded};

/// Appends a float as a JSON number; NaN and infinities, which JSON cannot express, become the
/// strings `"NaN"`, `"inf"` and `"-inf"` so that the information survives and the line stays valid.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    write_f64_inlined(out, v)
}

/// [`write_f64`] inlined, its general path not: for the file writer, one call per float
/// less (its fast path is about the cost of the call and its register saves).
#[inline(always)]
pub(crate) fn write_f64_inlined(out: &mut Vec<u8>, v: f64) {
    if !write_short_f64(out, v) {
        write_other_f64(out, v);
    }
}

/// [`write_f64`] past its fast path (kept out of line: the fast path is inlined).
#[inline(never)]
fn write_other_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let mut b = ryu::Buffer::new();
        out.extend_from_slice(b.format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

/// Powers of ten, each exact in an `f64`.
const POW10: [f64; 5] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0];

/// The fast path of [`write_f64`] for the common floats with at most four decimals and a
/// magnitude in `[1e-4, 1e15)` (`0.5`, `12.25`, `3.0`): writes exactly what `ryu` writes, without
/// its general shortest-digits search, or returns false.
///
/// Why it is exact: for `|v·10^k| < 2^50` an integer `m` with `m/10^k` parsing back to `v` can
/// only be `round(v·10^k)`, and `m as f64 / 10^k` is the correctly rounded quotient, i.e. the
/// parse; so the smallest such `k` gives the fewest significant digits, which is what `ryu`
/// prints, and in this range it prints them positionally (`0.0005`, `123.0`, `12.25`).
///
/// `round` (half away from zero) is done without libm's `round()`: the scaled value `s` is
/// positive and below `2^50`, so its truncation `t = s as i64` is exact, and so is `s - t`
/// (`t <= s < 2t` for `s >= 1`, Sterbenz; `t = 0` below 1), hence `round(s)` is exactly
/// `t + (s - t >= 0.5)`.
#[inline(always)]
fn write_short_f64(out: &mut Vec<u8>, v: f64) -> bool {
    let a = v.abs();
    if !(1e-4..1e15).contains(&a) {
        return false;
    }
    for (k, p) in POW10.iter().enumerate() {
        let scaled = a * p;
        if scaled >= (1u64 << 50) as f64 {
            return false;
        }
        // `i64`, not `u64`: x86_64 converts floats to and from signed integers in one
        // instruction, but has no unsigned conversion.
        let t = scaled as i64;
        let m = t + i64::from(scaled - t as f64 >= 0.5);
        if m as f64 / p != a {
            continue;
        }
        let m = m as u64;
        // Right to left into one buffer: `k` decimals (zeros where `m` has fewer digits),
        // the point, the integer part (at least one digit; `.0` when `k` is 0), the sign.
        // At most 16 digits (`m < 2^50`), the point, one more `0` and the sign.
        let mut b = [b'0'; 24 + SHORT];
        let mut i = 24;
        let mut m = m;
        if k == 0 {
            i -= 1;
        } else {
            for _ in 0..k {
                i -= 1;
                b[i] = b'0' + (m % 10) as u8;
                m /= 10;
            }
        }
        i -= 1;
        b[i] = b'.';
        loop {
            i -= 1;
            b[i] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        if v < 0.0 {
            i -= 1;
            b[i] = b'-';
        }
        put_padded(out, &b[i..], 24 - i);
        return true;
    }
    false
}

/// Appends an integer.
pub(crate) fn write_int<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

/// [`write_int`] for a `u64` (the file writer's, per value): the same digits, two at a time
/// right to left into one buffer, inlined (`itoa`'s call and buffer cost about twice as
/// much for the short numbers logs hold).
#[inline(always)]
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut b = [0u8; 20 + SHORT];
    let i = u64_digits((&mut b[..20]).try_into().expect("20 bytes"), v);
    put_padded(out, &b[i..], 20 - i);
}

/// [`write_u64`] for an `i64`.
#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut b = [0u8; 21 + SHORT];
    let mut i = u64_digits(
        (&mut b[1..21]).try_into().expect("20 bytes"),
        v.unsigned_abs(),
    ) + 1;
    if v < 0 {
        i -= 1;
        b[i] = b'-';
    }
    put_padded(out, &b[i..], 21 - i);
}

/// `00` to `99`, two digits at a time.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The two digits of `v` (below 100).
#[inline(always)]
pub(super) fn pair(v: u32) -> [u8; 2] {
    let r = v as usize % 100 * 2;
    [PAIRS[r], PAIRS[r + 1]]
}

/// Writes the decimal digits of `v` at the end of `b` (20 bytes hold `u64::MAX`); returns
/// where they start.
#[inline(always)]
pub(super) fn u64_digits(b: &mut [u8; 20], mut v: u64) -> usize {
    let mut i = b.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        b[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        b[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    } else {
        i -= 1;
        b[i] = b'0' + v as u8;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path writes exactly what `ryu` writes, wherever it answers.
    #[test]
    fn short_floats_match_ryu() {
        let mut rng = fastrand::Rng::with_seed(13);
        let check = |v: f64| {
            let mut fast = Vec::new();
            if write_short_f64(&mut fast, v) {
                let mut b = ryu::Buffer::new();
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    b.format_finite(v),
                    "{v:e}"
                );
            }
        };
        for v in [
            0.5,
            12.25,
            3.0,
            -0.75,
            1e-4,
            0.0001234,
            999999999999999.9,
            0.1,
            0.3,
            1e15,
            0.25,
            2.5,
            0.0625,
            99999.99995,
            5e-5,
            0.1 + 0.2,
            1e300,
            123456789012345.6,
            0.0,
        ] {
            check(v);
            check(-v);
        }
        // The fast path answers where it should (its domain: at most four decimals).
        for (v, s) in [
            (0.5, "0.5"),
            (-0.75, "-0.75"),
            (12.25, "12.25"),
            (3.0, "3.0"),
            (-3.0, "-3.0"),
            (0.0001, "0.0001"),
            (0.1, "0.1"),
            (2.5, "2.5"),
            (100.0, "100.0"),
            (123456.789, "123456.789"),
            (112589990684.2623, "112589990684.2623"),
        ] {
            let mut fast = Vec::new();
            assert!(write_short_f64(&mut fast, v), "{v}");
            assert_eq!(String::from_utf8(fast).unwrap(), s);
        }
        for v in [5e-5, 0.1 + 0.2, 1e300, 0.0, -0.0, 0.00012345, 1e15] {
            assert!(!write_short_f64(&mut Vec::new(), v), "{v}");
        }
        for _ in 0..200_000 {
            let bits = rng.u32(1..52);
            let digits = rng.u64(..1 << bits);
            let k = rng.i32(-6..8);
            check(digits as f64 / 10f64.powi(k));
            check(f64::from_bits(rng.u64(..)));
            check(rng.f64() * 10f64.powi(rng.i32(-5..16)));
        }
    }

    /// The writer's integers are `itoa`'s digits.
    #[test]
    fn integers_match_itoa() {
        let mut rng = fastrand::Rng::with_seed(7);
        let check = |u: u64, i: i64| {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            write_u64(&mut a, u);
            write_int(&mut b, u);
            assert_eq!(a, b);
            a.clear();
            b.clear();
            write_i64(&mut a, i);
            write_int(&mut b, i);
            assert_eq!(a, b);
        };
        for p in 0..20 {
            let t = 10u64.pow(p);
            for u in [t - 1, t, t + 1] {
                check(u, u as i64);
                check(u, -(u as i64));
            }
        }
        check(u64::MAX, i64::MIN);
        check(0, i64::MAX);
        for _ in 0..100_000 {
            let u = rng.u64(..) >> rng.u32(0..64);
            check(u, u as i64);
        }
    }

    #[test]
    fn non_finite_floats_stay_valid_json() {
        for (v, s) in [
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"inf\""),
            (f64::NEG_INFINITY, "\"-inf\""),
            (1.5, "1.5"),
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), s);
        }
    }
}
