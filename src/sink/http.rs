//! What the HTTP sinks (Supabase, OTLP) share: the reading of a transport error (timed out, or
//! unreachable with the cause that says why: refused, reset, TLS) and of `Retry-After`, and
//! the percent-encoding of a query-string value (PostgREST's filters, here and on the read
//! side).
//!
//! A transport error is always worth retrying: the request may or may not have arrived, and
//! every HTTP sink's write is safe to repeat (an upsert, or records a receiver de-duplicates
//! by their id).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::{FailureKind, SinkError};

/// A failed request as a transient failure: `what` names the server (never a credential),
/// `timeout` is the client's bound. reqwest's own message names the URL, which may hold
/// credentials in its query; it is left out.
pub(crate) fn transport_error(e: reqwest::Error, what: &str, timeout: Duration) -> SinkError {
    let message = if e.is_timeout() {
        format!("request to {what} timed out after {timeout:?}")
    } else {
        format!("cannot reach {what}: {}", error_chain(&e.without_url()))
    };
    SinkError::new(FailureKind::Transient, message)
}

/// `s` percent-encoded: everything but RFC 3986's unreserved characters.
#[cfg_attr(not(feature = "supabase"), allow(dead_code))]
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The error's message and each of its causes, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// How long the server asked to wait: `Retry-After` in seconds or as an HTTP date (a date in
/// the past means now).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(value, SystemTime::now())
}

fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // The two obsolete date forms HTTP recipients must accept.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:10 2015", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
