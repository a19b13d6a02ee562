//! Alerts (cargo feature `alert`): rules evaluated against the store on an interval, their
//! incidents notified when they start, again while they last, and when they resolve — to a
//! JSON webhook, a Slack incoming webhook or a command. The job tables already know when
//! something is wrong; this tells someone. `actionlog alert` runs it as a watcher of its own
//! (a process cannot report its own death, so the dead man's switch — no new action or run
//! for too long — belongs outside the application); [`Engine`] is the same in-process.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use actionlog::alert::{Config, Engine};
//! use actionlog::query::Target;
//! let mut engine = Engine::builder(Target::Sqlite("logs/actions.db".into()))
//!     .config(Config::parse("[[notify]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9000/hook\"\n")?)
//!     .log_dir("logs")
//!     .build()?;
//! let report = engine.pass().await?;
//! println!("{} firing, {} notifications waiting", report.firing.len(), report.pending);
//! # Ok(()) }
//! ```
//!
//! Guarantees:
//! - **Read-only on the store**: every read is one of [`crate::query::Store`]'s (SQLite
//!   read-only, PostgreSQL in read-only transactions, Supabase by `GET`), values bound,
//!   rows and time bounded. Aggregates come from the rollups where the store has them, so a
//!   pass over a million actions reads a few hundred rows.
//! - **Once each**: one notification when an incident starts, one when it resolves, repeats
//!   at the rule's interval while it lasts; the state file ([`State`], written atomically,
//!   owner-only, never through a link) keeps incidents and undelivered notifications across
//!   restarts, so a restart notifies nothing twice, and a notifier that is down gets what it
//!   missed on a later pass. One engine holds a state file at a time.
//! - **Bounded**: each delivery is tried a few times within a deadline per notifier and pass
//!   ([`Settings`]); at most [`Settings::max_notifications`] per [`Settings::per`], the rest
//!   counted and said.
//! - **No secrets out**: webhook URLs are shown as their scheme, host and port only — in
//!   errors, reports, `Debug`, the state file and the dashboard.
//! - **One clock**: every time the rules and incidents use comes from the engine's
//!   [`crate::Clock`] (the waits between tries are durations of the wall clock).

mod config;
mod engine;
mod notify;
mod observe;
mod rules;
mod state;

pub use config::{Config, ConfigError, Settings};
pub use engine::{DeliveryFailure, Engine, EngineBuilder, Error, PassReport};
pub use notify::{InvalidNotifier, Notifier};
pub use rules::{
    DEFAULT_REPEAT, Finding, Params, Rule, RuleKind, SilenceOf, default_rules, format_duration,
    parse_duration,
};
pub use state::{Incident, MAX_STATE_BYTES, Pending, State, StateError, Throttle};

/// The Slack message made from a notification's payload (what a Slack notifier sends), for
/// an application that posts it itself.
pub fn slack_message(payload: &serde_json::Value) -> serde_json::Value {
    notify::slack_body(payload)
}
