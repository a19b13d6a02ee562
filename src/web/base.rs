//! The path the dashboard is mounted under, so that it works nested in an application
//! (`Router::new().nest("/logs", actionlog::web::router(store))`) as well as at the root.
//!
//! A nested router sees its requests with the prefix stripped; axum keeps the path as it
//! arrived in [`OriginalUri`]. The difference of the two is the prefix (`""` at the root,
//! `/logs` nested). The outermost layer ([`scope`]) computes it once per request and keeps it
//! in a task-local for the request's handler, its templates and the security layer, which
//! write every link, form, asset, event-stream URL, redirect and cookie path with it ([`at`]).
//! Everything a request renders runs inside that request's task, so the task-local is there.

use std::sync::Arc;

use axum::extract::{OriginalUri, Request};
use axum::middleware::Next;
use axum::response::Response;

tokio::task_local! {
    static PREFIX: Arc<str>;
}

/// The prefix of `req`: its original path less the path the router was given.
fn of(req: &Request) -> String {
    let inner = req.uri().path();
    let Some(OriginalUri(orig)) = req.extensions().get::<OriginalUri>() else {
        return String::new();
    };
    let orig = orig.path();
    match orig.strip_suffix(inner) {
        Some(p) => p.trim_end_matches('/').to_owned(),
        // `/logs` nested is the router's `/`.
        None if inner == "/" => orig.trim_end_matches('/').to_owned(),
        None => String::new(),
    }
}

/// The middleware: runs the rest of the request with its prefix known.
pub(crate) async fn scope(req: Request, next: Next) -> Response {
    let p: Arc<str> = of(&req).into();
    PREFIX.scope(p, next.run(req)).await
}

/// The prefix of the request being answered (`""` at the root or outside a request).
pub(crate) fn prefix() -> String {
    PREFIX.try_with(|p| p.to_string()).unwrap_or_default()
}

/// `path` (absolute within the dashboard, `/actions`) as the browser must ask for it. The
/// root nested is the prefix itself (`/logs`, `/logs?since=1d`): axum's `nest` routes `/logs`
/// to the dashboard's `/`, but not `/logs/`.
pub(crate) fn at(path: &str) -> String {
    let p = prefix();
    match path.strip_prefix('/') {
        Some(rest) if !p.is_empty() && (rest.is_empty() || rest.starts_with('?')) => {
            format!("{p}{rest}")
        }
        _ => format!("{p}{path}"),
    }
}
