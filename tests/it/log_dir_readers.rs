//! The readers of the log directory against hostile files: `actionlog status` counts a 2 GiB
//! dead-letter file without a newline, and `actionlog tail` reads a day file ending in a 2 GiB
//! line, each with its address space limited far below that (so holding the line would fail),
//! and each says the line was too long; a day part replaced by a symlink or a FIFO between the
//! listing and the reading is refused at once, never followed nor waited on.
#![cfg(all(unix, feature = "cli", feature = "sqlite"))]

use crate::common::cli;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// The commands' address space: ample for them, a quarter of the hostile files.
const ADDRESS_SPACE_KIB: u64 = 512 * 1024;
const SPARSE: u64 = 2 << 30;

/// A log directory with a store (`actions.db`), as a service leaves it.
fn log_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    actionlog::sink::SqliteSink::open(dir.path().join("actions.db")).unwrap();
    dir
}

/// `path` holding `head`, then zeros (no newline) up to 2 GiB, without taking the disk.
fn sparse_after(path: &Path, head: &[u8]) {
    std::fs::write(path, head).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(SPARSE).unwrap();
}

fn stdout_json(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn status_counts_a_dead_letter_file_without_a_newline_in_bounded_memory() {
    let dir = log_dir();
    let dead = dir.path().join("dead-letter");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(
        dead.join("2026-03-01.jsonl"),
        "{\"record\":{}}\n{\"record\":{}}\n",
    )
    .unwrap();
    sparse_after(&dead.join("2026-03-02.jsonl"), b"{\"record\":{}}\n");
    // A link in a dead-letter file's place: skipped, never read, and said so.
    std::os::unix::fs::symlink("/etc/passwd", dead.join("2026-03-03.jsonl")).unwrap();

    let log_dir = dir.path().to_str().unwrap();
    let out = cli::run_within_memory(
        dir.path(),
        &["--log-dir", log_dir, "status"],
        ADDRESS_SPACE_KIB,
    );
    let rows = stdout_json(&out);
    let dead = rows
        .iter()
        .find(|r| r["kind"] == "dead_letter_files")
        .unwrap_or_else(|| panic!("{rows:?}"));
    // Three complete lines and the 2 GiB one, counted; the link is not.
    assert_eq!(
        (&dead["files"], &dead["records"]),
        (&2.into(), &4.into()),
        "{dead}"
    );
    let problems = dead["problems"].as_str().unwrap_or_default();
    assert!(
        problems.contains("1 lines longer than 16777216 bytes (2026-03-02.jsonl)"),
        "{problems}"
    );
    assert!(
        problems.contains("1 skipped: not a regular file or unreadable (2026-03-03.jsonl)"),
        "{problems}"
    );
}

#[test]
fn tail_reads_a_day_file_ending_in_a_2_gib_line_in_bounded_memory() {
    let dir = log_dir();
    let first = r#"{"timestamp":"2026-03-01T10:00:00.000000+00:00","level":"INFO","message":"before","logger":"app"}"#;
    std::fs::write(dir.path().join("2026-03-01.log"), format!("{first}\n")).unwrap();
    let second = r#"{"timestamp":"2026-03-02T10:00:00.000000+00:00","level":"INFO","message":"kept","logger":"app"}"#;
    sparse_after(
        &dir.path().join("2026-03-02.log"),
        format!("{second}\n").as_bytes(),
    );

    let log_dir = dir.path().to_str().unwrap();
    let out = cli::run_within_memory(
        dir.path(),
        &["--log-dir", log_dir, "tail", "-n", "5"],
        ADDRESS_SPACE_KIB,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].ends_with("[app] before"), "{stdout}");
    assert!(lines[1].ends_with("[app] kept"), "{stdout}");
    let long = SPARSE - second.len() as u64 - 1;
    assert!(
        stderr.contains(&format!("a line of {long} bytes in")) && stderr.contains("2026-03-02.log"),
        "{stderr}"
    );
}

/// `lines()` of the first day in `dir`, on another thread so that an open that blocks fails the
/// test instead of holding it.
fn first_day_lines(days: Vec<actionlog::DayFile>) -> Vec<Result<String, String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<_> = days[0]
            .lines()
            .map(|l| l.map_err(|e| e.to_string()))
            .collect();
        let _ = tx.send(lines);
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("reading a day part blocked")
}

#[test]
fn a_day_part_replaced_by_a_link_or_a_fifo_after_listing_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "not a log line\n").unwrap();
    let part = dir.path().join("2026-03-01.log");
    let next = dir.path().join("2026-03-01.1.log");
    std::fs::write(&part, "{\"n\":1}\n").unwrap();
    std::fs::write(&next, "{\"n\":2}\n").unwrap();

    let days = actionlog::day_files(dir.path()).unwrap();
    std::fs::remove_file(&part).unwrap();
    std::os::unix::fs::symlink(&secret, &part).unwrap();
    let lines = first_day_lines(days);
    let err = lines[0].as_ref().unwrap_err();
    assert!(
        err.contains("symlink") && err.contains("2026-03-01.log"),
        "{err}"
    );
    // The other part is still read; the link's target never is.
    assert_eq!(lines[1..], [Ok("{\"n\":2}".to_owned())]);

    let days = actionlog::day_files(dir.path()).unwrap_or_default();
    // The listing itself leaves a link out.
    assert_eq!(days[0].parts().len(), 1);
    std::fs::remove_file(&part).unwrap();
    std::fs::write(&part, "{\"n\":1}\n").unwrap();
    let days = actionlog::day_files(dir.path()).unwrap();
    std::fs::remove_file(&part).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&part).status();
    assert!(made.unwrap().success());
    let lines = first_day_lines(days);
    let err = lines[0].as_ref().unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
    assert_eq!(lines[1..], [Ok("{\"n\":2}".to_owned())]);
}
