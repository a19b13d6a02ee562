//! The dashboard over PostgreSQL (the real server, a schema of its own) filled by the tracker
//! example: every page renders its data, a run page shows its logs, actions and day-file
//! lines, the histogram counts every action of its range, and the exports equal the view.
#![cfg(all(feature = "web", feature = "cli", feature = "postgres"))]

use crate::common;
use crate::common::cli;
use crate::common::http;
use crate::common::web;

use actionlog::query::Target;
use common::pg::TestDb;
use web::{attrs, ndjson_ids, ok};

#[test]
fn every_page_over_the_tracker_database() {
    let Some(db) = TestDb::new("web_pg") else {
        return;
    };
    let url = format!("{}?options=-c%20search_path%3D{}", db.url, db.schema);
    let work = cli::run_tracker(&[("DATABASE_URL", url.as_str())]);
    let logs = work.path().join("logs");
    let a = web::start(Target::Postgres(url.clone()), &logs, None, |d| d);

    let home = ok(a, "/?since=2h");
    for s in [
        "data_collection_start",
        "job_execution",
        "analyst@example.com",
        "newest action",
    ] {
        assert!(home.contains(s), "overview lacks {s:?}");
    }
    let bars: usize = attrs(&home, "data-count")
        .iter()
        .map(|c| c.parse::<usize>().unwrap())
        .sum();
    let actions = ok(a, "/actions?since=2h&limit=500");
    let ids = attrs(&actions, "data-id");
    assert_eq!(
        bars,
        ids.len(),
        "the histogram counts every action of the range"
    );
    web::assert_histogram_counts(a);
    let jobs = ok(a, "/jobs");
    assert!(jobs.contains("data_collection") && jobs.contains("ticker_backfill"));
    let detail = ok(a, &format!("/actions/{}", ids[0]));
    assert!(detail.contains("action_details"));
    assert!(ok(a, "/live").contains("data-events"));

    // A job_execution action leads to its run: logs, actions, day-file lines.
    let runs_actions = ok(a, "/actions?action_type=job_execution");
    let id = attrs(&runs_actions, "data-id").remove(0);
    let detail = ok(a, &format!("/actions/{id}"));
    let run = attrs(&detail, "href")
        .into_iter()
        .find(|h| h.starts_with("/runs/"))
        .unwrap();
    let page = ok(a, &run);
    assert!(page.contains(&format!("data-id=\"{id}\"")));
    let captured =
        &page[page.find("logs captured").unwrap()..page.find("Actions of this run").unwrap()];
    assert!(captured.contains("<li"), "captured logs");
    assert!(
        page[page.find("logs dayfile").unwrap()..].contains("<li"),
        "day-file lines"
    );
    assert!(!attrs(&ok(a, "/runs"), "data-id").is_empty());

    // Search and exports of the same view.
    for q in ["", "status=completed", "q=records", "f=action_type~job"] {
        let view = attrs(&ok(a, &format!("/actions?{q}&limit=500")), "data-id");
        let got = ndjson_ids(&http::get(a, &format!("/export/actions.ndjson?{q}")).body);
        assert_eq!(got, view, "export of {q:?}");
    }
}
