//! The dashboard's router over real stores, no browser: every page over the SQLite store the
//! tracker example writes, drill-down from a failure to its run, filters, search, keyset
//! pagination, exports equal to the view, the live stream (and its resumption), escaping of
//! hostile text, and each security default.
#![cfg(all(feature = "web", feature = "cli"))]

use crate::common::cli;
use crate::common::http;
use crate::common::web;
use crate::common::xss;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use actionlog::query::Target;
use web::{attrs, ndjson_ids, ok, row_ids};

/// The tracker's store and a dashboard over it, shared by the read-only tests.
fn tracker() -> &'static (tempfile::TempDir, SocketAddr) {
    static T: OnceLock<(tempfile::TempDir, SocketAddr)> = OnceLock::new();
    T.get_or_init(|| {
        let work = cli::run_tracker(&[]);
        web::ensure_failed_run(work.path());
        let logs = work.path().join("logs");
        let addr = web::start(Target::Sqlite(logs.join("actions.db")), &logs, None, |d| d);
        (work, addr)
    })
}

#[test]
fn every_page_renders_the_tracker_data() {
    let (_, a) = tracker();
    let a = *a;
    let home = ok(a, "/");
    for s in [
        "data_collection_start",
        "job_execution",
        "Failures by error message",
        "timed out",
        "analyst@example.com",
        "newest action",
    ] {
        assert!(home.contains(s), "overview lacks {s:?}");
    }
    assert!(!attrs(&home, "data-count").is_empty(), "no histogram bars");
    let actions = ok(a, "/actions");
    // The tracker writes a score of actions (how many depends on its random feeds).
    let all = ndjson_ids(&ok(a, "/export/actions.ndjson"));
    assert!(all.len() > 10, "{}", all.len());
    assert_eq!(row_ids(&actions), all[..all.len().min(50)]);
    let jobs = ok(a, "/jobs");
    for s in [
        "data_collection",
        "ticker_backfill",
        "Execution summary",
        "p95",
    ] {
        assert!(jobs.contains(s), "jobs lacks {s:?}");
    }
    let runs = ok(a, "/runs");
    assert!(!row_ids(&runs).is_empty());
    let live = ok(a, "/live");
    assert!(live.contains("data-events=\"/live/events?from="));
    let detail = ok(a, &format!("/actions/{}", row_ids(&actions)[0]));
    assert!(detail.contains("action_details"));
    assert_eq!(http::get(a, "/actions/not-an-id").status, 404);
    assert_eq!(http::get(a, "/nope").status, 404);
    let head = http::request(a, "HEAD", "/", &[], "");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn a_failed_action_leads_to_its_run_its_logs_and_its_day_file_lines() {
    let (_, a) = tracker();
    let a = *a;
    let failed = ok(a, "/actions?status=failed&action_type=job_execution");
    let ids = row_ids(&failed);
    assert!(!ids.is_empty(), "no failed job_execution actions");
    let detail = ok(a, &format!("/actions/{}", ids[0]));
    let run = attrs(&detail, "href")
        .into_iter()
        .find(|h| h.starts_with("/runs/"))
        .expect("a link to the run");
    let page = ok(a, &run);
    assert!(
        page.contains(&format!("data-id=\"{}\"", ids[0])),
        "the run page lists the action"
    );
    let captured =
        &page[page.find("logs captured").unwrap()..page.find("Actions of this run").unwrap()];
    assert!(
        captured.contains("l-error") || captured.contains("l-info"),
        "{captured}"
    );
    let day = &page[page.find("logs dayfile").unwrap()..];
    let day_lines = day.matches("<li").count();
    assert!(day_lines > 0, "no day-file lines in the run's span");
    // Search narrows both lists to lines containing the text.
    let searched = ok(a, &format!("{run}?q=ERROR"));
    let day2 = &searched[searched.find("logs dayfile").unwrap()..];
    assert!(day2.matches("<li").count() <= day_lines);
    assert!(day2.split("<li").skip(1).all(|li| li.contains("ERROR")));
}

#[test]
fn filters_search_and_keyset_pagination() {
    let (_, a) = tracker();
    let a = *a;
    let failed = ok(a, "/actions?status=failed&limit=500");
    let n_failed = row_ids(&failed).len();
    assert!(n_failed > 0);
    assert_eq!(failed.matches("class=\"badge bad\"").count(), n_failed);
    // The grammar in `f` and in the URL mean the same.
    let not_failed = ok(a, "/actions?f=status%21%3Dfailed&limit=500");
    let all = ok(a, "/actions?limit=500");
    assert_eq!(row_ids(&not_failed).len() + n_failed, row_ids(&all).len());
    let searched = ok(a, "/actions?q=timed+out&limit=500");
    assert!(!row_ids(&searched).is_empty());
    assert!(row_ids(&searched).len() < row_ids(&all).len());
    // Page by three through everything: the same rows, in the same order, once each.
    let mut seen = Vec::new();
    let mut next = Some("/actions?limit=3".to_owned());
    while let Some(p) = next {
        let body = ok(a, &p);
        seen.extend(row_ids(&body));
        next = attrs(&body, "href")
            .into_iter()
            .find(|h| h.contains("before="));
        assert!(seen.len() <= row_ids(&all).len(), "pagination does not end");
    }
    assert_eq!(seen, row_ids(&all));
    // The form shows the view's filter back: submitted as it is, it selects the same rows.
    let view = ok(
        a,
        "/actions?status=failed&error_message~timed+out&limit=500",
    );
    assert!(view.contains("name=\"status\" value=\"failed\""));
    assert!(view.contains("name=\"f\" value=\"error_message~timed out\""));
    let again = ok(
        a,
        "/actions?status=failed&user_id=&q=&f=error_message%7Etimed+out&f=&limit=500",
    );
    assert_eq!(row_ids(&again), row_ids(&view));
    assert!(!row_ids(&view).is_empty());
    // Bad input is a 400 page, not a 500.
    assert_eq!(http::get(a, "/actions?f=colour%3Dred").status, 400);
    assert_eq!(http::get(a, "/actions?before=nonsense").status, 400);
}

#[test]
fn exports_hold_exactly_the_rows_of_the_view() {
    let (_, a) = tracker();
    let a = *a;
    for q in [
        "",
        "status=failed",
        "q=timed",
        "source=ui_button",
        "f=action_type~job",
    ] {
        let view = row_ids(&ok(a, &format!("/actions?{q}&limit=500")));
        let page = ok(a, &format!("/actions?{q}"));
        let href = attrs(&page, "href")
            .into_iter()
            .find(|h| h.starts_with("/export/actions.ndjson"))
            .unwrap();
        let nd = http::get(a, &href);
        assert_eq!(nd.status, 200);
        assert!(nd.header("content-type").unwrap().contains("ndjson"));
        assert_eq!(ndjson_ids(&nd.body), view, "NDJSON of {q:?}");
        let csv = http::get(a, &href.replace("actions.ndjson", "actions.csv"));
        let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(lines[0].starts_with("id,action_timestamp,action_type"));
        let ids: Vec<String> = lines[1..]
            .iter()
            .map(|l| l.split(',').next().unwrap().to_owned())
            .collect();
        assert_eq!(ids, view, "CSV of {q:?}");
    }
}

#[test]
fn a_histogram_bar_narrows_the_range_and_its_counts_add_up() {
    let (_, a) = tracker();
    let a = *a;
    let home = ok(a, "/?since=2h");
    let counts: Vec<usize> = attrs(&home, "data-count")
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    let total: usize = counts.iter().sum();
    let all = row_ids(&ok(a, "/actions?since=2h&limit=500")).len();
    assert_eq!(total, all, "the bars count every action of the range");
    let json_href = attrs(&home, "href")
        .into_iter()
        .find(|h| h.starts_with("/api/histogram.json?"))
        .unwrap();
    let j: serde_json::Value = serde_json::from_str(&ok(a, &json_href)).unwrap();
    let json_total: u64 = j["bars"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| {
            b["counts"]
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
        })
        .sum();
    assert_eq!(
        json_total as usize, total,
        "the JSON holds the chart's counts"
    );
    let bar = attrs(&home, "href")
        .into_iter()
        .find(|h| h.starts_with("/?") && h.contains("until="))
        .unwrap();
    let zoomed = ok(a, &bar);
    let zc: usize = attrs(&zoomed, "data-count")
        .iter()
        .map(|c| c.parse::<usize>().unwrap())
        .sum();
    assert_eq!(
        zc, counts[0],
        "the zoomed bars count the first bar's actions"
    );
    assert!(zoomed.contains("data-count"));
    web::assert_histogram_counts(a);
}

#[test]
fn security_defaults() {
    let (_, a) = tracker();
    let a = *a;
    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for p in ["/", "/actions", "/export/actions.csv", "/nope"] {
            let r = http::request(a, m, p, &[], "x=1");
            assert_eq!(r.status, 405, "{m} {p}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
        }
    }
    // DNS rebinding: another site's name pointing at 127.0.0.1.
    let r = http::request(a, "GET", "/", &[("Host", "evil.example")], "");
    assert_eq!(r.status, 403);
    let r = http::request(
        a,
        "GET",
        "/",
        &[("Host", &format!("evil.example:{}", a.port()))],
        "",
    );
    assert_eq!(r.status, 403);
    let r = http::request(
        a,
        "GET",
        "/",
        &[("Host", &format!("localhost:{}", a.port()))],
        "",
    );
    assert_eq!(r.status, 200);
    // A strict CSP, and no inline script on any page.
    for p in ["/", "/actions", "/jobs", "/runs", "/live"] {
        let r = http::get(a, p);
        let csp = r.header("content-security-policy").unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        for s in r.body.split("<script").skip(1) {
            assert!(
                s.starts_with(" src=\"/assets/") && s.contains("></script>"),
                "inline script on {p}"
            );
        }
        assert!(
            !r.body.contains(" style=") && !r.body.contains(" onclick="),
            "inline style or handler on {p}"
        );
    }
    // Caps: page size, range.
    let r = ok(a, "/actions?limit=100000");
    assert!(r.contains("name=\"limit\" min=\"1\" max=\"500\" value=\"500\""));
    assert_eq!(http::get(a, "/?since=2020-01-01").status, 400);
    assert_eq!(http::get(a, "/jobs?since=2020-01-01").status, 400);
}

/// The dashboard over the tracker's store with token `s3cret tok`.
fn with_token() -> SocketAddr {
    static A: OnceLock<SocketAddr> = OnceLock::new();
    *A.get_or_init(|| {
        let (work, _) = tracker();
        let logs = work.path().join("logs");
        web::start(
            Target::Sqlite(logs.join("actions.db")),
            &logs,
            Some("s3cret tok"),
            |d| d,
        )
    })
}

/// The `name=value` of every `Set-Cookie` of `r`, with its attributes.
fn set_cookies(r: &http::Response) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The session cookie a sign-in answered with, as a `Cookie` header carries it.
fn session_of(r: &http::Response) -> String {
    let c = set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with("actionlog_session="))
        .unwrap_or_else(|| panic!("no session cookie in {:?}", r.headers));
    c.split(';').next().unwrap().to_owned()
}

