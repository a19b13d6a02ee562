//! Our file output against the peers, same workload, same run: tracing-subscriber's
//! `fmt::layer().json()` writing through `tracing_appender::non_blocking` (default: lossy,
//! 128 000 lines) to a daily `RollingFileAppender`; slog-json behind slog-async with
//! `OverflowStrategy::Block`; and a no-op layer (the floor of any `tracing` layer). With the
//! `otlp` feature, also actionlog with its lines shipped to a loopback OTLP receiver (a
//! process of its own), without the day files and beside them, so that what shipping costs
//! the caller and the process is measured beside the day files alone. See `file_peers` for
//! how each is set up.
//!
//! Criterion groups measure end-to-end throughput (emit N events on 1 or 2 threads, then flush
//! and stop the writer), the caller-side cost of one event, and (`trace_context`) the
//! caller-side cost of a plain event inside a span, whose line carries the span's trace ids,
//! and outside any span, whose line carries none. After them, a summary measures
//! what criterion cannot, each stack in fresh child processes (5 rounds, medians): events/s
//! flushed, CPU per event (user + system, every thread of the process, writer included), lines
//! lost, peak RSS; then the median and p99 caller-side cost of single events.
//!
//! Run: `cargo bench --bench file_throughput` (summary only: add `-- summary_only`, a filter
//! no criterion benchmark matches); with the shipped stacks:
//! `cargo bench --features otlp --bench file_throughput`.

mod file_peers;

use std::path::Path;
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use file_peers::{Emitter, SHIPPED, Stack, in_span};

/// Emits `per_thread` events on each of `threads` threads, then flushes and stops the writer.
/// Returns the elapsed time, the process's CPU time (user + system) spent meanwhile, the CPU
/// time of the emitting threads alone (the rest is the stack's writer thread's), and the lines
/// that arrived: found on disk, or counted by the receiver for a stack that ships them (the
/// fewer of the two when it does both).
fn run(stack: Stack, threads: usize, per_thread: u64) -> (Duration, Duration, Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (emitter, finish) = stack.build(dir.path());
    let barrier = Barrier::new(threads + 1);
    let callers = std::sync::Mutex::new(Duration::ZERO);
    let (start, cpu0) = std::thread::scope(|s| {
        for t in 0..threads {
            let emitter = &emitter;
            let barrier = &barrier;
            let callers = &callers;
            s.spawn(move || {
                in_span(emitter, t, |emit| {
                    barrier.wait();
                    let mine = thread_cpu_time();
                    for i in 0..per_thread {
                        emit(i);
                    }
                    *callers.lock().unwrap() += thread_cpu_time() - mine;
                })
            });
        }
        let cpu0 = cpu_time();
        barrier.wait();
        (Instant::now(), cpu0)
    });
    drop(emitter);
    let shipped = finish();
    let elapsed = start.elapsed();
    let cpu = cpu_time() - cpu0;
    let callers = *callers.lock().unwrap();
    let on_disk = count_lines(dir.path());
    let lines = match shipped {
        None => on_disk,
        // Shipped only: nothing on disk.
        Some(n) if on_disk == 0 => n,
        Some(n) => n.min(on_disk),
    };
    (elapsed, cpu, callers, lines)
}

/// User + system time of the calling thread so far.
fn thread_cpu_time() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

/// User + system time of the whole process so far (every thread, the writers included).
fn cpu_time() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: `getrusage` only writes the `rusage` it is given, which is zeroed and ours.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
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
        let mut stacks = vec![
            Stack::Actionlog,
            Stack::Peer,
            Stack::PeerBlocking,
            Stack::Slog,
        ];
        stacks.extend(SHIPPED);
        for stack in stacks {
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

/// The stacks whose caller-side cost is measured (one at a time, in this order).
fn caller_stacks() -> Vec<Stack> {
    let mut stacks = vec![
        Stack::Actionlog,
        Stack::ActionlogNoRedaction,
        Stack::Peer,
        Stack::Slog,
        Stack::Noop,
    ];
    stacks.extend(SHIPPED);
    stacks
}

fn caller_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("caller_cost");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for stack in caller_stacks() {
        let dir = tempfile::tempdir().unwrap();
        let (emitter, finish) = stack.build(dir.path());
        in_span(&emitter, 0, |emit| {
            let mut i = 0;
            g.bench_function(stack.name(), |b| {
                b.iter(|| {
                    i += 1;
                    emit(i)
                })
            });
        });
        drop(emitter);
        finish();
    }
    g.finish();
}

