//! The dashboard for tests: `actionlog::web::serve` on 127.0.0.1 port 0 in a thread of its
//! own (a tokio runtime per server), over a store and a log directory.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use actionlog::query::{Options, Store, Target};
use actionlog::web::Dashboard;

/// Starts a dashboard over `target` (log directory `log_dir`) and returns its address; it
/// runs until the test process ends. `tune` adjusts the dashboard (token, caps).
pub fn start(
    target: Target,
    log_dir: &Path,
    token: Option<&str>,
    tune: impl FnOnce(Dashboard) -> Dashboard + Send + 'static,
) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let log_dir = log_dir.to_path_buf();
    let token = token.map(str::to_owned);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let store = Store::open(&target, &Options::default()).await.unwrap();
            let d = tune(
                Dashboard::new(store)
                    .log_dir(log_dir)
                    .poll_interval(Duration::from_millis(50)),
            );
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            actionlog::web::serve(d, addr, token, Vec::new(), |a| tx.send(a).unwrap())
                .await
                .unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the dashboard did not start")
}

/// Runs the tracker example with `args` (one trigger, e.g. `collect`) in `dir`, against
/// its SQLite store `dir/logs/actions.db`.
pub fn tracker(dir: &Path, args: &[&str]) {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("tracker");
    let mut cmd = std::process::Command::new(bin);
    cmd.args(args).current_dir(dir);
    for v in super::cli::STORE_VARS {
        cmd.env_remove(v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "tracker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tracker's feeds fail at random (one run in five): run its collection job until one
/// run failed, so every test has a failure to follow (bounded: 80 tries miss with p < 1e-7).
pub fn ensure_failed_run(dir: &Path) {
    let failed = || {
        let conn = rusqlite::Connection::open_with_flags(
            dir.join("logs/actions.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        conn.query_row(
            "SELECT count(*) FROM action_logs WHERE status = 'failed' AND action_type = 'job_execution' \
             AND error_message LIKE '%timed out%'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            > 0
    };
    for _ in 0..80 {
        if failed() {
            return;
        }
        tracker(dir, &["run-now", "data_collection"]);
    }
    panic!("80 runs of data_collection and none failed");
}

/// `GET path`, which must answer 200; its body.
pub fn ok(a: SocketAddr, path: &str) -> String {
    let r = super::http::get(a, path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.body
}

/// Every `attr="…"` value in `html`, in order (`&amp;` decoded).
pub fn attrs(html: &str, attr: &str) -> Vec<String> {
    let pat = format!("{attr}=\"");
    html.match_indices(&pat)
        .map(|(i, _)| {
            let rest = &html[i + pat.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

/// The row ids a list page shows, in order.
pub fn row_ids(html: &str) -> Vec<String> {
    attrs(html, "data-id")
}

/// The `id` of every line of an NDJSON export, in order.
pub fn ndjson_ids(body: &str) -> Vec<String> {
    body.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Over each range (`since=…&until=…` query strings, cut into seconds, ten seconds, minutes,
/// ten minutes, hours and days), the histogram's bars count every action the list shows.
pub fn assert_histogram_counts(a: SocketAddr) {
    let nd = ok(a, "/export/actions.ndjson");
    let newest: String = nd
        .lines()
        .next()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action_timestamp"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(&newest).unwrap() + chrono::Duration::seconds(1);
    for span in [30, 300, 1800, 7200, 86_400, 7 * 86_400] {
        let q = format!(
            "since={}&until={}",
            (end - chrono::Duration::seconds(span)).format("%Y-%m-%dT%H:%M:%SZ"),
            end.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let bars: usize = attrs(&ok(a, &format!("/?{q}")), "data-count")
            .iter()
            .map(|c| c.parse::<usize>().unwrap())
            .sum();
        let rows = row_ids(&ok(a, &format!("/actions?{q}&limit=500"))).len();
        assert_eq!(bars, rows, "histogram over {q}");
    }
}
