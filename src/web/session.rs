//! Signed-in browsers. Signing in with the token opens a session: 256 random bits from the
//! operating system's CSPRNG, kept in this process's memory with the instant it ends, and
//! given to the browser as a cookie. The token itself never goes into a cookie: cookies are
//! not scoped by port, so every other web service on the same host name receives them. What
//! such a service can do with a session value is bounded: replay it against the dashboard
//! (which only reads) until the session ends — at its absolute expiry, at sign-out, or when
//! the process restarts — and nothing else: it cannot learn the token or open sessions.
//!
//! Sessions are compared in constant time, like the token, and bounded in number: opening one
//! when [`MAX_SESSIONS`] are live ends the one that ends soonest.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

/// The most sessions live at once.
pub(crate) const MAX_SESSIONS: usize = 64;

/// A session's length in bytes (hex in the cookie).
const LEN: usize = 32;

/// One live session.
struct Live {
    value: [u8; LEN],
    until: Instant,
}

/// The live sessions and how long a new one lasts.
pub(crate) struct Sessions {
    live: Mutex<Vec<Live>>,
    lifetime: Duration,
}

/// The operating system gave no random bytes: no session can be opened.
#[derive(Debug)]
pub(crate) struct NoRandom;

impl Sessions {
    pub fn new(lifetime: Duration) -> Self {
        Sessions {
            live: Mutex::new(Vec::new()),
            lifetime,
        }
    }

    /// How long a session lasts from its opening.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session at `now`; its value, as the cookie carries it.
    pub fn open(&self, now: Instant) -> Result<String, NoRandom> {
        let mut value = [0u8; LEN];
        getrandom::fill(&mut value).map_err(|_| NoRandom)?;
        let mut live = self.lock();
        live.retain(|s| s.until > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(i) = (0..live.len()).min_by_key(|&i| live[i].until) {
                live.swap_remove(i);
            }
        }
        live.push(Live {
            value,
            until: now + self.lifetime,
        });
        Ok(hex(&value))
    }

    /// Whether `given` (a cookie's value) is a session live at `now`.
    pub fn holds(&self, given: &str, now: Instant) -> bool {
        let Some(v) = unhex(given) else {
            return false;
        };
        let live = self.lock();
        // Every live value is compared, so the time taken says nothing about which matched.
        let mut found = subtle::Choice::from(0);
        for s in live.iter() {
            found |= s.value.ct_eq(&v) & subtle::Choice::from(u8::from(s.until > now));
        }
        bool::from(found)
    }

    /// Ends the session `given`, if it is one.
    pub fn close(&self, given: &str) {
        if let Some(v) = unhex(given) {
            self.lock().retain(|s| !bool::from(s.value.ct_eq(&v)));
        }
    }
}

/// The session a request came with, for a response that outlives the request (the live
/// stream): it asks whether the session still holds.
#[derive(Clone)]
pub(crate) struct Held {
    sessions: Arc<Sessions>,
    value: Arc<str>,
}

impl Held {
    pub fn new(sessions: Arc<Sessions>, value: String) -> Self {
        Held {
            sessions,
            value: value.into(),
        }
    }

    /// Whether the session is still live (not expired, not signed out).
    pub fn holds(&self) -> bool {
        self.sessions.holds(&self.value, Instant::now())
    }
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

fn unhex(s: &str) -> Option<[u8; LEN]> {
    let s = s.as_bytes();
    if s.len() != LEN * 2 {
        return None;
    }
    let mut out = [0u8; LEN];
    for (o, pair) in out.iter_mut().zip(s.chunks(2)) {
        let d = |c: u8| (c as char).to_digit(16);
        *o = (d(pair[0])? * 16 + d(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_its_expiry_or_its_close() {
        let s = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let a = s.open(t0).unwrap();
        let b = s.open(t0).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(s.holds(&a, t0 + Duration::from_secs(59)));
        assert!(!s.holds(&a, t0 + Duration::from_secs(60)));
        s.close(&b);
        assert!(!s.holds(&b, t0));
        assert!(s.holds(&a, t0));
        let flipped = format!("{}{}", if a.starts_with('0') { '1' } else { '0' }, &a[1..]);
        for bad in ["", "zz", &a[..63], &flipped, &format!("{}g", &a[..63])] {
            assert!(!s.holds(bad, t0), "{bad}");
        }
    }

    #[test]
    fn the_number_of_live_sessions_is_bounded() {
        let s = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let first = s.open(t0).unwrap();
        let rest: Vec<String> = (1..=MAX_SESSIONS)
            .map(|i| s.open(t0 + Duration::from_millis(i as u64)).unwrap())
            .collect();
        assert!(!s.holds(&first, t0), "the soonest to end made room");
        assert!(rest.iter().all(|v| s.holds(v, t0)));
        assert_eq!(s.lock().len(), MAX_SESSIONS);
    }
}
