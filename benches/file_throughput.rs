//! Our file output against the peer stack, same workload, same run:
//! tracing-subscriber's `fmt::layer().json()` writing through `tracing_appender::non_blocking`
//! (default: lossy, 128 000 lines) to a daily `RollingFileAppender`.
//!
//! Criterion groups measure end-to-end throughput (emit N events on 1 or 2 threads, then flush
//! and stop the writer) and the caller-side cost of one event. After them, a summary measures
//! what criterion cannot: lines lost, the median and p99 caller-side cost of single events, and
//! peak RSS (each stack in its own child process), and prints the ratios.
//!
//! Run: `cargo bench --bench file_throughput`

use std::path::Path;
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stack {
    Actionlog,
    /// actionlog with redaction switched off, to price the default deny-list.
    ActionlogNoRedaction,
    /// The peer as configured by default (lossy).
    Peer,
    /// The peer with `lossy(false)`, for a like-for-like nothing-lost comparison.
    PeerBlocking,
}

impl Stack {
    fn name(self) -> &'static str {
        match self {
            Stack::Actionlog => "actionlog",
            Stack::ActionlogNoRedaction => "actionlog_no_redaction",
            Stack::Peer => "peer_lossy_default",
            Stack::PeerBlocking => "peer_lossless",
        }
    }

    /// A dispatcher writing into `dir` and the closure that flushes and stops its writer.
    fn build(self, dir: &Path) -> (Dispatch, Box<dyn FnOnce()>) {
        match self {
            Stack::Actionlog | Stack::ActionlogNoRedaction => {
                let redaction = if self == Stack::Actionlog {
                    actionlog::Redaction::default()
                } else {
                    actionlog::Redaction::none()
                };
                let (layer, guard) = actionlog::FileLayer::builder(dir)
                    .timezone(actionlog::Timezone::Utc)
                    .redaction(redaction)
                    .build()
                    .unwrap();
                let d = Dispatch::new(tracing_subscriber::registry().with(layer));
                (d, Box::new(move || drop(guard)))
            }
            Stack::Peer | Stack::PeerBlocking => {
                let appender = tracing_appender::rolling::daily(dir, "peer.log");
                let (nb, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .lossy(self == Stack::Peer)
                    .finish(appender);
                let layer = tracing_subscriber::fmt::layer().json().with_writer(nb);
                let d = Dispatch::new(tracing_subscriber::registry().with(layer));
                (d, Box::new(move || drop(guard)))
            }
        }
    }
}

/// The workload: one span with two fields, events with three fields and a message.
#[inline(never)]
fn emit(i: u64) {
    tracing::info!(
        seq = i,
        user_id = "alice@example.com",
        ratio = 0.5,
        "order placed"
    );
}

/// Emits `per_thread` events on each of `threads` threads, then flushes and stops the writer.
/// Returns the elapsed time and the lines found on disk.
fn run(stack: Stack, threads: usize, per_thread: u64) -> (Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, finish) = stack.build(dir.path());
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
    finish();
    let elapsed = start.elapsed();
    (elapsed, count_lines(dir.path()))
}

fn count_lines(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.is_symlink() && p.is_file())
        .map(|p| {
            // Stream the file: reading it whole would inflate the peak RSS being measured.
            let mut f = std::fs::File::open(p).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut n = 0u64;
            loop {
                let k = std::io::Read::read(&mut f, &mut buf).unwrap();
                if k == 0 {
                    break n;
                }
                n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
            }
        })
        .sum()
}

fn throughput(c: &mut Criterion) {
    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("file_throughput/{threads}_thread"));
        g.sample_size(10).measurement_time(Duration::from_secs(8));
        g.throughput(Throughput::Elements(1));
        for stack in [Stack::Actionlog, Stack::Peer, Stack::PeerBlocking] {
            g.bench_function(BenchmarkId::from_parameter(stack.name()), |b| {
                b.iter_custom(|iters| {
                    let per_thread = (iters / threads as u64).max(1);
                    run(stack, threads, per_thread).0
                })
            });
        }
        g.finish();
    }
}

fn caller_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("caller_cost");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for stack in [Stack::Actionlog, Stack::ActionlogNoRedaction, Stack::Peer] {
        let dir = tempfile::tempdir().unwrap();
        let (dispatch, finish) = stack.build(dir.path());
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("request", thread = 0, source = "bench");
            let _e = span.enter();
            let mut i = 0;
            g.bench_function(stack.name(), |b| {
                b.iter(|| {
                    i += 1;
                    emit(i)
                })
            });
        });
        drop(dispatch);
        finish();
    }
    g.finish();
}

