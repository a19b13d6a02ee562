//! Timestamps as the lines write them: a per-thread cache formats the second-resolution part
//! of a timestamp (`YYYY-MM-DDTHH:MM:SS`, the offset, the day) once per second instead of once
//! per event; the microseconds are added per line.

use std::cell::RefCell;

use chrono::{DateTime, Datelike, Local, Offset, TimeZone, Timelike, Utc};

use super::number::pair;
use crate::clock::{Day, Timezone};
use crate::per_thread;

/// The parts of a timestamp that change at most once per second, pre-formatted.
#[derive(Clone, Copy)]
pub(crate) struct SecondStamp {
    pub(super) unix_secs: i64,
    pub(super) tz: Timezone,
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

/// Bytes of [`Stamp::rfc3339`].
pub(crate) const RFC3339_LEN: usize = 32;
/// Where the six digits of microseconds are in [`Stamp::rfc3339`].
pub(crate) const MICROS_AT: usize = 20;

impl Stamp {
    /// The RFC 3339 form with microseconds and offset, e.g. `2025-11-03T14:30:45.123456+01:00`.
    pub(crate) fn rfc3339(&self) -> [u8; RFC3339_LEN] {
        let mut b = [0u8; RFC3339_LEN];
        b[..19].copy_from_slice(&self.second.local);
        b[19] = b'.';
        b[MICROS_AT..MICROS_AT + 6].copy_from_slice(&micros_digits(self.micros));
        b[26..].copy_from_slice(&self.second.offset);
        b
    }
}

/// The six digits of `micros` (capped at 999 999), two at a time.
#[inline(always)]
pub(crate) fn micros_digits(micros: u32) -> [u8; 6] {
    let m = micros.min(999_999);
    let ([a, b], [c, d], [e, f]) = (pair(m / 10_000), pair(m / 100 % 100), pair(m % 100));
    [a, b, c, d, e, f]
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

/// [`stamp`] for an instant given as Unix seconds and nanoseconds ([`crate::clock::Clock::unix_now`]): within a
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

/// The day of an instant given as [`crate::clock::Clock::unix_now`] gives it: from this thread's cached
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
    local[0..2].copy_from_slice(&pair((naive.year().clamp(0, 9999) / 100) as u32));
    local[2..4].copy_from_slice(&pair((naive.year().clamp(0, 9999) % 100) as u32));
    local[5..7].copy_from_slice(&pair(naive.month()));
    local[8..10].copy_from_slice(&pair(naive.day()));
    local[11..13].copy_from_slice(&pair(naive.hour()));
    local[14..16].copy_from_slice(&pair(naive.minute()));
    local[17..19].copy_from_slice(&pair(naive.second()));
    let mut offset = *b"+00:00";
    if offset_secs < 0 {
        offset[0] = b'-';
    }
    let abs = offset_secs.unsigned_abs() / 60;
    offset[1..3].copy_from_slice(&pair(abs / 60));
    offset[4..6].copy_from_slice(&pair(abs % 60));
    SecondStamp {
        unix_secs: now.timestamp(),
        tz,
        local,
        offset,
        day: naive.date(),
    }
}

/// The day `now` falls on in `tz`.
pub(crate) fn day_of(now: DateTime<Utc>, tz: Timezone) -> Day {
    stamp(now, tz).second.day
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock, SystemClock, now_fast};

    #[test]
    fn utc_stamp_has_micros_and_offset() {
        let t: DateTime<Utc> = "2025-11-03T14:30:45.123456Z".parse().unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(&stamp(t, Timezone::Utc).rfc3339());
        assert_eq!(out, b"2025-11-03T14:30:45.123456+00:00");
        // Same second again comes from the cache and must still carry the new micros.
        let t2: DateTime<Utc> = "2025-11-03T14:30:45.000007Z".parse().unwrap();
        out.clear();
        out.extend_from_slice(&stamp(t2, Timezone::Utc).rfc3339());
        assert_eq!(out, b"2025-11-03T14:30:45.000007+00:00");
    }

    #[test]
    fn local_stamp_agrees_with_chrono() {
        let t: DateTime<Utc> = "2025-06-01T01:02:03.5Z".parse().unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(&stamp(t, Timezone::Local).rfc3339());
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
                a.extend_from_slice(&stamp(t, tz).rfc3339());
                let parts = (t.timestamp(), t.timestamp_subsec_nanos());
                b.extend_from_slice(&stamp_unix(parts, tz).rfc3339());
                assert_eq!(a, b);
                assert_eq!(day_unix(parts, tz), stamp(t, tz).second.day);
                assert_eq!(now_fast(&ManualClock::at(t)), t);
                assert_eq!(stamp_unix(parts, tz).second.day, stamp(t, tz).second.day);
            }
        }
        let (s, n) = SystemClock.unix_now();
        assert!(s > 1_700_000_000 && n < 1_000_000_000);
    }

    #[test]
    fn day_follows_zone() {
        let t: DateTime<Utc> = "2025-11-03T23:59:59Z".parse().unwrap();
        assert_eq!(day_of(t, Timezone::Utc).to_string(), "2025-11-03");
    }
}
