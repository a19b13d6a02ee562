//! The JSON-lines record of the day files, in its fixed key order:
//! `{"timestamp":…,"level":…,"message":…,"logger":…,"metadata":{…}}` and a newline.

use crate::clock::Stamp;
use crate::format::json;

/// Appends one complete line. `meta` holds the metadata entries already rendered as JSON
/// (`"key":value` joined by commas).
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    stamp: &Stamp,
    level: &str,
    message: &str,
    logger: &str,
    meta: &[u8],
) {
    out.reserve(96 + message.len() + logger.len() + meta.len());
    out.extend_from_slice(b"{\"timestamp\":\"");
    stamp.write_rfc3339(out);
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(level.as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    json::write_str(out, message);
    out.extend_from_slice(b",\"logger\":");
    json::write_str(out, logger);
    out.extend_from_slice(b",\"metadata\":{");
    out.extend_from_slice(meta);
    out.extend_from_slice(b"}}\n");
}
