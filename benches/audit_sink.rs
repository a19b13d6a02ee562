//! What keeping digests costs a sink's writes: batches of 500 fresh final records through the
//! SQLite sink into a store with digests (`Sink::keep_digests`: every transaction also seals
//! and stores a digest of its rows and appends it to the day's digest file) and into one
//! without, in interleaved rounds (A, B, A, B, …), the median of the rounds' rates compared;
//! then the same for the PostgreSQL sink when it keeps digests, each in a schema of its own.
//! Both stores of a pair grow by the same rows.
//!
//! Run: `cargo bench --bench audit_sink` (`--features postgres` adds PostgreSQL: needs
//! `ACTIONLOG_TEST_DATABASE_URL`, default `postgres://root@127.0.0.1:5432/test`).

use std::time::{Duration, Instant};

use actionlog::audit::{Audit, SigningKey};
use actionlog::sink::{Sink, SqliteSink};

mod audit_records;

use audit_records::records;

const BATCH: usize = 500;
/// Batches per store and round.
const PER_ROUND: usize = 20;
const ROUNDS: usize = 15;

/// The median of `v`.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes `PER_ROUND` batches through `sink`; the time the writes took (records made before).
fn round(rt: &tokio::runtime::Runtime, sink: &mut impl Sink, from: usize) -> Duration {
    let batches: Vec<_> = (0..PER_ROUND)
        .map(|b| records(BATCH, from + b * BATCH))
        .collect();
    let t = Instant::now();
    for batch in batches {
        rt.block_on(sink.write(&batch.into())).unwrap();
    }
    t.elapsed()
}

/// Interleaved rounds of `with` (digests) and `without`, after a warm-up round each; prints
/// each round's rates and ratio, then the ratio's median over the rounds (the figure: both
/// stores slow down as they grow, so each round's pair is compared, not the medians of the two
/// columns) with its middle half and range, and the rates over all rounds.
fn compare(
    rt: &tokio::runtime::Runtime,
    name: &str,
    with: &mut impl Sink,
    without: &mut impl Sink,
) {
    let per_round = (PER_ROUND * BATCH) as f64;
    round(rt, with, 0);
    round(rt, without, 0);
    let (mut a, mut b, mut ratios) = (Duration::ZERO, Duration::ZERO, Vec::new());
    for r in 0..ROUNDS {
        let from = (r + 1) * PER_ROUND * BATCH;
        // Which goes first alternates, so neither always follows the other's checkpoint.
        let (dw, dn) = if r % 2 == 0 {
            let dw = round(rt, with, from);
            (dw, round(rt, without, from))
        } else {
            let dn = round(rt, without, from);
            (round(rt, with, from), dn)
        };
        let (rw, rn) = (per_round / dw.as_secs_f64(), per_round / dn.as_secs_f64());
        println!(
            "  {name} round {}: with digests {:.1} k records/s, without {:.1} k ({:.3})",
            r + 1,
            rw / 1e3,
            rn / 1e3,
            rw / rn
        );
        a += dw;
        b += dn;
        ratios.push(rw / rn);
    }
    ratios.sort_by(f64::total_cmp);
    let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f).round() as usize];
    let all = per_round * ROUNDS as f64;
    let m = median(ratios.clone());
    println!(
        "{name} sink, batches of {BATCH} final records, {ROUNDS} interleaved rounds of {} per \
         store: with digests {:.1} % of the rate without (median of the rounds' ratios {:.3}: a \
         cost of {:.1} %; middle half {:.3}–{:.3}, range {:.3}–{:.3}); over all rounds {:.1} k \
         records/s with digests, {:.1} k without",
        PER_ROUND * BATCH,
        100.0 * m,
        m,
        100.0 * (1.0 - m),
        q(0.25),
        q(0.75),
        q(0.0),
        q(1.0),
        all / a.as_secs_f64() / 1e3,
        all / b.as_secs_f64() / 1e3,
    );
}

#[cfg(feature = "postgres")]
fn postgres(rt: &tokio::runtime::Runtime, key: &SigningKey, dir: &std::path::Path) {
    use actionlog::sink::PostgresSink;
    let url = std::env::var("ACTIONLOG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let (client, conn) = rt
        .block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls))
        .expect("bench database reachable");
    rt.spawn(async move {
        let _ = conn.await;
    });
    let schemas = [
        format!("al_bench_audit_with_{}", std::process::id()),
        format!("al_bench_audit_without_{}", std::process::id()),
    ];
    let sink = |schema: &str| PostgresSink::new(&url).unwrap().schema(schema).unwrap();
    for s in &schemas {
        rt.block_on(client.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}; SET search_path TO {s}; {}",
            sink(s).migration_sql()
        )))
        .unwrap();
    }
    let mut with = sink(&schemas[0]);
    let chain = Audit::new(key.clone())
        .writer("bench-pg")
        .chain(dir.join("pg-digests"))
        .unwrap();
    if with.keep_digests(chain) {
        let mut without = sink(&schemas[1]);
        compare(rt, "PostgreSQL", &mut with, &mut without);
    } else {
        println!("PostgreSQL: the sink does not keep digests in this build; not measured");
    }
    for s in &schemas {
        let _ = rt.block_on(client.batch_execute(&format!("DROP SCHEMA IF EXISTS {s} CASCADE")));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let mut with = SqliteSink::open(dir.path().join("with.db")).unwrap();
    let chain = Audit::new(key.clone())
        .writer("bench")
        .chain(dir.path().join("digests"))
        .unwrap();
    assert!(with.keep_digests(chain), "the SQLite sink keeps digests");
    let mut without = SqliteSink::open(dir.path().join("without.db")).unwrap();
    compare(&rt, "SQLite", &mut with, &mut without);
    #[cfg(feature = "postgres")]
    postgres(&rt, &key, dir.path());
}
