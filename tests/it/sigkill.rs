//! SIGKILL while the database is down: a child process (this test binary re-run in child mode)
//! emits actions continuously through `actionlog::builder()` (default pipeline: channel of
//! 10 000, batches of 500) towards a PostgreSQL it cannot reach (the test-owned proxy is
//! disabled), so the worker spills the channel to `<log_dir>/spool`. Once the spool has segments
//! the parent SIGKILLs the child, reads the segments itself (format of `src/pipeline/spool.rs`:
//! `<crc32, 8 hex> <json>` lines), then starts an action pipeline on the same spool with the
//! database reachable. Proves: every record that reached the spool is delivered exactly once
//! (rows = records in the segments, same ids, no duplicates, counters accounted), and the loss
//! (emitted - delivered) stays within the window of what was only in memory: the channel (at
//! most its capacity) plus the batch the worker was retrying (at most the batch size). The
//! measured loss is printed.
#![cfg(feature = "postgres")]

use crate::common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actionlog::{ActionFilter, ActionLayer, PipelineConfig};
use common::actions::assert_accounted;
use common::pg::TestDb;
use common::proxy::{Proxy, upstream_of};
use common::wait_until;
use tracing_subscriber::prelude::*;

const CHILD: &str = "ACTIONLOG_SIGKILL_CHILD";
const CHILD_DB: &str = "ACTIONLOG_SIGKILL_DB";
const NAME: &str = "sigkill_loses_at_most_what_was_only_in_memory";
/// `PipelineConfig`'s documented defaults, which the child uses.
const CAPACITY: u64 = 10_000;
const BATCH: u64 = 500;

/// Child mode: emit until killed (or for at most a minute, should the parent go wrong),
/// printing the count after every action.
fn child(dir: &str, url: &str) {
    let guard = actionlog::builder()
        .log_dir(dir)
        .console(false)
        .panic_hook(false)
        .database_url(url)
        .init()
        .unwrap();
    let stdout = std::io::stdout();
    let end = Instant::now() + Duration::from_secs(60);
    let mut seq = 0u64;
    while Instant::now() < end {
        tracing::info!(action_type = "scheduled_job_execution", seq);
        seq += 1;
        let dropped = guard.stats().actions_dropped;
        let _ = writeln!(stdout.lock(), "emitted {seq} dropped {dropped}");
        // Pacing only: keeps the volume to tens of thousands of records.
        std::thread::sleep(Duration::from_micros(50));
    }
    println!("no kill came");
}

/// CRC-32 (IEEE), bit by bit: an independent check of the segment format.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// The (id, seq) of every record in the spool's segments, checking every line's checksum;
/// and how many unfinished `.tmp` segments the kill left behind.
fn read_spool(dir: &Path) -> (Vec<(String, u64)>, usize) {
    let mut records = Vec::new();
    let mut tmp = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".tmp") {
            tmp += 1;
            continue;
        }
        assert!(
            name.starts_with("seg-") && name.ends_with(".jsonl"),
            "{name}"
        );
        let bytes = std::fs::read(&path).unwrap();
        // Skipping the store marker, a segment's first line.
        for line in bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        {
            let (crc, json) = (&line[..8], &line[9..]);
            assert_eq!(line[8], b' ', "{name}");
            let crc = u32::from_str_radix(std::str::from_utf8(crc).unwrap(), 16).unwrap();
            assert_eq!(crc32(json), crc, "checksum of a line in {name}");
            let v: serde_json::Value = serde_json::from_slice(json).unwrap();
            records.push((
                v["id"].as_str().unwrap().to_owned(),
                v["action_details"]["seq"].as_u64().unwrap(),
            ));
        }
    }
    (records, tmp)
}

