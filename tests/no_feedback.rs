//! The delivery worker's own I/O never feeds events back into the pipeline: tokio-postgres logs
//! through the `log` crate, and with the bridge installed those records would reach every layer
//! if the worker did not run under a no-op subscriber. One test: it installs the global
//! subscriber and the `log` bridge.
#![cfg(feature = "postgres")]

#[path = "it/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};

use actionlog::{ActionFilter, ActionLayer, PipelineConfig};
use tracing_subscriber::prelude::*;

struct Targets(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Targets {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        use tracing_log::NormalizeEvent;
        let target = event
            .normalized_metadata()
            .map_or(event.metadata().target().to_owned(), |m| {
                m.target().to_owned()
            });
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(target);
    }
}

#[test]
fn sink_io_does_not_come_back_as_events() {
    let Some(db) = common::pg::TestDb::new("nofeedback") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (layer, guard) = ActionLayer::builder(db.sink())
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .dead_letter_dir(dir.path()),
        )
        .build()
        .unwrap();
    // With the `supabase` feature, a second action layer posts the same actions over HTTP
    // (reqwest, hyper, rustls all log) to the PostgREST contract double, into its own table.
    #[cfg(feature = "supabase")]
    let double = {
        let http_table = actionlog::sink::PostgresSink::new(&db.url)
            .unwrap()
            .table("action_logs_http")
            .unwrap();
        db.exec(&format!(
            "SET search_path TO {}; {}",
            db.schema,
            http_table.migration_sql()
        ));
        common::postgrest::Double::start(&db.url, &db.schema, "k")
    };
    #[cfg(feature = "supabase")]
    let (http_layer, http_guard) = ActionLayer::builder(
        actionlog::sink::SupabaseSink::new(&double.url, "k")
            .unwrap()
            .table("action_logs_http")
            .unwrap(),
    )
    .pipeline(
        PipelineConfig::default()
            .no_spool()
            .dead_letter_dir(dir.path()),
    )
    .build()
    .unwrap();
    #[cfg(feature = "supabase")]
    let guard = guard.merge(http_guard);
    #[cfg(feature = "supabase")]
    let layer = layer.and_then(http_layer);
    tracing_subscriber::registry()
        .with(Targets(seen.clone()).with_filter(tracing_subscriber::filter::LevelFilter::TRACE))
        .with(layer.with_filter(ActionFilter))
        .init();
    // `init` also installs the `log` bridge (tracing-subscriber's tracing-log feature).

    // The capture works: a tokio_postgres-targeted record from the app's own thread is seen.
    tracing_log::log::debug!(target: "tokio_postgres::probe", "from the app thread");
    for i in 0..10 {
        tracing::info!(action_type = "remove_job", seq = i);
    }
    assert!(guard.flush());
    let seen = seen.lock().unwrap().clone();
    // The test's own queries run on this thread: keep them out of the recording.
    let rows =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            db.count("")
        });
    assert_eq!(rows, 10);
    #[cfg(feature = "supabase")]
    {
        let http_rows =
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
                db.query("SELECT count(*) FROM action_logs_http")[0].get::<_, i64>(0)
            });
        assert_eq!(http_rows, 10, "{:?}", guard.stats());
    }
    assert!(
        seen.iter().any(|t| t == "tokio_postgres::probe"),
        "{seen:?}"
    );
    let leaked: Vec<_> = seen
        .iter()
        .filter(|t| {
            *t != "tokio_postgres::probe"
                && [
                    "tokio_postgres",
                    "tokio",
                    "reqwest",
                    "hyper",
                    "h2",
                    "rustls",
                    "mio",
                ]
                .iter()
                .any(|c| t.starts_with(c))
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "the worker's I/O leaked events: {leaked:?}"
    );
}
