//! The canonical encoding of a covered row: what a digest entry's hash is taken over.
//!
//! A row hashes the same whether it is about to be written or has been read back from SQLite,
//! PostgreSQL or Supabase: every value is taken as the stores keep it (text without NUL,
//! durations to the millisecond, times to the microsecond, a UUID in its lowercase form) and
//! JSON columns in one canonical form (keys sorted at every depth, a number that is a whole
//! value written as an integer, any other as the shortest text that reads back as the same
//! `f64`, `-0` as `0`) — what `jsonb` does to a document changes nothing here.
//!
//! The hash leaves out the row's id and its time (`action_timestamp`, `started_at`): the entry
//! carries both in the clear, so a row moved in time, or two rows that traded contents, are
//! told apart from a row whose content changed. A job run's captured log has a hash of its own,
//! so trimming old logs leaves the rest of the run verifiable.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::rows::{ActionRecord, JobExecution, clean_map, clean_text, duration_millis};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// Which table a covered row is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `action_logs`.
    Actions,
    /// `job_executions`.
    Runs,
}

impl Table {
    /// The table's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Table::Actions => "action_logs",
            Table::Runs => "job_executions",
        }
    }

    /// The one-letter tag entries carry.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Table::Actions => "a",
            Table::Runs => "r",
        }
    }

    pub(crate) fn from_tag(t: &str) -> Option<Table> {
        match t {
            "a" => Some(Table::Actions),
            "r" => Some(Table::Runs),
            _ => None,
        }
    }
}

/// One covered row as a digest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The row's table.
    pub table: Table,
    /// The row's id.
    pub id: Uuid,
    /// Its time (`action_timestamp`, `started_at`) in microseconds since the Unix epoch.
    pub at: i64,
    /// The hash of everything else (see the module's documentation).
    pub hash: Hash,
    /// A job run's captured log, hashed on its own.
    pub logs: Option<Hash>,
}

/// The entry of an action record as the store keeps it; `None` for a record whose status is
/// still open (only final states are covered). `trace` says whether the store has the trace
/// columns (a store without them keeps none).
pub(crate) fn action_entry(r: &ActionRecord, trace: bool) -> Option<Entry> {
    if !r.is_final() {
        return None;
    }
    let mut h = Fields::new(b"actionlog.action.v1");
    h.text(Some(&r.action_type));
    h.text(r.user_id.as_deref());
    h.json(&r.action_details);
    h.text(r.job_id.as_deref());
    h.uuid_text(r.job_execution_id.as_deref());
    h.text(Some(&r.status));
    h.text(r.result_message.as_deref());
    h.text(r.error_message.as_deref());
    h.text(r.source.as_deref());
    h.text(r.ip_address.as_deref());
    h.text(r.user_agent.as_deref());
    h.duration(r.request_duration_seconds);
    h.text(r.trace_id.as_deref().filter(|_| trace));
    h.text(r.span_id.as_deref().filter(|_| trace));
    Some(Entry {
        table: Table::Actions,
        id: r.id,
        at: micros(&r.action_timestamp),
        hash: h.finish(),
        logs: None,
    })
}

/// The entry of a job run as the store keeps it (see [`action_entry`] for `trace`).
pub(crate) fn run_entry(j: &JobExecution, trace: bool) -> Entry {
    let mut h = Fields::new(b"actionlog.run.v1");
    h.text(Some(&j.job_id));
    h.text(Some(&j.status));
    h.time(j.completed_at.as_ref());
    h.duration(j.duration_seconds);
    h.text(j.error_message.as_deref());
    h.json(&j.metadata);
    h.text(j.trace_id.as_deref().filter(|_| trace));
    h.text(j.span_id.as_deref().filter(|_| trace));
    Entry {
        table: Table::Runs,
        id: j.id,
        at: micros(&j.started_at),
        hash: h.finish(),
        logs: Some(logs_hash(&j.logs)),
    }
}

/// The hash of a run's captured log.
pub(crate) fn logs_hash(logs: &str) -> Hash {
    let mut h = Fields::new(b"actionlog.run-logs.v1");
    h.text(Some(logs));
    h.finish()
}

