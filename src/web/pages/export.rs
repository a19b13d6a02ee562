//! `/export/actions.csv` and `/export/actions.ndjson`: every action the view's filter selects
//! (the same query string as the page), newest first, at most [`MAX_ROWS`] rows (the header
//! `X-Actionlog-Truncated: true` says when more matched). CSV cells that a spreadsheet would
//! run as a formula are defused ([`crate::query::export::csv_field`]).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::query::{Entity, MAX_ROWS, PageQuery, Rows, export};
use crate::web::{App, db, html, params};

async fn rows(app: &Arc<App>, q: Option<String>) -> Result<(Rows, bool), crate::query::Error> {
    let view = params::parse(Entity::Actions, q.as_deref(), Utc::now(), None)?;
    db::call(app, move |app| async move {
        let mut pq = PageQuery {
            filter: view.filter,
            limit: 1_000,
            before: None,
        };
        let mut all = Rows::default();
        loop {
            let page = app.store.actions(&pq).await?;
            all.columns = page.rows.columns;
            all.rows.extend(page.rows.rows);
            match page.next {
                Some(c) if all.rows.len() < MAX_ROWS => pq.before = Some(c),
                next => {
                    let more = next.is_some();
                    all.rows.truncate(MAX_ROWS);
                    return Ok((all, more));
                }
            }
        }
    })
    .await
}

fn respond(body: String, kind: &'static str, name: &'static str, truncated: bool) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (
                header::CONTENT_DISPOSITION,
                if name.ends_with("csv") {
                    "attachment; filename=\"actions.csv\""
                } else {
                    "attachment; filename=\"actions.ndjson\""
                },
            ),
            (
                header::HeaderName::from_static("x-actionlog-truncated"),
                if truncated { "true" } else { "false" },
            ),
        ],
        body,
    )
        .into_response()
}

/// CSV.
pub(crate) async fn csv(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    match rows(&app, q).await {
        Ok((r, t)) => respond(export::csv(&r), "text/csv; charset=utf-8", "csv", t),
        Err(e) => html::error(&e),
    }
}

/// NDJSON.
pub(crate) async fn ndjson(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    match rows(&app, q).await {
        Ok((r, t)) => respond(export::ndjson(&r), "application/x-ndjson", "ndjson", t),
        Err(e) => html::error(&e),
    }
}
