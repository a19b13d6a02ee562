//! Caller-side cost of an action against a plain event, through the stack `init()` builds:
//! the file layer (behind an `info` EnvFilter) plus the action layer (behind `ActionFilter`)
//! delivering to the default SQLite store. Console off.
//!
//! Events are emitted in bursts of 1 000; between bursts (not timed) the guards flush, so the
//! channels never saturate and the writer threads are idle while the caller is timed: this is
//! the cost a request handler pays, not the sink's speed (see `pg_sink` for that).
//!
//! Run: `cargo bench --bench action_cost`

mod caller;

use std::time::Duration;

use caller::{paced, stack, summary_row};
use criterion::{Criterion, criterion_group};

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

fn caller_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("action_caller_cost");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for kind in [Kind::Plain, Kind::ActionEvent, Kind::ActionSpan] {
        let s = stack(false);
        tracing::dispatcher::with_default(&s.dispatch, || {
            g.bench_function(kind.name(), |b| {
                b.iter_custom(|iters| paced(iters, &s.guards, false, |i| kind.emit(i), |_| {}))
            });
        });
        for guard in s.guards {
            let _ = guard.shutdown(Duration::from_secs(30));
        }
    }
    g.finish();
}

criterion_group!(benches, caller_cost);

/// Rounds of the summary: each round measures the three kinds in turn, so a slow spell of the
/// machine weighs on every kind alike, and the ratios are read from the medians over rounds.
const ROUNDS: usize = 5;

fn summary() {
    println!(
        "\n## Summary: per-event caller cost, 100 000 events each, bursts of 1 000 with a flush \
         between, {ROUNDS} interleaved rounds\n"
    );
    println!("| kind | median | p99 | rows delivered |");
    println!("|---|---|---|---|");
    let kinds = [Kind::Plain, Kind::ActionEvent, Kind::ActionSpan];
    let mut medians = vec![Vec::new(); kinds.len()];
    for _ in 0..ROUNDS {
        for (k, kind) in kinds.into_iter().enumerate() {
            let m = summary_row(kind.name(), false, false, |i| kind.emit(i), "records");
            medians[k].push(m);
        }
    }
    // The per-round ratios (each round's kinds measured within seconds of each other), then
    // the medians over rounds.
    let per_round = |k: usize| -> Vec<String> {
        (0..ROUNDS)
            .map(|r| format!("{:.2}", medians[k][r] / medians[0][r]))
            .collect()
    };
    let (per_event, per_span) = (per_round(1), per_round(2));
    let m: Vec<f64> = medians
        .iter_mut()
        .map(|v| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        })
        .collect();
    println!(
        "\nmedians over {ROUNDS} rounds: plain {:.0} ns, action event {:.0} ns, action span {:.0} ns",
        m[0], m[1], m[2]
    );
    println!(
        "action event / plain event (median): {:.2}x; action span / plain event: {:.2}x",
        m[1] / m[0],
        m[2] / m[0]
    );
    println!(
        "per round, action event / plain event: {}; action span / plain event: {}",
        per_event.join(", "),
        per_span.join(", ")
    );
}

/// `ACTIONLOG_BENCH_ONLY=<kind name>`: only that kind's summary row (100 000 events), for
/// `valgrind --tool=callgrind --toggle-collect='*Kind::emit*'`, which counts instructions per
/// event without the other kinds' runs in the profile.
fn only(name: &str) {
    let kind = [Kind::Plain, Kind::ActionEvent, Kind::ActionSpan]
        .into_iter()
        .find(|k| k.name() == name)
        .expect("a kind name");
    summary_row(kind.name(), false, false, |i| kind.emit(i), "records");
}

fn main() {
    if let Ok(name) = std::env::var("ACTIONLOG_BENCH_ONLY") {
        return only(&name);
    }
    caller::main_with(benches, summary);
}
