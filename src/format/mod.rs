//! Turning captured fields into bytes: [`json`] holds the escaping (its byte scans in `scan`)
//! and value rendering shared by every output (numbers in `number`), [`time`] the timestamps,
//! [`file`](mod@file) the day file's line (its whole layout), [`console`] the coloured console line.

pub(crate) mod console;
pub(crate) mod file;
pub(crate) mod json;
mod number;
mod scan;
pub(crate) mod time;

/// Separators between metadata entries: compact for files, `": "` / `", "` for the console
/// (as Python's `json.dumps` writes them, readable on a terminal).
#[derive(Clone, Copy)]
pub(crate) struct Seps {
    pub(crate) kv: &'static [u8],
    pub(crate) item: &'static [u8],
}

/// Level names as Python's `logging` writes them — `WARNING` rather than tracing's `WARN` — so
/// lines read the same as those of the Python services they often sit beside.
pub(crate) fn level_name(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::TRACE => "TRACE",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::INFO => "INFO",
        tracing::Level::WARN => "WARNING",
        tracing::Level::ERROR => "ERROR",
    }
}
