//! One file per page; each handler parses its query with [`super::params`], calls the store
//! through [`super::db`] and renders with [`super::html`].

pub(crate) mod actions;
pub(crate) mod alerts;
pub(crate) mod api;
pub(crate) mod export;
pub(crate) mod jobs;
pub(crate) mod overview;
pub(crate) mod runs;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{base, html};

/// Anything else.
pub(crate) async fn not_found() -> Response {
    let body = html::frame(
        "Not found",
        "",
        html! { p { "No such page. " a href=(base::at("/")) { "Overview" } } },
    );
    (StatusCode::NOT_FOUND, html::ok(body)).into_response()
}

/// A UUID-shaped id from the path (anything else is answered 404 without a query).
pub(crate) fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The `trace_id` cell of an action's or a run's page (its first row): the id, the actions
/// of that trace, and the trace viewer's link when one is configured. Every part is escaped
/// and the ids percent-encoded, whatever the store holds.
pub(crate) fn trace_cell(app: &super::App, rows: &crate::query::Rows) -> maud::Markup {
    let trace = html::text(rows.get(0, "trace_id"));
    let span = html::text(rows.get(0, "span_id"));
    let viewer = app.trace_url.as_ref().and_then(|u| u.link(&trace, &span));
    html! {
        code { (trace) }
        @if !trace.is_empty() {
            " "
            a.trace-actions href={ (base::prefix()) "/actions?trace_id=" (super::params::encode(&trace)) } { "its actions" }
        }
        @if let Some(link) = viewer {
            " "
            a.trace href=(link) rel="noopener noreferrer" target="_blank" { "open in the trace viewer" }
        }
    }
}
