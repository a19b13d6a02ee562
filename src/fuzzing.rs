//! Internals for the fuzz targets in `fuzz/` (cargo feature `fuzzing`). **Unstable**: hidden
//! from the documentation, no compatibility promise from one release to the next, never to be
//! enabled by an application.

pub use crate::dynamic::{DynEvent, FieldValue, MAX_CALLSITES, MAX_FIELDS};
use crate::fields::CaptureSettings;
use crate::limits::Limits;
use crate::redact::Redaction;

/// The day-file bytes `ev` is written as: the file layer's capture and its writer's rendering,
/// at a fixed instant in UTC, without the hand-off, the writer thread or a file. `None` once
/// [`MAX_CALLSITES`] callsites exist and `ev` would need another.
pub fn file_lines(ev: &DynEvent, redaction: &Redaction, limits: Limits) -> Option<Vec<u8>> {
    crate::file::probe::lines(
        ev,
        CaptureSettings {
            redaction: redaction.clone(),
            limits,
        },
    )
}

/// A dashboard page's URL query read as the dashboard reads it, and the canonical query string
/// its links then carry.
///
/// # Errors
/// The dashboard's refusal, as it would answer it.
#[cfg(feature = "web")]
pub fn dashboard_query(
    entity: crate::query::Entity,
    query: &str,
) -> Result<(crate::query::Filter, String), crate::query::Error> {
    let now = "2026-11-03T12:00:00Z".parse().expect("a valid time");
    let view = crate::web::params::parse(entity, Some(query), now, None)?;
    let canonical = crate::web::params::query_string(&view.filter);
    Ok((view.filter, canonical))
}

/// A PostgreSQL connection string read as the sink and the read side read it: the password
/// found, if any, and the description messages show.
///
/// # Errors
/// The reason it is refused (never repeating the string).
#[cfg(feature = "postgres")]
pub fn postgres_url(url: &str) -> Result<(Option<Vec<u8>>, String), String> {
    match crate::sink::postgres::url::parse(url) {
        Ok(c) => Ok((
            c.config.get_password().map(<[u8]>::to_vec),
            crate::sink::postgres::url::describe(&c.config),
        )),
        Err(crate::sink::postgres::url::UrlError::Bad(reason)) => Err(reason),
        Err(crate::sink::postgres::url::UrlError::NoTls) => Err("no TLS in this build".into()),
    }
}

/// A spool segment's bytes read back as the spool reads them at start: how many records it
/// holds and how many lines were damaged, and each record re-encoded as a segment line.
pub fn spool_segment(bytes: &[u8]) -> SpoolSegment {
    let (rows, damaged) = crate::pipeline::segment::parse_segment(bytes);
    let lines = rows
        .iter()
        .map(|r| {
            let json = serde_json::to_vec(&r.to_json()).expect("a row always serializes");
            let mut line = format!("{:08x} ", crc32fast::hash(&json)).into_bytes();
            line.extend_from_slice(&json);
            line
        })
        .collect();
    SpoolSegment {
        records: rows.len(),
        damaged,
        lines,
    }
}

/// What [`spool_segment`] read.
#[derive(Debug)]
pub struct SpoolSegment {
    /// Records read.
    pub records: usize,
    /// Lines skipped as damaged (a wrong checksum, not a record, over the line bound).
    pub damaged: u64,
    /// Each record written back as a segment line (without its newline).
    pub lines: Vec<Vec<u8>>,
}
