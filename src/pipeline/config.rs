//! [`PipelineConfig`]: the delivery settings, each with its default, validated before the
//! worker starts.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::handle::Overflow;
use crate::redact::Redaction;

/// Default of [`PipelineConfig::block_timeout`]: 100 ms. Actions are recorded on the app's
/// request path, and the worker spills a filling channel to the spool while the sink is slow,
/// so a channel that stays full this long means a stuck worker, not a busy one.
pub const DEFAULT_ACTION_BLOCK_TIMEOUT: Duration = Duration::from_millis(100);

/// Default bound of the disk spool: 1 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;

/// Delivery settings for action records and job runs — and, given to
/// [`crate::Builder::ship_lines_with`], for the shipped log lines.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub(crate) capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) overflow: Overflow,
    pub(crate) block_timeout: Duration,
    pub(crate) retry_base: Duration,
    pub(crate) retry_cap: Duration,
    /// Backoff after a configuration failure (rejected key, missing table, bad password).
    pub(crate) config_retry_base: Duration,
    pub(crate) config_retry_cap: Duration,
    pub(crate) retry_budget: Option<Duration>,
    /// Where the spool and dead letters go unless set on their own.
    pub(crate) log_dir: PathBuf,
    pub(crate) dead_letter_dir: Option<PathBuf>,
    pub(crate) dead_letter_max_bytes: u64,
    pub(crate) spool_dir: Option<PathBuf>,
    pub(crate) spool: bool,
    pub(crate) spool_max_bytes: u64,
    /// Set by the action layer's builder, so rows and layer agree.
    pub(crate) redaction: Redaction,
    /// Signed digests over what the store takes, set by the builder.
    #[cfg(feature = "audit")]
    pub(crate) audit: Option<crate::audit::Audit>,
    /// Where the digest files go (default `<log_dir>/digests`).
    #[cfg(feature = "audit")]
    pub(crate) digest_dir: Option<PathBuf>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            capacity: 10_000,
            batch_size: 500,
            linger: Duration::from_millis(250),
            overflow: Overflow::default(),
            block_timeout: DEFAULT_ACTION_BLOCK_TIMEOUT,
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(30),
            config_retry_base: Duration::from_secs(1),
            config_retry_cap: Duration::from_secs(300),
            retry_budget: None,
            redaction: Redaction::default(),
            log_dir: PathBuf::from("logs"),
            dead_letter_dir: None,
            dead_letter_max_bytes: super::DEFAULT_DEAD_LETTER_MAX_BYTES,
            spool_dir: None,
            spool: true,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            #[cfg(feature = "audit")]
            audit: None,
            #[cfg(feature = "audit")]
            digest_dir: None,
        }
    }
}

