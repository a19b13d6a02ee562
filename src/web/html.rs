//! The page frame and the small pieces every page uses: cells, status badges, times, errors.
//! Everything is maud markup: a `(value)` is always written as escaped text.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::base;
use crate::query::export::cell_text;

/// The navigation tabs, by path.
const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/actions", "Actions"),
    ("/jobs", "Jobs"),
    ("/runs", "Runs"),
    ("/live", "Live"),
];

/// A whole page.
pub(crate) fn frame(title: &str, active: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · actionlog" }
                link rel="stylesheet" href=(base::at("/assets/app.css"));
                script src=(base::at("/assets/app.js")) defer {}
            }
            body {
                header {
                    strong { "actionlog" }
                    nav {
                        @for (href, name) in NAV {
                            a href=(base::at(href)) class=[(*href == active).then_some("active")] { (name) }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// An HTML response.
pub(crate) fn ok(m: Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// An error page: 400 for bad input, 502 when the store failed.
pub(crate) fn error(e: &crate::query::Error) -> Response {
    let status = if matches!(e, crate::query::Error::BadFilter(_)) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::BAD_GATEWAY
    };
    let body = frame(
        "Error",
        "",
        html! { p.error { (e.to_string()) } p { a href=(base::at("/")) { "Back to the overview" } } },
    );
    (status, ok(body)).into_response()
}

/// The page a request without the token gets.
pub(crate) fn sign_in() -> Markup {
    frame(
        "Sign in",
        "",
        html! {
            p { "This dashboard needs its token (" code { "--token-file" } " or " code { "ACTIONLOG_TOKEN" } ")." }
            form method="get" {
                label { "Token " input type="password" name="token" autocomplete="off"; }
                button { "Open" }
            }
        },
    )
}

/// A cell's text: strings as they are, NULL empty, numbers and JSON as JSON.
pub(crate) fn text(v: Option<&Value>) -> String {
    v.map(cell_text).unwrap_or_default()
}

/// `s` cut to `n` characters, with an ellipsis.
pub(crate) fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

/// A status as a coloured badge (the class is one of a fixed set, never the raw value).
pub(crate) fn badge(status: &str) -> Markup {
    html! { span class={ "badge " (status_class(status)) } { (status) } }
}

/// The CSS class of a status.
pub(crate) fn status_class(status: &str) -> &'static str {
    match status {
        "success" | "completed" => "ok",
        "failed" | "failed_max_retries" => "bad",
        "overdue" | "cancelled" => "warn",
        "initiated" | "running" | "scheduled" | "active" => "info",
        _ => "other",
    }
}

/// A duration in seconds, short.
pub(crate) fn seconds(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Some(s) => format!("{s:.2} s"),
        None => String::new(),
    }
}

/// How long ago (or how far ahead) `t` is from `now`, short: `3m ago`, `in 2h`.
pub(crate) fn relative(t: &str, now: DateTime<Utc>) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(t) else {
        return String::new();
    };
    let d = now - t.with_timezone(&Utc);
    let (secs, past) = (d.num_seconds().abs(), d.num_seconds() >= 0);
    let span = match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    if past {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// A time as shown: `2026-11-03 10:20:30` (UTC, to the second), the full value as a tooltip.
pub(crate) fn time(v: Option<&Value>) -> Markup {
    let full = text(v);
    let short: String = full.chars().take(19).collect::<String>().replace('T', " ");
    html! { time datetime=(full) title=(full) { (short) } }
}

/// A JSON object laid out as a key/value table (nested values as JSON text).
pub(crate) fn details(v: Option<&Value>) -> Markup {
    match v {
        Some(Value::Object(m)) if !m.is_empty() => html! {
            table.kv {
                @for (k, v) in m {
                    tr { th { (k) } td { @match v {
                        Value::Object(_) => (details(Some(v))),
                        v => code { (cell_text(v)) },
                    } } }
                }
            }
        },
        Some(Value::Null) | None => html! { span.muted { "(none)" } },
        Some(v) => html! { code { (cell_text(v)) } },
    }
}
