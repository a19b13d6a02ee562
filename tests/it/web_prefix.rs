//! The dashboard nested under a prefix in an application's router
//! (`Router::new().nest("/logs", router)`): every link, form, asset and event-stream URL a page
//! carries points under the prefix and answers, the live stream streams there, the token's
//! redirect and cookie stay under it, and the Host check still holds.
#![cfg(all(feature = "web", feature = "cli"))]

use crate::common::cli;
use crate::common::http;
use crate::common::web;

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use actionlog::query::{Options, Store, Target};
use actionlog::web::Dashboard;
use web::attrs;

const PREFIX: &str = "/logs";

/// An application with the dashboard under `/logs` and a page of its own at `/`; its address.
fn start(db: &Path, logs: &Path, token: Option<&'static str>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let (db, logs) = (db.to_path_buf(), logs.to_path_buf());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let store = Store::open(&Target::Sqlite(db), &Options::default())
                .await
                .unwrap();
            let mut d = Dashboard::new(store)
                .log_dir(logs)
                .poll_interval(Duration::from_millis(50));
            if let Some(t) = token {
                d = d.token(t);
            }
            let app = axum::Router::new()
                .route("/", axum::routing::get(|| async { "the application" }))
                .nest(PREFIX, d.router());
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(30)).unwrap()
}

/// The URLs a page refers to: links, form targets, stylesheets, scripts, event streams.
fn refs(html: &str) -> Vec<String> {
    ["href", "action", "src", "data-events"]
        .iter()
        .flat_map(|a| attrs(html, a))
        .collect()
}

#[test]
fn every_link_of_every_page_stays_under_the_prefix_and_answers() {
    let work = cli::run_tracker(&[]);
    web::ensure_failed_run(work.path());
    let logs = work.path().join("logs");
    let a = start(&logs.join("actions.db"), &logs, None);

    // Breadth first from the overview, every distinct path once (query strings aside, so
    // the crawl ends), each referenced URL fetched.
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([PREFIX.to_owned()]);
    let mut pages = 0;
    let mut kinds = BTreeSet::new();
    while let Some(url) = queue.pop_front() {
        let path = url.split('?').next().unwrap().to_owned();
        // One detail page of each kind (an action, a run) is enough.
        let kind = ["actions/", "runs/"]
            .into_iter()
            .find(|k| path.starts_with(&format!("{PREFIX}/{k}")));
        if seen.contains(&path) || kind.is_some_and(|k| !kinds.insert(k)) {
            continue;
        }
        seen.insert(path.clone());
        if url.contains("/live/events") {
            let sse = http::Sse::open(a, &url, &[]);
            assert_eq!(sse.status, 200, "{url}");
            continue;
        }
        let r = http::get(a, &url);
        assert_eq!(r.status, 200, "GET {url}: {}", r.body);
        pages += 1;
        let html = r
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"));
        if !html {
            continue;
        }
        for u in refs(&r.body) {
            // The overview nested is `/logs` itself (axum's `nest` routes no `/logs/`).
            assert!(
                u == PREFIX
                    || u.starts_with(&format!("{PREFIX}?"))
                    || u.starts_with(&format!("{PREFIX}/")),
                "{url} refers to {u:?}, outside {PREFIX}"
            );
            queue.push_back(u);
        }
    }
    for p in [
        "",
        "/actions",
        "/jobs",
        "/runs",
        "/live",
        "/assets/app.css",
        "/assets/app.js",
    ] {
        assert!(seen.contains(&format!("{PREFIX}{p}")), "never reached {p}");
    }
    assert!(
        seen.iter()
            .any(|p| p.starts_with(&format!("{PREFIX}/runs/"))),
        "no run page reached"
    );
    assert!(pages > 10, "{pages} pages");
    // The live page's script builds action links from its root's base.
    let live = web::ok(a, &format!("{PREFIX}/live"));
    assert_eq!(attrs(&live, "data-base"), [PREFIX]);
    // Outside the prefix is the application's.
    assert_eq!(http::get(a, "/").body, "the application");
    assert_eq!(http::get(a, "/actions").status, 404);
    // The Host check holds under the prefix.
    let evil = http::request(a, "GET", PREFIX, &[("Host", "evil.example")], "");
    assert_eq!(evil.status, 403);
}

#[test]
fn the_token_redirect_and_cookie_stay_under_the_prefix() {
    let work = cli::run_tracker(&[]);
    let logs = work.path().join("logs");
    let a = start(&logs.join("actions.db"), &logs, Some("tok"));
    assert_eq!(http::get(a, &format!("{PREFIX}/actions")).status, 401);
    let r = http::get(a, &format!("{PREFIX}/actions?status=failed&token=tok"));
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some(format!("{PREFIX}/actions?status=failed").as_str())
    );
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.contains(&format!("Path={PREFIX}")), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(
        http::request(
            a,
            "GET",
            &format!("{PREFIX}/actions?status=failed"),
            &[("Cookie", pair)],
            ""
        )
        .status,
        200
    );
    // The sign-in form posts under the prefix and comes back there, and only there.
    let page = http::get(a, &format!("{PREFIX}/actions?status=failed"));
    assert_eq!(page.status, 401);
    assert_eq!(attrs(&page.body, "action"), [format!("{PREFIX}/sign-in")]);
    assert!(attrs(&page.body, "value").contains(&format!("{PREFIX}/actions?status=failed")));
    for (next, want) in [
        (
            "%2Flogs%2Factions%3Fstatus%3Dfailed",
            "/logs/actions?status=failed",
        ),
        ("%2F%2Fevil%2Flogs", "/logs"),
        ("%2Flogs%2F..%2Fadmin", "/logs/admin"),
        ("%2Fadmin", "/logs"),
    ] {
        let r = http::request(
            a,
            "POST",
            &format!("{PREFIX}/sign-in"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &format!("token=tok&next={next}"),
        );
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some(want), "{next}");
        assert!(
            r.header("set-cookie")
                .unwrap()
                .contains(&format!("Path={PREFIX}"))
        );
    }
}
