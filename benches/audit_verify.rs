//! `actionlog::query::verify_trail` over a SQLite store of 1 000 000 final action rows written
//! with their digests, against the target of 10 s.
//!
//! The store is built once per run in a temporary directory, through `SqliteSink` with a chain
//! (`Sink::keep_digests`), batches of 500 fresh final records (ten action types, a thousand
//! users, details with four fields, durations, one in twenty failed with an error message):
//! a digest of 500 entries per transaction, in the store and in the day's digest file. Then
//! `verify_trail` runs over it whole (store digests and digest files compared), three times, and
//! once more by hand through `Check` with each step timed: reading the store's digests, parsing
//! and checking them, the digest files, the chains, the row scan (`Store::scan_actions`, pages
//! of 10 000) and the comparison of each row with its entry (canonical hash and look-up).
//!
//! Run: `cargo bench --features query --bench audit_verify` (`ACTIONLOG_BENCH_ROWS` for another
//! count, `ACTIONLOG_BENCH_ROUNDS` for another number of whole runs). With
//! `ACTIONLOG_BENCH_STORE=<dir>` the store is built there once and kept (its public key beside
//! it), so that two builds of the crate can verify the same store in turn.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use actionlog::audit::{Audit, Check, PublicKey, Report, SigningKey, VerifyOptions};
use actionlog::query::{Options, Store, Target, verify_trail};
use actionlog::sink::{Sink, SqliteSink};

mod audit_records;

use audit_records::records;

const BATCH: usize = 500;
const PAGE: usize = 10_000;

/// Writes `rows` records with digests into `dir/actions.db`, digest files into `dir/digests`.
fn build(rt: &tokio::runtime::Runtime, dir: &Path, key: &SigningKey, rows: usize) -> Duration {
    let t = Instant::now();
    let mut sink = SqliteSink::open(dir.join("actions.db")).unwrap();
    let chain = Audit::new(key.clone())
        .writer("bench")
        .chain(dir.join("digests"))
        .unwrap();
    assert!(sink.keep_digests(chain), "the SQLite sink keeps digests");
    let mut written = 0;
    while written < rows {
        let n = BATCH.min(rows - written);
        let batch = records(n, written);
        rt.block_on(sink.write(&batch.into())).unwrap();
        written += n;
    }
    rt.block_on(sink.close()).unwrap();
    drop(sink);
    t.elapsed()
}

fn options(key: &PublicKey, dir: &Path) -> VerifyOptions {
    VerifyOptions {
        key: key.clone(),
        since: None,
        digest_dirs: vec![dir.join("digests")],
        now: chrono::Utc::now(),
    }
}

fn check_clean(r: &Report, rows: usize) {
    assert!(r.is_clean(), "{:?}", &r.findings[..r.findings.len().min(5)]);
    assert_eq!(r.verified, rows as u64, "{r:?}");
    assert!(r.files_checked);
}

/// `verify_trail`'s steps by hand, each timed (the same calls in the same order).
async fn steps(store: &Store, opts: &VerifyOptions, rows: usize) -> Vec<(&'static str, Duration)> {
    let mut out = Vec::new();
    let mut check = Check::new(opts.key.clone(), opts.since, opts.now);
    let t = Instant::now();
    let lines = store.digests(None).await.unwrap().unwrap();
    out.push(("read the store's digests", t.elapsed()));
    let t = Instant::now();
    for l in &lines {
        check.store_digest(l);
    }
    out.push(("parse and check them (JSON, signature, root)", t.elapsed()));
    let bytes: usize = lines.iter().map(String::len).sum();
    drop(lines);
    let t = Instant::now();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&opts.digest_dirs[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    check.expect_files();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        check.file_digests(path, &text);
    }
    out.push(("read, parse and check the digest files", t.elapsed()));
    let t = Instant::now();
    let from = check.chains();
    out.push(("chains (compare copies, index the entries)", t.elapsed()));
    let (mut scan, mut compare) = (Duration::ZERO, Duration::ZERO);
    let mut after = None;
    loop {
        let t = Instant::now();
        let page = store.scan_actions(from, after, PAGE).await.unwrap();
        scan += t.elapsed();
        let t = Instant::now();
        for r in &page {
            check.action(r);
        }
        compare += t.elapsed();
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some((last.action_timestamp, last.id)),
            _ => break,
        }
    }
    out.push(("scan the rows (pages of 10 000)", scan));
    out.push(("compare each row (canonical hash, look-up)", compare));
    let t = Instant::now();
    let r = check.finish();
    out.push(("finish", t.elapsed()));
    check_clean(&r, rows);
    eprintln!(
        "digest lines: {} MB in the store, the same in the files",
        bytes / 1_000_000
    );
    out
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let rows = env_usize("ACTIONLOG_BENCH_ROWS", 1_000_000);
    let rounds = env_usize("ACTIONLOG_BENCH_ROUNDS", 3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let temp = tempfile::tempdir().unwrap();
    let kept = std::env::var_os("ACTIONLOG_BENCH_STORE").map(PathBuf::from);
    let dir = kept.as_deref().unwrap_or(temp.path());
    let key_file = dir.join("bench-public.pem");
    let db = dir.join("actions.db");
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let public = if kept.is_some() && key_file.exists() {
        println!("the store kept in {}", dir.display());
        PublicKey::from_file(&key_file).unwrap()
    } else {
        let key = SigningKey::generate().unwrap();
        let built = build(&rt, dir, &key, rows);
        std::fs::write(&key_file, key.public().to_pem().unwrap()).unwrap();
        let digest_bytes: u64 = std::fs::read_dir(dir.join("digests"))
            .unwrap()
            .map(|e| size(&e.unwrap().path()))
            .sum();
        println!(
            "built: {rows} final action rows with digests in batches of {BATCH} in {:.1} s \
             ({:.1} k rows/s); store {} MB, digest files {} MB",
            built.as_secs_f64(),
            rows as f64 / built.as_secs_f64() / 1e3,
            size(&db) / 1_000_000,
            digest_bytes / 1_000_000
        );
        key.public()
    };
    let store = rt
        .block_on(Store::open(&Target::Sqlite(db), &Options::default()))
        .unwrap();
    let mut times = Vec::new();
    for round in 0..rounds {
        let opts = options(&public, dir);
        let t = Instant::now();
        let report = rt.block_on(verify_trail(&store, &opts)).unwrap();
        let d = t.elapsed();
        check_clean(&report, rows);
        println!(
            "verify, round {}: {:.2} s, {:.0} k rows/s ({} digests, {} rows verified)",
            round + 1,
            d.as_secs_f64(),
            rows as f64 / d.as_secs_f64() / 1e3,
            report.digests,
            report.verified
        );
        times.push(d);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "verify over {rows} rows, digest files compared: median {:.2} s ({:.0} k rows/s), \
         {:.0} % of the 10 s target",
        median.as_secs_f64(),
        rows as f64 / median.as_secs_f64() / 1e3,
        100.0 * median.as_secs_f64() / 10.0
    );
    let parts = rt.block_on(steps(&store, &options(&public, dir), rows));
    let total: Duration = parts.iter().map(|(_, d)| *d).sum();
    println!(
        "\nthe same by hand, step by step ({:.2} s in all):",
        total.as_secs_f64()
    );
    for (what, d) in parts {
        println!(
            "  {:<48} {:>7.2} s  {:>3.0} %",
            what,
            d.as_secs_f64(),
            100.0 * d.as_secs_f64() / total.as_secs_f64()
        );
    }
}
