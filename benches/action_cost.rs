//! Caller-side cost of an action against a plain event, through the stack `init()` builds:
//! the file layer (behind an `info` EnvFilter) plus the action layer (behind `ActionFilter`)
//! delivering to the default SQLite store. Console off.
//!
//! Events are emitted in bursts of 1 000; between bursts (not timed) the guards flush, so the
//! channels never saturate and the writer threads are idle while the caller is timed: this is
//! the cost a request handler pays, not the sink's speed (see `pg_sink` for that).
//!
//! Run: `cargo bench --bench action_cost`

use std::time::{Duration, Instant};

use actionlog::sink::SqliteSink;
use actionlog::{ActionFilter, ActionLayer, FileLayer, PipelineConfig};
use criterion::{Criterion, criterion_group};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

const BURST: u64 = 1_000;

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    ActionEvent,
    ActionSpan,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain_info_event",
            Kind::ActionEvent => "action_event",
            Kind::ActionSpan => "action_span_open_close",
        }
    }

    #[inline(never)]
    fn emit(self, i: u64) {
        match self {
            Kind::Plain => tracing::info!(
                seq = i,
                user_id = "alice@example.com",
                ratio = 0.5,
                "order placed"
            ),
            Kind::ActionEvent => tracing::info!(
                action_type = "order_placed",
                seq = i,
                user_id = "alice@example.com",
                ratio = 0.5,
                "order placed"
            ),
            Kind::ActionSpan => tracing::info_span!(
                "order",
                action_type = "order_placed",
                seq = i,
                user_id = "alice@example.com"
            )
            .in_scope(|| {}),
        }
    }
}

struct Stack {
    dispatch: Dispatch,
    guards: Vec<actionlog::Guard>,
    _dir: tempfile::TempDir,
}

fn stack() -> Stack {
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
                .batch_size(4 * BURST as usize)
                .linger(Duration::from_secs(3600))
                .dead_letter_dir(dir.path().join("dead-letter")),
        )
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(files.with_filter(tracing_subscriber::EnvFilter::new("info")))
        .with(actions.with_filter(ActionFilter));
    Stack {
        dispatch: Dispatch::new(subscriber),
        guards: vec![fg, ag],
        _dir: dir,
    }
}

/// Emits `n` events of `kind` in bursts, flushing `guards` between them; returns the time
/// spent emitting.
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
        for j in i..end {
            let t = Instant::now();
            kind.emit(j);
            let d = t.elapsed();
            each(d);
            total += d;
        }
        i = end;
        for g in guards {
            g.flush();
        }
    }
    total
}

fn caller_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("action_caller_cost");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for kind in [Kind::Plain, Kind::ActionEvent, Kind::ActionSpan] {
        let s = stack();
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

criterion_group!(benches, caller_cost);

fn summary() {
    println!(
        "\n## Summary: per-event caller cost, 100 000 events each, bursts of 1 000 with a flush between\n"
    );
    println!("| kind | median | p99 | rows delivered |");
    println!("|---|---|---|---|");
    let mut medians = Vec::new();
    for kind in [Kind::Plain, Kind::ActionEvent, Kind::ActionSpan] {
        let s = stack();
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
            "| {} | {m:.0} ns | {p99:.0} ns | {delivered} records |",
            kind.name()
        );
    }
    println!(
        "\naction event / plain event (median): {:.2}x; action span / plain event: {:.2}x",
        medians[1] / medians[0],
        medians[2] / medians[0]
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
