//! # actionlog
//!
//! A complete structured-log pipeline for [`tracing`] in one line:
//!
//! ```no_run
//! fn main() -> Result<(), actionlog::Error> {
//!     let _guard = actionlog::init()?;
//!     tracing::info!(us_congress = true, lookback_days = 30, "Start Collection button clicked");
//!     Ok(())
//! }
//! ```
//!
//! That writes
//! - `logs/YYYY-MM-DD.log`: one JSON object per line,
//!   `{"timestamp":"2025-11-03T14:30:45.123456+01:00","level":"INFO","message":"Start Collection button clicked","logger":"tracker","metadata":{"us_congress":true,"lookback_days":30}}`,
//!   with `logs/latest.log` a symlink to today's file;
//! - to stderr, coloured when it is a terminal:
//!   `2025-11-03T14:30:45 INFO     [tracker] Start Collection button clicked {"us_congress": true, "lookback_days": 30}`.
//!
//! `metadata` holds the event's fields and those of every enclosing span (innermost wins).
//! Records from the `log` crate are captured too. In a container, `ACTIONLOG_STDOUT=json`
//! ([`STDOUT_ENV`]) sends the same lines to stdout instead, with no day files and no console;
//! [`Builder::span_close_lines`] adds a line with each span's times when it closes.
//!
//! Each output is also a plain [`Layer`](tracing_subscriber::Layer) to compose yourself:
//! [`FileLayer`] and [`ConsoleLayer`]. The day files alone — size caps, total bound, retention,
//! compression, `latest.log` — are a [`MakeWriter`](tracing_subscriber::fmt::MakeWriter) for
//! any formatter: [`RollingWriter`].
//!
//! ## Modules, in the order data flows
//! Dependencies point one way, down this list; nothing below the layers imports a layer, the
//! builder or the crate root.
//! - `builder`: the [`Builder`] (`build()` composes); `install`: `init()`, which also installs
//!   globally, with the panic hook, `signals`: SIGTERM/SIGINT, or the console's events on Windows, for an app that
//!   only called `init()`, and `at_exit`: what is queued when the process exits with the guard
//!   never dropped); `guard`: the
//!   [`Guard`] that holds the outputs' handles (`handle`) and sums their [`Stats`];
//! - the layers: `file` ([`FileLayer`], its writer thread, day files and their parts,
//!   retention, compression, and [`day_files`] to read them back), `console`
//!   ([`ConsoleLayer`]), `action` ([`ActionLayer`], [`ActionFilter`]) and [`job`]
//!   ([`JobLayer`], [`JobFilter`], [`job::run`]);
//! - `fields`: field capture shared by every layer — the visitor, value conversion, the
//!   capture settings ([`Redaction`], [`limits`]), each callsite's decisions, the one binary
//!   encoding of captured values, span tracking (the span hooks every line layer embeds),
//!   event capture; `format`: JSON escaping and numbers, timestamps, the file line's layout,
//!   the console line;
//! - `rows`: the owned rows ([`ActionRecord`], [`JobExecution`], and [`LogLine`], a line
//!   shipped as the day file holds it) and their encoding;
//! - `pipeline`: the bounded queue to the delivery worker, batching, retries, dead letters
//!   and the disk spool ([`PipelineConfig`]), one pipeline per store
//!   ([`Builder::also_sink`], [`StoreStats`]), and one for the shipped lines
//!   ([`Builder::ship_lines`]);
//! - [`sink`]: where rows and shipped lines go — SQLite (default), PostgreSQL, Supabase, an
//!   OpenTelemetry collector (OTLP/HTTP) — behind one small trait;
//! - at the bottom: `clock` ([`Clock`], [`Timezone`]), `per_thread` (the event path's
//!   per-thread caches and buffers, borrowed without a panic on re-entry or teardown), `fs` (0750/0640, `O_NOFOLLOW`, `flock`
//!   and their Windows counterparts: every platform difference of the file system), `error`,
//!   `report` (actionlog's own stderr lines), `store_env` (which database the environment
//!   names, for the write and the read side alike), `trace` (each span's W3C trace context:
//!   from OpenTelemetry, an inbound `traceparent`, or ids of its own).
//! - `query` (feature `query`): the read side, beside the stores — read-only queries over
//!   them, the filter grammar, the day files; the `actionlog` command (feature `cli`) is built
//!   on it. It reads the stores' tables, and the day files through `file`'s reader; it imports
//!   nothing else of the write path.
//! - `alert` (feature `alert`): rules over `query`'s reads, incidents kept in a state file of
//!   their own, and the webhook, Slack and command notifiers; `actionlog alert` runs it. It
//!   imports `query` and the ground (`clock`, `fs`, `redact`) only.
//! - `audit` (feature `audit`, on by default): tamper evidence — the canonical encoding of a
//!   stored row, signed digests chained per writer, Ed25519 keys, the digest files, and the
//!   verification's logic ([`audit::Check`]); the sinks store each write's digest in its
//!   transaction, and `query::verify_trail` reads a store back to check it (`actionlog
//!   verify`). It imports the rows and the ground (`fs`, `report`) only.
//! - `retention` (feature `retention`): old actions and job runs deleted in bounded batches,
//!   runs' captured logs trimmed, the rollups kept, and, in a signed store, the prune recorded
//!   in a signed digest first; `actionlog prune` runs it. It imports `query` (the store's
//!   choice, its sessions), `audit`, and the sinks (the SQLite schema's guarded delete
//!   triggers, and the store's sink for the prune digest).
//! - `web` (feature `web`): the dashboard — server-rendered pages, a live stream and exports
//!   over `query`, as an axum router and `actionlog serve`; it imports only `query` (and, with
//!   `alert`, `alert`'s state file to show what fires).
//!
//! ## The path of an event to its line
//! What `tracing::info!` goes through to reach its day file, in order (the file layer; the
//! console and a job run's logs lay out their line on the caller's thread instead, through
//! `fields/event.rs` and `format/console.rs`):
//! 1. `file/mod.rs`: [`FileLayer`]'s `on_event` stamps the event and takes its day;
//! 2. `file/record.rs`: captures its raw parts into a record (values copied or formatted
//!    once, not escaped, in `fields/values.rs`'s encoding; each callsite's decisions cached
//!    by `fields/callsite.rs`);
//! 3. `fields/spans.rs`: finds the flattened fields of the spans the event is in;
//! 4. `file/handoff.rs`: appends record and span fields to the thread's slot, within the
//!    bounds, or waits or drops by [`Overflow`];
//! 5. `file/writer.rs`, on the writer thread: takes every slot's records in rounds, in day
//!    order;
//! 6. `file/render.rs`: renders each record into its line (escaping, URL scrubbing, the record
//!    cap);
//! 7. `format/file.rs`: the line's layout, key by key (escaping in `format/json.rs`);
//! 8. `file/rolling.rs`: the day file (or its current part) the writer appends the lines to.
//!
//! When the lines are shipped ([`Builder::ship_lines`]), the writer also hands each line it
//! rendered in step 6 — with the day files off, for that alone — to a pipeline of its own:
//!
//! 9. `file/writer.rs` → `pipeline/queue.rs`: the line, as a [`LogLine`], on the bounded queue
//!    of lines (`LineSender`: the writer waits at most `block_timeout` once per stall);
//! 10. then as an action's steps 5 to 7 below, on that pipeline's worker: batched, retried,
//!     spooled or dead-lettered (`logs/stores/<name>-<hash>-lines/`);
//! 11. `sink/otlp/mapping.rs`: each line read into one OTLP log record (`line`), encoded by
//!     `sink/otlp/proto.rs` or `json.rs`, sent by `sink/otlp/mod.rs`.
//!
//! ## The path of an action to its row
//! One `info!(action_type = "order_paid", …)` (or an action span's close) reaches its
//! `action_logs` row through these files, the first two on the app's thread, the rest on the
//! delivery worker's:
//! 1. `action/layer.rs`: [`ActionFilter`] lets the callsite through (its field names, decided
//!    once) and [`ActionLayer`] captures the action's values through `fields`, the capture
//!    every layer shares, into a `CapturedAction` — no I/O, no row built yet;
//! 2. `pipeline/queue.rs`: the layers' `Submitter` puts it on the bounded queue (waiting at
//!    most [`PipelineConfig::block_timeout`]) — on each store's queue, when there are several;
//!    the worker's `Queue` takes it, and spills to the spool while the sink is slow;
//! 3. `rows/capture.rs`: when its batch closes, the capture becomes its row (the status rules,
//!    nested secrets scrubbed) —
//! 4. `rows/action.rs`: an [`ActionRecord`];
//! 5. `pipeline/batcher.rs`: the batch (size or linger) made a `Request`, the records of one
//!    action folded into one row;
//! 6. `pipeline/delivery.rs`: the driver's attempts, each ending delivered, retried after a
//!    pause, rejected (split down to the refused rows, dead-lettered) or given up (spooled or
//!    dead-lettered at shutdown);
//! 7. `sink/mod.rs`: the [`sink::Sink`] trait, the rows handed over as a shared
//!    [`sink::Batch`];
//! 8. `sink/sqlite/mod.rs` (or `postgres`, `supabase`): one idempotent upsert; or
//!    `sink/otlp/mod.rs`: one OTLP export request of log records.
//!
//! ## Guarantees
//! - Logging never panics or fails the app once `init` succeeded: write errors are counted in
//!   [`Stats`] and reported once on stderr, and the writer keeps retrying.
//! - The caller does no file I/O. Under [`Overflow::Block`] (default) nothing is lost and the
//!   caller waits only while the file hand-off is full; under [`Overflow::DropNewest`] it never waits and
//!   every drop is counted.
//! - User data cannot forge lines or drive a terminal: control characters are escaped in every
//!   output, and each file line is one valid JSON object.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]

