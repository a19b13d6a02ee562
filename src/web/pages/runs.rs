//! `/runs`: job executions with the runs' filter grammar and keyset pagination;
//! `/runs/{id}`: one run with its captured logs coloured by level and searchable, the actions
//! carrying its `job_execution_id`, and the day-file lines of its time span.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};

use crate::query::{Entity, Filter, PageQuery, Rows};
use crate::web::{App, base, daylines, db, html, params};

/// Day-file lines shown at most on a run page.
const MAX_LINES: usize = 2_000;

fn runs_table(rows: &Rows) -> Markup {
    html! {
        @if rows.rows.is_empty() { p.muted { "No runs match." } } @else {
            table.rows.runs {
                tr { th { "started" } th { "job" } th { "status" } th { "duration" } th { "error" } }
                @for i in 0..rows.rows.len() {
                    @let g = |c: &str| rows.get(i, c);
                    @let id = html::text(g("id"));
                    tr data-id=(id) {
                        td { a href={ (base::prefix()) "/runs/" (params::encode(&id)) } { (html::time(g("started_at"))) } }
                        td { (html::text(g("job_id"))) }
                        td { (html::badge(&html::text(g("status")))) }
                        td.num { (html::seconds(g("duration_seconds"))) }
                        td.msg { (html::cut(&html::text(g("error_message")), 120)) }
                    }
                }
            }
        }
    }
}

/// `/runs`.
pub(crate) async fn list(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    let view = match params::parse(Entity::Runs, q.as_deref(), Utc::now(), None) {
        Ok(v) => v,
        Err(e) => return html::error(&e),
    };
    let pq = view.page_query();
    let page = match db::call(&app, move |app| async move { app.store.runs(&pq).await }).await {
        Ok(p) => p,
        Err(e) => return html::error(&e),
    };
    let qs = params::query_string(&view.filter);
    html::ok(html::frame(
        "Runs",
        "/runs",
        html! {
            (super::actions::form("/runs", Entity::Runs, &view.filter, view.limit))
            (runs_table(&page.rows))
            (super::actions::pager("/runs", &view, &qs, page.next.as_ref()))
        },
    ))
}

/// The CSS class of a captured or day-file line's level.
fn level_class(line: &str) -> &'static str {
    for (word, class) in [
        ("ERROR", "l-error"),
        ("WARN", "l-warn"),
        ("INFO", "l-info"),
        ("DEBUG", "l-debug"),
        ("TRACE", "l-trace"),
    ] {
        if line.contains(word) {
            return class;
        }
    }
    "l-other"
}

/// `/runs/{id}`.
pub(crate) async fn detail(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if !super::uuid_like(&id) {
        return super::not_found().await;
    }
    let id = id.to_ascii_lowercase();
    let search = params::parse(Entity::Runs, q.as_deref(), Utc::now(), None)
        .ok()
        .and_then(|v| {
            v.filter
                .conds
                .iter()
                .find_map(|c| (c.field == crate::query::Field::Text).then(|| c.value.clone()))
        })
        .unwrap_or_default();
    let rid = id.clone();
    let data = db::call(&app, move |app| async move {
        let mut f = Filter::new(Entity::Runs);
        f.push(&format!("id={rid}"))?;
        let run = app
            .store
            .runs(&PageQuery {
                filter: f,
                limit: 1,
                before: None,
            })
            .await?
            .rows;
        let logs = app.store.run_logs(&rid).await?.unwrap_or_default();
        let mut a = Filter::new(Entity::Actions);
        a.push(&format!("job_execution_id={rid}"))?;
        let actions = app
            .store
            .actions(&PageQuery {
                filter: a,
                limit: 200,
                before: None,
            })
            .await?
            .rows;
        Ok((run, logs, actions))
    })
    .await;
    let (run, logs, actions) = match data {
        Ok(d) => d,
        Err(e) => return html::error(&e),
    };
    if run.rows.is_empty() {
        return super::not_found().await;
    }
    let g = |c: &str| run.get(0, c);
    let t = |c: &str| {
        g(c).and_then(|v| v.as_str())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let start = t("started_at").unwrap_or_else(Utc::now) - Duration::seconds(1);
    let end = t("completed_at").unwrap_or_else(Utc::now) + Duration::seconds(1);
    let dir = app.log_dir.clone();
    let lines = tokio::task::spawn_blocking(move || daylines::between(&dir, start, end, MAX_LINES))
        .await
        .unwrap_or_default();
    let keep = |l: &str| search.is_empty() || l.contains(search.as_str());
    html::ok(html::frame(
        &format!("Run of {}", html::text(g("job_id"))),
        "/runs",
        html! {
            table.kv.run {
                @for c in &run.columns {
                    @if c != "metadata" {
                        tr { th { (c) } td { @match c.as_str() {
                            "status" => (html::badge(&html::text(g(c)))),
                            "job_id" => a.job href={ (base::prefix()) "/runs?job_id=" (params::encode(&html::text(g(c)))) } { (html::text(g(c))) },
                            "trace_id" => (super::trace_cell(&app, &run)),
                            _ => code { (html::text(g(c))) },
                        } } }
                    }
                }
                tr { th { "metadata" } td { (html::details(g("metadata"))) } }
            }
            form.filters method="get" {
                label { "search the lines " input type="search" name="q" value=(search); }
                button { "Search" }
            }
            h2 { "Captured logs" }
            ol.logs.captured {
                @for l in logs.lines().filter(|l| keep(l)) { li class=(level_class(l)) { (l) } }
            }
            h2 { "Actions of this run" }
            (super::actions::table(&actions))
            h2 { "Day-file lines from " (params::time(&start)) " to " (params::time(&end)) }
            ol.logs.dayfile {
                @for l in lines.iter().filter(|l| keep(&l.raw)) {
                    li class=(level_class(&l.level)) { (l.shown()) }
                }
            }
        },
    ))
}
