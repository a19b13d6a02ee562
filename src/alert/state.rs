//! The engine's own state file (JSON, default `<log_dir>/alert-state.json`): the open
//! incidents, the notifications not delivered yet, the spool's sizes pass after pass, the
//! throttle's count, and — for the dashboard — the rules and notifiers as last evaluated and
//! the last pass's problems.
//!
//! Written atomically (a temporary file beside it, fsynced, renamed; owner-only, 0600 on
//! Unix; a link at its name replaced, never followed) after every change, so a restart
//! continues where the last pass stopped and never notifies twice. Read without following a
//! link and within a bound. One engine at a time holds it: [`StateLock`], an advisory lock on
//! `<state>.lock`, which the operating system releases when the holder dies.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The largest state file read.
pub const MAX_STATE_BYTES: u64 = 16 << 20;

/// Notifications kept for delivery at most (oldest dropped past it, counted).
pub(crate) const MAX_PENDING: usize = 10_000;

/// Spool sizes kept at most.
pub(crate) const MAX_SAMPLES: usize = 1_000;

/// An incident: one rule wrong about one subject, from the pass that saw it first to the one
/// that saw it right again.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The rule's name.
    pub rule: String,
    /// The rule's kind.
    pub kind: String,
    /// What it is about: a job id, an action type, `dead_letters`, `spool`, `store`.
    pub subject: String,
    /// The last pass's summary.
    pub summary: String,
    /// The last pass's values.
    pub details: Value,
    /// The pass that first saw it.
    pub started_at: DateTime<Utc>,
    /// The last pass that saw it.
    pub last_seen_at: DateTime<Utc>,
    /// When it was last notified (start, repeat or growth).
    pub last_notified_at: DateTime<Utc>,
    /// The rule's measure now (dead-letter records), and when last notified.
    pub value: Option<u64>,
    /// The measure last notified: a larger one is notified at once.
    pub notified_value: Option<u64>,
}

/// A notification waiting for one notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The notifier's name.
    pub notifier: String,
    /// The payload, as it will be sent (its `id` the same on every try).
    pub payload: Value,
    /// Tries so far, over every pass.
    pub attempts: u32,
    /// The last try's error, without secrets.
    pub last_error: Option<String>,
    /// When it was last tried.
    pub last_tried_at: Option<DateTime<Utc>>,
}

/// The throttle: notifications sent in the current interval and those held back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Throttle {
    /// Where the current interval began.
    pub window_start: Option<DateTime<Utc>>,
    /// Sent in it.
    pub sent: u32,
    /// Held back in it.
    pub suppressed: u64,
    /// Held back since the last one sent (said in the next one).
    pub since_last_sent: u64,
    /// Held back, ever.
    pub total_suppressed: u64,
}

/// Everything the engine keeps between passes (and the dashboard reads).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Open incidents, in the order they started.
    pub incidents: Vec<Incident>,
    /// Notifications not delivered yet, oldest first.
    pub pending: Vec<Pending>,
    /// Notifications dropped because more than the bound were waiting.
    pub dropped: u64,
    /// The spool's size at each pass, oldest first.
    pub spool_samples: Vec<(DateTime<Utc>, u64)>,
    /// The throttle.
    pub throttle: Throttle,
    /// The rules of the last pass, as JSON (`name`, `kind`, `enabled`, `repeat`, `params`,
    /// `reads`).
    pub rules: Vec<Value>,
    /// The notifiers of the last pass (`name`, `kind`, `to` without secrets).
    pub notifiers: Vec<Value>,
    /// When the last pass ran.
    pub last_pass_at: Option<DateTime<Utc>>,
    /// The last pass's problems: rules that could not be evaluated, deliveries that failed.
    pub last_problems: Vec<String>,
    /// The store the engine reads, without secrets.
    pub store: String,
}