#[test]
fn a_token_opens_a_session_and_never_goes_into_a_cookie() {
    let a = with_token();
    assert_eq!(http::get(a, "/").status, 401);
    assert_eq!(http::get(a, "/export/actions.csv").status, 401);
    assert_eq!(
        http::request(a, "GET", "/", &[("Authorization", "Bearer wrong")], "").status,
        401
    );
    assert_eq!(
        http::request(a, "GET", "/", &[("Authorization", "Bearer s3cret tok")], "").status,
        200
    );
    assert_eq!(http::get(a, "/actions?token=s3cret").status, 401);
    let r = http::get(a, "/actions?status=failed&token=s3cret%20tok");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/actions?status=failed"));
    // The cookies carry a random session value, never the token.
    for c in set_cookies(&r) {
        assert!(!c.contains("s3cret"), "the token went into a cookie: {c}");
    }
    let cookie = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("actionlog_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let pair = session_of(&r);
    let value = pair.strip_prefix("actionlog_session=").unwrap();
    assert!(
        value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        "{value}"
    );
    // A browser still holding the token in the old cookie is told to drop it.
    assert!(
        set_cookies(&r)
            .iter()
            .any(|c| c.starts_with("actionlog_token=;") && c.contains("Max-Age=0")),
        "{:?}",
        set_cookies(&r)
    );
    let page = http::request(a, "GET", "/actions?status=failed", &[("Cookie", &pair)], "");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("href=\"/sign-out\""),
        "a way to sign out"
    );
    // A cookie of the same name set by another service on the host does not shut it out.
    let tossed = format!("actionlog_session={}; {pair}", "0".repeat(64));
    assert_eq!(
        http::request(a, "GET", "/", &[("Cookie", &tossed)], "").status,
        200
    );
    // Each sign-in is a session of its own.
    let other = session_of(&http::get(a, "/?token=s3cret%20tok"));
    assert_ne!(other, pair);
    // The token is no cookie, under either name.
    for c in [
        "actionlog_token=s3cret%20tok",
        "actionlog_token=s3cret tok",
        "actionlog_session=s3cret%20tok",
        "actionlog_session=0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        assert_eq!(
            http::request(a, "GET", "/", &[("Cookie", c)], "").status,
            401,
            "{c}"
        );
    }
    // Behind a TLS proxy the cookie is Secure.
    let r = http::request(
        a,
        "GET",
        "/?token=s3cret%20tok",
        &[("X-Forwarded-Proto", "https")],
        "",
    );
    assert!(set_cookies(&r).iter().all(|c| c.contains("; Secure")));
    // The sign-in form: POSTed, then where it was asked to go.
    let form = |body: &str| {
        http::request(
            a,
            "POST",
            "/sign-in",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body,
        )
    };
    let r = form("token=s3cret+tok&next=%2Factions%3Fstatus%3Dfailed");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/actions?status=failed"));
    let by_form = session_of(&r);
    assert_eq!(
        http::request(a, "GET", "/", &[("Cookie", &by_form)], "").status,
        200
    );
    let r = form("token=s3cret&next=%2Factions");
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains("not this dashboard&#39;s token")
            || r.body.contains("not this dashboard's token")
    );
    assert!(set_cookies(&r).is_empty());
    assert_eq!(form(&format!("token={}", "x".repeat(10_000))).status, 413);
    // POST anywhere else is still refused.
    assert_eq!(
        http::request(a, "POST", "/actions", &[], "token=s3cret+tok").status,
        405
    );
    // Signing out ends that session only, and the live stream it had open.
    let mut stream = http::Sse::open(a, "/live/events", &[("Cookie", &pair)]);
    assert_eq!(stream.status, 200);
    assert_eq!(stream.next(Duration::from_secs(30)).event, "ready");
    let r = http::request(a, "GET", "/sign-out", &[("Cookie", &pair)], "");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/"));
    assert!(set_cookies(&r)[0].starts_with("actionlog_session=;"));
    assert_eq!(
        http::request(a, "GET", "/", &[("Cookie", &pair)], "").status,
        401
    );
    assert!(
        stream.ends_within(Duration::from_secs(30)),
        "the live stream outlived its session"
    );
    assert_eq!(
        http::request(a, "GET", "/", &[("Cookie", &other)], "").status,
        200
    );
}

