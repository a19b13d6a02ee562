//! `/export/actions.csv` and `/export/actions.ndjson`: every action the view's filter selects
//! (the same query string as the page), newest first, at most [`MAX_ROWS`] rows (the header
//! `X-Actionlog-Row-Limit` says how many). CSV cells that a spreadsheet would run as a
//! formula are defused ([`crate::query::export::csv_field`]).
//!
//! An export is streamed: a page of [`PAGE`] rows is read when the client has taken the one
//! before, so an export holds one page in memory however large it is; and at most
//! [`crate::web::Dashboard::max_exports`] are sent at once (more get 503 with
//! `Retry-After`), each holding its permit until its body is done or dropped. The first page
//! is read before answering, so a bad filter or a failing store is an error page; a store
//! failing later cuts the body off, which the client sees as an incomplete download.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;

use crate::query::{Entity, Error, MAX_ROWS, Page, PageQuery, Rows, export};
use crate::web::{App, db, html, params};

/// Rows read per query, and sent per chunk.
const PAGE: usize = 1_000;
/// What a client over the cap is told to wait, in seconds.
const RETRY_AFTER: &str = "5";

/// The two formats.
#[derive(Clone, Copy)]
enum Format {
    Csv,
    Ndjson,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    fn disposition(self) -> &'static str {
        match self {
            Format::Csv => "attachment; filename=\"actions.csv\"",
            Format::Ndjson => "attachment; filename=\"actions.ndjson\"",
        }
    }

    /// `rows` as text, the CSV header record first when `first`.
    fn chunk(self, rows: &Rows, first: bool) -> String {
        match self {
            Format::Csv => {
                let mut out = String::new();
                if first {
                    let header: Vec<Value> = rows
                        .columns
                        .iter()
                        .map(|c| Value::from(c.as_str()))
                        .collect();
                    out.push_str(&export::csv_record(&header));
                    out.push_str("\r\n");
                }
                for r in &rows.rows {
                    out.push_str(&export::csv_record(r));
                    out.push_str("\r\n");
                }
                out
            }
            Format::Ndjson => export::ndjson(rows),
        }
    }
}

/// One page of the export.
async fn page(app: &Arc<App>, q: PageQuery) -> Result<Page, Error> {
    db::call(app, move |ctx| async move { ctx.store.actions(&q).await }).await
}

/// Where a streamed export stands: the query of the next page (or the page already read),
/// the rows sent so far, and the permit it holds.
struct Sending {
    app: Arc<App>,
    format: Format,
    query: PageQuery,
    ready: Option<Page>,
    sent: usize,
    first: bool,
    done: bool,
    _permit: OwnedSemaphorePermit,
}

/// The next chunk: one page, cut at the row cap.
async fn step(mut s: Sending) -> Option<(Result<String, Error>, Sending)> {
    if s.done {
        return None;
    }
    let page = match s.ready.take() {
        Some(p) => p,
        None => match page(&s.app, s.query.clone()).await {
            Ok(p) => p,
            Err(e) => {
                s.done = true;
                return Some((Err(e), s));
            }
        },
    };
    let mut rows = page.rows;
    rows.rows.truncate(MAX_ROWS - s.sent);
    s.sent += rows.rows.len();
    let chunk = s.format.chunk(&rows, s.first);
    s.first = false;
    match page.next {
        Some(c) if s.sent < MAX_ROWS => s.query.before = Some(c),
        _ => s.done = true,
    }
    Some((Ok(chunk), s))
}

async fn respond(app: Arc<App>, q: Option<String>, format: Format) -> Response {
    let Ok(permit) = Arc::clone(&app.exports).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, RETRY_AFTER),
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            ],
            "503: as many exports as allowed are being sent; retry shortly\n",
        )
            .into_response();
    };
    let view = match params::parse(Entity::Actions, q.as_deref(), Utc::now(), None) {
        Ok(v) => v,
        Err(e) => return html::error(&e),
    };
    let query = PageQuery {
        filter: view.filter,
        limit: PAGE,
        before: None,
    };
    let first = match page(&app, query.clone()).await {
        Ok(p) => p,
        Err(e) => return html::error(&e),
    };
    let sending = Sending {
        app,
        format,
        query,
        ready: Some(first),
        sent: 0,
        first: true,
        done: false,
        _permit: permit,
    };
    let mut r = (
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::CONTENT_DISPOSITION, format.disposition()),
        ],
        Body::from_stream(futures_util::stream::unfold(sending, step)),
    )
        .into_response();
    r.headers_mut().insert(
        header::HeaderName::from_static("x-actionlog-row-limit"),
        header::HeaderValue::from(MAX_ROWS),
    );
    r
}

/// CSV.
pub(crate) async fn csv(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    respond(app, q, Format::Csv).await
}

/// NDJSON.
pub(crate) async fn ndjson(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    respond(app, q, Format::Ndjson).await
}
