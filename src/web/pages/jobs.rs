//! `/jobs`: `scheduled_jobs_status` with overdue and failed-max-retries badges and the time to
//! the next run, `job_execution_summary`, and per-job success rate with p50/p95 duration over
//! the chosen range; each job links to its runs.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::Utc;
use maud::html;

use crate::query::{Entity, Jobs, Stats};
use crate::web::params::{self, bounded_range, with_range};
use crate::web::{App, base, db, html};

/// `/jobs`.
pub(crate) async fn page(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    let now = Utc::now();
    let view = match params::parse(Entity::Actions, q.as_deref(), now, Some("7d")) {
        Ok(v) => v,
        Err(e) => return html::error(&e),
    };
    let (since, until) = match bounded_range(&view.filter, now) {
        Ok(r) => r,
        Err(e) => return html::error(&e),
    };
    let range = with_range(&crate::query::Filter::new(Entity::Runs), since, until);
    let data = db::call(&app, move |app| async move {
        let jobs: Jobs = app.store.jobs(false).await?;
        let stats: Stats = app.store.stats(&range).await?;
        Ok((jobs, stats))
    })
    .await;
    let (jobs, stats) = match data {
        Ok(d) => d,
        Err(e) => return html::error(&e),
    };
    let rates = stats
        .sections
        .iter()
        .find(|(n, _)| *n == "job_success_rate")
        .map(|(_, r)| r.clone())
        .unwrap_or_default();
    let st = &jobs.status;
    let sm = &jobs.summary;
    let link = |job: &str| html! { a.job href={ (base::prefix()) "/runs?job_id=" (params::encode(job)) } { (job) } };
    html::ok(html::frame(
        "Jobs",
        "/jobs",
        html! {
            h2 { "Scheduled jobs" }
            @if st.rows.is_empty() { p.muted { "No scheduled jobs." } } @else {
                table.rows.status {
                    tr { th { "job" } th { "name" } th { "schedule" } th { "enabled" } th { "status" } th { "next run" } th { "failures" } th { "last run" } th { "last error" } }
                    @for i in 0..st.rows.len() {
                        @let g = |c: &str| st.get(i, c);
                        @let status = html::text(g("job_status"));
                        @let next = html::text(g("next_scheduled_run"));
                        tr {
                            td { (link(&html::text(g("job_id")))) }
                            td { (html::text(g("job_name"))) }
                            td { (html::text(g("schedule_type"))) " " code { (html::text(g("schedule_value"))) } }
                            td { (html::text(g("enabled"))) }
                            td { (html::badge(&status)) }
                            td { @if !next.is_empty() { (html::relative(&next, now)) " " } (html::time(g("next_scheduled_run"))) }
                            td.num { (html::text(g("consecutive_failures"))) " / " (html::text(g("max_consecutive_failures"))) }
                            td { (html::badge(&html::text(g("last_execution_status")))) " " (html::time(g("last_execution_started_at"))) }
                            td.msg { (html::cut(&html::text(g("last_execution_error")), 120)) }
                        }
                    }
                }
            }
            h2 { "Execution summary (all time)" }
            table.rows.summary {
                tr { th { "job" } th { "runs" } th { "succeeded" } th { "failed" } th { "cancelled" } th { "success rate" } th { "mean duration" } th { "last run" } }
                @for i in 0..sm.rows.len() {
                    @let g = |c: &str| sm.get(i, c);
                    tr {
                        td { (link(&html::text(g("job_id")))) }
                        td.num { (html::text(g("total_executions"))) }
                        td.num { (html::text(g("successful_executions"))) }
                        td.num { (html::text(g("failed_executions"))) }
                        td.num { (html::text(g("cancelled_executions"))) }
                        td.num { (html::text(g("success_rate"))) " %" }
                        td.num { (html::seconds(g("avg_duration_seconds"))) }
                        td { (html::time(g("last_execution"))) }
                    }
                }
            }
            h2 { "Over the range" }
            form.filters method="get" action=(base::at("/jobs")) {
                label { "since " input type="text" name="since" value=(params::time(&since)); }
                label { "until " input type="text" name="until" value=(params::time(&until)); }
                button { "Show" }
            }
            table.rows.rates {
                tr { th { "job" } th { "runs" } th { "succeeded" } th { "success rate" } th { "p50" } th { "p95" } }
                @for i in 0..rates.rows.len() {
                    @let g = |c: &str| rates.get(i, c);
                    tr {
                        td { (link(&html::text(g("job_id")))) }
                        td.num { (html::text(g("total"))) }
                        td.num { (html::text(g("successes"))) }
                        td.num { (html::text(g("success_rate"))) " %" }
                        td.num { (html::seconds(g("p50_seconds"))) }
                        td.num { (html::seconds(g("p95_seconds"))) }
                    }
                }
            }
        },
    ))
}
