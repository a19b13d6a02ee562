//! `/live`: new actions and day-file lines as they arrive, over server-sent events.
//!
//! Every event carries, as its id, the position after it: the last action shown (its
//! `(time, id)` cursor, the id percent-encoded: a stored id may hold any character, a line
//! break included, and an event id may not) and the day-file position (`DAY.PART.OFFSET`).
//! Event data is JSON, whose strings hold no raw line break; the text shown is made visible
//! as on every page ([`html::visible`]).
//!
//! The page opens the stream from the position it was rendered at, so nothing written
//! between the render and the connection is missed; after a dropped connection the browser
//! sends the last id it got (`Last-Event-ID`) and the stream goes on from exactly there.
//! Pausing is the page's: it keeps receiving and buffering, and shows the buffer on resume.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::{Value, json};

use super::daylines::{self, LogPos};
use super::session::Held;
use super::{App, base, db, html, params};
use crate::query::{Cursor, Entity, Error, Filter, PageQuery, Rows};

/// Actions fetched per query while catching up, and at most this many pages per poll.
const BATCH: usize = 500;
const PAGES: usize = 20;
/// Day-file lines per event at most.
const LINES: usize = 2_000;

/// Where a live stream stands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pos {
    action: Option<Cursor>,
    log: Option<LogPos>,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self
            .action
            .as_ref()
            .map(|c| format!("{}_{}", c.time, params::encode(&c.id)));
        let l = self.log.as_ref().map(|l| l.to_string());
        write!(
            f,
            "{}|{}",
            a.as_deref().unwrap_or("-"),
            l.as_deref().unwrap_or("-")
        )
    }
}

impl std::str::FromStr for Pos {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (a, l) = s.split_once('|').ok_or(())?;
        Ok(Pos {
            action: match a {
                "-" => None,
                a => {
                    let (time, id) = a.split_once('_').ok_or(())?;
                    chrono::DateTime::parse_from_rfc3339(time).map_err(|_| ())?;
                    Some(Cursor {
                        time: time.to_owned(),
                        id: params::decode(id),
                    })
                }
            },
            log: match l {
                "-" => None,
                l => Some(l.parse()?),
            },
        })
    }
}

/// The position of "now": the newest action and the end of the newest day file.
async fn current(app: &Arc<App>) -> Result<Pos, Error> {
    db::call(app, |app| async move {
        let page = app
            .store
            .actions(&PageQuery {
                filter: Filter::new(Entity::Actions),
                limit: 1,
                before: None,
            })
            .await?;
        let s = |c: &str| html::text(page.rows.get(0, c));
        let action = (!page.rows.rows.is_empty()).then(|| Cursor {
            time: s("action_timestamp"),
            id: s("id"),
        });
        Ok(Pos {
            action,
            log: daylines::end(&app.log_dir),
        })
    })
    .await
}

/// `/live`.
pub(crate) async fn page(State(app): State<Arc<App>>) -> Response {
    let pos = match current(&app).await {
        Ok(p) => p,
        Err(e) => return html::error(&e),
    };
    let recent = db::call(&app, |app| async move {
        Ok(app
            .store
            .actions(&PageQuery {
                filter: Filter::new(Entity::Actions),
                limit: 20,
                before: None,
            })
            .await?
            .rows)
    })
    .await
    .unwrap_or_default();
    let src = base::at(&format!(
        "/live/events?from={}",
        params::encode(&pos.to_string())
    ));
    html::ok(html::frame(
        "Live",
        "/live",
        html! {
            div #live data-events=(src) data-base=(base::prefix()) {
                p.controls {
                    button #pause type="button" { "Pause" }
                    " " span #live-state { "connecting…" }
                    " " span #buffered {}
                }
                noscript { p { "The live stream needs JavaScript; without it, reload this page to see new actions." } }
                h2 { "New actions" }
                table.rows.live {
                    thead { tr { th { "time" } th { "action" } th { "status" } th { "user" } th { "source" } th { "job" } th { "message" } } }
                    tbody #live-actions {}
                }
                h2 { "New log lines" }
                ol.logs #live-lines {}
            }
            h2 { "Before this page opened" }
            (super::pages::actions::table(&recent))
        },
    ))
}

/// What one poll found.
fn batch(actions: &Rows, lines: &[daylines::DayLine]) -> Value {
    let acts: Vec<Value> = (0..actions.rows.len())
        .rev()
        .map(|i| {
            let g = |c: &str| html::text(actions.get(i, c));
            // What the page shows, made visible; the id only goes into a link.
            let v = |c: &str| html::visible(&g(c)).into_owned();
            let e = v("error_message");
            let status = g("status");
            json!({
                "id": g("id"),
                "action_timestamp": v("action_timestamp"),
                "action_type": v("action_type"),
                "status": html::visible(&status),
                "status_class": html::status_class(&status),
                "user_id": v("user_id"),
                "source": v("source"),
                "job_id": v("job_id"),
                "message": if e.is_empty() { v("result_message") } else { e },
            })
        })
        .collect();
    let lines: Vec<Value> = lines
        .iter()
        .map(|l| {
            let class = match l.level.as_str() {
                "ERROR" => "l-error",
                "WARN" | "WARNING" => "l-warn",
                "INFO" => "l-info",
                "DEBUG" => "l-debug",
                _ => "l-other",
            };
            json!({ "text": html::visible(&l.shown()), "class": class })
        })
        .collect();
    json!({ "actions": acts, "lines": lines })
}