/// The state file could not be read, written or held.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing it failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// Another engine holds it.
    #[error(
        "{path}: another alert watcher holds this state file (two would notify twice); stop it or give this one its own --state"
    )]
    Locked {
        /// The file.
        path: PathBuf,
    },
}

fn time(t: &DateTime<Utc>) -> Value {
    Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

fn read_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

impl Incident {
    fn to_json(&self) -> Value {
        json!({
            "rule": self.rule, "kind": self.kind, "subject": self.subject,
            "summary": self.summary, "details": self.details,
            "started_at": time(&self.started_at), "last_seen_at": time(&self.last_seen_at),
            "last_notified_at": time(&self.last_notified_at),
            "value": self.value, "notified_value": self.notified_value,
        })
    }

    fn from_json(v: &Value) -> Option<Incident> {
        Some(Incident {
            rule: v["rule"].as_str()?.to_owned(),
            kind: s(&v["kind"]),
            subject: v["subject"].as_str()?.to_owned(),
            summary: s(&v["summary"]),
            details: v["details"].clone(),
            started_at: read_time(&v["started_at"])?,
            last_seen_at: read_time(&v["last_seen_at"])?,
            last_notified_at: read_time(&v["last_notified_at"])?,
            value: v["value"].as_u64(),
            notified_value: v["notified_value"].as_u64(),
        })
    }
}

impl State {
    /// The state as the file holds it.
    pub fn to_json(&self) -> Value {
        let t = &self.throttle;
        json!({
            "version": 1,
            "store": self.store,
            "last_pass_at": self.last_pass_at.as_ref().map(time),
            "last_problems": self.last_problems,
            "incidents": self.incidents.iter().map(Incident::to_json).collect::<Vec<_>>(),
            "pending": self.pending.iter().map(|p| json!({
                "notifier": p.notifier, "payload": p.payload, "attempts": p.attempts,
                "last_error": p.last_error, "last_tried_at": p.last_tried_at.as_ref().map(time),
            })).collect::<Vec<_>>(),
            "dropped": self.dropped,
            "spool_samples": self.spool_samples.iter().map(|(at, b)| json!([time(at), b])).collect::<Vec<_>>(),
            "throttle": {
                "window_start": t.window_start.as_ref().map(time), "sent": t.sent,
                "suppressed": t.suppressed, "since_last_sent": t.since_last_sent,
                "total_suppressed": t.total_suppressed,
            },
            "rules": self.rules,
            "notifiers": self.notifiers,
        })
    }

    /// Reads the JSON of [`State::to_json`]; `None` when it is not that (an entry it cannot
    /// read is left out, not guessed).
    pub fn from_json(v: &Value) -> Option<State> {
        if v["version"].as_u64() != Some(1) {
            return None;
        }
        let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
        let t = &v["throttle"];
        Some(State {
            incidents: list("incidents")
                .iter()
                .filter_map(Incident::from_json)
                .collect(),
            pending: list("pending")
                .iter()
                .filter_map(|p| {
                    Some(Pending {
                        notifier: p["notifier"].as_str()?.to_owned(),
                        payload: p.get("payload").filter(|p| p.is_object())?.clone(),
                        attempts: p["attempts"].as_u64().unwrap_or(0) as u32,
                        last_error: p["last_error"].as_str().map(str::to_owned),
                        last_tried_at: read_time(&p["last_tried_at"]),
                    })
                })
                .collect(),
            dropped: v["dropped"].as_u64().unwrap_or(0),
            spool_samples: list("spool_samples")
                .iter()
                .filter_map(|s| Some((read_time(&s[0])?, s[1].as_u64()?)))
                .collect(),
            throttle: Throttle {
                window_start: read_time(&t["window_start"]),
                sent: t["sent"].as_u64().unwrap_or(0) as u32,
                suppressed: t["suppressed"].as_u64().unwrap_or(0),
                since_last_sent: t["since_last_sent"].as_u64().unwrap_or(0),
                total_suppressed: t["total_suppressed"].as_u64().unwrap_or(0),
            },
            rules: list("rules"),
            notifiers: list("notifiers"),
            last_pass_at: read_time(&v["last_pass_at"]),
            last_problems: list("last_problems")
                .iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect(),
            store: s(&v["store"]),
        })
    }

    /// Reads the state file at `path`: `Ok(None)` when there is none. A link or anything
    /// but a regular file in its place is refused, and at most [`MAX_STATE_BYTES`] are read.
    ///
    /// # Errors
    /// [`StateError::Io`] when it cannot be read or is not a state file.
    pub fn load(path: &Path) -> Result<Option<State>, StateError> {
        let io = |reason: String| StateError::Io {
            path: path.to_owned(),
            reason,
        };
        let f = match crate::fs::open_read(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e.to_string())),
        };
        let mut text = Vec::new();
        f.take(MAX_STATE_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| io(e.to_string()))?;
        if text.len() as u64 > MAX_STATE_BYTES {
            return Err(io(format!("larger than {MAX_STATE_BYTES} bytes")));
        }
        let v: Value = serde_json::from_slice(&text)
            .map_err(|e| io(format!("not a state file (bad JSON: {e})")))?;
        State::from_json(&v)
            .map(Some)
            .ok_or_else(|| io("not a state file (no version 1)".into()))
    }

    /// Writes it to `path` atomically, owner-only.
    pub(crate) fn save(&self, path: &Path) -> Result<(), StateError> {
        let mut text = serde_json::to_vec_pretty(&self.to_json()).unwrap_or_default();
        text.push(b'\n');
        crate::fs::write_atomic_owner_only(path, &text).map_err(|e| StateError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The incident of `rule` about `subject`.
    pub fn incident(&self, rule: &str, subject: &str) -> Option<&Incident> {
        self.incidents
            .iter()
            .find(|i| i.rule == rule && i.subject == subject)
    }
}

/// The lock that makes one engine the only writer of a state file: `flock` (Unix) or
/// `LockFileEx` (Windows) on `<state>.lock`, held while it lives.
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    pub(crate) fn take(state: &Path) -> Result<StateLock, StateError> {
        let mut name = state.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let f = crate::fs::open_append(&path).map_err(|e| StateError::Io {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if !crate::fs::try_lock(&f) {
            return Err(StateError::Locked {
                path: state.to_owned(),
            });
        }
        Ok(StateLock { _file: f })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_reads_back_as_written_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alert-state.json");
        assert_eq!(State::load(&path).unwrap(), None);
        let t: DateTime<Utc> = "2026-11-03T10:00:00Z".parse().unwrap();
        let st = State {
            incidents: vec![Incident {
                rule: "job_overdue".into(),
                kind: "job_overdue".into(),
                subject: "feed".into(),
                summary: "late".into(),
                details: json!({"a": 1}),
                started_at: t,
                last_seen_at: t,
                last_notified_at: t,
                value: Some(3),
                notified_value: None,
            }],
            pending: vec![Pending {
                notifier: "slack-1".into(),
                payload: json!({"id": "x"}),
                attempts: 2,
                last_error: Some("HTTP 503".into()),
                last_tried_at: Some(t),
            }],
            spool_samples: vec![(t, 10)],
            throttle: Throttle {
                window_start: Some(t),
                sent: 3,
                ..Throttle::default()
            },
            store: "logs/actions.db".into(),
            ..State::default()
        };
        st.save(&path).unwrap();
        st.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), Some(st));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Only the file and its lock: no temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_in_place_of_the_state_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let path = dir.path().join("alert-state.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(State::load(&path).is_err(), "a link is not read");
        State::default().save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
    }

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alert-state.json");
        let first = StateLock::take(&path).unwrap();
        assert!(matches!(
            StateLock::take(&path),
            Err(StateError::Locked { .. })
        ));
        drop(first);
        StateLock::take(&path).unwrap();
    }
}
