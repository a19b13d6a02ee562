//! The dashboard in headless Chromium (one browser session for the whole file, steps in
//! order): the pages render the tracker's data; clicking a histogram bar narrows the list; a
//! failed action leads to its run, its logs and its day-file lines; the live page shows an
//! action emitted after it opened, and one emitted while paused appears on resume; and with
//! script payloads in every text column, the detail keys and the run logs, no script runs and
//! the text shows literally. Each step saves a screenshot under `target/screenshots/`.
//! With a token: signing in gives the browser a session, and another web service on the same
//! host (another port) never receives the token.
#![cfg(all(feature = "web", feature = "cli"))]

use crate::common::cli;
use crate::common::http;
use crate::common::web;
use crate::common::webdriver;
use crate::common::xss;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actionlog::query::Target;
use webdriver::Browser;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn the_dashboard_in_a_browser() {
    let Some(b) = Browser::start() else { return };
    let work = cli::run_tracker(&[]);
    web::ensure_failed_run(work.path());
    let logs = work.path().join("logs");
    let a = web::start(Target::Sqlite(logs.join("actions.db")), &logs, None, |d| d);
    let base = format!("http://{a}");

    // The pages render the tracker's data.
    b.goto(&format!("{base}/"));
    let text = b.body();
    for s in [
        "data_collection_start",
        "Failures by error message",
        "timed out",
        "analyst@example.com",
    ] {
        assert!(text.contains(s), "overview lacks {s:?}");
    }
    b.screenshot("overview");
    b.goto(&format!("{base}/jobs"));
    assert!(b.body().contains("ticker_backfill"));
    b.screenshot("jobs");

    // A histogram bar narrows the list: over the tracker's own span, bars are seconds.
    let nd = http::get(a, "/export/actions.ndjson").body;
    let times: Vec<String> = nd
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action_timestamp"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let (newest, oldest) = (&times[0], &times[times.len() - 1]);
    let until =
        chrono::DateTime::parse_from_rfc3339(newest).unwrap() + chrono::Duration::seconds(1);
    b.goto(&format!(
        "{base}/?since={}Z&until={}",
        &oldest[..19],
        until.format("%Y-%m-%dT%H:%M:%SZ")
    ));
    let bars = b.find_all("a.bar");
    assert!(
        bars.len() > 1,
        "the tracker's actions fall in more than one second"
    );
    let first: usize = b.attr(&bars[0], "data-count").unwrap().parse().unwrap();
    let all_before = b.find_all("table.actions tbody tr").len();
    b.click(&bars[0]);
    b.wait("the zoomed overview", WAIT, |b| {
        b.url().contains("until=") && b.find_all("a.bar").len() <= 10
    });
    b.click(&b.find("a.all"));
    b.wait("the actions list", WAIT, |b| b.url().contains("/actions?"));
    let rows = b.find_all("table.actions tbody tr").len();
    assert_eq!(rows, first, "the list holds the bar's actions");
    assert!(rows < all_before.max(times.len()), "the list narrowed");
    b.screenshot("histogram-zoomed-actions");

    // A failed action leads to its run, its logs and its day-file lines.
    b.goto(&format!(
        "{base}/actions?status=failed&action_type=job_execution"
    ));
    b.click(&b.find("table.actions tbody tr a"));
    b.wait("the action's page", WAIT, |b| b.url().contains("/actions/"));
    assert!(b.body().contains("action_details"));
    b.click(&b.find("a.run"));
    b.wait("the run's page", WAIT, |b| b.url().contains("/runs/"));
    assert!(!b.find_all("ol.captured li").is_empty(), "captured logs");
    assert!(!b.find_all("ol.dayfile li").is_empty(), "day-file lines");
    assert!(
        !b.find_all("table.actions tbody tr").is_empty(),
        "the run's actions"
    );
    assert!(
        !b.find_all("ol.captured li.l-error, ol.dayfile li.l-error")
            .is_empty(),
        "error lines coloured"
    );
    b.screenshot("run");

    // Live: an action after the page opened; one while paused appears on resume.
    b.goto(&format!("{base}/live"));
    b.wait("the stream", WAIT, |b| {
        b.text(&b.find("#live-state")) == "live"
    });
    web::tracker(work.path(), &["collect"]);
    b.wait("the new action", WAIT, |b| {
        b.text(&b.find("#live-actions"))
            .contains("data_collection_start")
    });
    // Counted once paused: a late batch of the first trigger may still come before that.
    b.click(&b.find("#pause"));
    let shown = b.find_all("#live-actions tr").len();
    let ids = || web::ndjson_ids(&http::get(a, "/export/actions.ndjson").body);
    let before = ids().len();
    web::tracker(work.path(), &["collect"]);
    // Every action of the first trigger was drawn (the stream is in time order and its
    // newest, data_collection_start, was): what is buffered now is the second's.
    let emitted = ids().len() - before;
    // The trigger's own action is buffered (its count shown), not drawn.
    let starts = |b: &Browser| {
        b.text(&b.find("#live-actions"))
            .matches("data_collection_start")
            .count()
    };
    b.wait("the buffered action", WAIT, |b| {
        let t = b.text(&b.find("#buffered"));
        t.split(' ')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
            >= emitted
    });
    assert_eq!(
        b.find_all("#live-actions tr").len(),
        shown,
        "nothing shown while paused"
    );
    b.click(&b.find("#pause"));
    assert!(
        starts(&b) >= 2,
        "the action emitted while paused is shown on resume"
    );
    assert_eq!(b.find_all("#live-actions tr").len(), shown + emitted);
    b.screenshot("live");

    // Hostile text: no script runs, the payloads show as text.
    let dir = tempfile::tempdir().unwrap();
    let db = xss::store(dir.path());
    let x = web::start(Target::Sqlite(db), &dir.path().join("logs"), None, |d| d);
    let range = "since=2026-11-03&until=2026-11-04";
    for (name, p) in [
        ("xss-overview", format!("/?{range}")),
        ("xss-actions", format!("/actions?{range}")),
        ("xss-action", format!("/actions/{}", xss::ACTION_ID)),
        (
            "xss-jobs",
            "/jobs?since=2026-11-01&until=2026-11-05".to_owned(),
        ),
        ("xss-runs", "/runs".to_owned()),
        ("xss-run", format!("/runs/{}", xss::RUN_ID)),
    ] {
        b.goto(&format!("http://{x}{p}"));
        // Click every link whose text is a payload (a `javascript:` href would run here).
        for l in b.find_all("main a") {
            if b.text(&l).contains("javascript:") {
                b.click(&l);
                b.goto(&format!("http://{x}{p}"));
                break;
            }
        }
        assert_eq!(
            b.eval("return window.__xss === undefined"),
            serde_json::json!(true),
            "a script ran on {p}"
        );
        let text = b.body();
        assert!(
            text.contains(xss::SCRIPT),
            "{p} does not show the payload as text"
        );
        if p.contains("/runs/") || p.contains("/actions/") {
            assert!(text.contains(xss::IMG.trim_start_matches('"')), "{p}");
        }
        b.screenshot(name);
    }
}

