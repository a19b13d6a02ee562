//! Size caps, so that one huge value cannot exhaust memory, disk or a database row:
//! - each field value and each message is cut at [`Limits::max_field_bytes`] (default 64 KiB),
//!   at a character boundary, and ends with `…[truncated N bytes]`;
//! - an event whose fields still add up to more than [`Limits::max_record_bytes`] (default
//!   1 MiB) keeps its message and replaces its metadata with one `_truncated` entry saying how
//!   much was cut.
//!
//! The caps are a per-layer setting (`FileLayerBuilder::limits`, `ConsoleLayer::limits`,
//! `ActionLayerBuilder::limits`; [`crate::Builder::max_field_bytes`] sets them for every layer it
//! builds), not a process-wide one, so two subscribers in one process can differ. Formatting a
//! huge `Debug` value still costs its CPU time; only what is kept is bounded.

use std::fmt;

/// Default cap on one field value or message, in bytes.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 64 * 1024;
/// Default cap on one event's fields together, in bytes.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The longest line the readers of the log directory take (16 MiB): day files read back
/// ([`crate::day_files`], `actionlog tail`, the dashboard), spool segments and dead-letter
/// files. A longer line is not one actionlog writes at the default caps (a value is cut at
/// 64 KiB, an event's fields at 1 MiB, a job run's logs at 256 KiB; escaped as JSON, every
/// byte at most six): it is skipped and reported, never read whole, so a hostile or damaged
/// file (a 2 GB file without a newline) costs at most this much memory. The spool never writes
/// a longer line: a record whose JSON would be longer (raised caps and very many fields) goes
/// to the dead-letter file instead.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// The size caps of one layer.
///
/// ```
/// let l = actionlog::limits::Limits::new(1024, 16 * 1024);
/// assert_eq!(l.max_field_bytes(), 1024);
/// assert_eq!(actionlog::limits::Limits::default().max_record_bytes(), 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    field: usize,
    record: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            field: DEFAULT_MAX_FIELD_BYTES,
            record: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl Limits {
    /// Caps of `max_field_bytes` per value and `max_record_bytes` per event (raised to at
    /// least 64 and 1024 bytes, so a marker always fits).
    pub fn new(max_field_bytes: usize, max_record_bytes: usize) -> Self {
        Limits {
            field: max_field_bytes.max(64),
            record: max_record_bytes.max(1024),
        }
    }

    /// The cap on one field value or message.
    pub fn max_field_bytes(&self) -> usize {
        self.field
    }

    /// The cap on one event's fields together.
    pub fn max_record_bytes(&self) -> usize {
        self.record
    }
}

/// The marker appended to a cut value.
pub(crate) fn marker(dropped: usize) -> String {
    format!("…[truncated {dropped} bytes]")
}

/// A `fmt::Write` that keeps at most `left` bytes (cutting at a character boundary) and counts
/// the rest; [`Capped::finish`] appends the marker if anything was cut.
pub(crate) struct Capped<'a> {
    inner: &'a mut dyn fmt::Write,
    left: usize,
    dropped: usize,
}

impl<'a> Capped<'a> {
    pub(crate) fn new(inner: &'a mut dyn fmt::Write, max: usize) -> Self {
        Capped {
            inner,
            left: max,
            dropped: 0,
        }
    }

    pub(crate) fn finish(self) {
        if self.dropped > 0 {
            let _ = self.inner.write_str(&marker(self.dropped));
        }
    }
}

impl fmt::Write for Capped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.dropped > 0 {
            // Once a piece was cut, nothing after it is kept, even where it would fit: the
            // kept text is always a prefix of the whole.
            self.dropped += s.len();
            return Ok(());
        }
        if s.len() > self.left {
            let mut keep = self.left.min(s.len());
            while !s.is_char_boundary(keep) {
                keep -= 1;
            }
            self.inner.write_str(&s[..keep])?;
            self.dropped += s.len() - keep;
            self.left -= keep;
            return Ok(());
        }
        self.left -= s.len();
        self.inner.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    #[test]
    fn cuts_at_char_boundaries_and_marks() {
        let mut out = String::new();
        let mut c = Capped::new(&mut out, 5);
        c.write_str("ab").unwrap();
        // Three bytes are left: "cd" fits, the two-byte 'é' would straddle the cap.
        c.write_str("cdé€f").unwrap();
        c.finish();
        assert_eq!(out, "abcd…[truncated 6 bytes]");
    }

    /// A piece written after a cut is left out even when it would fit the room the cut left:
    /// `abc` then `d` read as `abcd`, a text the value never held.
    #[test]
    fn nothing_is_kept_after_a_cut() {
        let mut out = String::new();
        let mut c = Capped::new(&mut out, 4);
        c.write_str("abcé").unwrap();
        c.write_str("d").unwrap();
        c.finish();
        assert_eq!(out, "abc…[truncated 3 bytes]");
    }
}
