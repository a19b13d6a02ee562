//! Decimal digits two at a time, for the numbers the file writer prints per value and the
//! clock's microseconds: plain arithmetic that `format` and `clock` both use (kept apart so
//! neither depends on the other for it).

/// `00` to `99`, two digits at a time.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The two digits of `v` (below 100).
#[inline(always)]
pub(crate) fn pair(v: u32) -> [u8; 2] {
    let r = v as usize % 100 * 2;
    [PAIRS[r], PAIRS[r + 1]]
}

/// Writes the decimal digits of `v` at the end of `b` (20 bytes hold `u64::MAX`); returns
/// where they start.
#[inline(always)]
pub(crate) fn u64_digits(b: &mut [u8; 20], mut v: u64) -> usize {
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
