//! Where time comes from: the [`Clock`] trait (injectable, so tests drive day rollover without
//! waiting for midnight) and the [`Timezone`] that decides day boundaries. Timestamps are
//! formatted in `format::time`.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};

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

/// [`Clock::now`] read through [`Clock::unix_now`]: for the system clock, the OS time without
/// chrono's conversion from `SystemTime` (the action layer stamps every record with it).
pub(crate) fn now_fast(clock: &dyn Clock) -> DateTime<Utc> {
    let (secs, nanos) = clock.unix_now();
    DateTime::from_timestamp(secs, nanos).unwrap_or_else(|| clock.now())
}
