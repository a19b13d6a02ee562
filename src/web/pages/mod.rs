//! One file per page; each handler parses its query with [`super::params`], calls the store
//! through [`super::db`] and renders with [`super::html`].

pub(crate) mod actions;
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
