//! Apps with a tokio runtime (multi-thread and current-thread) and without: action spans held
//! across `.await`, emitted from tasks; the worker runs on its own thread and runtime, so even a
//! `flush` called from inside the app's only runtime thread completes.

use actionlog::sink::SqliteSink;
use actionlog::{ActionLayer, PipelineConfig};
use tracing::Instrument;
use tracing_subscriber::prelude::*;

fn count(db: &std::path::Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM action_logs WHERE status = 'completed'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

async fn job(i: u32) {
    async {
        tokio::task::yield_now().await;
        tracing::info!(step = i, "halfway");
        tokio::task::yield_now().await;
    }
    .instrument(tracing::info_span!(
        "job",
        action_type = "run_job_now",
        seq = i
    ))
    .await
}

fn run_in(rt: tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let (layer, guard) = ActionLayer::builder(SqliteSink::open(&db).unwrap())
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .dead_letter_dir(dir.path()),
        )
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        rt.block_on(async {
            let tasks: Vec<_> = (0..20)
                .map(|i| tokio::spawn(job(i).with_subscriber(dispatch.clone())))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            // Blocking the app's runtime thread here is the app's choice; the worker is elsewhere.
            assert!(guard.flush());
        });
    });
    assert_eq!(count(&db), 20);
}

use tracing::instrument::WithSubscriber;

#[test]
fn multi_thread_runtime() {
    run_in(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
}

#[test]
fn current_thread_runtime() {
    run_in(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
}