mod action;
#[cfg(feature = "alert")]
pub mod alert;
mod at_exit;
#[cfg(feature = "audit")]
pub mod audit;
mod builder;
mod clock;
mod console;
#[cfg(any(feature = "alert", feature = "retention"))]
mod duration;
#[cfg(any(test, feature = "fuzzing"))]
mod dynamic;
mod error;
mod fields;
mod file;
mod format;
mod fs;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod handle;
mod install;
pub mod job;
mod layers;
pub mod limits;
mod log_filter;
mod panic_hook;
mod per_thread;
mod pipeline;
#[cfg(test)]
mod props;
#[cfg(feature = "query")]
pub mod query;
mod redact;
mod report;
#[cfg(feature = "retention")]
pub mod retention;
mod rows;
mod signals;
pub mod sink;
mod stats;
mod store_env;
mod trace;
#[cfg(feature = "web")]
pub mod web;

pub use action::{ActionFilter, ActionLayer, ActionLayerBuilder};
pub use builder::{Builder, DEFAULT_FILTER, STDOUT_ENV};
pub use clock::{Clock, ManualClock, SystemClock, Timezone};
pub use console::{ColorMode, ConsoleLayer, Stream};
pub use error::Error;
pub use file::read::{DayFile, DayLines, DayPart, ReadError, day_files};
pub use file::{
    DEFAULT_BLOCK_TIMEOUT, DEFAULT_FLUSH_DEADLINE, DEFAULT_QUEUE_CAPACITY, DEFAULT_QUEUE_MAX_BYTES,
    FileLayer, FileLayerBuilder, Overflow, RollingWriter, RollingWriterBuilder,
};
pub use guard::{Guard, Shutdown};
pub use job::{JobFilter, JobLayer};
pub use pipeline::{
    DEFAULT_ACTION_BLOCK_TIMEOUT, DEFAULT_DEAD_LETTER_MAX_BYTES, DEFAULT_SPOOL_MAX_BYTES,
    PipelineConfig,
};
pub use redact::{DEFAULT_DENY_LIST, REDACTED, Redaction};
pub use rows::{ActionRecord, FailureRule, JobExecution, LogLine, OPEN_STATUSES};
pub use stats::{Carries, Stats, StoreStats};

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Installs actionlog with every default: day files in `./logs`, console on stderr, filter from
/// `RUST_LOG` (default `info`), local-time days.
///
/// ```no_run
/// let _guard = actionlog::init()?;
/// tracing::info!("service started");
/// # Ok::<(), actionlog::Error>(())
/// ```
///
/// # Errors
/// See [`Builder::init`]; a second call returns [`Error::AlreadyInitialized`].
pub fn init() -> Result<Guard, Error> {
    builder().init()
}

/// Starts a [`Builder`] with the defaults of [`init`].
pub fn builder() -> Builder {
    Builder::default()
}