/// A time in microseconds since the epoch, as the stores keep it (finer digits cut).
pub(crate) fn micros(t: &DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A field-by-field hasher: each value framed by a kind byte and, for text, its length, so no
/// two different rows give the same byte stream. The stream is gathered and hashed in one call:
/// a row is some fifty small pieces, and a hasher's update per piece cost more than the hashing.
struct Fields {
    out: Vec<u8>,
}

impl Fields {
    fn new(domain: &[u8]) -> Self {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(domain);
        out.push(0);
        Fields { out }
    }

    fn bytes(&mut self, kind: u8, b: &[u8]) {
        self.out.push(kind);
        self.out.extend_from_slice(&(b.len() as u64).to_be_bytes());
        self.out.extend_from_slice(b);
    }

    fn text(&mut self, s: Option<&str>) {
        match s {
            None => self.out.push(0),
            Some(s) => self.bytes(1, clean_text(s).as_bytes()),
        }
    }

    /// A UUID column kept as text by SQLite and as `uuid` by PostgreSQL: its lowercase form
    /// when it is one (a malformed one never reaches PostgreSQL).
    fn uuid_text(&mut self, s: Option<&str>) {
        match s.map(|s| (s, Uuid::parse_str(s))) {
            Some((_, Ok(u))) => {
                let mut buf = Uuid::encode_buffer();
                self.bytes(1, u.hyphenated().encode_lower(&mut buf).as_bytes());
            }
            Some((s, Err(_))) => self.text(Some(s)),
            None => self.text(None),
        }
    }

    fn duration(&mut self, d: Option<f64>) {
        match d {
            None => self.out.push(0),
            Some(d) => match duration_millis(d) {
                Some(m) => self.bytes(2, &m.to_be_bytes()),
                None => self.bytes(3, &d.to_bits().to_be_bytes()),
            },
        }
    }

    fn time(&mut self, t: Option<&DateTime<Utc>>) {
        match t {
            None => self.out.push(0),
            Some(t) => self.bytes(2, &micros(t).to_be_bytes()),
        }
    }

    /// The canonical text framed like [`Self::bytes`], written in place and its length set after.
    fn json(&mut self, m: &Map<String, Value>) {
        self.out.push(4);
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 8]);
        canonical_object(&clean_map(m), &mut self.out);
        let len = (self.out.len() - at - 8) as u64;
        self.out[at..at + 8].copy_from_slice(&len.to_be_bytes());
    }

    fn finish(self) -> Hash {
        Sha256::digest(&self.out).into()
    }
}

/// Appends the canonical JSON text of `m` (see the module's documentation).
pub(crate) fn canonical_object(m: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    // serde_json's map keeps its keys sorted unless a crate in the build turns on its
    // `preserve_order`: sort only then (a verification canonicalizes a million of these).
    let mut keys = m.keys();
    let sorted = keys.next().is_none_or(|mut prev| {
        keys.all(|k| {
            let ok = prev < k;
            prev = k;
            ok
        })
    });
    if sorted {
        for (i, (k, v)) in m.iter().enumerate() {
            member(i, k, v, out);
        }
    } else {
        let mut members: Vec<(&String, &Value)> = m.iter().collect();
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (i, (k, v)) in members.into_iter().enumerate() {
            member(i, k, v, out);
        }
    }
    out.push(b'}');
}

fn member(i: usize, k: &str, v: &Value, out: &mut Vec<u8>) {
    if i > 0 {
        out.push(b',');
    }
    string(k, out);
    out.push(b':');
    canonical_value(v, out);
}

fn canonical_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => number(n, out),
        Value::String(s) => string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_value(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => canonical_object(m, out),
    }
}

