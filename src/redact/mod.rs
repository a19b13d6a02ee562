//! Redaction of secret-looking fields, shared by every output (console, day files, action rows):
//! a field whose name contains one of the deny-list words, case-insensitively, has its value
//! replaced by `[REDACTED]` before it is formatted or handed to a sink.
//!
//! The decision depends only on the field name, which `tracing` gives as a `&'static str`, so it
//! is made once per name and thread and cached: the hot path pays a hash lookup, not a scan.
//!
//! Connection strings are also scrubbed inside text: every string value and message, in every
//! output, has the password of a URL's user-info replaced (`postgres://app:s3cret@db/prod` →
//! `postgres://app:[REDACTED]@db/prod`, see [`scrub_userinfo`]). The hot path pays one `://`
//! search per string; only text that has one is looked at further.
//! What is not covered: other secrets inside free text (a token in a message, a key in a
//! `Debug` string), a user-info without a password (`https://token@host`), and a password
//! holding whitespace, a quote, `/`, `?` or `#` unescaped.

mod userinfo;

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use userinfo::has_scheme_sep;
pub(crate) use userinfo::scrub_userinfo;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The default deny-list: words that mark a field as secret wherever they appear in its name
/// (`password`, `db_password`, `X-Api-Key` → `x_api_key`, `sessionId`, …).
///
/// Connection strings: `database_url`, `db_url`, `dsn`, `connection_string`, `conn_str` and
/// `connstr` name a whole URL that usually carries a password. `url` alone is not on the list:
/// it would hide every `url`, `redirect_url`, `callback_url` — fields worth keeping — and a URL's
/// password is scrubbed anyway wherever it appears (see the module docs). Keys: `private_key`,
/// `privatekey`, `credential` (also `credentials`), `pwd`.
pub const DEFAULT_DENY_LIST: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "session",
    "database_url",
    "db_url",
    "dsn",
    "connection_string",
    "conn_str",
    "connstr",
    "private_key",
    "privatekey",
    "credential",
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
    /// Whether URL passwords inside text are scrubbed too ([`scrub_userinfo`]).
    urls: bool,
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
            urls: true,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// No redaction at all: no field is hidden and URL passwords are kept.
    pub fn none() -> Self {
        Redaction::new(std::iter::empty::<&str>()).url_passwords(false)
    }

    /// Whether the password of a URL's user-info (`scheme://user:secret@host`) is replaced by
    /// `[REDACTED]` inside every string value and message (default: yes, for every list but
    /// [`Redaction::none`]).
    ///
    /// ```
    /// let r = actionlog::Redaction::new(["pin"]).url_passwords(true);
    /// # let _ = r;
    /// ```
    #[must_use]
    pub fn url_passwords(mut self, on: bool) -> Self {
        self.urls = on;
        self.id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self
    }

    /// Whether [`Redaction::scrub_text`] could change this text (its cheap first test).
    pub(crate) fn scrubs(&self, text: &[u8]) -> bool {
        self.urls && has_scheme_sep(text)
    }

    /// Scrubs URL passwords in `s` in place, if this list does.
    pub(crate) fn scrub_text(&self, s: &mut String) {
        if self.urls && has_scheme_sep(s.as_bytes()) {
            if let Some(clean) = scrub_userinfo(s) {
                *s = clean;
            }
        }
    }

    /// Scrubs URL passwords in `buf[from..]` (UTF-8 text or JSON) in place, if this list does.
    pub(crate) fn scrub_tail(&self, buf: &mut Vec<u8>, from: usize) {
        if !self.urls || !has_scheme_sep(&buf[from..]) {
            return;
        }
        let Ok(text) = std::str::from_utf8(&buf[from..]) else {
            return;
        };
        if let Some(clean) = scrub_userinfo(text) {
            buf.truncate(from);
            buf.extend_from_slice(clean.as_bytes());
        }
    }

    /// Scrubs URL passwords in a JSON value's strings, at any depth, if this list does.
    pub(crate) fn scrub_value(&self, v: &mut serde_json::Value) {
        if !self.urls {
            return;
        }
        match v {
            serde_json::Value::String(s) => self.scrub_text(s),
            serde_json::Value::Object(m) => m.values_mut().for_each(|x| self.scrub_value(x)),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| self.scrub_value(x)),
            _ => {}
        }
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
        crate::per_thread::with(&CACHE, |c| {
            *c.entry(key).or_insert_with(|| self.hides(name))
        })
        .unwrap_or_else(|| self.hides(name))
    }

    /// Replaces, in place, the values of hidden keys anywhere in a JSON value, and URL
    /// passwords in its strings.
    pub(crate) fn scrub_json(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => self.scrub_text(s),
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

/// A URL as it may be shown: its scheme, host and port only, `/[REDACTED]` in place of any path,
/// query or fragment, and no user-info. Webhook URLs carry their secret there (Slack's path,
/// a `?token=`), so reports, errors and `Debug` output name the endpoint this way and never
/// the URL itself. Text that is not a URL becomes `[REDACTED]` whole.
///
/// ```text
/// https://hooks.slack.com/services/T0/B0/XXXX → https://hooks.slack.com/[REDACTED]
/// http://user:pw@127.0.0.1:8080/hook?token=s  → http://127.0.0.1:8080/[REDACTED]
/// https://example.com                         → https://example.com
/// ```
#[cfg_attr(not(feature = "alert"), allow(dead_code))]
pub(crate) fn url_origin(url: &str) -> String {
    let Some((scheme, rest)) = url.trim().split_once("://") else {
        return REDACTED.to_owned();
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return REDACTED.to_owned();
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return REDACTED.to_owned();
    }
    if tail.is_empty() || tail == "/" {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{REDACTED}")
    }
}

/// A multiplicative hasher for the cache's integer keys (SipHash is needlessly slow here);
/// also the per-callsite cache's (`fields::callsite`).
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

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
            "DATABASE_URL",
            "dsn",
            "connection_string",
            "private_key",
            "aws_credentials",
            "db_pwd",
        ] {
            assert!(r.hides(name), "{name}");
        }
        for name in [
            "user_id",
            "lookback_days",
            "action_type",
            "status",
            "source",
            "url",
            "callback_url",
        ] {
            assert!(!r.hides(name), "{name}");
        }
        assert!(r.hides_field("password") && !r.hides_field("user_id"));
    }

    #[test]
    fn url_passwords_follow_the_list() {
        let r = Redaction::default();
        let mut buf = b"{\"k\":".to_vec();
        buf.extend_from_slice(b"\"mysql://root:hunter2@db\"");
        r.scrub_tail(&mut buf, 5);
        assert_eq!(buf, b"{\"k\":\"mysql://root:[REDACTED]@db\"");
        let mut s = "postgres://a:b@c".to_owned();
        Redaction::none().scrub_text(&mut s);
        assert_eq!(s, "postgres://a:b@c");
    }

    #[test]
    fn url_origins_keep_no_path_query_or_userinfo() {
        for (url, shown) in [
            (
                "https://hooks.slack.com/services/T0/B0/XXXX",
                "https://hooks.slack.com/[REDACTED]",
            ),
            (
                "http://user:pw@127.0.0.1:8080/hook?token=s",
                "http://127.0.0.1:8080/[REDACTED]",
            ),
            ("https://example.com", "https://example.com"),
            ("https://example.com/", "https://example.com"),
            (
                "https://example.com?token=x",
                "https://example.com/[REDACTED]",
            ),
            ("not a url", "[REDACTED]"),
            ("://x/y", "[REDACTED]"),
        ] {
            assert_eq!(url_origin(url), shown, "{url}");
        }
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
