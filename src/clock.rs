//! Where time comes from: the [`Clock`] trait (injectable, so tests drive day rollover without
//! waiting for midnight), the [`Timezone`] that decides day boundaries, and a per-thread cache that
//! formats the second-resolution part of a timestamp once per second instead of once per event.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use crate::per_thread;

use chrono::{DateTime, Datelike, Local, NaiveDate, Offset, TimeZone, Timelike, Utc};

/// A source of wall-clock time.
///
/// The default is [`SystemClock`]. Tests inject a [`ManualClock`] so that day rollover and
/// timestamps are deterministic.
///
/// ```
/// use actionlog::{Clock, ManualClock};
/// let clock = ManualClock::at("2025-11-03T23:59:59Z".parse().unwrap());
/// clock.advance(chrono::Duration::seconds(1));
/// assert_eq!(clock.now().to_rfc3339(), "2025-11-04T00:00:00+00:00");
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// The current instant as whole seconds and nanoseconds since the Unix epoch: what the
    /// hot path stamps lines with. The default derives it from [`Clock::now`]; override it only
    /// for a cheaper read of the same clock, as [`SystemClock`] does.
    ///
    /// ```
    /// use actionlog::{Clock, ManualClock};
    /// let clock = ManualClock::at("1970-01-01T00:00:01.5Z".parse().unwrap());
    /// assert_eq!(clock.unix_now(), (1, 500_000_000));
    /// ```
    fn unix_now(&self) -> (i64, u32) {
        let t = self.now();
        (t.timestamp(), t.timestamp_subsec_nanos())
    }
}

/// The operating system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// The OS clock without chrono's calendar arithmetic (the per-second part of a timestamp is
    /// formatted from it once per second).
    fn unix_now(&self) -> (i64, u32) {
        #[cfg(unix)]
        {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `clock_gettime` only writes the `timespec` it is given, which is ours
            // and initialised; CLOCK_REALTIME is the clock `SystemTime::now` reads.
            #[allow(unsafe_code)]
            let ok = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } == 0;
            // Read directly: `SystemTime::duration_since` adds checked arithmetic per event.
            if ok && (0..1_000_000_000).contains(&ts.tv_nsec) {
                // `time_t` is narrower than `i64` on some targets.
                #[allow(clippy::unnecessary_cast)]
                return (ts.tv_sec as i64, ts.tv_nsec as u32);
            }
        }
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
            Err(_) => {
                let t = Utc::now();
                (t.timestamp(), t.timestamp_subsec_nanos())
            }
        }
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock standing at `t`.
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(t)))
    }

    /// Moves the clock to `t` (backwards too).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Which calendar decides timestamps' offsets and where one day file ends and the next begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timezone {
    /// The machine's local time zone (the default).
    #[default]
    Local,
    /// UTC, for fleets spread over several zones.
    Utc,
}

/// One calendar day in the configured [`Timezone`]; names a day file.
pub(crate) type Day = NaiveDate;

/// The parts of a timestamp that change at most once per second, pre-formatted.
#[derive(Clone, Copy)]
pub(crate) struct SecondStamp {
    unix_secs: i64,
    tz: Timezone,
    /// `YYYY-MM-DDTHH:MM:SS` in the configured zone.
    pub(crate) local: [u8; 19],
    /// `+HH:MM`.
    pub(crate) offset: [u8; 6],
    pub(crate) day: Day,
}

/// A formatted timestamp: the cached second plus microseconds.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    pub(crate) second: SecondStamp,
    pub(crate) micros: u32,
}

impl Stamp {
    /// Appends the RFC 3339 form with microseconds and offset, e.g. `2025-11-03T14:30:45.123456+01:00`.
    pub(crate) fn write_rfc3339(&self, out: &mut Vec<u8>) {
        // One append of a fixed size: `local`, `.`, six digits, `offset`.
        let mut b = [0u8; 32];
        b[..19].copy_from_slice(&self.second.local);
        b[19] = b'.';
        let m = self.micros.min(999_999);
        // Two digits at a time: three divisions instead of six.
        for (i, pair) in [m / 10_000, m / 100 % 100, m % 100].into_iter().enumerate() {
            put2(&mut b[20 + 2 * i..22 + 2 * i], pair);
        }
        b[26..].copy_from_slice(&self.second.offset);
        out.extend_from_slice(&b);
    }
}

thread_local! {
    static CACHE: RefCell<Option<SecondStamp>> = const { RefCell::new(None) };
}