/// The actions after `after`, newest first (as the store pages them), and the new cursor.
async fn new_actions(app: &db::Ctx, after: &Option<Cursor>) -> Result<Rows, Error> {
    let mut f = Filter::new(Entity::Actions);
    if let Some(c) = after {
        f.since = chrono::DateTime::parse_from_rfc3339(&c.time)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc));
    }
    let mut q = PageQuery {
        filter: f,
        limit: BATCH,
        before: None,
    };
    let mut out = Rows::default();
    for _ in 0..PAGES {
        let page = app.store.actions(&q).await?;
        out.columns = page.rows.columns.clone();
        let newer = |i: usize| match after {
            None => true,
            Some(c) => {
                let t = html::text(page.rows.get(i, "action_timestamp"));
                let id = html::text(page.rows.get(i, "id"));
                (t.as_str(), id.as_str()) > (c.time.as_str(), c.id.as_str())
            }
        };
        let n = (0..page.rows.rows.len()).take_while(|&i| newer(i)).count();
        let all_newer = n == page.rows.rows.len();
        out.rows.extend(page.rows.rows.into_iter().take(n));
        match page.next {
            Some(c) if all_newer => q.before = Some(c),
            _ => break,
        }
    }
    Ok(out)
}

/// `/live/events`. A stream opened with a session ends when the session does.
pub(crate) async fn events(
    State(app): State<Arc<App>>,
    session: Option<Extension<Held>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let session = session.map(|Extension(h)| h);
    let Ok(permit) = Arc::clone(&app.streams).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live streams open\n",
        )
            .into_response();
    };
    let given = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            q.as_deref()?
                .split('&')
                .find_map(|kv| kv.strip_prefix("from="))
                .map(params::decode)
        });
    let pos = match given.and_then(|g| g.parse::<Pos>().ok()) {
        Some(p) => p,
        None => match current(&app).await {
            Ok(p) => p,
            Err(e) => return html::error(&e),
        },
    };
    let hello = Event::default()
        .event("ready")
        .id(pos.to_string())
        .retry(Duration::from_millis(1000))
        .data("{}");
    let state = (app, pos, permit, session);
    let polls = futures_util::stream::unfold(state, |(app, mut pos, permit, session)| async move {
        loop {
            tokio::time::sleep(app.poll).await;
            if session.as_ref().is_some_and(|s| !s.holds()) {
                return None;
            }
            let from = pos.clone();
            let found = db::call(&app, move |app| async move {
                let rows = new_actions(&app, &from.action).await?;
                let (lines, log) = daylines::after(&app.log_dir, from.log.as_ref(), LINES);
                Ok((rows, lines, log))
            })
            .await;
            // A failed poll is retried at the next tick; the position has not moved.
            let Ok((rows, lines, log)) = found else {
                continue;
            };
            if rows.rows.is_empty() && lines.is_empty() {
                pos.log = log.or(pos.log);
                continue;
            }
            if !rows.rows.is_empty() {
                let s = |c: &str| html::text(rows.get(0, c));
                pos.action = Some(Cursor {
                    time: s("action_timestamp"),
                    id: s("id"),
                });
            }
            pos.log = log.or(pos.log);
            let ev = Event::default()
                .event("batch")
                .id(pos.to_string())
                .data(batch(&rows, &lines).to_string());
            return Some((Ok::<_, Infallible>(ev), (app, pos, permit, session)));
        }
    });
    let stream = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, Infallible>(hello) }),
        polls,
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        for s in [
            "-|-",
            "2026-11-03T10:00:00.000001Z_00000000-0000-7000-8000-000000000001|2026-11-03.0.123",
            "-|2026-11-03.2.0",
        ] {
            assert_eq!(s.parse::<Pos>().unwrap().to_string(), s);
        }
        assert!("x|y".parse::<Pos>().is_err());
        // Any stored id: written without a line break or a `|`, read back as it was.
        let odd = Pos {
            action: Some(Cursor {
                time: "2026-11-03T10:00:00.000001Z".into(),
                id: "a\nb|c_d\r%\u{202e}".into(),
            }),
            log: None,
        };
        let s = odd.to_string();
        assert!(!s.contains(['\n', '\r']), "{s}");
        assert_eq!(s.parse::<Pos>(), Ok(odd));
    }
}
