//! OpenTelemetry (feature `otlp`): action records and job runs as OTLP log records, posted to
//! a collector's OTLP/HTTP receiver (`POST /v1/logs`, protobuf or JSON, gzip optional), over
//! reqwest with rustls. Set up by [`OtlpSink::builder`] or the standard `OTEL_EXPORTER_OTLP_*`
//! environment variables ([`OtlpSink::from_env`]).
//!
//! One batch is one export request: one resource (`service.name` and
//! `OTEL_RESOURCE_ATTRIBUTES`), one scope (`actionlog` and the crate's version), one log record
//! per row (`mapping` says which fields go where: the README's table is that module's). It also
//! takes the log lines themselves ([`Sink::write_lines`], for `Builder::ship_lines`): one log
//! record per line, read out of the line's JSON, under a scope per logger.
//!
//! Answers, as the OTLP/HTTP specification has them:
//! - 2xx: delivered. A partial success that refused records
//!   ([`FailureKind::PartiallyRejected`]) dead-letters the batch whole, without resending
//!   it: the receiver does not say which records it refused, and resending would duplicate
//!   the ones it took. A partial success that refused none but carries a message is reported
//!   once.
//! - 429, 502, 503, 504, a refused or reset connection, a timeout: retried with backoff,
//!   honouring `Retry-After` (seconds or an HTTP date).
//! - a redirect: a configuration error (retried, records kept); it is not followed, so headers
//!   carrying credentials never go to another server.
//! - 401, 403, 404, 405, 407, 415: a configuration error too (retried, records kept): the
//!   receiver refuses every request, whatever its records (credentials, URL, encoding), so
//!   splitting the batch could only dead-letter everything. The specification's "do not
//!   retry" is for an exporter that would otherwise resend in a loop; here the records wait
//!   in the spool, with backoff, until the set-up is fixed.
//! - every other 4xx and 5xx: the records are rejected, which the pipeline isolates by
//!   splitting the batch, and dead-letters with the receiver's message.
//!
//! A record may reach the receiver twice (an answer lost after the receiver took the batch,
//! then the retry; or an action's `initiated` record and its final one in separate batches):
//! `actionlog.action_id` (`actionlog.job_execution_id` for job runs) is the record's id to
//! de-duplicate by, the last record of an id being its latest state.
//!
//! Header values (credentials) are marked sensitive and never appear in an error, a report,
//! `Debug` output, [`Sink::target`] or a dead letter; the endpoint is shown without its user
//! information and query.

mod builder;
mod env;
mod json;
mod mapping;
mod proto;

pub use builder::{Compression, DEFAULT_TIMEOUT, OtlpSinkBuilder, Protocol};

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};

use super::{Batch, FailureKind, Sink, SinkError, SinkFuture, http};
use crate::error::Error;
use crate::rows::{ActionRecord, JobExecution, LogLine};
use mapping::{Export, Scope};

/// The most of an answer's body read: enough for any `ExportLogsServiceResponse` or status.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The most of a receiver's message quoted in errors, reports and dead letters.
const MAX_QUOTED_CHARS: usize = 300;

/// Sends action records and job runs to an OpenTelemetry collector as OTLP log records; and,
/// given to [`crate::Builder::ship_lines`], the log lines too.
///
/// ```no_run
/// // OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318, OTEL_SERVICE_NAME=tracker, …
/// let sink = actionlog::sink::OtlpSink::from_env()?;
/// let _guard = actionlog::builder().sink(sink).init()?;
/// # Ok::<(), actionlog::Error>(())
/// ```
pub struct OtlpSink {
    client: reqwest::Client,
    endpoint: Url,
    /// The endpoint without credentials or query, for messages.
    target: String,
    headers: HeaderMap,
    protocol: Protocol,
    compression: Compression,
    timeout: Duration,
    resource: Vec<(String, String)>,
    /// Whether a receiver's message on a full success was reported (once).
    warned: bool,
}

impl std::fmt::Debug for OtlpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<String> = self
            .headers
            .keys()
            .map(|k| format!("{k}: [REDACTED]"))
            .collect();
        f.debug_struct("OtlpSink")
            .field("endpoint", &self.target)
            .field("headers", &headers)
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("resource", &self.resource)
            .finish()
    }
}

/// `url` without user information, query or fragment (which may hold credentials).
fn without_credentials(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => target_of(&u),
        Err(_) => "[not a URL]".to_owned(),
    }
}

