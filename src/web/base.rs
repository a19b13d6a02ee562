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
    /// Whether the request came with a session: pages then offer to sign out.
    static SIGNED_IN: bool;
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

/// Runs `f` (the rest of a request) as signed in.
pub(crate) async fn signed_in<F: std::future::Future>(f: F) -> F::Output {
    SIGNED_IN.scope(true, f).await
}

/// Whether the request being answered is signed in (see [`signed_in`]).
pub(crate) fn is_signed_in() -> bool {
    SIGNED_IN.try_with(|s| *s).unwrap_or(false)
}

/// The dashboard's root as the browser asks for it: the prefix, or `/` at the root (the
/// path its cookie is scoped to).
pub(crate) fn root() -> String {
    local("")
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

/// `target` (a path with its query, as a browser asked for it or a form sent it back) as a
/// place to send the browser to: always a path of this dashboard, under its prefix, so a
/// redirect cannot take the browser to another site.
///
/// A browser reads `//host/…` and `/\host/…` (and those with tabs or newlines inside, which
/// it drops) as another host, `scheme:…` as an absolute URL, and `..` (also spelled `%2e`) as
/// a step out of the prefix: the path is cut at every `/` and `\`, empty and dot segments are
/// dropped, and every byte a URL may not hold raw is percent-encoded; a path that does not
/// start with the prefix becomes the prefix's root.
pub(crate) fn local(target: &str) -> String {
    let target = target.split('#').next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let clean = |p: &str| -> String {
        p.split(['/', '\\'])
            .filter(|s| !s.is_empty() && !is_dot(s))
            .map(|s| format!("/{}", url_bytes(s, b"")))
            .collect()
    };
    let prefix = clean(&prefix());
    let mut path = clean(path);
    if !(path == prefix || path.starts_with(&format!("{prefix}/"))) {
        path = prefix;
    }
    if path.is_empty() {
        path.push('/');
    }
    if !query.is_empty() {
        path.push('?');
        path.push_str(&url_bytes(query, b"/?"));
    }
    path
}

/// A segment a browser resolves as `.` or `..`.
fn is_dot(s: &str) -> bool {
    let s = s.to_ascii_lowercase().replace("%2e", ".");
    s == "." || s == ".."
}

/// `s` with every byte but the unreserved ones, `%` (an escape already made), the
/// sub-delimiters, `:`, `@` and `extra` percent-encoded.
fn url_bytes(s: &str, extra: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:@".contains(&b) || extra.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_redirect_stays_on_the_dashboard() {
        for (given, want) in [
            ("/actions", "/actions"),
            (
                "/actions?status=failed&q=a%20b",
                "/actions?status=failed&q=a%20b",
            ),
            ("/", "/"),
            ("", "/"),
            ("//other-host/path", "/other-host/path"),
            ("///other-host", "/other-host"),
            ("/\\other-host/x", "/other-host/x"),
            ("\\\\other-host", "/other-host"),
            ("https://x/y", "/https:/x/y"),
            ("/%2F%2Fother-host", "/%2F%2Fother-host"),
            ("/%5Cother-host", "/%5Cother-host"),
            ("/a/../../x", "/a/x"),
            ("/%2e%2E/x", "/x"),
            ("/a\tb/\n/c", "/a%09b/%0A/c"),
            ("/runs?q=<x>\"#frag", "/runs?q=%3Cx%3E%22"),
            ("/é", "/%C3%A9"),
        ] {
            assert_eq!(local(given), want, "{given:?}");
        }
    }

    #[test]
    fn under_a_prefix_it_stays_under_the_prefix() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(PREFIX.scope(Arc::from("/logs"), async {
            assert_eq!(local("/logs/actions?x=1"), "/logs/actions?x=1");
            assert_eq!(local("/logs"), "/logs");
            assert_eq!(local("/logs//evil"), "/logs/evil");
            assert_eq!(local("/logsx"), "/logs");
            assert_eq!(local("//evil/logs"), "/logs");
            assert_eq!(local("/logs/../x"), "/logs/x");
            assert_eq!(local("https://evil/logs/a"), "/logs");
        }));
    }
}
