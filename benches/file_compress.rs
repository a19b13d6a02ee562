//! The file path with compression of closed parts on vs off, same workload, same run: emitting
//! threads, the writer thread and (when on) the compressor thread share the machine, so this
//! shows what compressing off the hot path costs the file output end to end. Parts are cut at
//! 4 MiB (`max_file_bytes`) so that compression has closed files to work on during the run.
//!
//! After the criterion groups, a summary alternates off, on and off-again runs of 1 000 000
//! events (8 rounds per thread count; the load of a shared machine drifts, and falls on all
//! three alike) and prints the on/off throughput ratios beside the off/off ones, the noise
//! they are to be read against; then it writes 200 000 of the
//! benchmark's lines, lets the compressor finish, and prints the compression ratio (plain
//! bytes / gzip bytes).
//!
//! Run: `cargo bench --features compress --bench file_compress -- --warm-up-time 1 --measurement-time 5`

use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

const PART: u64 = 4 << 20;

/// The workload of `benches/file_throughput.rs`.
#[inline(never)]
fn emit(i: u64) {
    tracing::info!(
        seq = i,
        user_id = "alice@example.com",
        ratio = 0.5,
        "order placed"
    );
}

fn build(
    dir: &Path,
    compress: bool,
    clock: actionlog::ManualClock,
) -> (Dispatch, actionlog::Guard) {
    let (layer, guard) = actionlog::FileLayer::builder(dir)
        .timezone(actionlog::Timezone::Utc)
        .clock(clock)
        .max_file_bytes(PART)
        .compress(compress)
        .build()
        .unwrap();
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

fn clock() -> actionlog::ManualClock {
    actionlog::ManualClock::at("2025-11-03T10:00:00Z".parse().unwrap())
}

/// Emits `per_thread` events on each of `threads` threads, then flushes and stops the writer
/// (and the compressor, which stops within its current 64 KiB).
fn run(compress: bool, threads: usize, per_thread: u64) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, guard) = build(dir.path(), compress, clock());
    let barrier = Barrier::new(threads + 1);
    let start = std::thread::scope(|s| {
        for t in 0..threads {
            let dispatch = dispatch.clone();
            let barrier = &barrier;
            s.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let span = tracing::info_span!("request", thread = t, source = "bench");
                    let _e = span.enter();
                    barrier.wait();
                    for i in 0..per_thread {
                        emit(i);
                    }
                })
            });
        }
        barrier.wait();
        Instant::now()
    });
    drop(dispatch);
    drop(guard);
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("file_compress/{threads}_thread"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(1));
        for (name, compress) in [("compress_off", false), ("compress_on", true)] {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| run(compress, threads, (iters / threads as u64).max(1)))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, throughput);

/// Writes `n` lines with compression on, closes the day, waits for the compressor, and returns
/// (plain bytes, gzip bytes, parts).
fn ratio(n: u64) -> (u64, u64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (dispatch, guard) = build(dir.path(), true, clock.clone());
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("request", thread = 0, source = "bench");
        let _e = span.enter();
        for i in 0..n {
            emit(i);
        }
        // The next day's first line closes the last part of the day measured.
        assert!(guard.flush());
        clock.set("2025-11-04T10:00:00Z".parse().unwrap());
        tracing::info!("next day");
        assert!(guard.flush());
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let day = loop {
        let days = actionlog::day_files(dir.path()).unwrap();
        if days[0].parts().iter().all(|p| p.is_compressed()) {
            break days.into_iter().next().unwrap();
        }
        assert!(Instant::now() < deadline, "compression did not finish");
        // Polling pace only; the condition above is what is waited for.
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(dispatch);
    drop(guard);
    let plain: u64 = day.lines().map(|l| l.unwrap().len() as u64 + 1).sum();
    let gz: u64 = day
        .parts()
        .iter()
        .map(|p| std::fs::metadata(p.path()).unwrap().len())
        .sum();
    (plain, gz, day.parts().len())
}

/// Alternating runs of the same size, off / on / off again, so that the other load on a shared
/// machine, which drifts over seconds, falls on all three alike. Prints, per round, the
/// throughput ratio on / off and, as the noise control, off again / off; and their medians.
fn paired() {
    const ROUNDS: usize = 8;
    const EVENTS: u64 = 1_000_000;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[ROUNDS / 2 - 1] + v[ROUNDS / 2]) / 2.0
    };
    let show = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for threads in [1usize, 2] {
        let (mut on, mut control) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let per_thread = EVENTS / threads as u64;
            let off = run(false, threads, per_thread).as_secs_f64();
            on.push(off / run(true, threads, per_thread).as_secs_f64());
            control.push(off / run(false, threads, per_thread).as_secs_f64());
        }
        println!(
            "{threads} thread(s), {EVENTS} events per run: on/off [{}]; off/off [{}]",
            show(&on),
            show(&control)
        );
        println!(
            "{threads} thread(s): median throughput on/off {:.2}, off/off (noise control) {:.2}",
            median(&mut on),
            median(&mut control)
        );
    }
}

fn main() {
    // `cargo test --benches` runs bench binaries without `--bench`: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    paired();
    let (plain, gz, parts) = ratio(200_000);
    println!(
        "\ncompression ratio on 200 000 benchmark lines: {plain} plain bytes -> {gz} gzip bytes \
         in {parts} parts = {:.1}x",
        plain as f64 / gz as f64
    );
}