fn target_of(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

impl OtlpSink {
    /// A builder: every setting from its call, else its `OTEL_*` variable, else the default.
    pub fn builder() -> OtlpSinkBuilder {
        OtlpSinkBuilder::default()
    }

    /// The sink the `OTEL_*` environment variables describe (`OtlpSink::builder().build()`):
    /// `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` (default
    /// `http://localhost:4318`), `…_HEADERS`, `…_PROTOCOL`, `…_COMPRESSION`, `…_TIMEOUT`,
    /// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`.
    ///
    /// # Errors
    /// [`Error::Setting`] naming the variable with a bad value (never the value).
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().build()
    }

    fn new(
        endpoint: Url,
        headers: HeaderMap,
        protocol: Protocol,
        compression: Compression,
        timeout: Duration,
        resource: Vec<(String, String)>,
    ) -> Result<Self, Error> {
        let mut defaults = headers.clone();
        defaults.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("actionlog/", env!("CARGO_PKG_VERSION"))),
        );
        let client = reqwest::Client::builder()
            .default_headers(defaults)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(4)
            .build()
            .map_err(|_| Error::Config("cannot build the HTTP client"))?;
        Ok(OtlpSink {
            client,
            target: target_of(&endpoint),
            endpoint,
            headers,
            protocol,
            compression,
            timeout,
            resource,
            warned: false,
        })
    }

    /// The body of an export of `scopes`, encoded and compressed as set up.
    fn body(&self, scopes: Vec<Scope<'_>>) -> Vec<u8> {
        let export = Export {
            resource: &self.resource,
            scopes,
        };
        let body = match self.protocol {
            Protocol::HttpProtobuf => proto::encode(&export),
            Protocol::HttpJson => json::encode(&export),
        };
        match self.compression {
            Compression::None => body,
            Compression::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::fast(),
                );
                // Writing into a Vec cannot fail.
                let _ = gz.write_all(&body);
                gz.finish().unwrap_or_default()
            }
        }
    }

    /// One export request of the records of `scopes` and what its answer means.
    async fn export(&mut self, scopes: Vec<Scope<'_>>) -> Result<(), SinkError> {
        let count: usize = scopes.iter().map(|s| s.records.len()).sum();
        if count == 0 {
            return Ok(());
        }
        let body = self.body(scopes);
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, self.protocol.content_type())
            .body(body);
        if self.compression == Compression::Gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| http::transport_error(e, &self.target, self.timeout))?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers());
        let json = match response.headers().get(CONTENT_TYPE) {
            Some(ct) => ct.to_str().is_ok_and(|ct| ct.contains("json")),
            None => self.protocol == Protocol::HttpJson,
        };
        // What the body says is a detail: an answer cut short still has its status.
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = MAX_ANSWER_BYTES - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == MAX_ANSWER_BYTES {
                break;
            }
        }
        self.judge(status, json, &body, retry_after, count)
    }

    /// What an answer means for a request of `count` records.
    fn judge(
        &mut self,
        status: u16,
        json: bool,
        body: &[u8],
        retry_after: Option<Duration>,
        count: usize,
    ) -> Result<(), SinkError> {
        let target = &self.target;
        if (200..300).contains(&status) {
            let answer = if json {
                json::decode_response(body)
            } else {
                proto::decode_response(body)
            };
            let Some(answer) = answer else {
                // Taken: the receiver said so with its status.
                warn_once(
                    &mut self.warned,
                    format_args!(
                        "NOTE: {target} answered HTTP {status} with a body that is not an ExportLogsServiceResponse; the records are taken as delivered"
                    ),
                );
                return Ok(());
            };
            if answer.rejected > 0 {
                let kind = FailureKind::PartiallyRejected {
                    rejected: answer.rejected as u64,
                };
                let message = format!(
                    "{target} refused {} of {count} log records{}",
                    answer.rejected,
                    quoted(answer.message.as_bytes())
                );
                return Err(SinkError::new(kind, message));
            }
            if !answer.message.is_empty() {
                let said = quoted(answer.message.as_bytes());
                warn_once(
                    &mut self.warned,
                    format_args!(
                        "NOTE: {target} accepted the records with a message{said} (reported once)"
                    ),
                );
            }
            return Ok(());
        }
        let detail = if json {
            json::decode_status_message(body)
        } else {
            proto::decode_status_message(body)
        };
        let detail = match detail {
            Some(m) => quoted(m.as_bytes()),
            None => quoted(body),
        };
        let (kind, message) = match status {
            429 | 502 | 503 | 504 => (
                FailureKind::Transient,
                format!("{target} answered HTTP {status}{detail}"),
            ),
            // Refusals of any request whatever its records (credentials, the URL, the
            // encoding): splitting the batch would only dead-letter every record, so they are
            // kept and retried while the set-up is fixed, as the database sinks do with a
            // rejected login.
            401 | 403 | 404 | 405 | 407 | 415 => (
                FailureKind::Config,
                format!("{target} refused the request: HTTP {status}{detail}"),
            ),
            300..=399 => (
                FailureKind::Config,
                format!(
                    "{target} answered HTTP {status}, a redirect, which is not followed so that credentials in headers go nowhere else; set the endpoint to the receiver's own URL"
                ),
            ),
            _ => (
                FailureKind::Rejected,
                format!("{target} rejected the records: HTTP {status}{detail}"),
            ),
        };
        let mut e = SinkError::new(kind, message);
        e.retry_after = retry_after;
        Err(e)
    }
}

