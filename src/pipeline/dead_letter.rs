//! The dead-letter file: records the database rejected (or that could not be delivered before
//! the shutdown deadline) go to `<dir>/YYYY-MM-DD.jsonl`, one JSON object per line:
//! `{"dead_lettered_at":…,"sink":…,"error":…,"record":{…columns…}}`. Nothing is silently lost:
//! the line holds the whole record and the database's reason, ready to fix and replay.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::rows::Row;

pub(crate) struct DeadLetter {
    dir: Option<PathBuf>,
}

impl DeadLetter {
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        DeadLetter { dir }
    }

    /// Appends one record; `Err` means it could not be kept anywhere.
    pub(crate) fn write(
        &self,
        rec: &Row,
        sink: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> std::io::Result<PathBuf> {
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| std::io::Error::other("no dead-letter directory configured"))?;
        crate::fs::create_dir(dir)?;
        let path = dir.join(now.format("%Y-%m-%d.jsonl").to_string());
        let mut file = crate::fs::open_append(&path)?;
        let line = json!({
            "dead_lettered_at": now.to_rfc3339_opts(SecondsFormat::Micros, true),
            "sink": sink,
            "error": error,
            "record": rec.to_json(),
        });
        let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        file.write_all(&bytes)?;
        Ok(path)
    }
}
