//! More than one store at once: SQLite for the local dashboard and PostgreSQL (a real server,
//! its own schema) reached through a loopback proxy the test owns, each with its own pipeline.
//! While the proxy is down the SQLite store stays complete and the PostgreSQL records wait in
//! that store's own spool; once it is back both stores end complete, each record acknowledged
//! once by each store (a counting sink around each), and each store's counters add up. A
//! shutdown during the outage spools the remote's records in its own directory and the next
//! run replays them to the remote only. The same with an OpenTelemetry Collector (the loopback
//! OTLP receiver) as the remote. A full queue drops for its own store only. The API's
//! edges: `also_sink` beside the default choice, the same store given twice.
#![cfg(feature = "sqlite")]

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actionlog::sink::{Batch, Sink, SinkFuture, SqliteSink};
use actionlog::{ActionRecord, Error, Guard, JobExecution, Overflow, Stats, StoreStats};
use common::wait_until;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

/// How long any one phase may take before the test fails instead of hanging.
const PHASE: Duration = Duration::from_secs(60);

/// The ids a store acknowledged (its write answered `Ok`), with how many times each.
#[derive(Clone, Default)]
struct Acks {
    actions: Arc<Mutex<HashMap<Uuid, u32>>>,
    jobs: Arc<Mutex<HashMap<Uuid, u32>>>,
}

impl Acks {
    fn actions(&self) -> HashMap<Uuid, u32> {
        self.actions.lock().unwrap().clone()
    }

    fn jobs(&self) -> HashMap<Uuid, u32> {
        self.jobs.lock().unwrap().clone()
    }

    /// Fails unless every id was acknowledged exactly once, and returns how many there were.
    fn assert_each_once(&self, store: &str) -> (usize, usize) {
        for (kind, acks) in [("action", self.actions()), ("job run", self.jobs())] {
            let twice: Vec<_> = acks.iter().filter(|(_, n)| **n != 1).collect();
            assert!(
                twice.is_empty(),
                "{store}: {kind} ids delivered more than once: {twice:?}"
            );
        }
        (self.actions().len(), self.jobs().len())
    }
}

/// Forwards to `inner` (name and target included) and counts the ids of each write the
/// store acknowledged: a write that failed, even one that landed before its connection was
/// cut, is not counted, so a count above one means the pipeline delivered a record twice.
struct Counted<S> {
    inner: S,
    acks: Acks,
}

fn counted<S: Sink>(inner: S) -> (Counted<S>, Acks) {
    let acks = Acks::default();
    (
        Counted {
            inner,
            acks: acks.clone(),
        },
        acks,
    )
}

impl<S: Sink> Sink for Counted<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn target(&self) -> String {
        self.inner.target()
    }

    fn write<'a>(&'a mut self, batch: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
        let acks = self.acks.actions.clone();
        let write = self.inner.write(batch);
        Box::pin(async move {
            write.await?;
            let mut acks = acks.lock().unwrap();
            for r in batch.iter() {
                *acks.entry(r.id).or_default() += 1;
            }
            Ok(())
        })
    }

    fn write_jobs<'a>(&'a mut self, batch: &'a Batch<JobExecution>) -> SinkFuture<'a> {
        let acks = self.acks.jobs.clone();
        let write = self.inner.write_jobs(batch);
        Box::pin(async move {
            write.await?;
            let mut acks = acks.lock().unwrap();
            for r in batch.iter() {
                *acks.entry(r.id).or_default() += 1;
            }
            Ok(())
        })
    }
}

/// Each store's accounting once its worker has stopped or is idle: every record it was
/// offered (or read back from its spool) ended somewhere, and the totals are their sums.
fn assert_each_store_accounted(total: &Stats, stores: &[StoreStats]) {
    let mut sum = Stats::default();
    for s in stores {
        common::actions::assert_accounted(&s.stats);
        sum.actions_recorded += s.stats.actions_recorded;
        sum.actions_delivered += s.stats.actions_delivered;
        sum.actions_dead_lettered += s.stats.actions_dead_lettered;
        sum.actions_dropped += s.stats.actions_dropped;
        sum.actions_spooled += s.stats.actions_spooled;
        sum.actions_replayed += s.stats.actions_replayed;
    }
    assert_eq!(
        (
            total.actions_recorded,
            total.actions_delivered,
            total.actions_dead_lettered,
            total.actions_dropped,
            total.actions_spooled,
            total.actions_replayed
        ),
        (
            sum.actions_recorded,
            sum.actions_delivered,
            sum.actions_dead_lettered,
            sum.actions_dropped,
            sum.actions_spooled,
            sum.actions_replayed
        ),
        "the totals are the sums over the stores: {total:?} {stores:?}"
    );
}