/// Whether a redirect to `loc` stays on this host: a path, not `//host`, `/\host` or a URL.
fn stays_here(loc: &str) -> bool {
    loc.starts_with('/')
        && !loc.starts_with("//")
        && !loc.starts_with("/\\")
        && !loc.contains(['\t', '\n', '\r', '\\'])
}

#[test]
fn a_sign_in_redirects_only_to_the_dashboard() {
    let a = with_token();
    // A request target a browser could be sent to, then the sign-in's redirect.
    for (target, want) in [
        (
            "//other-host/path?token=s3cret%20tok",
            Some("/other-host/path"),
        ),
        (
            "///other-host/path?token=s3cret%20tok",
            Some("/other-host/path"),
        ),
        (
            "//other-host/path?x=1&token=s3cret%20tok",
            Some("/other-host/path?x=1"),
        ),
        (
            "/%2F%2Fother-host?token=s3cret%20tok",
            Some("/%2F%2Fother-host"),
        ),
        (
            "/%5C%5Cother-host?token=s3cret%20tok",
            Some("/%5C%5Cother-host"),
        ),
        ("/%2e%2e/%2e%2e/x?token=s3cret%20tok", None),
        ("/\\other-host?token=s3cret%20tok", None),
        ("/\\/other-host?token=s3cret%20tok", None),
        ("https://other-host/?token=s3cret%20tok", Some("/")),
        ("https://other-host//x?token=s3cret%20tok", Some("/x")),
    ] {
        let r = http::get(a, target);
        if r.status == 400 {
            // The server refused the target itself: nothing to follow.
            continue;
        }
        assert_eq!(r.status, 303, "{target}: {}", r.body);
        let loc = r.header("location").unwrap();
        assert!(stays_here(loc), "{target} sent the browser to {loc:?}");
        if let Some(w) = want {
            assert_eq!(loc, w, "{target}");
        }
    }
    // The form's `next`, whatever it says.
    for next in [
        "//other-host/path",
        "https://other-host/",
        "/\\other-host",
        "\\\\other-host",
        "\t//other-host",
        "/%09/other-host",
        "//%09other-host",
        "javascript:alert(1)",
        "/actions\r\nSet-Cookie: x=1",
        "",
    ] {
        let body = format!("token=s3cret+tok&next={}", url_encode(next));
        let r = http::request(
            a,
            "POST",
            "/sign-in",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &body,
        );
        assert_eq!(r.status, 303, "{next:?}: {}", r.body);
        let loc = r.header("location").unwrap();
        assert!(stays_here(loc), "next={next:?} sent the browser to {loc:?}");
        assert!(r.header("x").is_none());
    }
}