/// Splits `now` into a cached per-second part and microseconds, reformatting only when the
/// second (or the zone) changed since this thread's last call.
pub(crate) fn stamp(now: DateTime<Utc>, tz: Timezone) -> Stamp {
    let secs = now.timestamp();
    let micros = now.timestamp_subsec_micros().min(999_999);
    let second = per_thread::with(&CACHE, |c| match *c {
        Some(s) if s.unix_secs == secs && s.tz == tz => s,
        _ => *c.insert(second_stamp(now, tz)),
    })
    // During thread teardown the cache is gone: format without it.
    .unwrap_or_else(|| second_stamp(now, tz));
    Stamp { second, micros }
}

/// [`stamp`] for an instant given as Unix seconds and nanoseconds ([`Clock::unix_now`]): within a
/// second already formatted on this thread it does no calendar arithmetic at all.
pub(crate) fn stamp_unix((secs, nanos): (i64, u32), tz: Timezone) -> Stamp {
    let micros = (nanos / 1000).min(999_999);
    let hit = per_thread::with(&CACHE, |c| match *c {
        Some(s) if s.unix_secs == secs && s.tz == tz => Some(s),
        _ => None,
    })
    .flatten();
    match hit {
        Some(second) => Stamp { second, micros },
        None => match DateTime::<Utc>::from_timestamp(secs, nanos) {
            Some(now) => stamp(now, tz),
            None => stamp(Utc::now(), tz),
        },
    }
}

/// The start of a day file's line, `{"timestamp":"` and the RFC 3339 stamp, for one second
/// (the file writer's cache, see [`write_line_start`]).
#[derive(Clone, Copy)]
pub(crate) struct LineStart {
    unix_secs: i64,
    tz: Timezone,
    /// `{"timestamp":"YYYY-MM-DDTHH:MM:SS.000000+HH:MM`, the micros at [`MICROS_AT`].
    bytes: [u8; 46],
}

/// What a day file's line starts with.
const LINE_START: &[u8; 14] = b"{\"timestamp\":\"";
/// Where the micros are in [`LineStart::bytes`].
const MICROS_AT: usize = 34;

/// Appends `{"timestamp":"` and the stamp of `now` (exactly [`stamp_unix`] and
/// [`Stamp::write_rfc3339`]'s bytes) through a cache of one second owned by the caller (the
/// file writer's, which stamps every line of every thread): within a second already seen,
/// one fixed-size append of the kept bytes and the six digits of micros written over them;
/// no thread-local, no calendar, no copy of the cached second.
#[inline]
pub(crate) fn write_line_start(
    cache: &mut Option<LineStart>,
    now: (i64, u32),
    tz: Timezone,
    out: &mut Vec<u8>,
) {
    let (start, micros) = match cache {
        Some(c) if c.unix_secs == now.0 && c.tz == tz => (&*c, (now.1 / 1000).min(999_999)),
        _ => {
            let st = stamp_unix(now, tz);
            let mut bytes = [0u8; 46];
            bytes[..14].copy_from_slice(LINE_START);
            bytes[14..33].copy_from_slice(&st.second.local);
            bytes[33] = b'.';
            bytes[MICROS_AT..MICROS_AT + 6].copy_from_slice(b"000000");
            bytes[40..].copy_from_slice(&st.second.offset);
            let start = LineStart {
                unix_secs: st.second.unix_secs,
                tz: st.second.tz,
                bytes,
            };
            (&*cache.insert(start), st.micros)
        }
    };
    let at = out.len();
    out.extend_from_slice(&start.bytes);
    let [a, b] = crate::digits::pair(micros / 10_000);
    let [c, d] = crate::digits::pair(micros / 100 % 100);
    let [e, f] = crate::digits::pair(micros % 100);
    out[at + MICROS_AT..at + MICROS_AT + 6].copy_from_slice(&[a, b, c, d, e, f]);
}

/// [`Clock::now`] read through [`Clock::unix_now`]: for the system clock, the OS time without
/// chrono's conversion from `SystemTime` (the action layer stamps every record with it).
pub(crate) fn now_fast(clock: &dyn Clock) -> DateTime<Utc> {
    let (secs, nanos) = clock.unix_now();
    DateTime::from_timestamp(secs, nanos).unwrap_or_else(|| clock.now())
}

/// The day of an instant given as [`Clock::unix_now`] gives it: from this thread's cached
/// second when it is the same (no copy of the formatted parts), else as [`stamp_unix`].
pub(crate) fn day_unix(now: (i64, u32), tz: Timezone) -> Day {
    let hit = per_thread::with(&CACHE, |c| match c {
        Some(s) if s.unix_secs == now.0 && s.tz == tz => Some(s.day),
        _ => None,
    })
    .flatten();
    hit.unwrap_or_else(|| stamp_unix(now, tz).second.day)
}