/// A plain event: a message and one field.
#[inline(never)]
fn plain(i: u64) {
    tracing::info!(seq = i, "plain");
}

/// Emits `iters` plain events in bursts of 1 000 with a pause after each, timing the bursts
/// only: the caller's own cost, without waiting for a writer that a continuous stream would
/// outrun (as [`caller_latency`] paces its events).
fn paced(iters: u64, seq: &mut u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(1000);
        let t = Instant::now();
        for _ in 0..n {
            *seq += 1;
            plain(*seq);
        }
        total += t.elapsed();
        left -= n;
        // Let the writer drain between bursts (pacing only).
        std::thread::sleep(Duration::from_millis(1));
    }
    total
}

fn trace_context(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_context");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let (emitter, finish) = Stack::Actionlog.build(dir.path());
    let Emitter::Tracing(dispatch) = &emitter else {
        unreachable!("actionlog is a tracing stack")
    };
    tracing::dispatcher::with_default(dispatch, || {
        let mut seq = 0;
        g.bench_function("plain_outside_span", |b| {
            b.iter_custom(|iters| paced(iters, &mut seq))
        });
        let span = tracing::info_span!("request");
        let _in = span.enter();
        g.bench_function("plain_inside_span", |b| {
            b.iter_custom(|iters| paced(iters, &mut seq))
        });
    });
    drop(emitter);
    finish();
    g.finish();
}

criterion_group!(benches, throughput, caller_cost, trace_context);