/// A number by its value, whatever text it came from: `numeric` in `jsonb` turns `1e19`
/// into `10000000000000000000` and `1.50` stays `1.50`, and both must read the same as the
/// `f64` or integer first written.
fn number(n: &serde_json::Number, out: &mut Vec<u8>) {
    if let Some(i) = n.as_i64() {
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    } else if let Some(u) = n.as_u64() {
        out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        // A whole value in range is the integer it equals (exactly: a whole f64 is an integer).
        if f.fract() == 0.0 && f.abs() < 9.223_372_036_854_776e18 {
            out.extend_from_slice(itoa::Buffer::new().format(f as i64).as_bytes());
        } else if f.fract() == 0.0 && f > 0.0 && f < 1.844_674_407_370_955_2e19 {
            out.extend_from_slice(itoa::Buffer::new().format(f as u64).as_bytes());
        } else {
            out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
        }
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    // serde_json's escaping is deterministic: the same text always gives the same bytes.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        let mut out = Vec::new();
        canonical_object(v.as_object().unwrap(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_as_jsonb_gives_it_back_reads_the_same() {
        let written =
            json!({"b": 1e19, "a": {"z": -0.0, "y": 2.0}, "c": [1.5, 18446744073709551615u64]});
        // What PostgreSQL's jsonb hands back for it: keys reordered, numbers as numeric text.
        let read: Value = serde_json::from_str(
            r#"{"a": {"y": 2.0, "z": 0}, "b": 10000000000000000000, "c": [1.50, 18446744073709551615]}"#,
        )
        .unwrap();
        assert_eq!(canon(written), canon(read));
        assert_eq!(
            canon(json!({"b": 1, "a": 0.1})),
            r#"{"a":0.1,"b":1}"#.to_owned()
        );
    }

    #[test]
    fn open_records_are_not_covered_and_final_ones_hash_as_stored() {
        let mut r = ActionRecord::blank(Uuid::now_v7(), "export");
        assert!(action_entry(&r, true).is_none());
        r.status = "completed".into();
        r.request_duration_seconds = Some(1.2345);
        r.job_execution_id = Some("0193B3E4-0000-7000-8000-000000000001".into());
        r.user_id = Some("a\0b".into());
        let e = action_entry(&r, true).unwrap();
        // As a store gives it back: rounded, lowercased, NUL replaced.
        let mut back = r.clone();
        back.request_duration_seconds = Some(1.234);
        back.job_execution_id = Some("0193b3e4-0000-7000-8000-000000000001".into());
        back.user_id = Some("a\u{FFFD}b".into());
        assert_eq!(action_entry(&back, true).unwrap(), e);
        back.result_message = Some("changed".into());
        assert_ne!(action_entry(&back, true).unwrap().hash, e.hash);
    }

    /// The encoding pinned: these hashes are what every stored digest holds, so no change to
    /// the code may move them (values from the first implementation).
    #[test]
    fn the_encoding_is_pinned() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:11:12.123456Z")
            .unwrap()
            .to_utc();
        let id = Uuid::parse_str("0193b3e4-0000-7000-8000-000000000001").unwrap();
        let mut r = ActionRecord::new(id, "export".into(), at, "failed");
        r.user_id = Some("alice@example.com".into());
        r.action_details = serde_json::from_str(
            r#"{"z": [1, 2.5, -0.0, "x\u0000y"], "a": {"k": null, "b": true}, "m\u0000": 1e19, "n": "é\"\n"}"#,
        )
        .unwrap();
        r.job_id = Some("nightly".into());
        r.job_execution_id = Some("0193B3E4-0000-7000-8000-00000000000A".into());
        r.result_message = None;
        r.error_message = Some("disk\0full".into());
        r.source = Some("api".into());
        r.ip_address = Some("10.0.0.1".into());
        r.user_agent = Some("curl/8".into());
        r.request_duration_seconds = Some(1.2345);
        r.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        r.span_id = Some("00f067aa0ba902b7".into());
        let a = action_entry(&r, true).unwrap();
        let b = action_entry(&r, false).unwrap();
        let mut j = JobExecution::new(id, "nightly", "failed", at);
        j.completed_at = Some(at + chrono::Duration::milliseconds(1500));
        j.duration_seconds = Some(1.5);
        j.error_message = Some("boom".into());
        j.logs = "line 1\nline 2\n".into();
        j.metadata = serde_json::from_str(r#"{"b": 1, "a": [0.1, {"y": 2, "x": 1}]}"#).unwrap();
        let run = run_entry(&j, true);
        let hex = |h: &Hash| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let got = [
            hex(&a.hash),
            hex(&b.hash),
            hex(&run.hash),
            hex(&run.logs.unwrap()),
        ];
        assert_eq!(
            got,
            [
                "cdc1cbe1a95c18cb9efc56a113db096006094d0181eaad37395afcd82849f9fb",
                "0b7c54045baa559f2b223ed43f8ad34049129af311d1d16b01ccd86ea215dd7a",
                "f37da4561815ddcf9b92997e1496ad7d34255a6d26d9806da5e8a0b7d128480f",
                "22c0835c5fdf6af2d12c1ee8c115b40fe6e7fb29c2ec46edb02cdd41093013fc",
            ]
        );
    }
}
