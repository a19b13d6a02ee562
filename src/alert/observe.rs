//! One pass's reading of the store and the log directory: each thing read once, and only
//! when an enabled rule needs it. Every query is one of [`crate::query::Store`]'s read-only,
//! bounded ones.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::rules::{Params, Rule, RuleKind};
use crate::query::files::{self, PipelineFiles};
use crate::query::{Entity, Filter, Rows, Store};

/// What the rules of one pass look at. A failed read is kept as its error, so the rules
/// that need it report it and the others go on.
#[derive(Debug)]
pub(crate) struct Observations {
    /// `scheduled_jobs_status`.
    pub jobs: Result<Rows, String>,
    /// Actions by type and status, per failure-rate window.
    pub counts: HashMap<Duration, Result<Rows, String>>,
    /// The newest action and run.
    pub newest: Result<Rows, String>,
    /// Spool and dead letters.
    pub files: Option<PipelineFiles>,
    /// The spool's size at each pass (this one last), oldest first.
    pub spool_samples: Vec<(DateTime<Utc>, u64)>,
}

const NOT_READ: &str = "not read (no enabled rule needs it)";

/// Reads what `rules` need at `now`.
pub(crate) async fn observe(
    store: &Store,
    log_dir: &Path,
    rules: &[Rule],
    now: DateTime<Utc>,
) -> Observations {
    let on = |k: RuleKind| rules.iter().any(|r| r.enabled && r.kind() == k);
    let jobs = if on(RuleKind::JobFailedMaxRetries) || on(RuleKind::JobOverdue) {
        store.job_status().await.map_err(|e| e.to_string())
    } else {
        Err(NOT_READ.into())
    };
    let mut counts = HashMap::new();
    for r in rules.iter().filter(|r| r.enabled) {
        if let Params::FailureRate { window, .. } = &r.params {
            if counts.contains_key(window) {
                continue;
            }
            let mut range = Filter::new(Entity::Actions);
            range.since = chrono::Duration::from_std(*window)
                .ok()
                .and_then(|w| now.checked_sub_signed(w));
            range.until = Some(now);
            counts.insert(
                *window,
                store.action_counts(&range).await.map_err(|e| e.to_string()),
            );
        }
    }
    let newest = if on(RuleKind::Silence) {
        store.newest().await.map_err(|e| e.to_string())
    } else {
        Err(NOT_READ.into())
    };
    let files = (on(RuleKind::DeadLetters) || on(RuleKind::SpoolGrowing))
        .then(|| files::pipeline_files(log_dir));
    Observations {
        jobs,
        counts,
        newest,
        files,
        spool_samples: Vec::new(),
    }
}
