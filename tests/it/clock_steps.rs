//! The clock stepping back across midnight, and a DST change, in `TZ=Europe/Berlin` with an
//! injected clock (the test re-runs itself as a child with `TZ` set, so the process's local
//! zone is Berlin's). Day files never go back: a line stamped before the open day (the clock
//! stepped back) goes into the open file, with its own timestamp; `latest.log` keeps naming the
//! newest file; the spring-forward hour changes the offset in the timestamps, not the file.
//! Every line of every file is one valid JSON object.

use crate::common;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::{json_lines, utc};
use tracing_subscriber::prelude::*;

const CHILD: &str = "ACTIONLOG_CLOCK_STEPS_CHILD";
const NAME: &str = "the_clock_stepping_back_and_dst_keep_every_line_in_a_well_formed_file";

fn child(dir: &str) {
    let clock = ManualClock::at(utc("2026-03-28T22:59:59Z")); // 23:59:59 CET, the 28th
    let (layer, guard) = FileLayer::builder(dir)
        .timezone(Timezone::Local)
        .clock(clock.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("A last of the 28th");
        clock.set(utc("2026-03-28T23:00:01Z")); // 00:00:01 CET, the 29th
        tracing::info!("B first of the 29th");
        clock.set(utc("2026-03-28T22:59:50Z")); // stepped back: 23:59:50 CET, the 28th
        tracing::info!("C stepped back");
        clock.set(utc("2026-03-29T00:59:59Z")); // 01:59:59 CET
        tracing::info!("D before the change");
        clock.set(utc("2026-03-29T01:00:01Z")); // 03:00:01 CEST
        tracing::info!("E after the change");
        clock.set(utc("2026-03-29T22:00:01Z")); // 00:00:01 CEST, the 30th
        tracing::info!("F first of the 30th");
    });
    drop(guard);
}

fn messages(path: &std::path::Path) -> Vec<(String, String)> {
    // `json_lines` fails on any line that is not one whole JSON object.
    json_lines(path)
        .iter()
        .map(|v| {
            (
                v["message"].as_str().unwrap().to_owned(),
                v["timestamp"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_clock_stepping_back_and_dst_keep_every_line_in_a_well_formed_file() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = common::rerun(module_path!(), NAME)
        .env(CHILD, dir.path())
        .env("TZ", "Europe/Berlin")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let d = dir.path();
    let m28 = messages(&d.join("2026-03-28.log"));
    let m29 = messages(&d.join("2026-03-29.log"));
    let m30 = messages(&d.join("2026-03-30.log"));
    let names = |m: &[(String, String)]| m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&m28), ["A last of the 28th"]);
    assert_eq!(
        names(&m29),
        [
            "B first of the 29th",
            "C stepped back",
            "D before the change",
            "E after the change"
        ]
    );
    assert_eq!(names(&m30), ["F first of the 30th"]);
    // Each line keeps its own local time and offset.
    assert!(m28[0].1.starts_with("2026-03-28T23:59:59") && m28[0].1.ends_with("+01:00"));
    assert!(m29[1].1.starts_with("2026-03-28T23:59:50") && m29[1].1.ends_with("+01:00"));
    assert!(m29[2].1.starts_with("2026-03-29T01:59:59") && m29[2].1.ends_with("+01:00"));
    assert!(m29[3].1.starts_with("2026-03-29T03:00:01") && m29[3].1.ends_with("+02:00"));
    assert!(m30[0].1.starts_with("2026-03-30T00:00:01") && m30[0].1.ends_with("+02:00"));
    assert_eq!(
        std::fs::read_link(d.join("latest.log")).unwrap().to_str(),
        Some("2026-03-30.log")
    );
}