fn second_stamp(now: DateTime<Utc>, tz: Timezone) -> SecondStamp {
    let (naive, offset_secs) = match tz {
        Timezone::Utc => (now.naive_utc(), 0),
        Timezone::Local => {
            let off = Local.offset_from_utc_datetime(&now.naive_utc()).fix();
            (
                now.naive_utc() + chrono::Duration::seconds(off.local_minus_utc() as i64),
                off.local_minus_utc(),
            )
        }
    };
    let mut local = *b"0000-00-00T00:00:00";
    put2(&mut local[0..2], (naive.year().clamp(0, 9999) / 100) as u32);
    put2(&mut local[2..4], (naive.year().clamp(0, 9999) % 100) as u32);
    put2(&mut local[5..7], naive.month());
    put2(&mut local[8..10], naive.day());
    put2(&mut local[11..13], naive.hour());
    put2(&mut local[14..16], naive.minute());
    put2(&mut local[17..19], naive.second());
    let mut offset = *b"+00:00";
    if offset_secs < 0 {
        offset[0] = b'-';
    }
    let abs = offset_secs.unsigned_abs() / 60;
    put2(&mut offset[1..3], abs / 60);
    put2(&mut offset[4..6], abs % 60);
    SecondStamp {
        unix_secs: now.timestamp(),
        tz,
        local,
        offset,
        day: naive.date(),
    }
}

fn put2(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// The day `now` falls on in `tz`.
pub(crate) fn day_of(now: DateTime<Utc>, tz: Timezone) -> Day {
    stamp(now, tz).second.day
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamp_has_micros_and_offset() {
        let t: DateTime<Utc> = "2025-11-03T14:30:45.123456Z".parse().unwrap();
        let mut out = Vec::new();
        stamp(t, Timezone::Utc).write_rfc3339(&mut out);
        assert_eq!(out, b"2025-11-03T14:30:45.123456+00:00");
        // Same second again comes from the cache and must still carry the new micros.
        let t2: DateTime<Utc> = "2025-11-03T14:30:45.000007Z".parse().unwrap();
        out.clear();
        stamp(t2, Timezone::Utc).write_rfc3339(&mut out);
        assert_eq!(out, b"2025-11-03T14:30:45.000007+00:00");
    }

    #[test]
    fn local_stamp_agrees_with_chrono() {
        let t: DateTime<Utc> = "2025-06-01T01:02:03.5Z".parse().unwrap();
        let mut out = Vec::new();
        stamp(t, Timezone::Local).write_rfc3339(&mut out);
        let expected = t
            .with_timezone(&Local)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn unix_stamps_agree_with_chrono_stamps() {
        for t in [
            "2025-11-03T14:30:45.123456789Z",
            "1969-12-31T23:59:59.5Z",
            "2025-11-03T14:30:46Z",
        ] {
            let t: DateTime<Utc> = t.parse().unwrap();
            for tz in [Timezone::Utc, Timezone::Local] {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                stamp(t, tz).write_rfc3339(&mut a);
                let parts = (t.timestamp(), t.timestamp_subsec_nanos());
                stamp_unix(parts, tz).write_rfc3339(&mut b);
                assert_eq!(a, b);
                assert_eq!(day_unix(parts, tz), stamp(t, tz).second.day);
                assert_eq!(now_fast(&ManualClock::at(t)), t);
                assert_eq!(stamp_unix(parts, tz).second.day, stamp(t, tz).second.day);
            }
        }
        let (s, n) = SystemClock.unix_now();
        assert!(s > 1_700_000_000 && n < 1_000_000_000);
    }

    /// The writer's cached line start is what `write_rfc3339` writes, on a miss and a hit.
    #[test]
    fn cached_stamps_agree() {
        let mut cache = None;
        for now in [
            (1_764_547_199, 999_999_999),
            (1_764_547_199, 0),
            (1_764_547_200, 1_000),
            (1_764_547_200, 123_456_789),
            (-1, 500_000_000),
        ] {
            for tz in [Timezone::Utc, Timezone::Local] {
                for _ in 0..2 {
                    let (mut a, mut b) = (b"{\"timestamp\":\"".to_vec(), Vec::new());
                    stamp_unix(now, tz).write_rfc3339(&mut a);
                    write_line_start(&mut cache, now, tz, &mut b);
                    assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn day_follows_zone() {
        let t: DateTime<Utc> = "2025-11-03T23:59:59Z".parse().unwrap();
        assert_eq!(day_of(t, Timezone::Utc).to_string(), "2025-11-03");
    }
}
