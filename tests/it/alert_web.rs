//! The dashboard's alerts, from the watcher's state file: the overview shows what fires,
//! `/alerts` the rules, notifiers (without their secrets) and what waits for delivery, every
//! stored value escaped; with no watcher, neither claims anything.
#![cfg(all(
    feature = "web",
    feature = "cli",
    feature = "alert",
    feature = "sqlite"
))]

use crate::common;

use actionlog::ManualClock;
use actionlog::query::Target;
use common::alert::{self as a, pass};
use common::web::ok;
use common::webhook::Receiver;
use common::xss;

#[test]
fn the_overview_and_alerts_page_show_the_state_escaped_and_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let hostile = format!(
        "{} INSERT INTO scheduled_jobs (job_id, consecutive_failures) VALUES ('{}', 7);",
        a::firing_sql(),
        xss::SCRIPT
    );
    let db = a::sqlite_store(dir.path(), &hostile);
    let hook = Receiver::start();
    hook.set_down(true);
    let canary = "CANARY-web-alert-0c1d";
    let notify = format!(
        "[[notify]]\nkind = \"slack\"\nurl = \"{}/services/T/B/{canary}\"\n",
        hook.base
    );
    let clock = ManualClock::at(a::t0());
    let mut e = a::engine(
        &Target::Sqlite(db.clone()),
        &logs,
        &logs.join("alert-state.json"),
        &clock,
        &notify,
    );
    let r = pass(&a::rt(), &mut e);
    assert_eq!(r.firing.len(), 5, "{:?}", r.firing);
    drop(e);

    let addr = common::web::start(Target::Sqlite(db), &logs, None, |d| d);
    let home = ok(addr, "/");
    assert!(home.contains("Firing alerts"), "{home}");
    for s in ["job_overdue", "ticker", "checkout", "silence", "/alerts"] {
        assert!(home.contains(s), "overview lacks {s:?}");
    }
    let page = ok(addr, "/alerts");
    for s in [
        "failure_rate",
        "dead_letters",
        "spool_growing",
        "hourly rollups",
        "slack-1",
        &format!("{}/[REDACTED]", hook.base),
        "HTTP 503",
        "Waiting for delivery",
    ] {
        assert!(page.contains(s), "/alerts lacks {s:?}");
    }
    for body in [&home, &page] {
        assert!(!body.contains(canary), "a secret reached a page");
        assert!(
            !body.contains(xss::SCRIPT),
            "stored markup reached a page raw"
        );
        assert!(body.contains("&lt;script&gt;window.__xss=1&lt;/script&gt;"));
    }

    // A log directory no watcher has used: no box on the overview, and /alerts says why.
    let empty = dir.path().join("other");
    std::fs::create_dir_all(&empty).unwrap();
    let addr = common::web::start(Target::Sqlite(logs.join("actions.db")), &empty, None, |d| d);
    assert!(!ok(addr, "/").contains("Firing alerts"));
    assert!(ok(addr, "/alerts").contains("No alert watcher has run"));
}
