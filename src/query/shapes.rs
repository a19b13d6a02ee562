//! The columns of each answer, in order, for a backend that receives rows as JSON objects
//! (Supabase): the same names and order the SQL of `sql.rs` selects.

use super::Entity;

/// The columns of a page of actions or runs, with the trace ids when the table has them.
pub(crate) fn columns(e: Entity, trace: bool) -> Vec<&'static str> {
    let mut cols = page_columns(e).to_vec();
    if trace {
        cols.extend(Entity::TRACE_COLUMNS);
    }
    cols
}

fn page_columns(e: Entity) -> &'static [&'static str] {
    match e {
        Entity::Actions => &[
            "id",
            "action_timestamp",
            "action_type",
            "status",
            "user_id",
            "source",
            "job_id",
            "job_execution_id",
            "result_message",
            "error_message",
            "request_duration_seconds",
            "ip_address",
            "user_agent",
            "action_details",
        ],
        Entity::Runs => &[
            "id",
            "started_at",
            "job_id",
            "status",
            "completed_at",
            "duration_seconds",
            "error_message",
            "metadata",
        ],
    }
}

/// `scheduled_jobs_status`, as `jobs` shows it.
pub(crate) const STATUS_COLUMNS: &[&str] = &[
    "job_id",
    "job_name",
    "schedule_type",
    "schedule_value",
    "enabled",
    "job_status",
    "last_successful_run",
    "last_attempted_run",
    "next_scheduled_run",
    "consecutive_failures",
    "max_consecutive_failures",
    "last_execution_status",
    "last_execution_started_at",
    "last_execution_error",
];
/// `job_execution_summary`, as `jobs` shows it.
pub(crate) const SUMMARY_COLUMNS: &[&str] = &[
    "job_id",
    "total_executions",
    "successful_executions",
    "failed_executions",
    "cancelled_executions",
    "success_rate",
    "avg_duration_seconds",
    "last_execution",
];
/// Each stats section and its columns.
pub(crate) const STATS_COLUMNS: &[(&str, &[&str])] = &[
    (
        "actions_by_type_status",
        &["action_type", "status", "count"],
    ),
    (
        "user_activity",
        &["user_id", "action_count", "unique_actions"],
    ),
    (
        "failed_actions",
        &[
            "id",
            "action_timestamp",
            "action_type",
            "user_id",
            "job_id",
            "error_message",
        ],
    ),
    (
        "job_success_rate",
        &[
            "job_id",
            "total",
            "successes",
            "success_rate",
            "p50_seconds",
            "p95_seconds",
        ],
    ),
    (
        "action_durations",
        &["action_type", "timed", "p50_seconds", "p95_seconds"],
    ),
];
