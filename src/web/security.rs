//! The layer in front of every route: only `GET` and `HEAD` (405 otherwise; the one `POST` is
//! the sign-in form), only the allowed `Host` names (403: a page of another site that rebinds
//! its name to 127.0.0.1 sends its own name), the token or a session when a token is set, and
//! the response headers that keep the pages inert: a CSP with no inline script, no framing,
//! no sniffing, no referrer, no caching.
//!
//! With a token, a request passes with `Authorization: Bearer TOKEN` (scripts), or with the
//! cookie of a session ([`super::session`]) a browser got by signing in: the sign-in form
//! (`POST /sign-in`), or a link carrying `?token=` once. Either answers with a redirect to
//! the page asked for — always a path of this dashboard ([`base::local`]) — and the session
//! cookie; `/sign-out` ends the session. The token is compared in constant time and never
//! put in a cookie.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::base;
use super::session::{Held, Sessions};

/// What the page may load: only the dashboard's own assets; no inline script or style, no
/// plugins, no framing, forms only to itself.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The cookie that carries a session.
const SESSION_COOKIE: &str = "actionlog_session";
/// The cookie older dashboards kept the token itself in: expired at every sign-in, so no
/// browser goes on sending the token to every service on the host.
const TOKEN_COOKIE: &str = "actionlog_token";
/// The largest sign-in form read, and how long its body may take to arrive.
const FORM_BYTES: usize = 4096;
const FORM_WITHIN: Duration = Duration::from_secs(10);

/// Allowed hosts, the token and the sessions opened with it.
pub(crate) struct Access {
    /// Empty: the loopback names on any port.
    hosts: Vec<String>,
    token: Option<String>,
    sessions: Arc<Sessions>,
    /// Session cookies are `Secure` even on a request that does not say it came over TLS.
    secure: bool,
}

impl Access {
    pub fn new(
        hosts: Vec<String>,
        token: Option<String>,
        session_lifetime: Duration,
        secure: bool,
    ) -> Self {
        Access {
            hosts,
            token,
            sessions: Arc::new(Sessions::new(session_lifetime)),
            secure,
        }
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

    fn token_ok(&self, given: &str) -> bool {
        match &self.token {
            None => true,
            Some(want) => bool::from(want.as_bytes().ct_eq(given.as_bytes())),
        }
    }

    /// The session cookie's attributes: scoped to the dashboard's paths (`/logs` matches
    /// `/logs/…`, not `/logsx`), out of reach of scripts, never sent with a request another
    /// site starts, and `Secure` when the request came over TLS (as a proxy in front says
    /// with `X-Forwarded-Proto` or `Forwarded`) or the setting says so.
    fn attributes(&self, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
        let tls = self.secure
            || uri.scheme_str() == Some("https")
            || headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
            || headers
                .get(header::FORWARDED)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
        format!(
            "HttpOnly; SameSite=Strict; Path={}{}",
            base::root(),
            if tls { "; Secure" } else { "" }
        )
    }

    /// Opens a session and sends the browser to `to` (made a path of the dashboard) with its
    /// cookie.
    fn open(&self, headers: &HeaderMap, uri: &axum::http::Uri, to: &str) -> Response {
        let Ok(value) = self.sessions.open(Instant::now()) else {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "503: no random bytes from the operating system to open a session with\n",
            );
        };
        let attrs = self.attributes(headers, uri);
        let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, base::local(to))]).into_response();
        let cookies = [
            format!(
                "{SESSION_COOKIE}={value}; Max-Age={}; {attrs}",
                self.sessions.lifetime().as_secs()
            ),
            format!("{TOKEN_COOKIE}=; Max-Age=0; {attrs}"),
        ];
        for c in cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        r
    }
}

/// Every value of cookie `name`: another service on the host name can set a cookie of the
/// same name beside ours, so each is looked at.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |c| c.trim().strip_prefix(name)?.strip_prefix('='))
}

/// The value of `key` in a query string or form body, decoded.
fn field(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .map(super::params::decode)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The sign-in page, which will send the browser back to `next` (a path with its query).
fn unauthorized(next: &str, wrong: bool) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        super::html::ok(super::html::sign_in(next, wrong)),
    )
        .into_response()
}

/// The page asked for, as the browser asked for it, without a `token=`.
fn asked(req: &Request) -> String {
    let rest: Vec<&str> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.starts_with("token=") && !kv.is_empty())
        .collect();
    let mut to = base::at(req.uri().path());
    if !rest.is_empty() {
        to.push('?');
        to.push_str(&rest.join("&"));
    }
    to
}

/// The middleware.
pub(crate) async fn check(State(g): State<Arc<Access>>, req: Request, next: Next) -> Response {
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

async fn gate(g: &Access, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let sign_in_form = g.token.is_some() && req.method() == Method::POST && path == "/sign-in";
    if !sign_in_form && req.method() != Method::GET && req.method() != Method::HEAD {
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
    if sign_in_form {
        return sign_in(g, req).await;
    }
    if path == "/sign-out" {
        for v in cookies(req.headers(), SESSION_COOKIE) {
            g.sessions.close(v);
        }
        let attrs = g.attributes(req.headers(), req.uri());
        let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, base::root())]).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Max-Age=0; {attrs}")) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return r;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(b) = bearer {
        if !g.token_ok(b) {
            return unauthorized(&asked(&req), true);
        }
        return next.run(req).await;
    }
    if let Some(t) = field(req.uri().query().unwrap_or(""), "token") {
        if !g.token_ok(&t) {
            return unauthorized(&asked(&req), true);
        }
        // The token leaves the URL (history, logs): the page is shown again without it.
        return g.open(req.headers(), req.uri(), &asked(&req));
    }
    let now = Instant::now();
    let session = cookies(req.headers(), SESSION_COOKIE)
        .find(|v| g.sessions.holds(v, now))
        .map(str::to_owned);
    let Some(value) = session else {
        return unauthorized(&asked(&req), false);
    };
    // The live stream ends when its session does.
    req.extensions_mut()
        .insert(Held::new(Arc::clone(&g.sessions), value));
    base::signed_in(next.run(req)).await
}

/// `POST /sign-in`: the form's `token`, and `next`, where to go then. Another site's page
/// could post this form too, but only with the token, which it would need to know.
async fn sign_in(g: &Access, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(FORM_WITHIN, axum::body::to_bytes(body, FORM_BYTES)).await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "413: a sign-in form is a token and a path\n",
            );
        }
        Err(_) => {
            return plain(
                StatusCode::REQUEST_TIMEOUT,
                "408: the form came too slowly\n",
            );
        }
    };
    let form = String::from_utf8_lossy(&body);
    let next = field(&form, "next").unwrap_or_default();
    match field(&form, "token") {
        Some(t) if g.token_ok(&t) => g.open(&parts.headers, &parts.uri, &next),
        _ => unauthorized(&base::local(&next), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_only_by_default() {
        let g = Access::new(Vec::new(), None, Duration::from_secs(1), false);
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
        let g = Access::new(
            vec!["10.0.0.5:7878".into()],
            None,
            Duration::from_secs(1),
            false,
        );
        assert!(g.host_ok("10.0.0.5:7878") && !g.host_ok("localhost:7878"));
    }
}
