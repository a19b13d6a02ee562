//! A second connection holds the SQLite store's write lock (`BEGIN IMMEDIATE`) for 10 s while
//! the app emits 20 000 actions. The SQLite sink waits for the lock on its own thread, so the
//! delivery worker keeps moving the filling channel to the spool: no caller is held past the
//! `Overflow::Block` bound (a held caller would have its record dropped, and none is),
//! segments appear while the lock is still held, and `shutdown(5 s)` completes within its
//! deadline with every record accounted for. After the lock is released, a new start delivers
//! everything, each row once.
#![cfg(feature = "sqlite")]

use crate::common;

use std::sync::mpsc;
use std::time::Duration;

use actionlog::sink::SqliteSink;
use actionlog::{ActionFilter, ActionLayer, PipelineConfig};
use common::actions::assert_accounted;
use tracing_subscriber::prelude::*;

const N: u64 = 20_000;

fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("seg-"))
            .count()
    })
}

#[test]
fn a_held_write_lock_never_holds_the_app_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let spool = dir.path().join("spool");
    let start = || {
        ActionLayer::builder(SqliteSink::open(&db).unwrap())
            .log_dir(dir.path())
            .pipeline(PipelineConfig::default())
            .build()
            .unwrap()
    };
    let (layer, guard) = start();

    // The other program: takes the write lock and keeps it until told to let go (at most 10 s).
    let (release, released) = mpsc::channel::<()>();
    let (locked_tx, locked) = mpsc::channel::<()>();
    let holder = {
        let db = db.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked_tx.send(()).unwrap();
            let _ = released.recv_timeout(Duration::from_secs(10));
            conn.execute_batch("COMMIT").unwrap();
        })
    };
    locked.recv().unwrap();

    let subscriber = tracing_subscriber::registry().with(layer.with_filter(ActionFilter));
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..N {
            tracing::info!(action_type = "lock_test", seq = i);
        }
    });
    // 20 000 records through a 10 000-slot channel, none dropped, nothing written to the store
    // (it is locked): the worker must have spilled while SQLite waited.
    common::wait_until(
        "a spool segment while the lock is held",
        Duration::from_secs(5),
        || segments(&spool) > 0,
    );
    let done = guard.shutdown(Duration::from_secs(5));
    assert!(
        done.complete,
        "shutdown did not finish within its deadline: {done:?}"
    );
    let s = done.stats;
    assert_accounted(&s);
    assert_eq!((s.actions_recorded, s.actions_dropped), (N, 0), "{s:?}");
    assert_eq!(s.actions_dead_lettered, 0, "{s:?}");
    assert_eq!(s.actions_delivered + s.actions_spooled, N, "{s:?}");

    release.send(()).unwrap();
    holder.join().unwrap();

    let (_layer, guard) = start();
    assert!(guard.flush());
    let s2 = guard.shutdown(Duration::from_secs(10)).stats;
    assert_accounted(&s2);
    assert_eq!(s2.actions_replayed, s.actions_spooled, "{s2:?}");
    assert_eq!(segments(&spool), 0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (rows, distinct): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT json_extract(action_details, '$.seq')) FROM action_logs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((rows, distinct), (N as i64, N as i64));
}