/// Per-event caller cost: times each event on its own and returns (median, p99) in ns.
/// Batches of events with pauses keep the channel from saturating, so this is the cost a
/// request handler sees, not the writer's speed.
fn caller_latency(stack: Stack) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let (emitter, finish) = stack.build(dir.path());
    let mut samples = Vec::with_capacity(200_000);
    in_span(&emitter, 0, |emit| {
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
    drop(emitter);
    finish();
    samples.sort_by(|a, b| a.total_cmp(b));
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

/// Child-process mode: run one stack once and print
/// `events lines elapsed_ns cpu_ns peak_rss_kib callers_cpu_ns`.
fn child(stack: Stack, threads: usize, per_thread: u64) {
    let (elapsed, cpu, callers, lines) = run(stack, threads, per_thread);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0");
    println!(
        "{} {} {} {} {} {}",
        threads as u64 * per_thread,
        lines,
        elapsed.as_nanos(),
        cpu.as_nanos(),
        rss,
        callers.as_nanos()
    );
}

/// One child run: (events/s, CPU ns per event, lost lines, peak RSS KiB, the emitting
/// threads' CPU ns per event).
type Row = (f64, f64, f64, f64, f64);

fn child_run(stack: Stack, threads: usize, per_thread: u64) -> Row {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(
            "ACTIONLOG_BENCH_CHILD",
            format!("{} {threads} {per_thread}", stack.name()),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let (events, lines, ns, cpu, rss, callers) = (f[0], f[1], f[2], f[3], f[4], f[5]);
    (
        events / (ns / 1e9),
        cpu / events,
        events - lines,
        rss,
        callers / events,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn summary() {
    const PER_THREAD: u64 = 1_000_000;
    const ROUNDS: usize = 5;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n## Summary: {PER_THREAD} events per thread, each stack in a fresh child process, \
         {ROUNDS} interleaved rounds, medians (load average at start: {})\n",
        load.trim()
    );
    println!(
        "| stack | threads | events/s | CPU per event | of which the emitting threads | lost lines (max) | peak RSS (MiB, max) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut stacks = vec![
        Stack::Actionlog,
        Stack::Peer,
        Stack::PeerBlocking,
        Stack::Slog,
        Stack::Noop,
    ];
    stacks.extend(SHIPPED);
    let mut runs: std::collections::HashMap<(&str, usize), Vec<Row>> = Default::default();
    for _ in 0..ROUNDS {
        for threads in [1usize, 2] {
            for &stack in &stacks {
                let r = child_run(stack, threads, PER_THREAD);
                runs.entry((stack.name(), threads)).or_default().push(r);
            }
        }
    }
    let mut rates = std::collections::HashMap::new();
    let mut cpus = std::collections::HashMap::new();
    for threads in [1usize, 2] {
        for &stack in &stacks {
            let r = &runs[&(stack.name(), threads)];
            let rate = median(r.iter().map(|x| x.0).collect());
            let cpu = median(r.iter().map(|x| x.1).collect());
            let callers = median(r.iter().map(|x| x.4).collect());
            cpus.insert((stack.name(), threads), cpu);
            let lost = r.iter().map(|x| x.2).fold(0.0, f64::max);
            let rss = r.iter().map(|x| x.3).fold(0.0, f64::max);
            rates.insert((stack.name(), threads), rate);
            // The no-op layer writes nothing: "lost" means nothing for it.
            let lost = if stack == Stack::Noop {
                "—".to_owned()
            } else {
                lost.to_string()
            };
            println!(
                "| {} | {threads} | {:.2} M | {cpu:.0} ns | {callers:.0} ns | {lost} | {:.1} |",
                stack.label(),
                rate / 1e6,
                rss / 1024.0
            );
        }
    }
    println!();
    for threads in [1usize, 2] {
        let ours = rates[&("actionlog", threads)];
        println!(
            "at {threads} thread(s): {:.2}x the lossy tracing peer, {:.2}x the lossless one, \
             {:.2}x lossless slog-async",
            ours / rates[&("peer_lossy_default", threads)],
            ours / rates[&("peer_lossless", threads)],
            ours / rates[&("slog_async_block", threads)],
        );
    }
    println!(
        "actionlog 2 threads / 1 thread: {:.2}x",
        rates[&("actionlog", 2)] / rates[&("actionlog", 1)]
    );
    for threads in [1usize, 2] {
        for &stack in SHIPPED {
            println!(
                "at {threads} thread(s): {} at {:.2}x the events/s of the day files only, {:.2}x their CPU per event",
                stack.label(),
                rates[&(stack.name(), threads)] / rates[&("actionlog", threads)],
                cpus[&(stack.name(), threads)] / cpus[&("actionlog", threads)],
            );
        }
    }
    // Two cores give at most 2 s of CPU per second: with the CPU per event measured at 2
    // threads, no 2-thread rate can exceed 2 / that, whatever the threads do. Against the
    // 1-thread rate, that bounds the ratio on this machine.
    let whole2 = cpus[&("actionlog", 2)];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "with {cores} cores and {whole2:.0} ns of CPU per event at 2 threads, 2 threads can reach \
         at most {:.2} M events/s, {:.2}x the 1-thread rate",
        cores / whole2 * 1e3,
        cores / whole2 * 1e9 / rates[&("actionlog", 1)]
    );
    println!(
        "\n| caller-side cost per event ({ROUNDS} interleaved rounds, medians) | median | p99 |\n|---|---|---|"
    );
    let mut lat: std::collections::HashMap<&str, Vec<(f64, f64)>> = Default::default();
    for _ in 0..ROUNDS {
        for stack in caller_stacks() {
            lat.entry(stack.name())
                .or_default()
                .push(caller_latency(stack));
        }
    }
    let mut medians = std::collections::HashMap::new();
    for stack in caller_stacks() {
        let r = &lat[stack.name()];
        let m = median(r.iter().map(|x| x.0).collect());
        let p99 = median(r.iter().map(|x| x.1).collect());
        medians.insert(stack.name(), m);
        println!("| {} | {m:.0} ns | {p99:.0} ns |", stack.label());
    }
    println!(
        "median caller cost: actionlog is {:.2} of the tracing peer's",
        medians["actionlog"] / medians["peer_lossy_default"]
    );
    for &stack in SHIPPED {
        println!(
            "median caller cost: {} is {:.2} of the day files only",
            stack.label(),
            medians[stack.name()] / medians["actionlog"]
        );
    }
}

fn main() {
    #[cfg(feature = "otlp")]
    if std::env::var_os(file_peers::otlp_receiver::RECEIVER_ENV).is_some() {
        return file_peers::otlp_receiver::serve_stdio();
    }
    if let Ok(spec) = std::env::var("ACTIONLOG_BENCH_CHILD") {
        let mut it = spec.split_whitespace();
        let stack = Stack::from_name(it.next().unwrap());
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
