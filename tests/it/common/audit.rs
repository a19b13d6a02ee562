//! Helpers for the audit-trail tests: a workload written with digests, verification through
//! the library, and finding matchers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use actionlog::audit::{Audit, Finding, PublicKey, Report, SigningKey, Table, VerifyOptions};
use actionlog::query::{Options, Store, Target};
use actionlog::sink::Sink;
use actionlog::{ActionFilter, ActionLayer, JobFilter, ManualClock, PipelineConfig, Timezone};
use tracing_subscriber::prelude::*;

/// Writes `actions` action records (every fifth failed, every seventh left open) and the
/// shared job workload's four runs through `sink` with digests signed by `key` as `writer`,
/// digest files under `log_dir/digests`; the guard is dropped, so the chain is closed.
pub fn write_trail<S: Sink>(
    sink: S,
    log_dir: &Path,
    key: &SigningKey,
    writer: &str,
    actions: usize,
) {
    let clock = ManualClock::at(crate::common::utc("2025-11-03T14:30:45Z"));
    let (layer, guard) = ActionLayer::builder(sink)
        .pipeline(
            PipelineConfig::default()
                .batch_size(7)
                .retry_backoff(Duration::from_millis(10), Duration::from_millis(200)),
        )
        .log_dir(log_dir)
        .audit(Audit::new(key.clone()).writer(writer))
        .clock(clock.clone())
        .build()
        .unwrap();
    let jobs = layer.job_layer().timezone(Timezone::Utc);
    let subscriber = tracing_subscriber::registry()
        .with(jobs.with_filter(JobFilter::new(tracing_subscriber::EnvFilter::new("info"))))
        .with(layer.with_filter(ActionFilter));
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..actions {
            let span = tracing::info_span!(
                "export",
                action_type = "export",
                user_id = format!("user-{}", i % 3).as_str(),
                n = i as u64,
                status = tracing::field::Empty,
            );
            if i % 7 == 6 {
                // Still open when the program stops: an `initiated` row, not covered.
                span.record("status", "initiated");
                std::mem::forget(span);
                continue;
            }
            span.in_scope(|| {
                clock.advance(chrono::Duration::milliseconds(1234));
                if i % 5 == 4 {
                    tracing::error!(error = "disk full", "export failed");
                }
            });
        }
        crate::common::jobs::workload(&clock);
    });
    assert!(guard.flush(), "the writes did not finish");
    drop(guard);
}

/// Verifies `target` with `key` against the digest files in `dirs`.
pub fn verify(target: &Target, key: &PublicKey, dirs: &[PathBuf]) -> Report {
    verify_at(target, key, dirs, chrono::Utc::now())
}

/// [`verify`] as if it were `now`.
pub fn verify_at(
    target: &Target,
    key: &PublicKey,
    dirs: &[PathBuf],
    now: chrono::DateTime<chrono::Utc>,
) -> Report {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(target, &Options::default()).await.unwrap();
        actionlog::query::verify_trail(
            &store,
            &VerifyOptions {
                key: key.clone(),
                since: None,
                digest_dirs: dirs.to_vec(),
                now,
            },
        )
        .await
        .unwrap()
    })
}

/// The problems of `r`, as their lines (for assertion messages).
pub fn problems(r: &Report) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.severity() == actionlog::audit::Severity::Problem)
        .map(|f| f.to_string())
        .collect()
}

/// Asserts `r` holds no problem and covered every final row.
pub fn assert_clean(r: &Report) {
    assert!(r.is_clean(), "problems: {:#?}", problems(r));
    assert!(r.verified > 0 && r.digests > 0, "{r:?}");
    assert_eq!(r.verified + r.open, r.rows, "{r:?}");
}

/// The ids `r` names as modified.
pub fn modified(r: &Report) -> Vec<uuid::Uuid> {
    r.findings
        .iter()
        .filter_map(|f| match f {
            Finding::Modified { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The ids `r` names as deleted.
pub fn deleted(r: &Report) -> Vec<uuid::Uuid> {
    r.findings
        .iter()
        .filter_map(|f| match f {
            Finding::Deleted { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The ids `r` names as inserted.
pub fn inserted(r: &Report) -> Vec<uuid::Uuid> {
    r.findings
        .iter()
        .filter_map(|f| match f {
            Finding::Inserted { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The ids `r` names as reordered.
pub fn reordered(r: &Report) -> Vec<uuid::Uuid> {
    r.findings
        .iter()
        .filter_map(|f| match f {
            Finding::Reordered { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The table of an action row, for matching.
pub const ACTIONS: Table = Table::Actions;
