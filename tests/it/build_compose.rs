//! `builder().build()` composed with a layer of the test's own: nothing is installed until the
//! caller installs the subscriber; the caller's layer sees every event beside actionlog's; the
//! size limits set on the builder apply; and the spool and the dead letters land under the
//! configured log directory, as with `init()`, not under a `logs/` of the working directory.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actionlog::sink::{FailureKind, Sink, SinkError, SinkFuture};
use actionlog::{ActionRecord, Timezone};
use common::actions::Down;
use common::{day_files, json_lines};
use tracing_subscriber::prelude::*;

/// The test's own layer: counts events.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counting {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A database that refuses every row.
struct Rejects;

impl Sink for Rejects {
    fn name(&self) -> &'static str {
        "rejects"
    }
    fn write<'a>(&'a mut self, _: &'a actionlog::sink::Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(std::future::ready(Err(SinkError::new(
            FailureKind::Rejected,
            "value too long",
        ))))
    }
}

fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn build_composes_with_a_layer_of_ones_own_and_keeps_every_default() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let (layer, guard) = actionlog::builder()
        .log_dir(&logs)
        .console(false)
        .timezone(Timezone::Utc)
        .max_field_bytes(100)
        .sink(Down)
        .flush_deadline(Duration::from_millis(500))
        .build()
        .unwrap();
    // Built, not installed: no global subscriber.
    let nothing_global =
        || tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>());
    assert!(nothing_global());
    tracing::info!(action_type = "before_install", "not seen by anyone");

    let mine = Counting::default();
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(mine.clone());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(long = "x".repeat(1000).as_str(), "a long field");
        tracing::info!(action_type = "data_collection_start", "an action");
    });
    // Still nothing global: outside the scope, events go nowhere.
    assert!(nothing_global());
    assert_eq!(mine.0.load(Ordering::Relaxed), 2);

    // The store is down: at shutdown the action is kept in the spool under the log directory.
    let s = guard.shutdown(Duration::from_secs(2)).stats;
    assert_eq!(
        (s.lines_written, s.actions_recorded, s.actions_spooled),
        (2, 1, 1),
        "{s:?}"
    );
    assert!(files_under(&logs.join("spool")) > 0);
    let lines = json_lines(&day_files(&logs)[0]);
    let long = lines[0]["metadata"]["long"].as_str().unwrap();
    assert!(long.starts_with(&"x".repeat(100)), "{long}");
    assert!(long.ends_with("…[truncated 900 bytes]"), "{long}");
    assert!(
        !std::path::Path::new("logs/spool").exists()
            || files_under(std::path::Path::new("logs/spool")) == 0
    );

    // A store that refuses the row: the dead letter goes under the log directory too.
    let (layer, guard) = actionlog::builder()
        .log_dir(&logs)
        .console(false)
        .sink(Rejects)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(action_type = "rejected_one", "an action");
    });
    let s = guard.shutdown(Duration::from_secs(2)).stats;
    // The spooled record of the first run is replayed into this store and refused too.
    assert_eq!((s.actions_recorded, s.actions_replayed), (1, 1), "{s:?}");
    assert_eq!(s.actions_dead_lettered, 2, "{s:?}");
    assert_eq!(files_under(&logs.join("dead-letter")), 1);
}
