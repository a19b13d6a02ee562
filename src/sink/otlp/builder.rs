//! [`OtlpSinkBuilder`]: the sink's settings, each from a builder call, else the standard
//! environment variable, else the specification's default.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::OtlpSink;
use super::env::{self, Lookup};
use crate::error::Error;

/// How the records are encoded (`OTEL_EXPORTER_OTLP_PROTOCOL`). gRPC is not offered: the
/// collector's OTLP/HTTP receiver (port 4318) takes the same data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// Protobuf (`http/protobuf`, `Content-Type: application/x-protobuf`): the default.
    #[default]
    HttpProtobuf,
    /// OTLP/JSON (`http/json`, `Content-Type: application/json`).
    HttpJson,
}

impl Protocol {
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
        }
    }
}

/// Whether request bodies are compressed (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Sent as they are: the default.
    #[default]
    None,
    /// gzip, with `Content-Encoding: gzip`.
    Gzip,
}

/// The default of `OTEL_EXPORTER_OTLP_TIMEOUT`: how long one export may take, connection
/// included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds an [`OtlpSink`]; start from [`OtlpSink::builder`]. Each setting comes from the
/// builder call if made, else from its environment variable (unless
/// [`environment(false)`](Self::environment)), else the default; `build` checks them all.
///
/// ```no_run
/// use std::time::Duration;
/// use actionlog::sink::otlp::{Compression, OtlpSink, Protocol};
///
/// let sink = OtlpSink::builder()
///     .endpoint("https://otlp.example.com/v1/logs")
///     .header("api-key", std::env::var("OTLP_KEY").unwrap_or_default())
///     .protocol(Protocol::HttpProtobuf)
///     .compression(Compression::Gzip)
///     .timeout(Duration::from_secs(5))
///     .service_name("tracker")
///     .resource_attribute("deployment.environment.name", "production")
///     .build()?;
/// let _guard = actionlog::builder().sink(sink).init()?;
/// # Ok::<(), actionlog::Error>(())
/// ```
#[must_use]
#[derive(Clone, Default)]
pub struct OtlpSinkBuilder {
    ignore_environment: bool,
    endpoint: Option<String>,
    headers: Vec<(String, String)>,
    protocol: Option<Protocol>,
    compression: Option<Compression>,
    timeout: Option<Duration>,
    service_name: Option<String>,
    resource: Vec<(String, String)>,
}

impl fmt::Debug for OtlpSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, _)| format!("{k}: [REDACTED]"))
            .collect();
        f.debug_struct("OtlpSinkBuilder")
            .field("environment", &!self.ignore_environment)
            .field(
                "endpoint",
                &self
                    .endpoint
                    .as_ref()
                    .map(|e| super::without_credentials(e)),
            )
            .field("headers", &headers)
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("service_name", &self.service_name)
            .field("resource", &self.resource)
            .finish()
    }
}

impl OtlpSinkBuilder {
    /// The full URL records are posted to, used as it is, like
    /// `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` (e.g. `http://collector:4318/v1/logs`). Default:
    /// that variable, else `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/logs` appended, else
    /// `http://localhost:4318/v1/logs`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// A header sent with every request, typically a credential (`api-key`,
    /// `Authorization`). Its value never appears in an error, a report, `Debug` or a dead
    /// letter. Headers given here replace the environment's of the same name and are added to
    /// the others (`OTEL_EXPORTER_OTLP_LOGS_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The encoding (default: `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL`, else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, else [`Protocol::HttpProtobuf`]).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Request body compression (default: `OTEL_EXPORTER_OTLP_LOGS_COMPRESSION`, else
    /// `OTEL_EXPORTER_OTLP_COMPRESSION`, else none).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// Time allowed for one export, connection included (default:
    /// `OTEL_EXPORTER_OTLP_LOGS_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds,
    /// else [`DEFAULT_TIMEOUT`]). Past it the export is a transient failure and is retried.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The resource's `service.name` (default: `OTEL_SERVICE_NAME`, else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else `unknown_service:<executable name>`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// A resource attribute, beside those of `OTEL_RESOURCE_ATTRIBUTES` (replacing one of the
    /// same key).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// Whether settings not given to the builder are read from the `OTEL_*` environment
    /// variables (default on). Off, for a program whose `OTEL_*` variables configure another
    /// exporter: only the builder's calls and the defaults count.
    pub fn environment(mut self, read: bool) -> Self {
        self.ignore_environment = !read;
        self
    }

