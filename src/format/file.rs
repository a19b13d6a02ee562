//! The JSON-lines record of the day files, in its fixed key order:
//! `{"timestamp":…,"level":…,"message":…,"logger":…,"metadata":{…}}` and a newline.

use super::Seps;
use crate::clock::Stamp;
use crate::format::json;

/// Compact separators: the file is for machines. (The file layer's writer lays out its lines
/// itself, `file::render`; these stay for the comparison test of that rendering.)
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const SEPS: Seps = Seps {
    kv: b":",
    item: b",",
};

/// Appends one complete line. `meta` holds the metadata entries already rendered with [`SEPS`].
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    stamp: &Stamp,
    level: &str,
    message: &str,
    logger: &str,
    meta: &[u8],
) {
    write_line_with(out, stamp, level, message, Logger::Raw(logger), meta)
}

/// The logger name of a line: raw, or already a JSON string (cached per callsite).
#[derive(Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Logger<'a> {
    Raw(&'a str),
    Json(&'a [u8]),
}

/// [`write_line`] with the logger name given either way.
pub(crate) fn write_line_with(
    out: &mut Vec<u8>,
    stamp: &Stamp,
    level: &str,
    message: &str,
    logger: Logger<'_>,
    meta: &[u8],
) {
    let logger_len = match logger {
        Logger::Raw(s) => s.len(),
        Logger::Json(j) => j.len(),
    };
    out.reserve(96 + message.len() + logger_len + meta.len());
    out.extend_from_slice(b"{\"timestamp\":\"");
    stamp.write_rfc3339(out);
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(level.as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    json::write_str(out, message);
    out.extend_from_slice(b",\"logger\":");
    match logger {
        Logger::Raw(s) => json::write_str(out, s),
        Logger::Json(j) => out.extend_from_slice(j),
    }
    out.extend_from_slice(b",\"metadata\":{");
    out.extend_from_slice(meta);
    out.extend_from_slice(b"}}\n");
}
