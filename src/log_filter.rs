//! The log filter of the files, the console and the lines kept with job runs: the builder's
//! directives, else `RUST_LOG`, else [`DEFAULT_FILTER`].

use tracing_subscriber::EnvFilter;

use crate::error::Error;

/// The filter used when neither the builder nor `RUST_LOG` gives one.
pub const DEFAULT_FILTER: &str = "info";

/// Parses `directives` (or `RUST_LOG`, or the default) in `RUST_LOG` syntax.
pub(crate) fn parse(directives: Option<&str>) -> Result<EnvFilter, Error> {
    let directives = match directives {
        Some(d) => d.to_owned(),
        None => match std::env::var("RUST_LOG") {
            Ok(d) if !d.trim().is_empty() => d,
            _ => DEFAULT_FILTER.to_owned(),
        },
    };
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| Error::Filter {
            reason: e.to_string(),
            directives,
        })
}