    /// Checks every setting and makes the sink. Nothing is sent yet: a collector that is down
    /// does not fail `build`, its records are retried in the background.
    ///
    /// # Errors
    /// [`Error::Setting`] naming the environment variable or builder call with a bad value (a
    /// URL that is not http(s), an unknown protocol or compression, `grpc`, a malformed
    /// header list, a bad header name or value, a zero timeout) — never the value itself.
    pub fn build(self) -> Result<OtlpSink, Error> {
        if self.ignore_environment {
            self.build_from(&|_| None)
        } else {
            self.build_from(&|k| std::env::var(k).ok())
        }
    }

    /// [`Self::build`] with the variables read through `lookup`.
    pub(super) fn build_from(self, lookup: Lookup<'_>) -> Result<OtlpSink, Error> {
        let endpoint = match &self.endpoint {
            Some(url) => super::env::parse_endpoint(url, "OtlpSinkBuilder::endpoint")?,
            None => match env::endpoint(lookup)? {
                Some((url, _)) => url,
                None => env::DEFAULT_ENDPOINT.parse().expect("a valid URL"),
            },
        };
        let mut headers = HeaderMap::new();
        if let Some((from_env, _)) = env::headers(lookup)? {
            for (name, value) in from_env {
                headers.append(name, value);
            }
        }
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let (name, value): (HeaderName, HeaderValue) =
                env::parse_header(name, value, "OtlpSinkBuilder::header", i + 1)?;
            headers.insert(name, value);
        }
        let protocol = match self.protocol {
            Some(p) => p,
            None => env::protocol(lookup)?.unwrap_or_default(),
        };
        let compression = match self.compression {
            Some(c) => c,
            None => env::compression(lookup)?.unwrap_or_default(),
        };
        let timeout = match self.timeout {
            Some(t) if t.is_zero() => {
                return Err(Error::Setting {
                    setting: "OtlpSinkBuilder::timeout",
                    reason: "must be longer than zero".into(),
                });
            }
            Some(t) => t,
            None => env::timeout(lookup)?.unwrap_or(DEFAULT_TIMEOUT),
        };
        let resource = self.resource(lookup)?;
        OtlpSink::new(endpoint, headers, protocol, compression, timeout, resource)
    }

    /// The resource's attributes, `service.name` first: the environment's, then the
    /// builder's (replacing the same key), with the service name's order of precedence.
    fn resource(&self, lookup: Lookup<'_>) -> Result<Vec<(String, String)>, Error> {
        let from_env = env::resource_attributes(lookup)?;
        let mut attrs: Vec<(String, String)> = Vec::new();
        let set = |attrs: &mut Vec<(String, String)>, k: &str, v: &str| match attrs
            .iter_mut()
            .find(|(key, _)| key == k)
        {
            Some(slot) => slot.1 = v.to_owned(),
            None => attrs.push((k.to_owned(), v.to_owned())),
        };
        let service = self
            .service_name
            .clone()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                self.resource
                    .iter()
                    .rev()
                    .find(|(k, _)| k == SERVICE_NAME)
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| env::service_name(lookup))
            .or_else(|| {
                from_env
                    .iter()
                    .rev()
                    .find(|(k, _)| k == SERVICE_NAME)
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(env::unknown_service);
        set(&mut attrs, SERVICE_NAME, &service);
        for (k, v) in from_env.iter().chain(&self.resource) {
            if k != SERVICE_NAME {
                set(&mut attrs, k, v);
            }
        }
        Ok(attrs)
    }
}