/// Percent-encodes every byte but ASCII letters and digits.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn a_non_loopback_address_needs_a_token() {
    let (work, _) = tracker();
    let db = work.path().join("logs/actions.db");
    let db = db.to_str().unwrap();
    let out = cli::run(
        work.path(),
        &["serve", "--db", db, "--bind", "0.0.0.0:0"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{err}"
    );
    // An empty token is no token.
    let out = cli::run(
        work.path(),
        &["serve", "--db", db, "--bind", "0.0.0.0:0"],
        &[("ACTIONLOG_TOKEN", " ")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
}

#[test]
fn open_event_streams_are_capped() {
    let (work, _) = tracker();
    let logs = work.path().join("logs");
    let a = web::start(Target::Sqlite(logs.join("actions.db")), &logs, None, |d| {
        d.max_streams(1)
    });
    let mut first = http::Sse::open(a, "/live/events", &[]);
    assert_eq!(first.status, 200);
    assert_eq!(first.next(Duration::from_secs(30)).event, "ready");
    let second = http::Sse::open(a, "/live/events", &[]);
    assert_eq!(second.status, 503);
}

/// Copies the tracker's log directory (store and day files) so a test can add to it.
fn copy_of_tracker() -> tempfile::TempDir {
    let (work, _) = tracker();
    let to = tempfile::tempdir().unwrap();
    std::fs::create_dir(to.path().join("logs")).unwrap();
    for e in std::fs::read_dir(work.path().join("logs")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.path().join("logs").join(e.file_name())).unwrap();
        }
    }
    to
}

