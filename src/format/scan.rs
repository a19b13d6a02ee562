//! Byte scans of the JSON escaper (`super::json`): which bytes need a look, found a word (SWAR)
//! or a 16-byte block (SSE2, in the x86_64 baseline) at a time, since most text needs none.

/// True for the bytes that need a look: ASCII controls, `"`, `\`, DEL, 0xC2 (the lead byte of
/// every C1 control's UTF-8 form) and 0xE2 (that of U+2028 and U+2029).
#[inline]
pub(crate) fn special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f || b == 0xc2 || b == 0xe2
}

/// Bytes per word of the [`word_is_plain`] scan.
pub(crate) const WORD: usize = 8;
const ONES: u64 = u64::from_ne_bytes([0x01; WORD]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; WORD]);

/// Whether any byte of `w` equals `b` (the classic SWAR zero-byte test on `w ^ b…b`, which
/// has no false positives when only asking "any?").
#[inline(always)]
fn has_byte(w: u64, b: u8) -> bool {
    let x = w ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// True when none of the 8 bytes of `w` is [`special`]: most text is plain, so the escaper
/// skips it a word at a time instead of testing six conditions per byte.
#[inline(always)]
pub(crate) fn word_is_plain(w: u64) -> bool {
    // Bytes below 0x20: subtracting 0x20 borrows into the high bit only for them (or for
    // bytes already >= 0x80, which `!w` masks out).
    let ctl = w.wrapping_sub(ONES * 0x20) & !w & HIGHS != 0;
    !(ctl
        || has_byte(w, b'"')
        || has_byte(w, b'\\')
        || has_byte(w, 0x7f)
        || has_byte(w, 0xc2)
        || has_byte(w, 0xe2))
}

/// Bytes per block of the [`block_is_plain`] scan.
pub(crate) const BLOCK: usize = 16;

/// True when none of the 16 bytes of `b` is [`special`]: [`block_marks`]'s first mask (the
/// `:` compare it also makes is unused here, and compiled away).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn block_is_plain(b: &[u8; BLOCK]) -> bool {
    block_marks(b).0 == 0
}

/// Which bytes of `b` are [`special`] and which are `:`, as bit masks (bit `i` for `b[i]`):
/// [`block_is_plain`] and the first test of URL-password scrubbing in one look, in a few SSE2
/// instructions (part of every x86_64 CPU): compares against each special byte at once, and
/// `min(b, 0x1f) == b` for the controls below 0x20.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn block_marks(b: &[u8; BLOCK]) -> (u32, u32) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is in the x86_64 baseline, so the target always enables these intrinsics;
    // the unaligned load reads exactly the 16 bytes that `b` borrows.
    unsafe {
        let v = _mm_loadu_si128(b.as_ptr().cast());
        let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
        let ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        let any = _mm_or_si128(
            _mm_or_si128(
                _mm_or_si128(ctl, eq(b'"')),
                _mm_or_si128(eq(b'\\'), eq(0x7f)),
            ),
            _mm_or_si128(eq(0xc2), eq(0xe2)),
        );
        (
            _mm_movemask_epi8(any) as u32,
            _mm_movemask_epi8(eq(b':')) as u32,
        )
    }
}

/// [`block_marks`] a byte at a time, where SSE2 is not there.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn block_marks(b: &[u8; BLOCK]) -> (u32, u32) {
    let (mut special_at, mut colon_at) = (0, 0);
    for (i, &c) in b.iter().enumerate() {
        special_at |= u32::from(special(c)) << i;
        colon_at |= u32::from(c == b':') << i;
    }
    (special_at, colon_at)
}

