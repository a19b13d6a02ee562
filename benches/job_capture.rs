//! Caller-side cost of log capture inside a job run: the same `info!` event emitted inside a
//! `job_execution` span (formatted into the run's `logs`) and outside any run, through the stack
//! `init()` builds (files behind an `info` filter, the action layer, the job layer behind
//! `JobFilter`), plus the same stack without the job layer as the baseline.
//!
//! Events go in bursts of 1 000 (one run per burst when inside); the guards flush between bursts,
//! untimed, so the writer and delivery threads are idle while the caller is timed.
//!
//! Run: `cargo bench --bench job_capture`

use std::time::{Duration, Instant};

use actionlog::sink::SqliteSink;
use actionlog::{ActionFilter, ActionLayer, FileLayer, JobFilter, PipelineConfig};
use criterion::{Criterion, criterion_group};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

const BURST: u64 = 1_000;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// No job layer at all.
    Baseline,
    /// Job layer installed, event outside any run.
    Outside,
    /// Event inside a run: captured into its logs.
    Inside,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Baseline => "event_without_job_layer",
            Kind::Outside => "event_outside_a_run",
            Kind::Inside => "event_inside_a_run",
        }
    }
}

#[inline(never)]
fn emit(i: u64) {
    tracing::info!(seq = i, ticker = "NVDA", ratio = 0.5, "ticker resolved");
}

struct Stack {
    dispatch: Dispatch,
    guards: Vec<actionlog::Guard>,
    _dir: tempfile::TempDir,
}

fn stack(jobs: bool) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let (files, fg) = FileLayer::builder(dir.path())
        .timezone(actionlog::Timezone::Utc)
        .build()
        .unwrap();
    let sink = SqliteSink::open(dir.path().join("actions.db")).unwrap();
    let (actions, ag) = ActionLayer::builder(sink)
        .pipeline(
            PipelineConfig::default()
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

/// Emits `n` events in bursts (each burst one run when `kind` is `Inside`), flushing between
/// bursts; returns the time spent emitting.
fn paced(
    kind: Kind,
    n: u64,
    guards: &[actionlog::Guard],
    mut each: impl FnMut(Duration),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut i = 0;
    while i < n {
        let end = (i + BURST).min(n);
        let run = (kind == Kind::Inside)
            .then(|| tracing::info_span!("job_execution", job_id = "ticker_backfill"));
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

const KINDS: [Kind; 3] = [Kind::Baseline, Kind::Outside, Kind::Inside];

fn capture_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("job_capture_caller_cost");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for kind in KINDS {
        let s = stack(kind != Kind::Baseline);
        tracing::dispatcher::with_default(&s.dispatch, || {
            g.bench_function(kind.name(), |b| {
                b.iter_custom(|iters| paced(kind, iters, &s.guards, |_| {}))
            });
        });
        for guard in s.guards {
            let _ = guard.shutdown(Duration::from_secs(30));
        }
    }
    g.finish();
}

criterion_group!(benches, capture_cost);

fn summary() {
    println!("\n## Summary: per-event caller cost, 100 000 events each, bursts of 1 000\n");
    println!("| kind | median | p99 | job runs delivered |");
    println!("|---|---|---|---|");
    let mut medians = Vec::new();
    for kind in KINDS {
        let s = stack(kind != Kind::Baseline);
        let mut samples = Vec::with_capacity(100_000);
        tracing::dispatcher::with_default(&s.dispatch, || {
            paced(kind, 100_000, &s.guards, |d| {
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
        medians.push(m);
        println!(
            "| {} | {m:.0} ns | {p99:.0} ns | {delivered} |",
            kind.name()
        );
    }
    println!(
        "\ninside a run / outside (median): {:.2}x; outside / without the job layer: {:.2}x",
        medians[2] / medians[1],
        medians[1] / medians[0]
    );
}

fn main() {
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
