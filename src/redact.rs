//! Redaction of secret-looking fields, shared by every output (console, day files, action rows):
//! a field whose name contains one of the deny-list words, case-insensitively, has its value
//! replaced by `[REDACTED]` before it is formatted or handed to a sink.
//!
//! The decision depends only on the field name, which `tracing` gives as a `&'static str`, so it
//! is made once per name and thread and cached: the hot path pays a hash lookup, not a scan.
//! What is not covered: secrets inside free text (an event's message, a `Debug` string).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The default deny-list: words that mark a field as secret wherever they appear in its name
/// (`password`, `db_password`, `X-Api-Key` → `x_api_key`, `sessionId`, …).
pub const DEFAULT_DENY_LIST: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "session",
    "credit_card",
    "creditcard",
    "card_number",
    "cardnumber",
    "cvv",
    "cvc",
];

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A deny-list of field-name words.
///
/// ```
/// let r = actionlog::Redaction::new(["password", "pin"]);
/// assert!(r.hides("user_PIN"));
/// assert!(!r.hides("user_id"));
/// ```
#[derive(Debug, Clone)]
pub struct Redaction {
    words: Arc<[String]>,
    /// Distinguishes lists in the per-thread cache.
    id: u64,
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction::new(DEFAULT_DENY_LIST.iter().copied())
    }
}

impl Redaction {
    /// A deny-list of the given words (matched case-insensitively anywhere in a field name).
    pub fn new<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Redaction {
            words: words
                .into_iter()
                .map(|w| w.as_ref().to_ascii_lowercase())
                .filter(|w| !w.is_empty())
                .collect(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// No redaction at all.
    pub fn none() -> Self {
        Redaction::new(std::iter::empty::<&str>())
    }

    /// Whether a field of this name is hidden (uncached).
    pub fn hides(&self, name: &str) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let lower = name.to_ascii_lowercase().replace('-', "_");
        self.words.iter().any(|w| lower.contains(w.as_str()))
    }

    /// Tells lists apart: clones share it, separately made lists never do.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// [`Self::hides`] for a `tracing` field name, cached per thread.
    pub(crate) fn hides_field(&self, name: &'static str) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let key = (self.id, name.as_ptr() as usize, name.len());
        CACHE
            .try_with(|c| {
                if let Ok(mut c) = c.try_borrow_mut() {
                    *c.entry(key).or_insert_with(|| self.hides(name))
                } else {
                    self.hides(name)
                }
            })
            .unwrap_or_else(|_| self.hides(name))
    }

    /// Replaces, in place, the values of hidden keys anywhere in a JSON value.
    pub(crate) fn scrub_json(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, inner) in m.iter_mut() {
                    if self.hides(k) {
                        *inner = serde_json::Value::String(REDACTED.to_owned());
                    } else {
                        self.scrub_json(inner);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| self.scrub_json(x)),
            _ => {}
        }
    }
}

/// A multiplicative hasher for the cache's integer keys (SipHash is needlessly slow here).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type Cache = HashMap<(u64, usize, usize), bool, BuildHasherDefault<KeyHasher>>;

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_catches_common_spellings() {
        let r = Redaction::default();
        for name in [
            "password",
            "DB_PASSWORD",
            "api_key",
            "X-Api-Key",
            "apiKey",
            "Authorization",
            "sessionId",
            "refresh_token",
            "client_secret",
            "creditCardNumber",
            "card_number",
            "cookie",
        ] {
            assert!(r.hides(name), "{name}");
        }
        for name in [
            "user_id",
            "lookback_days",
            "action_type",
            "status",
            "source",
        ] {
            assert!(!r.hides(name), "{name}");
        }
        assert!(r.hides_field("password") && !r.hides_field("user_id"));
    }

    #[test]
    fn nested_json_keys_are_scrubbed() {
        let r = Redaction::default();
        let mut v =
            serde_json::json!({"ok": 1, "inner": {"password": "x", "list": [{"token": "y"}]}});
        r.scrub_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"ok": 1, "inner": {"password": REDACTED, "list": [{"token": REDACTED}]}})
        );
    }
}