/// Whether `b` needs no escape at all and, if so, whether it holds a `:`; `None` when some
/// byte is [`special`]. Whole blocks, the last one overlapping the one before it (a byte
/// looked at twice changes neither answer); text shorter than a block is gathered into one
/// from overlapping pieces (first and last 8, 4 or 2 bytes), padded with a plain byte, so
/// no call copies it.
#[inline]
pub(crate) fn plain_colon(b: &[u8]) -> Option<bool> {
    let n = b.len();
    let mut colon = 0;
    if let (Some(first), Some(last)) = (b.first_chunk::<BLOCK>(), b.last_chunk::<BLOCK>()) {
        if n <= 2 * BLOCK {
            // Two blocks cover it (the common case among longer values): no loop.
            let (s0, c0) = block_marks(first);
            let (s1, c1) = block_marks(last);
            return (s0 | s1 == 0).then_some(c0 | c1 != 0);
        }
        let mut i = 0;
        loop {
            let at = i.min(n - BLOCK);
            let (s, c) = block_marks(b[at..at + BLOCK].try_into().expect("BLOCK bytes"));
            if s != 0 {
                return None;
            }
            colon |= c;
            if at == n - BLOCK {
                return Some(colon != 0);
            }
            i += BLOCK;
        }
    }
    let mut block = [b'a'; BLOCK];
    if n >= 8 {
        block[..8].copy_from_slice(&b[..8]);
        block[8..].copy_from_slice(&b[n - 8..]);
    } else if n >= 4 {
        block[..4].copy_from_slice(&b[..4]);
        block[4..8].copy_from_slice(&b[n - 4..]);
    } else if n >= 2 {
        block[..2].copy_from_slice(&b[..2]);
        block[2..4].copy_from_slice(&b[n - 2..]);
    } else if n == 1 {
        block[0] = b[0];
    }
    let (s, c) = block_marks(&block);
    (s == 0).then_some(c != 0)
}

/// [`word_is_plain`] twice, where SSE2 is not there.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn block_is_plain(b: &[u8; BLOCK]) -> bool {
    let (lo, hi) = b.split_at(WORD);
    word_is_plain(u64::from_ne_bytes(lo.try_into().expect("WORD bytes")))
        && word_is_plain(u64::from_ne_bytes(hi.try_into().expect("WORD bytes")))
}

/// Whether `b` holds the byte `x`, a word at a time (cheaper than `memchr` for the short
/// strings of log fields).
pub(crate) fn contains_byte(b: &[u8], x: u8) -> bool {
    let mut words = b.chunks_exact(WORD);
    for w in &mut words {
        if has_byte(u64::from_ne_bytes(w.try_into().expect("WORD bytes")), x) {
            return true;
        }
    }
    words.remainder().contains(&x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block scan agrees with the byte rule for every byte in every position.
    #[test]
    fn block_scan_matches_byte_rule() {
        for b in 0..=255u8 {
            for at in 0..BLOCK {
                let mut w = [b'a'; BLOCK];
                w[at] = b;
                assert_eq!(block_is_plain(&w), !special(b), "byte {b:#x} at {at}");
            }
        }
    }

    /// `block_marks` and `plain_colon` agree with the byte rules for every byte in every
    /// position of every length up to a few blocks.
    #[test]
    fn marks_match_byte_rules() {
        for b in 0..=255u8 {
            for at in 0..BLOCK {
                let mut w = [b'a'; BLOCK];
                w[at] = b;
                let (s, c) = block_marks(&w);
                assert_eq!(s, u32::from(special(b)) << at, "byte {b:#x} at {at}");
                assert_eq!(c, u32::from(b == b':') << at, "byte {b:#x} at {at}");
            }
        }
        for len in 0..50 {
            let mut v = vec![b'x'; len];
            assert_eq!(plain_colon(&v), Some(false), "{len}");
            for at in 0..len {
                for b in [b':', b'"', b'\n', 0x7f, 0xc2, 0xe2, 0x1f, b' ', 0xff] {
                    v[at] = b;
                    let want = (!special(b)).then_some(b == b':');
                    assert_eq!(plain_colon(&v), want, "{len} {at} {b:#x}");
                }
                v[at] = b'x';
            }
        }
    }

    #[test]
    fn contains_byte_finds_every_position() {
        for len in 0..40 {
            let mut v = vec![b'a'; len];
            assert!(!contains_byte(&v, b':'));
            for at in 0..len {
                v[at] = b':';
                assert!(contains_byte(&v, b':'), "{len} {at}");
                v[at] = b'a';
            }
        }
    }
}
