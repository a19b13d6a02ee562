//! The page frame and the small pieces every page uses: cells, status badges, times, errors.
//! Everything is maud markup: a `(value)` is always written as escaped text, and every page
//! goes out through [`ok`], which shows the characters that would act on the text around
//! them unseen ([`visible`]).

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
    #[cfg(feature = "alert")]
    ("/alerts", "Alerts"),
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
                        @if base::is_signed_in() {
                            a.sign-out href=(base::at("/sign-out")) { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// An HTML response, every invisible or reordering character in it made visible.
pub(crate) fn ok(m: Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        visible(&m.into_string()).into_owned(),
    )
        .into_response()
}

/// Whether `c` is shown as an escape: control characters but line feed and tab (C0, DEL,
/// C1), the bidirectional controls that reorder the text around them (the embeddings and
/// overrides U+202A–U+202E, the isolates U+2066–U+2069, the marks U+200E, U+200F, U+061C),
/// and the invisible format characters that could hide or split text (soft hyphen, zero
/// width space, word joiner and invisible operators, the line and paragraph separators,
/// U+180E, U+FEFF, interlinear annotations). The joiners U+200C and U+200D stay: scripts
/// and emoji sequences need them.
fn unseen(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// `s` with every character of [`unseen`] written as `\u{…}` (as the console and the
/// command write control characters), so a stored string can neither hide text nor make
/// the text around it read in another order.
pub(crate) fn visible(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(unseen) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unseen(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
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

/// The page a request without the token or a session gets: a form that signs in and then
/// goes to `next` (the page asked for); `wrong` when a token was given and was not this
/// dashboard's.
pub(crate) fn sign_in(next: &str, wrong: bool) -> Markup {
    frame(
        "Sign in",
        "",
        html! {
            @if wrong { p.error { "That is not this dashboard's token." } }
            p { "This dashboard needs its token (" code { "--token-file" } " or " code { "ACTIONLOG_TOKEN" } ")." }
            form method="post" action=(base::at("/sign-in")) {
                input type="hidden" name="next" value=(next);
                label { "Token " input type="password" name="token" autocomplete="current-password"; }
                button { "Sign in" }
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