/// Another web service on 127.0.0.1: it answers every request with a small page and keeps
/// each request's head. Returns its port and the heads.
fn other_service() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&heads);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut head = String::new();
            let mut r = BufReader::new(&mut s);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            kept.lock().unwrap().push(head);
            let page = "<!doctype html><title>other</title><p>another service</p>";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    (port, heads)
}

#[test]
fn the_token_never_reaches_another_service_on_the_host() {
    const TOKEN: &str = "tok-never-in-a-cookie-7f3a";
    let Some(b) = Browser::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = cli::sqlite_store(dir.path(), &cli::actions_sql(5));
    let a = web::start(
        Target::Sqlite(db),
        &dir.path().join("logs"),
        Some(TOKEN),
        |d| d,
    );
    let (port, heads) = other_service();

    // Signing in with the form.
    b.goto(&format!("http://{a}/actions"));
    assert!(b.body().contains("needs its token"));
    b.send_keys(&b.find("input[name=token]"), TOKEN);
    b.click(&b.find("form button"));
    // One command reads the title, so a page being replaced is never half read.
    let title = |b: &Browser| {
        b.eval("return document.title")
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    b.wait("the actions page", WAIT, |b| {
        title(b).starts_with("Actions")
    });
    b.screenshot("signed-in");
    // The browser holds a session, out of reach of scripts, and not the token.
    assert_eq!(b.eval("return document.cookie"), serde_json::json!(""));
    let cookies = b.cookies();
    assert!(
        cookies.iter().all(|c| !c.to_string().contains(TOKEN)),
        "the browser keeps the token in a cookie: {cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c["name"] == "actionlog_session" && c["httpOnly"] == true),
        "{cookies:?}"
    );

    // Another service on the same host name: cookies are not scoped by port, so it gets
    // what the browser holds for 127.0.0.1 (page and favicon alike), which is not the token.
    b.goto(&format!("http://127.0.0.1:{port}/"));
    b.wait("the other service's page", WAIT, |b| title(b) == "other");
    let got = heads.lock().unwrap().clone();
    assert!(!got.is_empty());
    for h in &got {
        assert!(
            !h.contains(TOKEN),
            "another service received the token:\n{h}"
        );
    }
    let session = got
        .iter()
        .flat_map(|h| h.lines())
        .filter_map(|l| l.strip_prefix("Cookie: "))
        .flat_map(|c| c.split("; "))
        .find(|c| c.starts_with("actionlog_session="))
        .expect("the browser sends the session cookie to another port (the test relies on it)")
        .to_owned();
    // What that service can do with it: read the dashboard until the session ends.
    let replay = |p: &str| http::request(a, "GET", p, &[("Cookie", &session)], "").status;
    assert_eq!(replay("/actions"), 200);
    // Signing out ends it.
    b.goto(&format!("http://{a}/actions"));
    b.click(&b.find("a.sign-out"));
    b.wait("the sign-in page", WAIT, |b| {
        title(b).starts_with("Sign in")
    });
    assert_eq!(replay("/actions"), 401);
}