impl PipelineConfig {
    /// Records queued for the delivery worker before [`Overflow`] applies (default 10 000).
    #[must_use]
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// Largest batch written in one statement (default 500).
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Longest a record waits for its batch to fill (default 250 ms).
    #[must_use]
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }

    /// What a full channel does (default [`Overflow::Block`]).
    #[must_use]
    pub fn overflow(mut self, o: Overflow) -> Self {
        self.overflow = o;
        self
    }

    /// How long [`Overflow::Block`] waits for room at most (default
    /// [`DEFAULT_ACTION_BLOCK_TIMEOUT`], 100 ms) before the record is dropped and counted.
    #[must_use]
    pub fn block_timeout(mut self, d: Duration) -> Self {
        self.block_timeout = d;
        self
    }

    /// Retry backoff: first wait about `base`, doubling up to `cap`, with jitter
    /// (defaults 100 ms and 30 s).
    #[must_use]
    pub fn retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.retry_base = base;
        self.retry_cap = cap;
        self
    }

    /// Retry backoff after a configuration failure — a rejected key (HTTP 401/403), a missing
    /// table (42P01, PGRST205), a wrong password (28P01): first wait about `base`, doubling up to
    /// `cap` (defaults 1 s and 5 min). Such a failure lasts until someone fixes the set-up, so
    /// retrying every 30 s would only fill the server's log; the first retries stay quick because
    /// a table another instance is creating appears within seconds. Meanwhile records go to the
    /// spool, and past its bound to the dead-letter file, never dropped while it has room.
    #[must_use]
    pub fn config_retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.config_retry_base = base;
        self.config_retry_cap = cap;
        self
    }

    /// How long one batch may keep failing transiently before it is given up and written to the
    /// dead-letter file with the last error (default: no budget, retry until shutdown). A budget
    /// keeps a long outage from holding the channel full; the dead-letter file keeps the records.
    #[must_use]
    pub fn retry_budget(mut self, d: Duration) -> Self {
        self.retry_budget = Some(d);
        self
    }

    /// Keeps records that could not be delivered by the shutdown deadline (or while the sink
    /// is slow or down) in this directory (see the spool module), for the next start to
    /// deliver first. Default `<log_dir>/spool`.
    #[must_use]
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self.spool = true;
        self
    }

    /// Turns the spool off: what cannot be delivered by the shutdown deadline goes to the
    /// dead-letter file, and a slow sink holds the channel (the overflow policy applies).
    #[must_use]
    pub fn no_spool(mut self) -> Self {
        self.spool = false;
        self
    }

    /// The spool directory in use, if any.
    pub(crate) fn spool_path(&self) -> Option<PathBuf> {
        self.spool.then(|| {
            self.spool_dir
                .clone()
                .unwrap_or_else(|| self.log_dir.join("spool"))
        })
    }

    /// These settings for a store added beside the first one: its spool and dead-letter
    /// directories, unless set here, are `<log_dir>/stores/<dir>/spool` and
    /// `<log_dir>/stores/<dir>/dead-letter`, `<dir>` from [`added_store_dir`].
    pub(crate) fn for_added_store(mut self, name: &str, target: &str) -> Self {
        let own = self
            .log_dir
            .join("stores")
            .join(added_store_dir(name, target));
        if self.spool_dir.is_none() {
            self.spool_dir = Some(own.join("spool"));
        }
        if self.dead_letter_dir.is_none() {
            self.dead_letter_dir = Some(own.join("dead-letter"));
        }
        #[cfg(feature = "audit")]
        if self.digest_dir.is_none() {
            self.digest_dir = Some(own.join("digests"));
        }
        self
    }

    /// These settings for the pipeline of the log lines to `name` at `target`: its spool and
    /// dead-letter directories, unless set here, are `<log_dir>/stores/<dir>-lines/spool` and
    /// `…/dead-letter`, `<dir>` from [`added_store_dir`] — apart from every store of records,
    /// the same one's included (an OTLP collector may take both).
    pub(crate) fn for_lines(mut self, name: &str, target: &str) -> Self {
        let own = self
            .log_dir
            .join("stores")
            .join(format!("{}-lines", added_store_dir(name, target)));
        #[cfg(feature = "audit")]
        {
            self.audit = None;
        }
        if self.spool_dir.is_none() {
            self.spool_dir = Some(own.join("spool"));
        }
        if self.dead_letter_dir.is_none() {
            self.dead_letter_dir = Some(own.join("dead-letter"));
        }
        self
    }

    /// The digest-file directory in use.
    #[cfg(feature = "audit")]
    pub(crate) fn digest_path(&self) -> PathBuf {
        self.digest_dir
            .clone()
            .unwrap_or_else(|| crate::audit::digest_dir(&self.log_dir))
    }

    /// The dead-letter directory in use.
    pub(crate) fn dead_letter_path(&self) -> PathBuf {
        self.dead_letter_dir
            .clone()
            .unwrap_or_else(|| self.log_dir.join("dead-letter"))
    }

    /// The most the spool may hold on disk (default [`DEFAULT_SPOOL_MAX_BYTES`], 1 GiB). At
    /// the bound spilling stops (reported once): new records wait in the channel and the
    /// overflow policy applies to them, every drop counted; see the spool module docs.
    #[must_use]
    pub fn spool_max_bytes(mut self, n: u64) -> Self {
        self.spool_max_bytes = n;
        self
    }

    /// Where rejected records go, as `YYYY-MM-DD.jsonl` files (default `<log_dir>/dead-letter`).
    #[must_use]
    pub fn dead_letter_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dead_letter_dir = Some(dir.into());
        self
    }

    /// The most the dead-letter files may hold (default [`super::DEFAULT_DEAD_LETTER_MAX_BYTES`],
    /// 1 GiB). Past it, records the database rejects are dropped and counted in
    /// `Stats::actions_dropped`, the bound reported once; actionlog never deletes dead letters.
    #[must_use]
    pub fn dead_letter_max_bytes(mut self, n: u64) -> Self {
        self.dead_letter_max_bytes = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.capacity == 0 {
            return Err(Error::Config(
                "the action queue capacity must be at least 1",
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1"));
        }
        if self.retry_base.is_zero() || self.retry_cap < self.retry_base {
            return Err(Error::Config("retry backoff needs 0 < base <= cap"));
        }
        if self.config_retry_base.is_zero() || self.config_retry_cap < self.config_retry_base {
            return Err(Error::Config(
                "configuration-failure backoff needs 0 < base <= cap",
            ));
        }
        Ok(())
    }
}

/// The directory of a store added beside the first, under `<log_dir>/stores/`: the sink's name
/// (letters, digits, `-` and `_` kept, anything else `_`, at most 32 bytes) and the CRC-32 of
/// its target in 8 hex digits, `postgres-1c291ca3`. Stable from one run to the next, so a
/// restart finds the spool the last run left for the same store; different for two databases
/// behind sinks of one kind; without a password, since targets never hold one.
pub(crate) fn added_store_dir(name: &str, target: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .take(32)
        .collect();
    let name = if name.is_empty() {
        "store".into()
    } else {
        name
    };
    format!("{name}-{:08x}", crc32fast::hash(target.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_store_directories_are_stable_and_tell_targets_apart() {
        let a = added_store_dir("postgres", "app@db table public.action_logs");
        assert_eq!(
            a,
            added_store_dir("postgres", "app@db table public.action_logs")
        );
        assert!(
            a.starts_with("postgres-") && a.len() == "postgres-".len() + 8,
            "{a}"
        );
        assert_ne!(
            a,
            added_store_dir("postgres", "app@db table audit.action_logs")
        );
        assert_eq!(added_store_dir("my sink/../x", ""), "my_sink____x-00000000");
        assert_eq!(added_store_dir("", ""), "store-00000000");
    }

    #[test]
    fn an_added_store_keeps_directories_set_for_it() {
        let c = PipelineConfig::default()
            .spool_dir("/elsewhere/spool")
            .for_added_store("postgres", "t");
        assert_eq!(c.spool_path(), Some(PathBuf::from("/elsewhere/spool")));
        assert_eq!(
            c.dead_letter_path(),
            PathBuf::from("logs/stores")
                .join(added_store_dir("postgres", "t"))
                .join("dead-letter")
        );
        let off = PipelineConfig::default()
            .no_spool()
            .for_added_store("x", "t");
        assert_eq!(off.spool_path(), None);
    }

    #[test]
    fn the_lines_directories_are_apart_from_the_same_stores_records() {
        let lines = PipelineConfig::default().for_lines("otlp", "http://c:4318/v1/logs");
        let records = PipelineConfig::default().for_added_store("otlp", "http://c:4318/v1/logs");
        let dir = format!("{}-lines", added_store_dir("otlp", "http://c:4318/v1/logs"));
        assert_eq!(
            lines.spool_path(),
            Some(PathBuf::from("logs/stores").join(&dir).join("spool"))
        );
        assert_eq!(
            lines.dead_letter_path(),
            PathBuf::from("logs/stores").join(&dir).join("dead-letter")
        );
        assert_ne!(lines.spool_path(), records.spool_path());
    }
}
