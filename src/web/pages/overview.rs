//! `/`: the health banner, actions over time stacked by status (each bar a link that zooms
//! to its range: server-rendered SVG, so it works without JavaScript), success rates per
//! action type and per job, user activity, failures grouped by message, and the newest
//! actions of the range.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde_json::Value;

use crate::query::{Bucket, Entity, PageQuery, Rows, Stats, files};
use crate::web::params::{self, bounded_range, with_range};
use crate::web::{App, base, db, html};

/// At most this many bars.
pub(crate) const BARS: i64 = 60;
/// The range shown when the URL names none: what is happening now. (Wider ranges read the
/// rollups for their whole hours and days; a store without them scans the range's rows in
/// every aggregate: see BENCHMARKS.md.)
pub(crate) const DEFAULT_RANGE: &str = "1h";
/// Newest actions listed under the chart.
const RECENT: usize = 20;

struct Data {
    stats: Stats,
    /// These two are not available everywhere (over Supabase, only without conditions, and
    /// only with the functions of `migrations/0005_hourly_rollups.sql`): their error is shown
    /// in their place.
    histogram: Result<Rows, crate::query::Error>,
    failures: Result<Rows, crate::query::Error>,
    newest: Rows,
    recent: Rows,
    files: Rows,
    /// The alert watcher's state, if one has run.
    #[cfg(feature = "alert")]
    alerts: super::alerts::Loaded,
}