/// Reads batches until every id of `expected` came; returns the action ids received (in
/// order, duplicates kept), how many log lines came, and the last event id.
fn until_all(sse: &mut http::Sse, expected: &HashSet<String>) -> (Vec<String>, usize, String) {
    let (mut got, mut lines, mut last) = (Vec::new(), 0, String::new());
    while !expected.iter().all(|e| got.contains(e)) {
        let ev = sse.next(Duration::from_secs(30));
        if ev.event != "batch" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        lines += v["lines"].as_array().unwrap().len();
        got.extend(
            v["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_owned()),
        );
        last = ev.id.unwrap();
    }
    (got, lines, last)
}

/// The action ids the store holds now (all of them: the copy holds fewer than 500).
fn all_ids(a: SocketAddr) -> HashSet<String> {
    row_ids(&ok(a, "/actions?limit=500")).into_iter().collect()
}

#[test]
fn the_live_stream_shows_new_actions_and_resumes_without_gaps() {
    let dir = copy_of_tracker();
    let logs = dir.path().join("logs");
    let a = web::start(Target::Sqlite(logs.join("actions.db")), &logs, None, |d| d);
    let page = ok(a, "/live");
    let src = attrs(&page, "data-events").remove(0);
    let before = all_ids(a);
    let mut sse = http::Sse::open(a, &src, &[]);
    assert_eq!(sse.status, 200);
    // The trigger has exited: every row it wrote is committed.
    web::tracker(dir.path(), &["collect"]);
    let new1: HashSet<String> = all_ids(a).difference(&before).cloned().collect();
    assert!(!new1.is_empty());
    let (first, lines, id) = until_all(&mut sse, &new1);
    assert!(lines > 0, "the trigger's log lines are streamed too");
    assert_eq!(
        first.len(),
        new1.len(),
        "each new action once, nothing older"
    );
    drop(sse);
    // While disconnected, another trigger; the browser reconnects with the last id it got.
    web::tracker(dir.path(), &["collect"]);
    let seen: HashSet<String> = before.union(&new1).cloned().collect();
    let new2: HashSet<String> = all_ids(a).difference(&seen).cloned().collect();
    assert!(!new2.is_empty());
    let mut again = http::Sse::open(a, &src, &[("Last-Event-ID", &id)]);
    let (second, _, _) = until_all(&mut again, &new2);
    assert_eq!(second.len(), new2.len(), "nothing repeated, nothing missed");
}

#[test]
fn a_line_break_in_a_stored_id_does_not_stop_the_live_stream() {
    let dir = copy_of_tracker();
    let logs = dir.path().join("logs");
    // SQLite ids are TEXT: a row whose id holds line breaks (and the event stream's own
    // separators), newest of all.
    let db = logs.join("actions.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let newest: String = conn
        .query_row("SELECT max(action_timestamp) FROM action_logs", [], |r| {
            r.get(0)
        })
        .unwrap();
    let t =
        chrono::DateTime::parse_from_rfc3339(&newest).unwrap() + chrono::Duration::milliseconds(1);
    let odd_id = "evil\nid: 1\r\n\ndata: {}|x_y";
    conn.execute(
        "INSERT INTO action_logs (id, action_type, action_timestamp, status) VALUES (?1, 'odd', ?2, 'completed')",
        rusqlite::params![odd_id, t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()],
    )
    .unwrap();
    drop(conn);
    let a = web::start(Target::Sqlite(db), &logs, None, |d| d);
    // From now (the odd row), from the page's own position, and resumed from an event id.
    let page = ok(a, "/live");
    let src = attrs(&page, "data-events").remove(0);
    let mut now = http::Sse::open(a, "/live/events", &[]);
    assert_eq!(now.status, 200);
    let hello = now.next(Duration::from_secs(30));
    assert_eq!(hello.event, "ready");
    let id = hello.id.unwrap();
    assert!(!id.contains(['\n', '\r']), "{id:?}");
    let mut from_page = http::Sse::open(a, &src, &[]);
    assert_eq!(from_page.status, 200);
    let mut resumed = http::Sse::open(a, "/live/events", &[("Last-Event-ID", &id)]);
    assert_eq!(resumed.status, 200);
    let before = all_ids(a);
    web::tracker(dir.path(), &["collect"]);
    let new: HashSet<String> = all_ids(a).difference(&before).cloned().collect();
    assert!(!new.is_empty());
    for sse in [&mut now, &mut from_page, &mut resumed] {
        let (got, _, last) = until_all(sse, &new);
        assert_eq!(got.len(), new.len(), "each later row once");
        assert!(!got.iter().any(|g| g == odd_id), "the odd row was not new");
        assert!(!last.contains(['\n', '\r']));
    }
}

#[test]
fn hostile_text_is_shown_escaped_everywhere_and_csv_is_formula_safe() {
    let dir = tempfile::tempdir().unwrap();
    let db = xss::store(dir.path());
    let a = web::start(Target::Sqlite(db), &dir.path().join("logs"), None, |d| d);
    let range = "since=2026-11-03&until=2026-11-04";
    let pages = [
        format!("/?{range}"),
        format!("/actions?{range}"),
        format!("/actions/{}", xss::ACTION_ID),
        "/jobs?since=2026-11-01&until=2026-11-05".to_owned(),
        "/runs".to_owned(),
        format!("/runs/{}", xss::RUN_ID),
        "/live".to_owned(),
    ];
    for p in &pages {
        let body = ok(a, p);
        for raw in [
            "<script>window",
            "<img",
            "<svg/",
            "onerror=\"window",
            "href=\"javascript:",
        ] {
            assert!(!body.contains(raw), "{p} holds {raw:?} unescaped");
        }
        assert!(
            body.contains("&lt;script&gt;window.__xss=1&lt;/script&gt;"),
            "{p} lacks the escaped text"
        );
    }
    let run = ok(a, &format!("/runs/{}", xss::RUN_ID));
    assert!(
        run.matches("&lt;script&gt;window.__xss=1").count() >= 4,
        "logs and day lines shown"
    );
    let csv = http::get(a, &format!("/export/actions.csv?{range}")).body;
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(!csv.contains(",=HYPERLINK"));
}

#[test]
fn characters_that_reorder_or_hide_text_are_shown_visibly() {
    let dir = tempfile::tempdir().unwrap();
    let db = xss::store(dir.path());
    let a = web::start(Target::Sqlite(db), &dir.path().join("logs"), None, |d| d);
    let range = "since=2026-11-03&until=2026-11-04";
    for p in [
        format!("/?{range}"),
        format!("/actions?{range}"),
        format!("/actions/{}", xss::BIDI_ID),
        format!("/runs/{}", xss::RUN_ID),
        "/live".to_owned(),
    ] {
        let body = ok(a, &p);
        assert!(
            !body.contains(xss::BIDI_CHARS),
            "{p} holds a raw bidi or invisible character"
        );
        assert!(
            body.contains(xss::BIDI_SHOWN),
            "{p} does not show them as escapes"
        );
    }
    // The live stream's text too (from the start: every row is new).
    let mut sse = http::Sse::open(a, "/live/events?from=-%7C-", &[]);
    let batch = loop {
        let ev = sse.next(Duration::from_secs(30));
        if ev.event == "batch" {
            break ev;
        }
    };
    let v: serde_json::Value = serde_json::from_str(&batch.data).unwrap();
    let shown = v.to_string();
    assert!(!shown.contains(xss::BIDI_CHARS), "{shown}");
    let odd = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == xss::BIDI_ID)
        .unwrap();
    for k in ["action_type", "user_id", "source", "message"] {
        assert_eq!(odd[k], xss::BIDI_SHOWN, "{k}");
    }
    assert!(
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"].as_str().unwrap().contains(xss::BIDI_SHOWN)),
        "{v}"
    );
}

#[test]
fn the_command_serves_with_a_token_from_a_file_and_reads_without_writing() {
    let (work, _) = tracker();
    let logs = work.path().join("logs");
    let before: Vec<(String, Vec<u8>)> = {
        let mut v: Vec<_> = std::fs::read_dir(&logs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        v
    };
    let token = work.path().join("token");
    std::fs::write(&token, "tok-from-file\n").unwrap();
    let mut child = std::process::Command::new(cli::bin())
        .args(["serve", "--bind", "127.0.0.1:0", "--log-dir"])
        .arg(&logs)
        .arg("--token-file")
        .arg(&token)
        .current_dir(work.path())
        .env_remove("DATABASE_URL")
        .env_remove("SUPABASE_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.trim().trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let get = |h: &[(&str, &str)], p: &str| http::request(addr, "GET", p, h, "").status;
    assert_eq!(get(&[], "/"), 401);
    let bearer = [("Authorization", "Bearer tok-from-file")];
    for p in [
        "/",
        "/actions",
        "/jobs",
        "/runs",
        "/live",
        "/export/actions.csv",
    ] {
        assert_eq!(get(&bearer, p), 200, "{p}");
    }
    assert_eq!(get(&[("Host", "evil.example")], "/"), 403);
    let _ = child.kill();
    let _ = child.wait();
    // Read-only: the store and every file beside it as they were, nothing created.
    let mut after: Vec<(String, Vec<u8>)> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    after.sort();
    assert!(
        before == after,
        "the dashboard changed or created files in the log directory"
    );
}
