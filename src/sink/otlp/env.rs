//! The OpenTelemetry SDK's environment variables, read as the specification has them: the
//! logs-specific `OTEL_EXPORTER_OTLP_LOGS_*` before the generic `OTEL_EXPORTER_OTLP_*` (a
//! blank variable counts as unset), the generic endpoint as a base URL to which `/v1/logs` is
//! appended, the logs endpoint used as it is, headers and resource attributes as
//! comma-separated `key=value` lists with percent-encoded values, the timeout in milliseconds.
//!
//! Each parser is also the builder's, under the builder call's name, so a value is checked
//! the same way wherever it comes from. An error names the variable (or call) and what is
//! wrong, never the value: headers carry credentials, and an endpoint may too.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};

use super::{Compression, Protocol};
use crate::error::Error;

pub(super) const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub(super) const LOGS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT";
pub(super) const HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
pub(super) const LOGS_HEADERS: &str = "OTEL_EXPORTER_OTLP_LOGS_HEADERS";
pub(super) const COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
pub(super) const LOGS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION";
pub(super) const TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
pub(super) const LOGS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT";
pub(super) const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
pub(super) const LOGS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL";
pub(super) const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
pub(super) const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// Where no endpoint is configured: a collector on this host, its OTLP/HTTP port.
pub(super) const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/logs";

/// Reads one variable: the process environment, or a table in tests.
pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A variable that is set and not blank, with its name.
pub(super) struct Var {
    pub(super) name: &'static str,
    pub(super) value: String,
}

fn var(lookup: Lookup<'_>, name: &'static str) -> Option<Var> {
    let value = lookup(name).filter(|v| !v.trim().is_empty())?;
    Some(Var { name, value })
}

/// The logs-specific variable if set, else the generic one.
fn logs_or_generic(lookup: Lookup<'_>, logs: &'static str, generic: &'static str) -> Option<Var> {
    var(lookup, logs).or_else(|| var(lookup, generic))
}

fn bad(setting: &'static str, reason: impl Into<String>) -> Error {
    Error::Setting {
        setting,
        reason: reason.into(),
    }
}

/// The logs endpoint the environment names, and the variable that named it.
pub(super) fn endpoint(lookup: Lookup<'_>) -> Result<Option<(Url, &'static str)>, Error> {
    if let Some(v) = var(lookup, LOGS_ENDPOINT) {
        return Ok(Some((parse_endpoint(&v.value, v.name)?, v.name)));
    }
    let Some(v) = var(lookup, ENDPOINT) else {
        return Ok(None);
    };
    let mut url = parse_endpoint(&v.value, v.name)?;
    let path = format!("{}/v1/logs", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(Some((url, v.name)))
}

/// An http(s) URL with a host.
pub(super) fn parse_endpoint(s: &str, setting: &'static str) -> Result<Url, Error> {
    let url = Url::parse(s.trim()).map_err(|_| {
        bad(
            setting,
            "not a URL; expected http(s)://host:port, e.g. http://localhost:4318",
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad(
            setting,
            "not an http(s) URL with a host, e.g. http://localhost:4318",
        ));
    }
    Ok(url)
}

/// Request headers, in order.
pub(super) type Headers = Vec<(HeaderName, HeaderValue)>;

/// The headers the environment names, and the variable that named them.
pub(super) fn headers(lookup: Lookup<'_>) -> Result<Option<(Headers, &'static str)>, Error> {
    let Some(v) = logs_or_generic(lookup, LOGS_HEADERS, HEADERS) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, (key, value)) in key_values(&v.value, v.name)?.into_iter().enumerate() {
        out.push(parse_header(&key, &value, v.name, i + 1)?);
    }
    Ok(Some((out, v.name)))
}

/// `key=value` entries, comma-separated, values percent-decoded; blank entries skipped.
fn key_values(s: &str, setting: &'static str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for (i, entry) in s.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let Some((key, value)) = entry.split_once('=') else {
            return Err(bad(setting, format!("entry {n} is not key=value")));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(bad(setting, format!("entry {n} has no key")));
        }
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| {
                bad(
                    setting,
                    format!("the value of entry {n} is not percent-encoded UTF-8"),
                )
            })?;
        out.push((key.to_owned(), value.into_owned()));
    }
    Ok(out)
}

/// One header, checked; its value marked sensitive (left out of reqwest's `Debug`). `entry`
/// says which one of a list it is (from 1); the name is repeated only once known valid.
pub(super) fn parse_header(
    name: &str,
    value: &str,
    setting: &'static str,
    entry: usize,
) -> Result<(HeaderName, HeaderValue), Error> {
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        bad(
            setting,
            format!("header {entry}: not a valid HTTP header name"),
        )
    })?;
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        bad(
            setting,
            format!("the value of header {name} holds characters not allowed in an HTTP header"),
        )
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

pub(super) fn compression(lookup: Lookup<'_>) -> Result<Option<Compression>, Error> {
    logs_or_generic(lookup, LOGS_COMPRESSION, COMPRESSION)
        .map(|v| match v.value.trim().to_ascii_lowercase().as_str() {
            "gzip" => Ok(Compression::Gzip),
            "none" => Ok(Compression::None),
            _ => Err(bad(v.name, "must be gzip or none")),
        })
        .transpose()
}

/// What to tell someone who asked for gRPC.
pub(super) const GRPC_UNSUPPORTED: &str = "grpc is not supported: actionlog speaks OTLP over HTTP only; point the endpoint at the collector's OTLP/HTTP receiver (port 4318, e.g. http://collector:4318) and use http/protobuf (the default) or http/json";