#[test]
fn sigkill_loses_at_most_what_was_only_in_memory() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir, &std::env::var(CHILD_DB).unwrap());
    }
    let Some(db) = TestDb::new("sigkill") else {
        return;
    };
    let proxy = Proxy::start(upstream_of(&db.url), false);
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let url = format!(
        "{}?options=-c%20search_path%3D{}",
        proxy.url(&db.url),
        db.schema
    );

    let mut proc = common::rerun(module_path!(), NAME)
        .env(CHILD, dir.path())
        .env(CHILD_DB, &url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let emitted = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let reader = {
        let out = BufReader::new(proc.stdout.take().unwrap());
        let (emitted, dropped) = (emitted.clone(), dropped.clone());
        std::thread::spawn(move || {
            for line in out.lines() {
                let line = line.unwrap();
                assert!(!line.contains("no kill came"), "the child was never killed");
                // libtest may have printed "test … ... " on the same line first.
                let Some(at) = line.rfind("emitted ") else {
                    continue;
                };
                let w: Vec<&str> = line[at..].split_whitespace().collect();
                emitted.store(w[1].parse().unwrap(), Ordering::SeqCst);
                dropped.store(w[3].parse().unwrap(), Ordering::SeqCst);
            }
        })
    };

    // Kill it once the spool holds at least two segments (the worker has spilled twice).
    wait_until("two spool segments", Duration::from_secs(120), || {
        std::fs::read_dir(&spool).is_ok_and(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("seg-"))
                .count()
                >= 2
        })
    });
    proc.kill().unwrap();
    let status = proc.wait().unwrap();
    assert!(!status.success(), "killed, not exited: {status:?}");
    reader.join().unwrap();
    // The child prints after each action returns, so it may have emitted one more.
    let emitted = emitted.load(Ordering::SeqCst);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        0,
        "nothing dropped before the kill"
    );

    let (in_spool, tmp) = read_spool(&spool);
    let spooled = in_spool.len() as u64;
    let ids: HashSet<&str> = in_spool.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len() as u64, spooled, "no record twice in the spool");
    assert!(in_spool.iter().all(|&(_, seq)| seq <= emitted));

    // The next start, with the database reachable (direct, not through the proxy).
    let (layer, guard) = ActionLayer::builder(db.sink())
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .spool_dir(&spool)
                .dead_letter_dir(dir.path().join("dead-letter-2")),
        )
        .build()
        .unwrap();
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(layer.with_filter(ActionFilter)),
        || assert!(guard.flush()),
    );
    let done = guard.shutdown(Duration::from_secs(30));
    assert!(done.complete, "{done:?}");
    let s = done.stats;
    assert_accounted(&s);
    assert_eq!(
        (
            s.actions_replayed,
            s.actions_delivered,
            s.actions_dropped,
            s.actions_dead_lettered
        ),
        (spooled, spooled, 0, 0),
        "{s:?}"
    );

    // Everything that reached the spool is delivered exactly once.
    assert_eq!(db.count("") as u64, spooled);
    db.assert_no_duplicate_ids();
    let in_db: HashSet<String> = db
        .query("SELECT id::text FROM action_logs")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        in_db,
        ids.iter().map(|s| s.to_string()).collect::<HashSet<_>>()
    );
    assert_eq!(
        std::fs::read_dir(&spool)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("seg-"))
            .count(),
        0,
        "delivered segments are removed"
    );

    // What was lost: the records only in memory at the kill.
    let seqs: HashSet<u64> = in_spool.iter().map(|&(_, seq)| seq).collect();
    let first_spooled = *seqs.iter().min().unwrap();
    let lost = emitted + 1 - spooled; // counting the action that may not have been printed
    let lost_before = (0..first_spooled).filter(|s| !seqs.contains(s)).count();
    println!(
        "SIGKILL: emitted {emitted} (or {}), in the spool and delivered {spooled}, lost {} to {lost} \
         ({lost_before} older than the first spooled record: the batch the worker was retrying; \
         the rest still in the channel); {tmp} unfinished .tmp segment(s)",
        emitted + 1,
        lost - 1,
    );
    assert!(
        lost <= CAPACITY + BATCH,
        "lost {lost}, more than the channel ({CAPACITY}) plus the batch in flight ({BATCH})"
    );
    assert!(
        lost_before as u64 <= BATCH,
        "only one batch is held outside the channel"
    );
}
