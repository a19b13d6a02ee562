//! `actionlog tail -f` across day rollovers: the real file layer writes under an injected
//! clock (`ManualClock`, so midnight comes when the test says), `tail -f` follows
//! `latest.log`; every line is printed exactly once, in order, including a day that came and
//! went between two of the follower's polls. The test waits on the follower's output, never on
//! time: a final marker line shows everything before it was read.
#![cfg(feature = "cli")]

use crate::common;
use crate::common::cli;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::utc;
use tracing_subscriber::prelude::*;

/// The messages of console lines (`… [logger] message {…}`).
fn message(line: &str) -> String {
    let after = line.split_once("] ").map(|(_, m)| m).unwrap_or(line);
    after.split(" {").next().unwrap().to_owned()
}

#[test]
fn follow_prints_every_line_once_in_order_across_midnight() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2026-11-03T23:59:58Z"));
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _sub = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    for i in 0..3 {
        tracing::info!(i, "before {i}");
    }
    assert!(guard.flush());

    let mut child = Command::new(cli::bin())
        .args(["tail", "-f", "-n", "100", "--log-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            if tx.send(l.unwrap()).is_err() {
                return;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("tail -f printed nothing for 30 s")
    };
    let mut seen: Vec<String> = (0..3).map(|_| message(&next())).collect();
    assert_eq!(seen, ["before 0", "before 1", "before 2"]);

    let mut expected: Vec<String> = seen.clone();
    let mut say = |m: String| {
        tracing::warn!(n = expected.len(), "{m}");
        expected.push(m);
    };
    say("late on the 3rd".into());
    clock.set(utc("2026-11-04T00:00:00.000001Z"));
    for i in 0..3 {
        say(format!("the 4th {i}"));
    }
    assert!(guard.flush());
    // Two more days without waiting for the follower: the 5th is complete before it looks.
    clock.set(utc("2026-11-05T12:00:00Z"));
    say("the 5th".into());
    clock.set(utc("2026-11-06T00:00:01Z"));
    for i in 0..3 {
        say(format!("the 6th {i}"));
    }
    say("END".into());
    assert!(guard.flush());

    loop {
        let m = message(&next());
        let end = m == "END";
        seen.push(m);
        if end {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen, expected);
    let days: Vec<String> = actionlog::query::dayfiles::list(dir.path())
        .unwrap()
        .into_iter()
        .map(|f| f.day)
        .collect();
    assert_eq!(
        days,
        ["2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06"]
    );
}

#[test]
fn tail_filters_by_level_logger_and_text_and_prints_json_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let line = |lvl: &str, logger: &str, msg: &str| {
        format!(
            r#"{{"timestamp":"2026-11-03T10:00:00.000000+00:00","level":"{lvl}","message":"{msg}","logger":"{logger}","metadata":{{"k":1}}}}"#
        )
    };
    let lines = [
        line("DEBUG", "tracker", "noise"),
        line("INFO", "tracker::jobs", "job started"),
        line("WARNING", "tracker", "slow feed"),
        line("ERROR", "other", "feed down"),
    ];
    std::fs::write(dir.path().join("2026-11-02.log"), format!("{}\n", lines[0])).unwrap();
    std::fs::write(
        dir.path().join("2026-11-03.log"),
        format!("{}\n{}\n{}\n", lines[1], lines[2], lines[3]),
    )
    .unwrap();
    let tail = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["tail", "--log-dir", dir.path().to_str().unwrap()];
        a.extend_from_slice(args);
        let out = cli::run(dir.path(), &a, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let all: Vec<String> = tail(&[]).iter().map(|l| message(l)).collect();
    assert_eq!(
        all,
        ["noise", "job started", "slow feed", "feed down"],
        "across days"
    );
    assert_eq!(tail(&["-n", "2"]).len(), 2);
    let warn: Vec<String> = tail(&["--level", "warn"])
        .iter()
        .map(|l| message(l))
        .collect();
    assert_eq!(warn, ["slow feed", "feed down"]);
    let mine: Vec<String> = tail(&["--logger", "tracker"])
        .iter()
        .map(|l| message(l))
        .collect();
    assert_eq!(mine, ["noise", "job started", "slow feed"]);
    assert_eq!(tail(&["--grep", "feed"]).len(), 2);
    assert_eq!(tail(&["--json", "--level", "error"]), [lines[3].clone()]);
    assert_eq!(
        tail(&["-n", "1"]),
        ["2026-11-03T10:00:00 ERROR    [other] feed down {\"k\": 1}"],
        "the console line, no colour when piped"
    );
}

/// `tail` reads a day's numbered parts and its compressed parts in order, through the
/// library's reader: `2026-11-03.log.gz` (a closed, compressed part 0), `2026-11-03.1.log.gz`,
/// `2026-11-03.2.log` (the part being written), then the next day.
#[cfg(feature = "compress")]
#[test]
fn tail_reads_numbered_and_compressed_parts_in_order() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let line = |msg: &str| {
        format!(
            r#"{{"timestamp":"2026-11-03T10:00:00.000000+00:00","level":"INFO","message":"{msg}","logger":"t","metadata":{{}}}}"#
        ) + "\n"
    };
    let gz = |name: &str, text: String| {
        let f = std::fs::File::create(dir.path().join(name)).unwrap();
        let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
    };
    gz("2026-11-03.log.gz", line("a") + &line("b"));
    gz("2026-11-03.1.log.gz", line("c"));
    std::fs::write(dir.path().join("2026-11-03.2.log"), line("d")).unwrap();
    std::fs::write(dir.path().join("2026-11-04.log"), line("e")).unwrap();
    let out = cli::run(
        dir.path(),
        &[
            "tail",
            "-n",
            "100",
            "--log-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(message)
        .collect();
    assert_eq!(got, ["a", "b", "c", "d", "e"]);
}
