//! The bounds of what the slots ([`super::slots`]) hold together, in bytes and in lines: a
//! slot takes room in grants (one shared atomic update per grant, not per line) and the writer
//! hands a slot's whole reservation back when it takes the slot's lines.

use std::sync::atomic::{AtomicU64, Ordering};

/// The room one slot holds: what it may still use, and all it reserved since the writer last
/// took it.
#[derive(Default)]
pub(crate) struct Credit {
    bytes: u64,
    lines: u64,
    reserved_bytes: u64,
    reserved_lines: u64,
}

impl Credit {
    /// Everything reserved (bytes, lines), to hand back.
    pub(crate) fn reserved(&self) -> (u64, u64) {
        (self.reserved_bytes, self.reserved_lines)
    }
}

/// The shared bounds.
pub(crate) struct Budget {
    bytes: AtomicU64,
    lines: AtomicU64,
    max_bytes: u64,
    max_lines: u64,
}

impl Budget {
    pub(crate) fn new(max_bytes: u64, max_lines: u64) -> Self {
        Budget {
            bytes: AtomicU64::new(0),
            lines: AtomicU64::new(0),
            max_bytes,
            max_lines: max_lines.max(1),
        }
    }

    /// Reserves `n` from `counter` if it stays within `max` (or, for bytes, if nothing at all is
    /// reserved, so that a line alone larger than the bound still goes through).
    fn take(counter: &AtomicU64, n: u64, max: u64, alone_ok: bool) -> bool {
        let mut cur = counter.load(Ordering::Relaxed);
        loop {
            if !(cur + n <= max || (alone_ok && cur == 0)) {
                return false;
            }
            match counter.compare_exchange_weak(cur, cur + n, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(c) => cur = c,
            }
        }
    }

    /// Whether a line of `len` bytes would fit now.
    pub(crate) fn fits(&self, len: u64) -> bool {
        let b = self.bytes.load(Ordering::SeqCst);
        (b == 0 || b + len <= self.max_bytes) && self.lines.load(Ordering::SeqCst) < self.max_lines
    }

    /// Makes room in `c` for one line of `len` bytes: a grant of a sixteenth of each bound
    /// (at most 256 KiB / 1 024 lines) when it fits, else exactly what the line needs.
    pub(crate) fn reserve(&self, c: &mut Credit, len: u64) -> bool {
        if c.bytes < len {
            let grant = (self.max_bytes / 16).clamp(len, (256 << 10).max(len));
            let got = if Self::take(&self.bytes, grant, self.max_bytes, false) {
                grant
            } else if Self::take(&self.bytes, len, self.max_bytes, true) {
                len
            } else {
                return false;
            };
            c.bytes += got;
            c.reserved_bytes += got;
        }
        if c.lines == 0 {
            let grant = (self.max_lines / 16).clamp(1, 1024);
            let got = if Self::take(&self.lines, grant, self.max_lines, false) {
                grant
            } else if Self::take(&self.lines, 1, self.max_lines, false) {
                1
            } else {
                return false;
            };
            c.lines += got;
            c.reserved_lines += got;
        }
        c.bytes -= len;
        c.lines -= 1;
        true
    }

    /// Hands back a slot's reservation.
    pub(crate) fn release(&self, bytes: u64, lines: u64) {
        self.bytes.fetch_sub(bytes, Ordering::SeqCst);
        self.lines.fetch_sub(lines, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_stay_within_the_bounds_and_come_back_whole() {
        let b = Budget::new(1000, 4);
        let (mut x, mut y) = (Credit::default(), Credit::default());
        // Grants of a sixteenth (at least one line, at least the line's length).
        assert!(b.reserve(&mut x, 100));
        assert!(b.reserve(&mut y, 100));
        assert!(b.reserve(&mut x, 100) && b.reserve(&mut y, 100));
        // Four lines reserved: a fifth does not fit until a slot's reservation comes back.
        assert!(!b.reserve(&mut x, 10));
        let (bytes, lines) = std::mem::take(&mut y).reserved();
        b.release(bytes, lines);
        assert!(b.reserve(&mut x, 10));
        let (bytes, lines) = std::mem::take(&mut x).reserved();
        b.release(bytes, lines);
        assert!(b.fits(1000));
        // A line larger than the byte bound alone goes through when nothing is reserved.
        assert!(b.reserve(&mut x, 5000));
        assert!(!b.fits(1));
    }
}
