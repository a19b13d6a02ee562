//! The layer in front of every route: only `GET` and `HEAD` (405 otherwise), only the
//! allowed `Host` names (403: a page of another site that rebinds its name to 127.0.0.1 sends
//! its own name), the token when one is set (constant-time compare, then a cookie), and the
//! response headers that keep the pages inert: a CSP with no inline script, no framing, no
//! sniffing, no referrer, no caching.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// What the page may load: only the dashboard's own assets; no inline script or style, no
/// plugins, no framing, forms only to itself.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The cookie that carries the token after a `?token=` sign-in.
const COOKIE: &str = "actionlog_token";

/// Allowed hosts and the token.
pub(crate) struct Guard {
    /// Empty: the loopback names on any port.
    hosts: Vec<String>,
    token: Option<String>,
}

impl Guard {
    pub fn new(hosts: Vec<String>, token: Option<String>) -> Self {
        Guard { hosts, token }
    }

    fn host_ok(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if self.hosts.is_empty() {
            let name = match host.strip_prefix('[') {
                Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
                None => host.split(':').next().map(str::to_owned),
            };
            return matches!(name.as_deref(), Some("localhost" | "127.0.0.1" | "[::1]"));
        }
        self.hosts.iter().any(|h| h == "*" || *h == host)
    }

    /// The token presented: bearer header, cookie, or `token=` in the query.
    fn presented(headers: &HeaderMap, query: Option<&str>) -> (Option<String>, bool) {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        if bearer.is_some() {
            return (bearer, false);
        }
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
            .map(super::params::decode)
            .next();
        if cookie.is_some() {
            return (cookie, false);
        }
        let from_query = query
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(super::params::decode);
        (from_query.clone(), from_query.is_some())
    }

    fn token_ok(&self, given: Option<&str>) -> bool {
        match (&self.token, given) {
            (None, _) => true,
            (Some(want), Some(got)) => bool::from(want.as_bytes().ct_eq(got.as_bytes())),
            (Some(_), None) => false,
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The middleware.
pub(crate) async fn check(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let mut resp = gate(&g, req, next).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn gate(g: &Guard, req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "405: the dashboard is read-only (GET and HEAD only)\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    if !g.host_ok(host) {
        return plain(
            StatusCode::FORBIDDEN,
            "403: this Host is not the dashboard's (open it by the address it listens on)\n",
        );
    }
    if g.token.is_none() {
        return next.run(req).await;
    }
    let (given, from_query) = Guard::presented(req.headers(), req.uri().query());
    if !g.token_ok(given.as_deref()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            super::html::sign_in().into_string(),
        )
            .into_response();
    }
    if from_query {
        // Move the token from the URL (history, logs) into a cookie and show the page
        // without it.
        let rest: Vec<&str> = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.starts_with("token=") && !kv.is_empty())
            .collect();
        // The path as the browser sent it (the prefix included when nested).
        let mut to = super::base::at(req.uri().path());
        if !rest.is_empty() {
            to.push('?');
            to.push_str(&rest.join("&"));
        }
        // Sent to the dashboard's paths only (`/logs` matches `/logs/…`, not `/logsx`).
        let path = super::base::prefix();
        let cookie = format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path={}",
            super::params::encode(&given.unwrap_or_default()),
            if path.is_empty() { "/" } else { &path }
        );
        let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return r;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_only_by_default() {
        let g = Guard::new(Vec::new(), None);
        for ok in ["localhost:7878", "127.0.0.1", "[::1]:80", "LOCALHOST"] {
            assert!(g.host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.example:7878",
            "127.0.0.1.evil.example",
            "",
            "localhost.evil",
        ] {
            assert!(!g.host_ok(bad), "{bad}");
        }
        let g = Guard::new(vec!["10.0.0.5:7878".into()], None);
        assert!(g.host_ok("10.0.0.5:7878") && !g.host_ok("localhost:7878"));
    }
}
