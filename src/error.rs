//! Set-up errors. Only set-up can fail: once running, write and delivery failures are counted
//! and reported (see [`crate::Stats`]), never returned to or panicking the host app.

use std::io;
use std::path::PathBuf;

/// Why [`crate::init`] or a layer's `build` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log directory could not be created or is not a writable directory.
    #[error("cannot use log directory {path}: {source}")]
    LogDir {
        /// The directory as configured.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// Today's log file could not be opened for appending (e.g. permissions, or a symlink
    /// planted in its place, which is refused rather than followed).
    #[error("cannot open log file {path}: {source}")]
    LogFile {
        /// The day file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The JSON lines go to standard output and the process has none (its descriptor is
    /// closed).
    #[error("cannot write the log lines to standard output: {0}")]
    Stdout(#[source] io::Error),
    /// A global `tracing` subscriber is already installed (by an earlier `init` or by other code).
    #[error(
        "a global tracing subscriber is already installed; actionlog::init can run once per process"
    )]
    AlreadyInitialized,
    /// The filter directives (from the builder or `RUST_LOG`) do not parse.
    #[error("invalid log filter {directives:?}: {reason}")]
    Filter {
        /// The directives as given.
        directives: String,
        /// The parser's message.
        reason: String,
    },
    /// The action database could not be opened or prepared (its name never carries credentials).
    #[error("cannot use the action database {target}: {reason}")]
    Database {
        /// The database file, or the URL with any password removed.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// The same store was given twice (the same sink name and target, e.g. the default
    /// choice and [`crate::Builder::also_sink`] both naming one database): each record would
    /// be written to it by two pipelines. `store` is the sink's name and target, never a
    /// password.
    #[error(
        "the store {store} is given twice: each store may be given once (the default choice, `sink` or `also_sink`)"
    )]
    DuplicateStore {
        /// The store's kind and target, as `init` describes it.
        store: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// One named setting is invalid: an environment variable such as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, or a builder call such as `OtlpSinkBuilder::header`.
    /// The reason never repeats the value, which may hold a credential.
    #[error("invalid {setting}: {reason}")]
    Setting {
        /// The environment variable or builder call.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The background writer thread could not be spawned.
    #[error("cannot start the actionlog writer thread: {0}")]
    Thread(#[source] io::Error),
}
