//! `/actions`: the filter grammar as a GET form and in the URL, search, keyset pagination,
//! exports of the same filter; `/actions/{id}`: one action with its details laid out and a
//! link to its job run.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use chrono::Utc;
use maud::{Markup, html};

use crate::query::{Entity, Field, Filter, Op, PageQuery, Rows};
use crate::web::params::{self, View};
use crate::web::{App, MAX_PAGE, base, db, html};

/// The columns with a field of their own in the form (equality); other conditions go in the
/// free `f` fields.
const FORM_COLUMNS: &[&str] = &["action_type", "status", "user_id", "job_id", "source"];

/// The actions table, linking each row to its detail page.
pub(crate) fn table(rows: &Rows) -> Markup {
    html! {
        @if rows.rows.is_empty() {
            p.muted { "No actions match." }
        } @else {
            table.rows.actions {
                thead { tr { th { "time" } th { "action" } th { "status" } th { "user" } th { "source" } th { "job" } th { "message" } th { "duration" } } }
                tbody {
                    @for i in 0..rows.rows.len() {
                        @let g = |c: &str| rows.get(i, c);
                        @let id = html::text(g("id"));
                        @let status = html::text(g("status"));
                        @let msg = {
                            let e = html::text(g("error_message"));
                            if e.is_empty() { html::text(g("result_message")) } else { e }
                        };
                        tr data-id=(id) {
                            td { a href={ (base::prefix()) "/actions/" (params::encode(&id)) } { (html::time(g("action_timestamp"))) } }
                            td { (html::text(g("action_type"))) }
                            td { (html::badge(&status)) }
                            td { (html::text(g("user_id"))) }
                            td { (html::text(g("source"))) }
                            td { (html::text(g("job_id"))) }
                            td.msg { (html::cut(&msg, 120)) }
                            td.num { (html::seconds(g("request_duration_seconds"))) }
                        }
                    }
                }
            }
        }
    }
}

/// The filter form: one field per common column, the search, free expressions, the range.
pub(crate) fn form(action: &str, entity: Entity, f: &Filter, limit: usize) -> Markup {
    let eq = |col: &str| {
        f.conds
            .iter()
            .find(|c| c.op == Op::Eq && matches!(c.field, Field::Column(k) if k == col))
            .map(|c| c.value.clone())
    };
    let search = f
        .conds
        .iter()
        .find(|c| c.field == Field::Text)
        .map(|c| c.value.clone());
    let columns: &[&str] = match entity {
        Entity::Actions => FORM_COLUMNS,
        Entity::Runs => &["job_id", "status"],
    };
    // Conditions without a field of their own, written back in the grammar.
    let mut used_eq: Vec<&str> = Vec::new();
    let mut used_text = false;
    let mut others: Vec<String> = Vec::new();
    for c in &f.conds {
        match (&c.field, c.op) {
            (Field::Column(col), Op::Eq) if columns.contains(col) && !used_eq.contains(col) => {
                used_eq.push(col)
            }
            (Field::Text, _) if !used_text => used_text = true,
            _ => others.push(params::expr(entity, c)),
        }
    }
    html! {
        form.filters method="get" action=(base::at(action)) {
            @for col in columns {
                label { (col) " " input type="text" name=(col) value=[eq(col)]; }
            }
            label { "search " input type="search" name="q" value=[search] placeholder="messages, errors, details"; }
            @for o in &others { label { "filter " input type="text" name="f" value=(o); } }
            label { "filter " input type="text" name="f" placeholder="error_message~timeout, details.KEY=v"; }
            label { "since " input type="text" name="since" value=[f.since.as_ref().map(params::time)] placeholder="1d, 2026-11-03, RFC 3339"; }
            label { "until " input type="text" name="until" value=[f.until.as_ref().map(params::time)]; }
            label { "rows " input type="number" name="limit" min="1" max=(MAX_PAGE) value=(limit); }
            button { "Apply" }
            a href=(base::at(action)) { "Reset" }
        }
    }
}

/// `/actions`.
pub(crate) async fn list(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    let view = match params::parse(Entity::Actions, q.as_deref(), Utc::now(), None) {
        Ok(v) => v,
        Err(e) => return html::error(&e),
    };
    let pq = view.page_query();
    let page = match db::call(&app, move |app| async move { app.store.actions(&pq).await }).await {
        Ok(p) => p,
        Err(e) => return html::error(&e),
    };
    let qs = params::query_string(&view.filter);
    let limit = view.limit;
    html::ok(html::frame(
        "Actions",
        "/actions",
        html! {
            (form("/actions", Entity::Actions, &view.filter, limit))
            p.exports {
                "Export this view: "
                a href={ (base::prefix()) "/export/actions.csv?" (qs) } { "CSV" } " · "
                a href={ (base::prefix()) "/export/actions.ndjson?" (qs) } { "NDJSON" }
            }
            (table(&page.rows))
            (pager("/actions", &view, &qs, page.next.as_ref()))
        },
    ))
}

/// Newest / older links for a keyset-paginated list.
pub(crate) fn pager(
    path: &str,
    view: &View,
    qs: &str,
    next: Option<&crate::query::Cursor>,
) -> Markup {
    let sep = if qs.is_empty() { "" } else { "&" };
    html! {
        nav.pager {
            @if view.before.is_some() {
                a href={ (base::at(path)) "?" (qs) (sep) "limit=" (view.limit) } { "« Newest" }
            }
            @if let Some(c) = next {
                a.older rel="next" href={ (base::at(path)) "?" (qs) (sep) "limit=" (view.limit) "&before=" (params::encode(&c.to_string())) } { "Older »" }
            }
        }
    }
}

/// `/actions/{id}`.
pub(crate) async fn detail(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    if !super::uuid_like(&id) {
        return super::not_found().await;
    }
    let mut filter = Filter::new(Entity::Actions);
    if let Err(e) = filter.push(&format!("id={}", id.to_ascii_lowercase())) {
        return html::error(&e);
    }
    let q = PageQuery {
        filter,
        limit: 1,
        before: None,
    };
    let rows = match db::call(&app, move |app| async move { app.store.actions(&q).await }).await {
        Ok(p) => p.rows,
        Err(e) => return html::error(&e),
    };
    if rows.rows.is_empty() {
        return super::not_found().await;
    }
    let g = |c: &str| rows.get(0, c);
    let run = html::text(g("job_execution_id"));
    let job = html::text(g("job_id"));
    html::ok(html::frame(
        &format!("Action {}", html::text(g("action_type"))),
        "/actions",
        html! {
            table.kv.action {
                @for c in &rows.columns {
                    @if c != "action_details" {
                        tr { th { (c) } td { @match c.as_str() {
                            "status" => (html::badge(&html::text(g(c)))),
                            "job_execution_id" if !run.is_empty() => a.run href={ (base::prefix()) "/runs/" (params::encode(&run)) } { (run) },
                            "job_id" if !job.is_empty() => a href={ (base::prefix()) "/runs?job_id=" (params::encode(&job)) } { (job) },
                            "trace_id" => (super::trace_cell(&app, &rows)),
                            _ => code { (html::text(g(c))) },
                        } } }
                    }
                }
            }
            h2 { "action_details" }
            (html::details(g("action_details")))
            @if !run.is_empty() {
                p { a.run href={ (base::prefix()) "/runs/" (params::encode(&run)) } { "Its job run, logs and day-file lines »" } }
            }
        },
    ))
}