criterion_group!(benches, throughput, caller_cost);

/// Per-event caller cost: times each event on its own and returns (median, p99) in ns.
/// Batches of events with pauses keep the channel from saturating, so this is the cost a
/// request handler sees, not the writer's speed.
fn caller_latency(stack: Stack) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, finish) = stack.build(dir.path());
    let mut samples = Vec::with_capacity(200_000);
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("request", thread = 0, source = "bench");
        let _e = span.enter();
        for round in 0..200u64 {
            for i in 0..1000 {
                let t = Instant::now();
                emit(round * 1000 + i);
                samples.push(t.elapsed().as_nanos() as f64);
            }
            // Let the writer drain between bursts (not a correctness wait: only pacing).
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    drop(dispatch);
    finish();
    samples.sort_by(|a, b| a.total_cmp(b));
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

/// Child-process mode: run one stack once and print `events lines elapsed_ns peak_rss_kib`.
fn child(stack: Stack, threads: usize, per_thread: u64) {
    let (elapsed, lines) = run(stack, threads, per_thread);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0");
    println!(
        "{} {} {} {}",
        threads as u64 * per_thread,
        lines,
        elapsed.as_nanos(),
        rss
    );
}

fn summary() {
    const PER_THREAD: u64 = 1_000_000;
    println!("\n## Summary: {PER_THREAD} events per thread, each stack in a fresh child process\n");
    println!("| stack | threads | events/s | lost lines | peak RSS (MiB) |");
    println!("|---|---|---|---|---|");
    let exe = std::env::current_exe().unwrap();
    let mut rates = std::collections::HashMap::new();
    for threads in [1usize, 2] {
        for stack in [Stack::Actionlog, Stack::Peer, Stack::PeerBlocking] {
            let out = Command::new(&exe)
                .env(
                    "ACTIONLOG_BENCH_CHILD",
                    format!("{} {threads} {PER_THREAD}", stack.name()),
                )
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let f: Vec<f64> = text
                .split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect();
            let (events, lines, ns, rss) = (f[0], f[1], f[2], f[3]);
            let rate = events / (ns / 1e9);
            rates.insert((stack.name(), threads), rate);
            println!(
                "| {} | {threads} | {:.0} k | {} | {:.1} |",
                stack.name(),
                rate / 1e3,
                events - lines,
                rss / 1024.0
            );
        }
    }
    println!();
    for threads in [1usize, 2] {
        let ours = rates[&("actionlog", threads)];
        println!(
            "throughput ratio at {threads} thread(s): {:.2}x the lossy peer, {:.2}x the lossless peer",
            ours / rates[&("peer_lossy_default", threads)],
            ours / rates[&("peer_lossless", threads)]
        );
    }
    let (om, o99) = caller_latency(Stack::Actionlog);
    let (nm, n99) = caller_latency(Stack::ActionlogNoRedaction);
    let (pm, p99) = caller_latency(Stack::Peer);
    println!("\n| caller-side cost per event | median | p99 |\n|---|---|---|");
    println!("| actionlog | {om:.0} ns | {o99:.0} ns |");
    println!("| actionlog, redaction off | {nm:.0} ns | {n99:.0} ns |");
    println!("| peer | {pm:.0} ns | {p99:.0} ns |");
    println!(
        "median caller cost: actionlog is {:.2} of the peer's",
        om / pm
    );
}

fn main() {
    if let Ok(spec) = std::env::var("ACTIONLOG_BENCH_CHILD") {
        let mut it = spec.split_whitespace();
        let stack = match it.next().unwrap() {
            "actionlog" => Stack::Actionlog,
            "peer_lossy_default" => Stack::Peer,
            _ => Stack::PeerBlocking,
        };
        let threads = it.next().unwrap().parse().unwrap();
        let per_thread = it.next().unwrap().parse().unwrap();
        return child(stack, threads, per_thread);
    }
    // `cargo test --benches` runs bench binaries with `--bench` absent: keep that quick.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::var_os("ACTIONLOG_BENCH_NO_SUMMARY").is_none() {
        summary();
    }
}
