//! Job executions: the `job_executions` row, built from job-execution spans by
//! [`JobLayer`], with the run's log lines captured into its `logs` column.
//!
//! The convention:
//! - A span named `job_execution` with a `job_id` field is one run of that job. When it closes it
//!   yields one `job_executions` row: `success`, or `failed` when an ERROR event happened inside it
//!   (its `error` field or message becomes `error_message`), an `error` field was recorded on it
//!   or its `status` field says `failed`; `cancelled` when the run was dropped before it finished
//!   (see [`run`]) or `status = "cancelled"` was recorded. A run a panic unwound out of is
//!   `failed` with the error `panicked` (with actionlog's panic hook, the panic's own ERROR
//!   event comes first and gives the message).
//! - Every event inside the run that the log filter lets through is kept in `logs`, one plain
//!   console-format line each (no colour codes), up to [`DEFAULT_MAX_JOB_LOG_BYTES`] (configurable),
//!   then a `…[truncated N bytes]` marker.
//! - The run's id (a UUID v7) is given to everything inside it: an action span or event inside
//!   the run gets it as `job_execution_id` (and the run's `job_id`).
//! - The span's other fields are the row's `metadata`. A `next_scheduled_run` field (RFC 3339)
//!   is kept there normalised, and tells the `scheduled_jobs` upkeep when the job runs next.
//!
//! Rows go through the same bounded channel, batching, retries, spool and dead-letter file as
//! action records, and are counted in the same [`crate::Stats`] counters. Writes are idempotent:
//! a run is written once, at close, and a replayed row is ignored.
//!
//! The `scheduled_jobs` upkeep (sinks' `scheduled_jobs(true)`, [`crate::Builder::scheduled_jobs`])
//! derives, for jobs that have a `scheduled_jobs` row, `last_attempted_run`,
//! `last_successful_run` and `consecutive_failures` (failed runs since the last success) from
//! `job_executions`, and `next_scheduled_run` from the newest run that supplied one. Derived
//! rather than incremented, so replays and retries cannot count a run twice.

mod filter;
mod layer;
mod run;

pub use crate::rows::JobExecution;
pub use filter::JobFilter;
pub use layer::JobLayer;
pub(crate) use run::{RunId, is_job_span, run_id};
pub use run::{SPAN_NAME, run, try_run};

/// Default cap on a run's captured `logs` (256 KiB).
pub const DEFAULT_MAX_JOB_LOG_BYTES: usize = 256 * 1024;