/// `/`.
pub(crate) async fn page(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    let now = Utc::now();
    let view = match params::parse(Entity::Actions, q.as_deref(), now, Some(DEFAULT_RANGE)) {
        Ok(v) => v,
        Err(e) => return html::error(&e),
    };
    let (since, until) = match bounded_range(&view.filter, now) {
        Ok(r) => r,
        Err(e) => return html::error(&e),
    };
    let filter = with_range(&view.filter, since, until);
    let bucket = Bucket::fit(until - since, BARS);
    let f = filter.clone();
    #[cfg(feature = "alert")]
    let alert_state = app.alert_state.clone();
    let data = db::call(&app, move |app| async move {
        let s = &app.store;
        let recent = PageQuery {
            filter: f.clone(),
            limit: RECENT,
            before: None,
        };
        // Together: PostgreSQL pipelines them on its one connection (fewer round trips; the
        // server still runs them one after another); SQLite answers each in turn.
        let (stats, histogram, failures, newest, recent) = tokio::join!(
            s.stats(&f),
            s.histogram(&f, bucket),
            s.failure_groups(&f),
            s.newest(),
            s.actions(&recent),
        );
        Ok(Data {
            stats: stats?,
            histogram,
            failures,
            newest: newest?,
            recent: recent?.rows,
            files: files::status(&app.log_dir),
            #[cfg(feature = "alert")]
            alerts: super::alerts::load(alert_state).await,
        })
    })
    .await;
    let data = match data {
        Ok(d) => d,
        Err(e) => return html::error(&e),
    };
    let qs = params::query_string(&filter);
    let section = |name: &str| {
        data.stats
            .sections
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    html::ok(html::frame(
        "Overview",
        "/",
        html! {
            (health(&data.newest, &data.files, now))
            (alerts_box(&data, now))
            form.filters method="get" action=(base::at("/")) {
                label { "since " input type="text" name="since" value=(params::time(&since)); }
                label { "until " input type="text" name="until" value=(params::time(&until)); }
                button { "Show" }
                @for r in ["1h", "6h", "1d", "7d", "30d"] { a.quick href={ (base::at("/")) "?since=" (r) } { (r) } }
            }
            h2 { "Actions over time" }
            @match &data.histogram {
                Ok(h) => (chart(h, &filter, bucket, since, until)),
                Err(e) => p.error { (e.to_string()) },
            }
            p.muted { a.json href={ (base::prefix()) "/api/histogram.json?" (qs) } { "The chart's data as JSON" } }
            div.grid {
                section { h2 { "Success rate by action type" } (by_type(&section("actions_by_type_status"), &qs)) }
                section { h2 { "Success rate by job" } (by_job(&section("job_success_rate"))) }
                section { h2 { "User activity" } (users(&section("user_activity"), &qs)) }
                section { h2 { "Failures by error message" } @match &data.failures {
                    Ok(r) => (failures(r, &qs)),
                    Err(e) => p.error { (e.to_string()) },
                } }
            }
            h2 { "Newest actions in this range" }
            (super::actions::table(&data.recent))
            p { a.all href={ (base::prefix()) "/actions?" (qs) } { "All actions in this range »" } }
        },
    ))
}

#[cfg(feature = "alert")]
fn alerts_box(data: &Data, now: DateTime<Utc>) -> Markup {
    super::alerts::firing_box(&data.alerts, now)
}

#[cfg(not(feature = "alert"))]
fn alerts_box(_: &Data, _: DateTime<Utc>) -> Markup {
    html! {}
}

fn health(newest: &Rows, files: &Rows, now: DateTime<Utc>) -> Markup {
    let find = |rows: &Rows, key: &str, col: &str| {
        (0..rows.rows.len())
            .find(|&i| rows.rows[i].first().and_then(Value::as_str) == Some(key))
            .and_then(|i| rows.get(i, col).cloned())
            .unwrap_or_default()
    };
    let age = |table: &str| match find(newest, table, "newest").as_str() {
        Some(t) => html::relative(t, now),
        None => "never".to_owned(),
    };
    let count = |kind: &str| find(files, kind, "records").as_u64().unwrap_or(0);
    let (spool, dead) = (count("spool_segments"), count("dead_letter_files"));
    let class = if dead > 0 {
        "health bad"
    } else if spool > 0 {
        "health warn"
    } else {
        "health ok"
    };
    html! {
        div class=(class) {
            span { "newest action: " strong.newest-action { (age("action_logs")) } }
            span { "newest run: " strong { (age("job_executions")) } }
            span { "spooled records: " strong.spool { (spool) } }
            span { "dead-lettered records: " strong.dead { (dead) } }
        }
    }
}

/// The stacked histogram as SVG: one link per non-empty bucket, to the same view over the
/// bucket's range.
fn chart(
    h: &Rows,
    f: &crate::query::Filter,
    b: Bucket,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Markup {
    let mut counts: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for i in 0..h.rows.len() {
        let bucket = html::text(h.get(i, "bucket"));
        let status = html::text(h.get(i, "status"));
        let n = h.get(i, "count").and_then(Value::as_i64).unwrap_or(0);
        counts.entry(bucket).or_default().push((status, n));
    }
    // Every bucket of the range, empty ones included, so time runs evenly along the axis.
    let mut names = Vec::new();
    let mut t = b.range(&params::time(&since)).map(|r| r.0);
    while let Some(start) = t.filter(|s| *s < until && names.len() < 2 * BARS as usize) {
        let name: String = params::time(&start).chars().take(b.prefix_len()).collect();
        t = b.range(&name).map(|r| r.1);
        names.push(name);
    }
    let max = counts
        .values()
        .map(|v| v.iter().map(|(_, n)| n).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, hgt) = (1000.0_f64, 200.0_f64);
    let bw = w / names.len().max(1) as f64;
    html! {
        @if counts.is_empty() { p.muted { "No actions in this range." } }
        svg.histogram viewBox={ "0 0 " (w) " " (hgt + 20.0) } role="img" aria-label="actions over time by status" {
            @for (i, name) in names.iter().enumerate() {
                @if let (Some(v), Some((s, e))) = (counts.get(name), b.range(name)) {
                    @let total: i64 = v.iter().map(|(_, n)| n).sum();
                    @let href = base::at(&format!("/?{}", params::query_string(&with_range(f, s, e))));
                    a.bar href=(href) data-count=(total) data-since=(params::time(&s)) data-until=(params::time(&e)) {
                        title { (name) ": " @for (st, n) in v { (st) " " (n) "; " } }
                        @let mut y = hgt;
                        @for (st, n) in v {
                            @let bh = *n as f64 / max as f64 * hgt;
                            @let top = { y -= bh; y };
                            rect class={ "s-" (html::status_class(st)) } x=(format!("{:.1}", i as f64 * bw + 1.0)) y=(format!("{top:.1}")) width=(format!("{:.1}", (bw - 2.0).max(1.0))) height=(format!("{bh:.1}")) {}
                        }
                    }
                }
            }
            text x="0" y=(hgt + 16.0) { (names.first().cloned().unwrap_or_default()) }
            text x=(w) y=(hgt + 16.0) text-anchor="end" { (names.last().cloned().unwrap_or_default()) }
        }
        p.legend { @for s in ["completed", "success", "failed", "initiated"] { (html::badge(s)) " " } }
    }
}

fn rate(ok: i64, total: i64) -> String {
    if total == 0 {
        String::new()
    } else {
        format!("{:.1} %", 100.0 * ok as f64 / total as f64)
    }
}

fn by_type(rows: &Rows, qs: &str) -> Markup {
    let mut t: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for i in 0..rows.rows.len() {
        let e = t.entry(html::text(rows.get(i, "action_type"))).or_default();
        let n = rows.get(i, "count").and_then(Value::as_i64).unwrap_or(0);
        e.0 += n;
        match html::text(rows.get(i, "status")).as_str() {
            "completed" | "success" => e.1 += n,
            "failed" => e.2 += n,
            _ => {}
        }
    }
    html! {
        table.rows { tr { th { "action type" } th { "total" } th { "failed" } th { "success rate" } }
            @for (ty, (total, ok, failed)) in &t {
                tr { td { a href={ (base::prefix()) "/actions?" (qs) "&action_type=" (params::encode(ty)) } { (ty) } }
                     td.num { (total) } td.num { (failed) } td.num { (rate(*ok, *total)) } }
            }
        }
    }
}

fn by_job(rows: &Rows) -> Markup {
    html! {
        table.rows { tr { th { "job" } th { "runs" } th { "success rate" } th { "p50" } th { "p95" } }
            @for i in 0..rows.rows.len() {
                @let job = html::text(rows.get(i, "job_id"));
                tr { td { a href={ (base::prefix()) "/runs?job_id=" (params::encode(&job)) } { (job) } }
                     td.num { (html::text(rows.get(i, "total"))) }
                     td.num { (html::text(rows.get(i, "success_rate"))) " %" }
                     td.num { (html::seconds(rows.get(i, "p50_seconds"))) }
                     td.num { (html::seconds(rows.get(i, "p95_seconds"))) } }
            }
        }
    }
}

fn users(rows: &Rows, qs: &str) -> Markup {
    html! {
        table.rows { tr { th { "user" } th { "actions" } th { "distinct types" } }
            @for i in 0..rows.rows.len().min(20) {
                @let user = html::text(rows.get(i, "user_id"));
                tr { td { @if user.is_empty() { span.muted { "(none)" } } @else {
                        a href={ (base::prefix()) "/actions?" (qs) "&user_id=" (params::encode(&user)) } { (user) } } }
                     td.num { (html::text(rows.get(i, "action_count"))) }
                     td.num { (html::text(rows.get(i, "unique_actions"))) } }
            }
        }
    }
}

fn failures(rows: &Rows, qs: &str) -> Markup {
    html! {
        @if rows.rows.is_empty() { p.muted { "No failures in this range." } }
        @else {
            table.rows.failures { tr { th { "error message" } th { "count" } th { "first seen" } th { "last seen" } }
                @for i in 0..rows.rows.len().min(50) {
                    @let msg = html::text(rows.get(i, "error_message"));
                    tr { td.msg { a href={ (base::prefix()) "/actions?" (qs) "&status=failed&error_message=" (params::encode(&msg)) } { (html::cut(&msg, 160)) } }
                         td.num { (html::text(rows.get(i, "count"))) }
                         td { (html::time(rows.get(i, "first_seen"))) }
                         td { (html::time(rows.get(i, "last_seen"))) } }
                }
            }
        }
    }
}