/// Rows of `table` in the SQLite file `db`.
fn sqlite_count(db: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap_or(0)
}

/// The action and job layers of `builder` (console and day files off), as a dispatch.
fn dispatch(builder: actionlog::Builder) -> Result<(tracing::Dispatch, Guard), Error> {
    let (layer, guard) = builder.console(false).day_files(false).build()?;
    Ok((
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    ))
}

/// `n` one-shot actions numbered from `from`, and `runs` job runs, through `d`.
fn record(d: &tracing::Dispatch, from: u64, n: u64, runs: u64) {
    tracing::dispatcher::with_default(d, || {
        for seq in from..from + n {
            tracing::info!(action_type = "multi_store_probe", seq);
        }
        for run in 0..runs {
            tracing::info_span!("job_execution", job_id = "multi_store", run)
                .in_scope(|| tracing::info!("ran"));
        }
    });
}

fn store<'a>(stores: &'a [StoreStats], sink: &str) -> &'a StoreStats {
    stores
        .iter()
        .find(|s| s.sink == sink)
        .unwrap_or_else(|| panic!("no {sink} store in {stores:?}"))
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    use std::path::PathBuf;

    use actionlog::PipelineConfig;
    use common::pg::TestDb;
    use common::proxy::{Proxy, upstream_of};

    /// Every action id in the SQLite file `db`.
    fn sqlite_ids(db: &Path) -> Vec<String> {
        let c = rusqlite::Connection::open(db).unwrap();
        let mut stmt = c.prepare("SELECT id FROM action_logs").unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// The segment files in `dir`.
    fn segments(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".jsonl"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Small enough that the outage fills half of the remote's queue behind the batch it
    /// retries, which then goes to its own spool and is replayed from there.
    const CAPACITY: usize = 64;
    const BATCH: usize = 16;

    fn pipeline() -> PipelineConfig {
        PipelineConfig::default()
            .queue_capacity(CAPACITY)
            .batch_size(BATCH)
            .retry_backoff(Duration::from_millis(10), Duration::from_millis(200))
    }

    fn pg_jobs(db: &TestDb) -> i64 {
        db.query("SELECT count(*) FROM job_executions")[0].get(0)
    }

    #[test]
    fn the_local_store_stays_complete_while_the_remote_is_down_and_both_end_complete() {
        let Some(db) = TestDb::new("multi_store_outage") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let local_db = dir.path().join("actions.db");
        let proxy = Proxy::start(upstream_of(&db.url), true);
        let (local, local_acks) = counted(SqliteSink::open(&local_db).unwrap());
        let (remote, remote_acks) = counted(db.sink_at(&proxy.url(&db.url)));
        let (d, guard) = dispatch(
            actionlog::builder()
                .log_dir(dir.path())
                .action_layer(|a| a.pipeline(pipeline()))
                .sink(local)
                .also_sink(remote),
        )
        .unwrap();

        // Both up: the first records land in both.
        record(&d, 0, 50, 1);
        wait_until("the first records in both stores", PHASE, || {
            guard
                .store_stats()
                .iter()
                .all(|s| s.stats.actions_delivered == 51)
        });

        // The remote down: the local store takes every record while the remote's wait.
        proxy.set_enabled(false);
        record(&d, 50, 400, 5);
        let (actions, runs) = (450, 6);
        wait_until(
            "the local store to hold every record so far, the remote down",
            PHASE,
            || {
                sqlite_count(&local_db, "action_logs") == actions
                    && sqlite_count(&local_db, "job_executions") == runs
            },
        );
        // The rows are in before the counter of their write is: wait for it too.
        wait_until("the local store's counters to say so", PHASE, || {
            let sqlite = store(&guard.store_stats(), "sqlite").stats;
            sqlite.actions_delivered == sqlite.actions_recorded
        });
        let during = guard.store_stats();
        let pg = store(&during, "postgres");
        assert!(
            pg.stats.actions_delivered < pg.stats.actions_recorded,
            "the remote really was down: {during:?}"
        );
        assert_eq!(db.count(""), 50, "nothing reached the remote meanwhile");
        wait_until(
            "a failed write to the remote, and its queue in its own spool",
            PHASE,
            || {
                let pg = store(&guard.store_stats(), "postgres").stats;
                pg.actions_retried >= 1 && pg.actions_spooled >= 1
            },
        );

        // Back: both stores end complete.
        proxy.set_enabled(true);
        record(&d, 450, 50, 2);
        let (actions, runs) = (500, 8);
        assert!(guard.flush(), "{:?}", guard.store_stats());
        wait_until("the remote to catch up", PHASE, || {
            db.count("") == actions && pg_jobs(&db) == runs
        });
        drop(d);
        let done = guard.shutdown(Duration::from_secs(30));
        assert!(done.complete, "{done:?}");
        assert_each_store_accounted(&done.stats, &done.stores);
        assert_eq!(done.stores.len(), 2);
        for s in &done.stores {
            let want = (actions + runs) as u64;
            assert_eq!(
                (
                    s.stats.actions_recorded,
                    s.stats.actions_delivered,
                    s.stats.actions_dropped,
                    s.stats.actions_dead_lettered
                ),
                (want, want, 0, 0),
                "{s:?}"
            );
            assert_eq!(
                s.stats.actions_replayed, s.stats.actions_spooled,
                "all that was spooled was replayed: {s:?}"
            );
        }
        let pg = store(&done.stores, "postgres");
        assert!(pg.stats.actions_spooled >= 1, "{pg:?}");
        let pg_spool = pg.spool_dir.clone().unwrap();
        assert!(
            pg_spool.starts_with(dir.path().join("stores")),
            "{}",
            pg_spool.display()
        );
        assert_eq!(
            store(&done.stores, "sqlite").spool_dir,
            Some(dir.path().join("spool"))
        );
        assert!(segments(&pg_spool).is_empty(), "the remote's spool drained");

        // Each store holds every record, each acknowledged once.
        assert_eq!(
            local_acks.assert_each_once("sqlite"),
            (actions as usize, runs as usize)
        );
        assert_eq!(
            remote_acks.assert_each_once("postgres"),
            (actions as usize, runs as usize)
        );
        assert_eq!(
            local_acks
                .actions()
                .keys()
                .collect::<std::collections::HashSet<_>>(),
            remote_acks.actions().keys().collect()
        );
        assert_eq!(sqlite_count(&local_db, "action_logs"), actions);
        assert_eq!(sqlite_count(&local_db, "job_executions"), runs);
        assert_eq!((db.count(""), pg_jobs(&db)), (actions, runs));
        db.assert_no_duplicate_ids();
    }

    #[test]
    fn a_shutdown_while_the_remote_is_down_spools_its_records_for_the_next_run_to_replay_to_it_only()
     {
        let Some(db) = TestDb::new("multi_store_restart") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let local_db = dir.path().join("actions.db");
        let proxy = Proxy::start(upstream_of(&db.url), false);
        let run = |pg_up: bool| {
            let (local, local_acks) = counted(SqliteSink::open(&local_db).unwrap());
            let (remote, remote_acks) = counted(db.sink_at(&proxy.url(&db.url)));
            proxy.set_enabled(pg_up);
            let (d, guard) = dispatch(
                actionlog::builder()
                    .log_dir(dir.path())
                    .action_layer(|a| a.pipeline(pipeline()))
                    .sink(local)
                    .also_sink(remote),
            )
            .unwrap();
            (d, guard, local_acks, remote_acks)
        };

        // The first run: the remote is down throughout.
        let (d, guard, local_acks, remote_acks) = run(false);
        record(&d, 0, 200, 3);
        wait_until("the local store to hold every record", PHASE, || {
            sqlite_count(&local_db, "action_logs") == 200
                && sqlite_count(&local_db, "job_executions") == 3
        });
        drop(d);
        let done = guard.shutdown(Duration::from_secs(5));
        assert!(done.complete, "{done:?}");
        assert_each_store_accounted(&done.stats, &done.stores);
        let (sqlite, pg) = (
            store(&done.stores, "sqlite"),
            store(&done.stores, "postgres"),
        );
        // The local store may spill a burst to its spool too; it replays it within the run.
        assert_eq!(
            (
                sqlite.stats.actions_delivered,
                sqlite.stats.actions_spooled - sqlite.stats.actions_replayed
            ),
            (203, 0),
            "{sqlite:?}"
        );
        assert_eq!(
            (pg.stats.actions_delivered, pg.stats.actions_spooled),
            (0, 203),
            "{pg:?}"
        );
        let pg_spool = pg.spool_dir.clone().unwrap();
        assert!(pg_spool.starts_with(dir.path().join("stores")));
        let segs = segments(&pg_spool);
        assert!(
            !segs.is_empty(),
            "the remote's records are in its own spool"
        );
        for seg in &segs {
            let first = std::fs::read_to_string(seg).unwrap();
            let first = first.lines().next().unwrap();
            assert!(
                first.starts_with("# actionlog spool store=postgres "),
                "{first}"
            );
        }
        assert!(
            segments(&dir.path().join("spool")).is_empty(),
            "nothing in the local store's spool"
        );
        assert_eq!(local_acks.assert_each_once("sqlite"), (200, 3));
        assert_eq!(remote_acks.assert_each_once("postgres"), (0, 0));
        let first_run: Vec<Uuid> = local_acks.actions().into_keys().collect();

        // The next run, the remote back: its spool goes to it, and to it only.
        let (d, guard, local_acks, remote_acks) = run(true);
        record(&d, 200, 20, 1);
        assert!(guard.flush(), "{:?}", guard.store_stats());
        wait_until("the remote to hold both runs' records", PHASE, || {
            db.count("") == 220 && pg_jobs(&db) == 4
        });
        drop(d);
        let done = guard.shutdown(Duration::from_secs(30));
        assert!(done.complete, "{done:?}");
        assert_each_store_accounted(&done.stats, &done.stores);
        let (sqlite, pg) = (
            store(&done.stores, "sqlite"),
            store(&done.stores, "postgres"),
        );
        assert_eq!(
            (
                sqlite.stats.actions_recorded,
                sqlite.stats.actions_delivered
            ),
            (21, 21),
            "{sqlite:?}"
        );
        assert_eq!(
            (
                pg.stats.actions_recorded,
                pg.stats.actions_replayed,
                pg.stats.actions_delivered
            ),
            (21, 203, 224),
            "{pg:?}"
        );
        assert_eq!(
            local_acks.assert_each_once("sqlite"),
            (20, 1),
            "the local store got this run's records only"
        );
        assert!(
            first_run
                .iter()
                .all(|id| !local_acks.actions().contains_key(id)),
            "none of the remote's spool went to the local store"
        );
        assert_eq!(remote_acks.assert_each_once("postgres"), (220, 4));
        let local_ids = sqlite_ids(&local_db);
        assert_eq!(local_ids.len(), 220);
        assert!(
            first_run
                .iter()
                .all(|id| local_ids.contains(&id.to_string())),
            "the first run's records stayed in the local store"
        );
        assert_eq!(
            pg.spool_dir.as_ref(),
            Some(&pg_spool),
            "the same directory each run"
        );
        db.assert_no_duplicate_ids();
        assert!(segments(&pg_spool).is_empty(), "the remote's spool drained");
    }
}

/// A store whose writes wait until the test says go: a database that hangs.
struct Held {
    inner: SqliteSink,
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl Sink for Held {
    fn name(&self) -> &'static str {
        "held"
    }

    fn target(&self) -> String {
        self.inner.target()
    }

    fn write<'a>(&'a mut self, batch: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
        // On the worker's thread: while held, the worker takes nothing from its queue.
        let (open, cv) = &*self.gate;
        let _open = cv.wait_while(open.lock().unwrap(), |open| !*open).unwrap();
        self.inner.write(batch)
    }

    fn write_jobs<'a>(&'a mut self, batch: &'a Batch<JobExecution>) -> SinkFuture<'a> {
        self.inner.write_jobs(batch)
    }
}