pub(super) fn protocol(lookup: Lookup<'_>) -> Result<Option<Protocol>, Error> {
    logs_or_generic(lookup, LOGS_PROTOCOL, PROTOCOL)
        .map(|v| match v.value.trim() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            "grpc" => Err(bad(v.name, GRPC_UNSUPPORTED)),
            _ => Err(bad(v.name, "must be http/protobuf or http/json")),
        })
        .transpose()
}

pub(super) fn timeout(lookup: Lookup<'_>) -> Result<Option<Duration>, Error> {
    logs_or_generic(lookup, LOGS_TIMEOUT, TIMEOUT)
        .map(|v| match v.value.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(bad(
                v.name,
                "must be a positive whole number of milliseconds",
            )),
        })
        .transpose()
}

pub(super) fn service_name(lookup: Lookup<'_>) -> Option<String> {
    var(lookup, SERVICE_NAME).map(|v| v.value.trim().to_owned())
}

pub(super) fn resource_attributes(lookup: Lookup<'_>) -> Result<Vec<(String, String)>, Error> {
    match var(lookup, RESOURCE_ATTRIBUTES) {
        Some(v) => key_values(&v.value, v.name),
        None => Ok(Vec::new()),
    }
}

/// `unknown_service:<executable name>`, the specification's service name when none is set.
pub(super) fn unknown_service() -> String {
    let exe = std::env::current_exe().ok();
    match exe
        .as_deref()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
    {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_generic_endpoint_is_a_base_and_the_logs_one_is_used_as_is() {
        for (base, want) in [
            ("http://c:4318", "http://c:4318/v1/logs"),
            ("http://c:4318/", "http://c:4318/v1/logs"),
            ("https://c/otlp/", "https://c/otlp/v1/logs"),
        ] {
            let (url, from) = endpoint(&lookup(&[(ENDPOINT, base)])).unwrap().unwrap();
            assert_eq!((url.as_str(), from), (want, ENDPOINT));
        }
        let both = lookup(&[
            (ENDPOINT, "http://a:4318"),
            (LOGS_ENDPOINT, "http://b/custom"),
        ]);
        let (url, from) = endpoint(&both).unwrap().unwrap();
        assert_eq!((url.as_str(), from), ("http://b/custom", LOGS_ENDPOINT));
        assert!(endpoint(&lookup(&[(ENDPOINT, "  ")])).unwrap().is_none());
        for bad in ["collector:4318", "ftp://c", "http://", "not a url"] {
            let e = endpoint(&lookup(&[(LOGS_ENDPOINT, bad)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(LOGS_ENDPOINT), "{e}");
        }
    }

    #[test]
    fn headers_are_percent_decoded_and_bad_ones_named_without_their_value() {
        let l = lookup(&[(HEADERS, "api-key=SECRET%20one , x-b = 2,,")]);
        let (h, from) = headers(&l).unwrap().unwrap();
        assert_eq!(from, HEADERS);
        assert_eq!(h.len(), 2);
        assert_eq!(
            (h[0].0.as_str(), h[0].1.to_str().unwrap()),
            ("api-key", "SECRET one")
        );
        assert!(h[0].1.is_sensitive());
        assert_eq!(h[1].1.to_str().unwrap(), "2");
        let logs = lookup(&[(HEADERS, "a=1"), (LOGS_HEADERS, "b=2")]);
        let (h, from) = headers(&logs).unwrap().unwrap();
        assert_eq!((h.len(), h[0].0.as_str(), from), (1, "b", LOGS_HEADERS));
        for bad in [
            "api-key:SECRET",
            "=SECRET",
            "bad name=SECRET",
            "k=SECRET%0A",
            "k=SECRET%ff",
        ] {
            let e = headers(&lookup(&[(LOGS_HEADERS, bad)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(LOGS_HEADERS) && !e.contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn compression_protocol_timeout() {
        let l = lookup(&[
            (COMPRESSION, "gzip"),
            (LOGS_PROTOCOL, "http/json"),
            (TIMEOUT, "2500"),
        ]);
        assert_eq!(compression(&l).unwrap(), Some(Compression::Gzip));
        assert_eq!(protocol(&l).unwrap(), Some(Protocol::HttpJson));
        assert_eq!(timeout(&l).unwrap(), Some(Duration::from_millis(2500)));
        let l = lookup(&[
            (LOGS_COMPRESSION, "zstd"),
            (PROTOCOL, "grpc"),
            (LOGS_TIMEOUT, "10s"),
        ]);
        let e = compression(&l).unwrap_err().to_string();
        assert!(
            e.contains(LOGS_COMPRESSION) && e.contains("gzip or none"),
            "{e}"
        );
        let e = protocol(&l).unwrap_err().to_string();
        assert!(
            e.contains(PROTOCOL) && e.contains("4318") && e.contains("HTTP only"),
            "{e}"
        );
        let e = timeout(&l).unwrap_err().to_string();
        assert!(e.contains(LOGS_TIMEOUT), "{e}");
        assert!(timeout(&lookup(&[(TIMEOUT, "0")])).is_err());
        assert!(protocol(&lookup(&[(PROTOCOL, "http")])).is_err());
    }

    #[test]
    fn resource_attributes_are_key_values() {
        let l = lookup(&[(
            RESOURCE_ATTRIBUTES,
            "service.name=a%2Cb,deployment.environment.name=prod",
        )]);
        assert_eq!(
            resource_attributes(&l).unwrap(),
            vec![
                ("service.name".to_owned(), "a,b".to_owned()),
                ("deployment.environment.name".to_owned(), "prod".to_owned())
            ]
        );
        let e = resource_attributes(&lookup(&[(RESOURCE_ATTRIBUTES, "x")])).unwrap_err();
        assert!(e.to_string().contains(RESOURCE_ATTRIBUTES));
        assert!(unknown_service().starts_with("unknown_service"));
    }
}
