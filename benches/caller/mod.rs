//! What the caller-cost benches share (`action_cost`, `job_capture`): the stack `init()` builds,
//! emission in timed bursts with an untimed flush between them, and the summary statistics.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use actionlog::sink::SqliteSink;
use actionlog::{ActionFilter, ActionLayer, FileLayer, JobFilter, PipelineConfig};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// Events per burst; the guards flush between bursts.
pub const BURST: u64 = 1_000;

pub struct Stack {
    pub dispatch: Dispatch,
    pub guards: Vec<actionlog::Guard>,
    _dir: tempfile::TempDir,
}

/// Files behind an `info` filter and the action layer on the default SQLite store, console
/// off; with `jobs`, the job layer behind `JobFilter` too, as `init()` has it.
pub fn stack(jobs: bool) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let (files, fg) = FileLayer::builder(dir.path())
        .timezone(actionlog::Timezone::Utc)
        .build()
        .unwrap();
    let sink = SqliteSink::open(dir.path().join("actions.db")).unwrap();
    let (actions, ag) = ActionLayer::builder(sink)
        // Batches close only at the flush between bursts, so the sink's own work (SQLite on the
        // second of two cores) does not compete with the caller being timed.
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .batch_size(4 * BURST as usize)
                .linger(Duration::from_secs(3600))
                .dead_letter_dir(dir.path().join("dead-letter")),
        )
        .build()
        .unwrap();
    let job_layer = jobs.then(|| {
        actions
            .job_layer()
            .timezone(actionlog::Timezone::Utc)
            .with_filter(JobFilter::new(tracing_subscriber::EnvFilter::new("info")))
    });
    let subscriber = tracing_subscriber::registry()
        .with(files.with_filter(tracing_subscriber::EnvFilter::new("info")))
        .with(actions.with_filter(ActionFilter))
        .with(job_layer);
    Stack {
        dispatch: Dispatch::new(subscriber),
        guards: vec![fg, ag],
        _dir: dir,
    }
}

/// Calls `emit(i)` for `i` in `0..n` in bursts, each burst inside a fresh `job_execution` span
/// when `in_run`, timing every call (`each`) and flushing `guards` between bursts, untimed;
/// returns the time spent emitting.
pub fn paced(
    n: u64,
    guards: &[actionlog::Guard],
    in_run: bool,
    mut emit: impl FnMut(u64),
    mut each: impl FnMut(Duration),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut i = 0;
    while i < n {
        let end = (i + BURST).min(n);
        let run = in_run.then(|| tracing::info_span!("job_execution", job_id = "ticker_backfill"));
        let entered = run.as_ref().map(|r| r.enter());
        for j in i..end {
            let t = Instant::now();
            emit(j);
            let d = t.elapsed();
            each(d);
            total += d;
        }
        drop(entered);
        drop(run);
        i = end;
        for g in guards {
            g.flush();
        }
    }
    total
}

/// Runs 100 000 emissions on a fresh stack and prints one summary row; returns the median (ns).
pub fn summary_row(
    name: &str,
    jobs: bool,
    in_run: bool,
    emit: impl FnMut(u64),
    delivered_label: &str,
) -> f64 {
    let s = stack(jobs);
    let mut samples = Vec::with_capacity(100_000);
    tracing::dispatcher::with_default(&s.dispatch, || {
        paced(100_000, &s.guards, in_run, emit, |d| {
            samples.push(d.as_nanos() as f64)
        });
    });
    let mut delivered = 0;
    for guard in s.guards {
        delivered += guard
            .shutdown(Duration::from_secs(30))
            .stats
            .actions_delivered;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let (m, p99) = (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    );
    println!("| {name} | {m:.0} ns | {p99:.0} ns | {delivered} {delivered_label} |");
    m
}

/// `main` of a caller-cost bench: criterion's groups, then the summary section.
pub fn main_with(benches: fn(), summary: fn()) {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    summary();
}