fn open_gate(gate: &(Mutex<bool>, std::sync::Condvar)) {
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
}

/// A full queue drops for its own store only, under either overflow policy: the other store
/// receives every record, and each store's counters add up.
#[test]
fn a_full_queue_drops_for_its_own_store_only() {
    for overflow in [Overflow::DropNewest, Overflow::Block] {
        let dir = tempfile::tempdir().unwrap();
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let held = Held {
            inner: SqliteSink::open(dir.path().join("held.db")).unwrap(),
            gate: gate.clone(),
        };
        let (local, local_acks) = counted(SqliteSink::open(dir.path().join("actions.db")).unwrap());
        let (d, guard) = dispatch(
            actionlog::builder()
                .log_dir(dir.path())
                .sink(local)
                // No spool, a small queue, one record per write and a short wait: the held
                // store's worker stops at its first record and its queue fills.
                .also_sink_with(held, move |p| {
                    p.no_spool()
                        .queue_capacity(8)
                        .batch_size(1)
                        .overflow(overflow)
                        .block_timeout(Duration::from_millis(2))
                }),
        )
        .unwrap();
        record(&d, 0, 300, 0);
        wait_until("the local store to take every record", PHASE, || {
            store(&guard.store_stats(), "sqlite")
                .stats
                .actions_delivered
                == 300
        });
        let now = guard.store_stats();
        let held_now = store(&now, "held");
        assert!(
            held_now.stats.actions_dropped >= 1,
            "{overflow:?}: the held store's queue overflowed: {now:?}"
        );
        assert_eq!(
            store(&now, "sqlite").stats.actions_dropped,
            0,
            "{overflow:?}: {now:?}"
        );
        open_gate(&gate);
        drop(d);
        let done = guard.shutdown(Duration::from_secs(30));
        assert!(done.complete, "{done:?}");
        assert_each_store_accounted(&done.stats, &done.stores);
        let (local, held) = (store(&done.stores, "sqlite"), store(&done.stores, "held"));
        assert_eq!(
            (
                local.stats.actions_recorded,
                local.stats.actions_delivered,
                local.stats.actions_dropped
            ),
            (300, 300, 0),
            "{overflow:?}: {local:?}"
        );
        assert_eq!(held.stats.actions_recorded, 300, "{held:?}");
        assert_eq!(
            held.stats.actions_delivered + held.stats.actions_dropped,
            300,
            "{overflow:?}: {held:?}"
        );
        assert_eq!(
            done.stats.actions_dropped, held.stats.actions_dropped,
            "only the held store dropped"
        );
        assert_eq!(local_acks.assert_each_once("sqlite"), (300, 0));
        assert_eq!(
            sqlite_count(&dir.path().join("held.db"), "action_logs") as u64,
            held.stats.actions_delivered
        );
    }
}

