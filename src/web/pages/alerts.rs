//! `/alerts`: the alert watcher's state file as it last left it — the firing incidents, the
//! rules with their parameters and what each reads, the notifiers (named without secrets:
//! the state file never holds a webhook URL), the notifications waiting for delivery, the
//! throttle and the last pass's problems — and the overview's box of firing alerts. Every
//! value is written as escaped text.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::Markup;

use crate::web::{App, html};

#[cfg(feature = "alert")]
pub(crate) use with_alerts::*;

#[cfg(feature = "alert")]
mod with_alerts {
    use chrono::{DateTime, Utc};
    use maud::{Markup, html};
    use serde_json::Value;

    use crate::alert::State;
    use crate::web::{base, html};

    /// What the overview and `/alerts` show when the state file cannot be read.
    pub(crate) type Loaded = Result<Option<State>, String>;

    /// Reads the state file (on a blocking thread: it is file I/O).
    pub(crate) async fn load(path: std::path::PathBuf) -> Loaded {
        tokio::task::spawn_blocking(move || State::load(&path).map_err(|e| e.to_string()))
            .await
            .unwrap_or_else(|e| Err(format!("reading the alert state failed: {e}")))
    }

    fn time(t: &DateTime<Utc>) -> Markup {
        html::time(Some(&Value::from(
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )))
    }

    fn incidents(st: &State, now: DateTime<Utc>) -> Markup {
        html! {
            table.rows.firing {
                tr { th { "rule" } th { "subject" } th { "what is wrong" } th { "since" } th { "last notified" } }
                @for i in &st.incidents {
                    tr {
                        td { code { (i.rule) } }
                        td { (i.subject) }
                        td.msg { (html::cut(&i.summary, 300)) }
                        td { (html::relative(&i.started_at.to_rfc3339(), now)) " " (time(&i.started_at)) }
                        td { (time(&i.last_notified_at)) }
                    }
                }
            }
        }
    }

    /// The overview's box: what fires now, or that nothing does, or nothing at all when no
    /// watcher has run (no state file).
    pub(crate) fn firing_box(loaded: &Loaded, now: DateTime<Utc>) -> Markup {
        match loaded {
            Ok(None) => html! {},
            Err(e) => html! { section.alerts { h2 { "Alerts" } p.error { (e) } } },
            Ok(Some(st)) => html! {
                section.alerts {
                    h2 { "Firing alerts" }
                    @if st.incidents.is_empty() {
                        p.muted.no-alerts { "Nothing is firing" @if let Some(t) = &st.last_pass_at { " (last checked " (html::relative(&t.to_rfc3339(), now)) ")" } "." }
                    } @else {
                        (incidents(st, now))
                    }
                    p { a href=(base::at("/alerts")) { "Rules and notifications »" } }
                }
            },
        }
    }

    /// `/alerts`'s body.
    pub(crate) fn body(loaded: &Loaded, now: DateTime<Utc>) -> Markup {
        let st = match loaded {
            Err(e) => return html! { p.error { (e) } },
            Ok(None) => {
                return html! {
                    p.muted { "No alert watcher has run with this log directory yet: start " code { "actionlog alert" } " (its state file is " code { "alert-state.json" } " in the log directory)." }
                };
            }
            Ok(Some(st)) => st,
        };
        let text = |v: &Value| crate::query::export::cell_text(v);
        html! {
            p.muted {
                "Store " code { (st.store) } ". "
                @if let Some(t) = &st.last_pass_at { "Last pass " (html::relative(&t.to_rfc3339(), now)) " (" (time(t)) ")." }
            }
            h2 { "Firing" }
            @if st.incidents.is_empty() { p.muted.no-alerts { "Nothing is firing." } } @else { (incidents(st, now)) }
            @if !st.last_problems.is_empty() {
                h2 { "Problems of the last pass" }
                ul.problems { @for p in &st.last_problems { li { (p) } } }
            }
            h2 { "Rules" }
            table.rows.rules {
                tr { th { "rule" } th { "kind" } th { "on" } th { "repeat" } th { "parameters" } th { "reads" } }
                @for r in &st.rules {
                    tr {
                        td { code { (text(&r["name"])) } }
                        td { (text(&r["kind"])) }
                        td { (text(&r["enabled"])) }
                        td { @match r["repeat"].as_str() { Some(d) => (d), None => "never" } }
                        td { code { (text(&r["params"])) } }
                        td.msg { (text(&r["reads"])) }
                    }
                }
            }
            h2 { "Notifiers" }
            @if st.notifiers.is_empty() { p.muted { "None: notifications are only printed by the watcher." } } @else {
                table.rows.notifiers {
                    tr { th { "name" } th { "kind" } th { "to" } th { "waiting" } }
                    @for n in &st.notifiers {
                        @let name = text(&n["name"]);
                        tr {
                            td { (name) }
                            td { (text(&n["kind"])) }
                            td { code { (text(&n["to"])) } }
                            td.num { (st.pending.iter().filter(|p| p.notifier == name).count()) }
                        }
                    }
                }
            }
            @if !st.pending.is_empty() {
                h2 { "Waiting for delivery" }
                table.rows.pending {
                    tr { th { "notifier" } th { "event" } th { "rule" } th { "subject" } th { "tries" } th { "last error" } }
                    @for p in st.pending.iter().take(200) {
                        tr {
                            td { (p.notifier) }
                            td { (text(&p.payload["event"])) }
                            td { code { (text(&p.payload["rule"])) } }
                            td { (text(&p.payload["subject"])) }
                            td.num { (p.attempts) }
                            td.msg { (p.last_error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
            p.muted.throttle {
                "Throttle: " (st.throttle.sent) " sent and " (st.throttle.suppressed) " held back in the current interval; "
                (st.throttle.total_suppressed) " held back in all."
                @if st.dropped > 0 { " " (st.dropped) " waiting notifications were dropped (too many waiting)." }
            }
        }
    }
}

/// `/alerts`.
pub(crate) async fn page(State(app): State<Arc<App>>) -> Response {
    html::ok(html::frame("Alerts", "/alerts", content(&app).await))
}

#[cfg(feature = "alert")]
async fn content(app: &App) -> Markup {
    let loaded = load(app.alert_state.clone()).await;
    body(&loaded, chrono::Utc::now())
}

#[cfg(not(feature = "alert"))]
async fn content(_: &App) -> Markup {
    maud::html! { p.muted { "Alerts need the cargo feature " code { "alert" } " (" code { "actionlog alert" } ")." } }
}
