//! Caller-side cost of log capture inside a job run: the same `info!` event emitted inside a
//! `job_execution` span (formatted into the run's `logs`) and outside any run, through the stack
//! `init()` builds (files behind an `info` filter, the action layer, the job layer behind
//! `JobFilter`), plus the same stack without the job layer as the baseline.
//!
//! Events go in bursts of 1 000 (one run per burst when inside); the guards flush between bursts,
//! untimed, so the writer and delivery threads are idle while the caller is timed.
//!
//! Run: `cargo bench --bench job_capture`

mod caller;

use std::time::Duration;

use caller::{paced, stack, summary_row};
use criterion::{Criterion, criterion_group};

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

const KINDS: [Kind; 3] = [Kind::Baseline, Kind::Outside, Kind::Inside];

fn capture_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("job_capture_caller_cost");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for kind in KINDS {
        let s = stack(kind != Kind::Baseline);
        tracing::dispatcher::with_default(&s.dispatch, || {
            g.bench_function(kind.name(), |b| {
                b.iter_custom(|iters| paced(iters, &s.guards, kind == Kind::Inside, emit, |_| {}))
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
    let medians: Vec<f64> = KINDS
        .into_iter()
        .map(|kind| {
            let (jobs, inside) = (kind != Kind::Baseline, kind == Kind::Inside);
            summary_row(kind.name(), jobs, inside, emit, "runs")
        })
        .collect();
    println!(
        "\ninside a run / outside (median): {:.2}x; outside / without the job layer: {:.2}x",
        medians[2] / medians[1],
        medians[1] / medians[0]
    );
}

fn main() {
    caller::main_with(benches, summary);
}