/// A store that takes every write and names no target: known by its name alone.
struct Nameless(&'static str);

impl Sink for Nameless {
    fn name(&self) -> &'static str {
        self.0
    }

    fn write<'a>(&'a mut self, _: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The same store twice is refused when the layer is built, whichever way it was given, with
/// an error naming it; two stores sharing a directory are refused too; different stores of
/// one kind are fine, each in its own stable directory.
#[test]
fn the_same_store_twice_is_refused_and_each_added_store_has_its_own_directories() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let build = |b: actionlog::Builder| dispatch(b.log_dir(dir.path()));

    let twice = build(
        actionlog::builder()
            .sink(SqliteSink::open(&db).unwrap())
            .also_sink(SqliteSink::open(&db).unwrap()),
    );
    match twice {
        Err(Error::DuplicateStore { store }) => {
            assert!(
                store.starts_with("sqlite ") && store.contains("actions.db"),
                "{store}"
            )
        }
        other => panic!("expected DuplicateStore, got {:?}", other.map(|(_, g)| g)),
    }
    let e = build(
        actionlog::builder()
            .sink(Nameless("memory"))
            .also_sink(Nameless("memory")),
    )
    .expect_err("two sinks named alike without a target are one store");
    assert!(e.to_string().contains("given twice"), "{e}");
    let shared = build(
        actionlog::builder()
            .sink(SqliteSink::open(&db).unwrap())
            .also_sink_with(SqliteSink::open(dir.path().join("b.db")).unwrap(), {
                let spool = dir.path().join("spool");
                move |p| p.spool_dir(spool)
            }),
    )
    .expect_err("a spool directory shared by two stores");
    assert!(
        matches!(shared, Error::Config(m) if m.contains("share")),
        "{shared}"
    );

    let stores = |_: ()| {
        let (_d, guard) = build(
            actionlog::builder()
                .sink(SqliteSink::open(&db).unwrap())
                .also_sink(SqliteSink::open(dir.path().join("b.db")).unwrap())
                .also_sink(Nameless("memory")),
        )
        .unwrap();
        guard.store_stats()
    };
    let first = stores(());
    assert_eq!(
        first.iter().map(|s| s.sink).collect::<Vec<_>>(),
        ["sqlite", "sqlite", "memory"]
    );
    assert_eq!(first[0].spool_dir, Some(dir.path().join("spool")));
    assert_eq!(first[0].dead_letter_dir, dir.path().join("dead-letter"));
    for s in &first[1..] {
        let own = s.dead_letter_dir.parent().unwrap();
        assert_eq!(
            own.parent(),
            Some(dir.path().join("stores").as_path()),
            "{s:?}"
        );
        let name = own.file_name().unwrap().to_str().unwrap();
        let (kind, hash) = name.rsplit_once('-').unwrap();
        assert_eq!(kind, s.sink, "{name}");
        assert!(
            hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
        assert_eq!(s.spool_dir, Some(own.join("spool")));
        assert_eq!(s.dead_letter_dir, own.join("dead-letter"));
    }
    assert_ne!(first[1].spool_dir, first[2].spool_dir);
    assert_eq!(
        stores(()),
        first,
        "the same directories from one run to the next"
    );
}

/// `also_sink` without `sink`: the added store goes beside the default choice (here the
/// SQLite file under the log directory, the environment naming no database), which keeps
/// `spool/` and `dead-letter/`; `init` names both stores; the default store given again is
/// refused. A child process: the default choice reads the environment, which the child has
/// without any database variable, and `init` runs once per process.
#[test]
fn also_sink_without_sink_goes_beside_the_default_choice() {
    const CHILD: &str = "ACTIONLOG_MULTI_STORE_CHILD";
    if let Ok(dir) = std::env::var(CHILD) {
        let dir = Path::new(&dir);
        let twice = actionlog::builder()
            .log_dir(dir)
            .console(false)
            .also_sink(SqliteSink::open(dir.join("actions.db")).unwrap())
            .build::<tracing_subscriber::Registry>();
        assert!(
            matches!(twice, Err(Error::DuplicateStore { .. })),
            "the default store given again"
        );
        let guard = actionlog::builder()
            .log_dir(dir)
            .console(false)
            .day_files(false)
            .signals(false)
            .panic_hook(false)
            .also_sink(SqliteSink::open(dir.join("archive.db")).unwrap())
            .init()
            .unwrap();
        tracing::info!(action_type = "beside_the_default");
        tracing::info_span!("job_execution", job_id = "beside").in_scope(|| {});
        assert!(guard.flush());
        let stores = guard.store_stats();
        assert_eq!(stores.len(), 2, "{stores:?}");
        assert!(stores[0].target.contains("actions.db"), "{stores:?}");
        assert_eq!(stores[0].spool_dir, Some(dir.join("spool")));
        assert!(stores[1].target.contains("archive.db"), "{stores:?}");
        assert!(stores[1].dead_letter_dir.starts_with(dir.join("stores")));
        for s in &stores {
            assert_eq!(s.stats.actions_delivered, 2, "{s:?}");
        }
        assert_each_store_accounted(&guard.stats(), &stores);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    let mut cmd = common::rerun(
        module_path!(),
        "also_sink_without_sink_goes_beside_the_default_choice",
    );
    cmd.env(CHILD, &dir);
    for var in [
        "ACTIONLOG_DATABASE_URL",
        "DATABASE_URL",
        "SUPABASE_URL",
        "ACTIONLOG_STDOUT",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed:\n{stderr}");
    let announced: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("actionlog: action records"))
        .collect();
    assert_eq!(
        announced,
        [format!(
            "actionlog: action records and job runs go to sqlite {} table action_logs \
             and to sqlite {} table action_logs",
            dir.join("actions.db").display(),
            dir.join("archive.db").display()
        )],
        "{stderr}"
    );
    for db in ["actions.db", "archive.db"] {
        assert_eq!(sqlite_count(&dir.join(db), "action_logs"), 1, "{db}");
        assert_eq!(sqlite_count(&dir.join(db), "job_executions"), 1, "{db}");
    }
}

/// SQLite beside an OpenTelemetry Collector, the collector played by the loopback OTLP/HTTP
/// receiver (`common::otlp`: it decodes every request with opentelemetry-proto, as a collector
/// would; none can run here), down for a while.
#[cfg(feature = "otlp")]
mod otlp {
    use super::*;

    use std::collections::HashMap;

    use actionlog::PipelineConfig;
    use actionlog::sink::OtlpSink;
    use common::otlp::{Receiver, str_attr};

    /// How many times the receiver kept each action id and each job run id.
    fn kept(rx: &Receiver) -> (HashMap<String, u32>, HashMap<String, u32>) {
        let (mut actions, mut runs) = (HashMap::new(), HashMap::new());
        for r in rx.accepted() {
            let (map, key) = match r.event_name.as_str() {
                "actionlog.action" => (&mut actions, "actionlog.action_id"),
                _ => (&mut runs, "actionlog.job_execution_id"),
            };
            let id = str_attr(&r.attributes, key).expect("every record has its id");
            *map.entry(id.to_owned()).or_default() += 1;
        }
        (actions, runs)
    }

    #[test]
    fn the_local_store_stays_complete_while_the_collector_is_down_and_both_end_complete() {
        let dir = tempfile::tempdir().unwrap();
        let local_db = dir.path().join("actions.db");
        let rx = Receiver::start();
        let (local, local_acks) = counted(SqliteSink::open(&local_db).unwrap());
        let collector = OtlpSink::builder()
            .environment(false)
            .endpoint(rx.endpoint())
            .build()
            .unwrap();
        let (remote, remote_acks) = counted(collector);
        let pipeline = PipelineConfig::default()
            .queue_capacity(64)
            .batch_size(16)
            .retry_backoff(Duration::from_millis(10), Duration::from_millis(200));
        let (d, guard) = dispatch(
            actionlog::builder()
                .log_dir(dir.path())
                .action_layer(|a| a.pipeline(pipeline))
                .sink(local)
                .also_sink(remote),
        )
        .unwrap();

        record(&d, 0, 50, 1);
        wait_until("the first records in both stores", PHASE, || {
            guard
                .store_stats()
                .iter()
                .all(|s| s.stats.actions_delivered == 51)
        });

        // The collector down: the local store takes every record while the collector's wait.
        rx.set_down(true);
        record(&d, 50, 400, 5);
        wait_until(
            "the local store to hold every record so far, the collector down",
            PHASE,
            || {
                sqlite_count(&local_db, "action_logs") == 450
                    && sqlite_count(&local_db, "job_executions") == 6
            },
        );
        let during = guard.store_stats();
        let otlp = store(&during, "otlp");
        assert!(
            otlp.stats.actions_delivered < otlp.stats.actions_recorded,
            "the collector really was down: {during:?}"
        );
        assert_eq!(
            kept(&rx).0.len(),
            50,
            "nothing reached the collector meanwhile"
        );
        wait_until("a refused export to the collector", PHASE, || {
            store(&guard.store_stats(), "otlp").stats.actions_retried >= 1
        });

        // Up again: both end complete.
        rx.set_down(false);
        record(&d, 450, 50, 2);
        assert!(guard.flush(), "{:?}", guard.store_stats());
        wait_until("the collector to catch up", PHASE, || {
            let (a, r) = kept(&rx);
            a.len() == 500 && r.len() == 8
        });
        drop(d);
        let done = guard.shutdown(Duration::from_secs(30));
        assert!(done.complete, "{done:?}");
        assert_each_store_accounted(&done.stats, &done.stores);
        for s in &done.stores {
            assert_eq!(
                (
                    s.stats.actions_recorded,
                    s.stats.actions_delivered,
                    s.stats.actions_dropped,
                    s.stats.actions_dead_lettered
                ),
                (508, 508, 0, 0),
                "{s:?}"
            );
        }
        assert_eq!(local_acks.assert_each_once("sqlite"), (500, 8));
        assert_eq!(remote_acks.assert_each_once("otlp"), (500, 8));
        // The collector refused whole requests while down (nothing taken), so it holds each
        // record once: nothing was delivered to it twice either.
        let (actions, runs) = kept(&rx);
        let twice: Vec<_> = actions
            .iter()
            .chain(&runs)
            .filter(|(_, n)| **n != 1)
            .collect();
        assert!(twice.is_empty(), "kept more than once: {twice:?}");
        let local_ids: std::collections::HashSet<String> =
            local_acks.actions().keys().map(Uuid::to_string).collect();
        assert_eq!(local_ids, actions.keys().cloned().collect());
        assert!(rx.violations().is_empty(), "{:?}", rx.violations());
    }
}
