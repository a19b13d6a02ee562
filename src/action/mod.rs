//! Action records: the `action_logs` row, built from spans and events by [`ActionLayer`].
//!
//! - A span that declares an `action_type` field is an *action*. It yields an `initiated` record
//!   when created (unless switched off) and its final record when it closes: `completed`, or
//!   `failed` when an ERROR event happened inside it, or a `status = "failed"` or `error` field
//!   was recorded on it. Both records share one UUID v7 id, so they are one row.
//! - An event with an `action_type` field is a one-shot action (status from its `status` field,
//!   default `completed`): a `log_action(...)` call is
//!   `info!(action_type = "data_collection_start", status = "initiated", ...)`.
//! - Fields named like the table's columns fill those columns; every other field goes into
//!   `action_details`. Column fields missing on the action are taken from the enclosing spans
//!   (innermost wins), so an action inside a job run carries the run's `job_id` and
//!   `job_execution_id`.

mod builder;
mod layer;

pub use builder::ActionLayerBuilder;
pub use layer::{ActionFilter, ActionLayer};
