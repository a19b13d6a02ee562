//! The disk spool's own speed, through the public API only.
//!
//! - `spool/spill`: one thread emits N one-shot action events (10 000 per criterion iteration)
//!   into an action pipeline whose sink fails at once (transient, long backoff), so the worker
//!   moves the channel to spool segments
//!   whenever it is half full; then `shutdown` (deadline shorter than the backoff) spools the rest.
//!   The clock runs from the first event to the shutdown's return, and every record must be in
//!   the spool by then: records/s written to segments (JSON + CRC + one fsync per segment),
//!   including the caller's cost of each event.
//! - `spool/replay`: a new pipeline on that spool whose sink accepts every batch at once; the
//!   clock runs from `build()` to the first `flush()` returning, which comes after the start-up
//!   replay: records/s read back (checksum, parse, merge, hand to the sink, delete the segment).
//!
//! The two sinks do nothing on purpose, to price the spool and not a database (for those, see
//! `pg_sink` and `supabase_sink`). Kept short: 10 samples, a few seconds each.
//!
//! Run: `cargo bench --bench spool`

use std::path::Path;
use std::time::{Duration, Instant};

use actionlog::sink::{FailureKind, Sink, SinkError, SinkFuture};
use actionlog::{ActionFilter, ActionLayer, ActionRecord, Overflow, PipelineConfig};
use criterion::{Criterion, Throughput, criterion_group};
use tracing_subscriber::prelude::*;

/// A database that is down: every write fails at once, transiently.
struct Down;
impl Sink for Down {
    fn name(&self) -> &'static str {
        "down"
    }
    fn write<'a>(&'a mut self, _batch: &'a actionlog::sink::Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(async { Err(SinkError::new(FailureKind::Transient, "down")) })
    }
}

/// A database that takes everything at once.
struct Accepts;
impl Sink for Accepts {
    fn name(&self) -> &'static str {
        "accepts"
    }
    fn write<'a>(&'a mut self, _batch: &'a actionlog::sink::Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

#[inline(never)]
fn emit(i: u64) {
    tracing::info!(
        action_type = "scheduled_job_execution",
        user_id = "alice@example.com",
        job_id = "nightly",
        seq = i,
        ratio = 0.5
    );
}

/// Spools `n` records into `dir`; returns the time taken.
fn spill(dir: &Path, n: u64) -> Duration {
    // Backoff of 20 s (10 to 20 s with jitter) against a shutdown deadline of 10 s (7.5 s for
    // the action worker): once the shutdown comes, no batch waits for a retry, it goes straight
    // to the spool. A 1 ms linger: the first batch does not wait to fill.
    let config = PipelineConfig::default()
        .no_spool()
        .retry_backoff(Duration::from_secs(20), Duration::from_secs(20))
        .linger(Duration::from_millis(1))
        // Never drop: if spilling falls behind, the caller waits (and the clock shows it).
        .overflow(Overflow::Block)
        .block_timeout(Duration::from_secs(60))
        .spool_dir(dir)
        .dead_letter_dir(dir.join("dead-letter"));
    let (layer, guard) = ActionLayer::builder(Down).pipeline(config).build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(ActionFilter));
    let start = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..n {
            emit(i);
        }
    });
    let done = guard.shutdown(Duration::from_secs(10));
    let elapsed = start.elapsed();
    assert!(done.complete, "{done:?}");
    assert_eq!(
        (done.stats.actions_spooled, done.stats.actions_dropped),
        (n, 0),
        "{done:?}"
    );
    elapsed
}

/// Delivers what `dir` holds to a sink that accepts everything; returns the time taken.
fn replay(dir: &Path, n: u64) -> Duration {
    let start = Instant::now();
    let (_layer, guard) = ActionLayer::builder(Accepts)
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .spool_dir(dir)
                .dead_letter_dir(dir.join("dead-letter")),
        )
        .build()
        .unwrap();
    assert!(guard.flush());
    let elapsed = start.elapsed();
    let s = guard.stats();
    assert_eq!((s.actions_replayed, s.actions_delivered), (n, n), "{s:?}");
    elapsed
}

fn segments(dir: &Path) -> (usize, u64) {
    let mut count = 0;
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("seg-") {
            count += 1;
            bytes += e.metadata().unwrap().len();
        }
    }
    (count, bytes)
}

/// Records per criterion iteration, so that starting and stopping a pipeline is amortised.
const PER_ITER: u64 = 10_000;

fn spool(c: &mut Criterion) {
    let mut g = c.benchmark_group("spool");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(PER_ITER));
    g.bench_function("spill", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().unwrap();
            spill(dir.path(), iters * PER_ITER)
        })
    });
    g.bench_function("replay", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().unwrap();
            spill(dir.path(), iters * PER_ITER);
            replay(dir.path(), iters * PER_ITER)
        })
    });
    g.finish();
}

criterion_group!(benches, spool);

/// One fixed-size run of each, with the on-disk size.
fn summary() {
    const N: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let w = spill(dir.path(), N);
    let (count, bytes) = segments(dir.path());
    let r = replay(dir.path(), N);
    println!(
        "\n## Summary: {N} records\n\nspill: {:.0} k records/s ({count} segments, {:.0} bytes per record)\nreplay: {:.0} k records/s",
        N as f64 / w.as_secs_f64() / 1e3,
        bytes as f64 / N as f64,
        N as f64 / r.as_secs_f64() / 1e3
    );
}

fn main() {
    // `cargo test --benches` runs bench binaries without `--bench`: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