/// Reports `args` unless `warned` says it was done.
fn warn_once(warned: &mut bool, args: std::fmt::Arguments<'_>) {
    if !std::mem::replace(warned, true) {
        crate::report::emit(args);
    }
}

/// `: <text>` from a receiver's message (or a body that is text), at most
/// [`MAX_QUOTED_CHARS`], control characters as spaces so a report stays one line; empty when
/// there is nothing readable.
fn quoted(text: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(text) else {
        return String::new();
    };
    let text: String = text
        .trim()
        .chars()
        .take(MAX_QUOTED_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.is_empty() {
        text
    } else {
        format!(": {text}")
    }
}

/// Now, in Unix nanoseconds: the records' observed time.
fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0))
}

impl Sink for OtlpSink {
    fn name(&self) -> &'static str {
        "otlp"
    }

    fn target(&self) -> String {
        self.target.clone()
    }

    fn write<'a>(&'a mut self, batch: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
        let observed = now_nanos();
        let records = batch.iter().map(|r| mapping::action(r, observed)).collect();
        Box::pin(self.export(vec![Scope::actionlog(records)]))
    }

    fn write_jobs<'a>(&'a mut self, batch: &'a Batch<JobExecution>) -> SinkFuture<'a> {
        let observed = now_nanos();
        let records = batch.iter().map(|j| mapping::job(j, observed)).collect();
        Box::pin(self.export(vec![Scope::actionlog(records)]))
    }

    fn takes_lines(&self) -> bool {
        true
    }

    fn write_lines<'a>(&'a mut self, batch: &'a Batch<LogLine>) -> SinkFuture<'a> {
        let observed = now_nanos();
        Box::pin(async move {
            // Each line's JSON read once, here on the delivery worker (never on the caller).
            let parsed: Vec<serde_json::Value> = batch.iter().map(mapping::parse_line).collect();
            let scopes = mapping::lines(batch.iter().zip(&parsed), observed);
            self.export(scopes).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink() -> OtlpSink {
        OtlpSink::builder()
            .environment(false)
            .endpoint("https://user:PASSWORD@collector.example:4318/v1/logs?key=QUERYSECRET#f")
            .header("authorization", "Bearer SECRET")
            .build()
            .unwrap()
    }

    #[test]
    fn the_target_and_debug_hold_no_credentials() {
        let s = sink();
        assert_eq!(s.target(), "https://collector.example:4318/v1/logs");
        let shown = format!("{s:?}");
        for secret in ["PASSWORD", "QUERYSECRET", "SECRET"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("authorization: [REDACTED]"), "{shown}");
        assert_eq!(without_credentials("nonsense"), "[not a URL]");
    }

    #[test]
    fn answers_are_judged_as_the_specification_says() {
        let mut s = sink();
        assert!(s.judge(200, false, &[], None, 3).is_ok());
        assert!(s.judge(202, true, b"{}", None, 3).is_ok());
        // partial_success { rejected_log_records: 2, error_message: "old" }
        let partial = [0x0a, 0x07, 0x08, 0x02, 0x12, 0x03, b'o', b'l', b'd'];
        let e = s.judge(200, false, &partial, None, 3).unwrap_err();
        assert_eq!(e.kind, FailureKind::PartiallyRejected { rejected: 2 });
        assert!(
            e.message.contains("refused 2 of 3") && e.message.ends_with(": old"),
            "{e}"
        );
        for (status, kind) in [
            (429, FailureKind::Transient),
            (502, FailureKind::Transient),
            (503, FailureKind::Transient),
            (504, FailureKind::Transient),
            (400, FailureKind::Rejected),
            (401, FailureKind::Config),
            (403, FailureKind::Config),
            (404, FailureKind::Config),
            (415, FailureKind::Config),
            (413, FailureKind::Rejected),
            (500, FailureKind::Rejected),
            (301, FailureKind::Config),
        ] {
            let after = Some(Duration::from_secs(7));
            let e = s.judge(
                status,
                true,
                br#"{"code":3,"message":"why\nnot"}"#,
                after,
                3,
            );
            let e = e.unwrap_err();
            assert_eq!(e.kind, kind, "{status}");
            assert_eq!(e.retry_after, after);
            if status != 301 {
                assert!(e.message.ends_with(": why not"), "{e}");
            }
        }
    }
}
