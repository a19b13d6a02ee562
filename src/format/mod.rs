//! Turning captured fields into bytes: [`json`] holds the escaping (its byte scans in `scan`) and value rendering shared by
//! every output, [`file`] the JSON-lines record, [`console`] the seed's coloured console line.

pub(crate) mod console;
pub(crate) mod file;
pub(crate) mod json;
mod number;
mod scan;

/// Separators between metadata entries: compact for files, the seed's `": "` / `", "` for the console.
#[derive(Clone, Copy)]
pub(crate) struct Seps {
    pub(crate) kv: &'static [u8],
    pub(crate) item: &'static [u8],
}

/// The seed's level names: Python's `WARNING` rather than tracing's `WARN`.
pub(crate) fn level_name(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::TRACE => "TRACE",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::INFO => "INFO",
        tracing::Level::WARN => "WARNING",
        tracing::Level::ERROR => "ERROR",
    }
}