/// The resource attribute naming the service.
const SERVICE_NAME: &str = "service.name";

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn builder_calls_win_over_the_environment() {
        let vars = lookup(&[
            (env::ENDPOINT, "http://env:4318"),
            (env::HEADERS, "api-key=ENV-SECRET,x-team=a"),
            (env::PROTOCOL, "http/json"),
            (env::COMPRESSION, "gzip"),
            (env::TIMEOUT, "2000"),
            (env::SERVICE_NAME, "from-env"),
            (
                env::RESOURCE_ATTRIBUTES,
                "service.name=attr,host.name=h1,region=eu",
            ),
        ]);
        let from_env = OtlpSink::builder().build_from(&vars).unwrap();
        assert_eq!(from_env.endpoint.as_str(), "http://env:4318/v1/logs");
        assert_eq!(from_env.protocol, Protocol::HttpJson);
        assert_eq!(from_env.compression, Compression::Gzip);
        assert_eq!(from_env.timeout, Duration::from_millis(2000));
        assert_eq!(
            from_env.resource[0],
            ("service.name".into(), "from-env".into())
        );
        assert_eq!(from_env.resource.len(), 3);

        let built = OtlpSink::builder()
            .endpoint("http://mine:4318/v1/logs")
            .header("API-Key", "BUILDER-SECRET")
            .protocol(Protocol::HttpProtobuf)
            .compression(Compression::None)
            .timeout(Duration::from_secs(1))
            .resource_attribute("region", "us")
            .resource_attribute("service.name", "by-attribute")
            .build_from(&vars)
            .unwrap();
        assert_eq!(built.endpoint.as_str(), "http://mine:4318/v1/logs");
        assert_eq!(built.protocol, Protocol::HttpProtobuf);
        assert_eq!(built.compression, Compression::None);
        assert_eq!(built.timeout, Duration::from_secs(1));
        assert_eq!(built.headers["api-key"], "BUILDER-SECRET");
        assert_eq!(built.headers["x-team"], "a");
        assert_eq!(built.headers.len(), 2);
        assert_eq!(
            built.resource,
            vec![
                ("service.name".into(), "by-attribute".into()),
                ("host.name".into(), "h1".into()),
                ("region".into(), "us".into()),
            ]
        );
        let named = OtlpSink::builder()
            .service_name("tracker")
            .resource_attribute("service.name", "by-attribute")
            .build_from(&vars)
            .unwrap();
        assert_eq!(named.resource[0].1, "tracker");
        let shown = format!(
            "{built:?} {:?}",
            OtlpSink::builder().header("k", "BUILDER-SECRET")
        );
        assert!(
            !shown.contains("SECRET") && shown.contains("[REDACTED]"),
            "{shown}"
        );
    }

    #[test]
    fn without_the_environment_the_defaults() {
        let sink = OtlpSink::builder().environment(false).build().unwrap();
        assert_eq!(sink.endpoint.as_str(), env::DEFAULT_ENDPOINT);
        assert_eq!(sink.timeout, DEFAULT_TIMEOUT);
        assert_eq!(sink.protocol, Protocol::HttpProtobuf);
        assert_eq!(sink.compression, Compression::None);
        assert!(sink.resource[0].1.starts_with("unknown_service"));
        assert!(sink.headers.is_empty());
    }

    #[test]
    fn a_builder_value_overriding_a_bad_variable_is_not_checked_against_it() {
        let vars = lookup(&[(env::LOGS_ENDPOINT, "nonsense"), (env::PROTOCOL, "grpc")]);
        assert!(OtlpSink::builder().build_from(&vars).is_err());
        OtlpSink::builder()
            .endpoint("http://c:4318/v1/logs")
            .protocol(Protocol::HttpJson)
            .build_from(&vars)
            .unwrap();
    }

    #[test]
    fn bad_builder_values_name_the_call() {
        let e = OtlpSink::builder()
            .environment(false)
            .header("bad name", "SECRET")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OtlpSinkBuilder::header") && !e.contains("SECRET"),
            "{e}"
        );
        let e = OtlpSink::builder()
            .environment(false)
            .header("k", "SECRET\n")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OtlpSinkBuilder::header") && !e.contains("SECRET"),
            "{e}"
        );
        let e = OtlpSink::builder()
            .endpoint("collector:4318")
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("OtlpSinkBuilder::endpoint"), "{e}");
        assert!(
            OtlpSink::builder()
                .environment(false)
                .timeout(Duration::ZERO)
                .build()
                .is_err()
        );
    }
}
