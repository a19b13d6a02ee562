//! Helpers for action-record tests: a subscriber with only the action layer, SQLite queries.
#![allow(dead_code)]

use std::path::Path;

use actionlog::{ActionFilter, ActionLayer, Guard, ManualClock, PipelineConfig};
use tracing_subscriber::prelude::*;

/// Runs `f` with an action layer writing to `sink`; returns the guard (not yet dropped).
pub fn with_actions<S: actionlog::sink::Sink>(
    sink: S,
    dead_letter: &Path,
    clock: &ManualClock,
    config: PipelineConfig,
    f: impl FnOnce(),
) -> Guard {
    let (layer, guard) = ActionLayer::builder(sink)
        .pipeline(config.dead_letter_dir(dead_letter))
        .clock(clock.clone())
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(ActionFilter));
    tracing::subscriber::with_default(subscriber, f);
    guard
}

/// Every dead-lettered line in `dir`.
pub fn dead_letters(dir: &Path) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    out
}

/// The accounting invariant every reliability test checks once the workers have stopped:
/// every record produced (or read back from an earlier run's spool) ended somewhere.
pub fn assert_accounted(s: &actionlog::Stats) {
    assert_eq!(
        s.actions_recorded + s.actions_replayed,
        s.actions_delivered + s.actions_dead_lettered + s.actions_dropped + s.actions_spooled,
        "records unaccounted for: {s:?}"
    );
}

/// A database that is down: every write fails as a refused connection would.
pub struct Down;

impl actionlog::sink::Sink for Down {
    fn name(&self) -> &'static str {
        "down"
    }
    fn write<'a>(
        &'a mut self,
        _: &'a actionlog::sink::Batch<actionlog::ActionRecord>,
    ) -> actionlog::sink::SinkFuture<'a> {
        Box::pin(std::future::ready(Err(actionlog::sink::SinkError::new(
            actionlog::sink::FailureKind::Transient,
            "connection refused",
        ))))
    }
    fn write_jobs<'a>(
        &'a mut self,
        _: &'a actionlog::sink::Batch<actionlog::JobExecution>,
    ) -> actionlog::sink::SinkFuture<'a> {
        Box::pin(std::future::ready(Err(actionlog::sink::SinkError::new(
            actionlog::sink::FailureKind::Transient,
            "connection refused",
        ))))
    }
}
