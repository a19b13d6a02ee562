//! Tamper evidence: a chain of signed digests over what the stores hold, and its verification.
//!
//! # What is covered
//! - Every **final** action row (status other than `initiated` / `in_progress`) and every job
//!   run a store takes, as the store keeps it: each column except `created_at` and
//!   `updated_at` (the database's own bookkeeping). An action's open states are its normal life
//!   and are not covered; its final state is, from the transaction that writes it. A run's
//!   captured log is covered by a hash of its own, so trimming old logs (retention) leaves the
//!   rest of the run verifiable.
//! - Each transaction that writes covered rows also writes a **digest** in the same transaction:
//!   the writer's name, a sequence number, the time, the hash of the previous digest of the
//!   writer's chain, one entry per row (table, id, time, content hash) and the SHA-256 root of
//!   the entries, signed with the writer's Ed25519 key. While nothing is written a writer makes
//!   an *idle* digest every interval, and a *closing* one when it stops, so a chain that ends
//!   early is visible. Retention makes a *prune* digest naming its cutoffs.
//! - Each digest is kept twice: in the store's `audit_digests` table and, byte for byte, in a
//!   digest file per day under the log directory (`digests/digests-YYYY-MM-DD.jsonl`), which is
//!   the copy to ship elsewhere.
//!
//! # What is not
//! Rows from before the first digest, open action rows, the rollup tables, `scheduled_jobs`,
//! and the log lines in the day files. Anyone holding the signing key can write a chain of
//! their own: keep the key where only the writers read it, and the public key (all
//! verification needs) anywhere.
//!
//! ```
//! use actionlog::audit::SigningKey;
//! let key = SigningKey::generate()?;
//! let public_pem = key.public().to_pem()?;
//! assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
//! # Ok::<(), actionlog::audit::KeyError>(())
//! ```

mod canonical;
pub(crate) mod chain;
mod digest;
mod key;
mod verify;

pub use canonical::{Entry, Hash, Table};
pub use digest::{Digest, Kind, LineError, Pruned, Read, Sealed, read_line};
pub use key::{KEY_ENV, KEY_FILE_ENV, KeyError, KeyId, PublicKey, SigningKey};
pub use verify::{Check, Finding, MissingFrom, Options as VerifyOptions, Report, Severity, Source};

pub(crate) use canonical::{action_entry, run_entry};
pub use chain::Chain;

use std::path::PathBuf;
use std::time::Duration;

/// How often a writer makes a digest while nothing is written, by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// The directory of the digest files under a log directory.
#[must_use]
pub fn digest_dir(log_dir: &std::path::Path) -> PathBuf {
    log_dir.join("digests")
}

/// The audit settings of a pipeline: the signing key, the writer's name, the idle interval.
///
/// ```
/// let key = actionlog::audit::SigningKey::generate()?;
/// let audit = actionlog::audit::Audit::new(key).writer("web-1");
/// # let _ = audit;
/// # Ok::<(), actionlog::audit::KeyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Audit {
    pub(crate) key: SigningKey,
    pub(crate) writer: Option<String>,
    pub(crate) interval: Duration,
}

impl Audit {
    /// Digests signed with `key`, by a writer named after the host and a random suffix kept in
    /// the digest directory (see [`Self::writer`]), idle digests every [`DEFAULT_INTERVAL`].
    #[must_use]
    pub fn new(key: SigningKey) -> Audit {
        Audit {
            key,
            writer: None,
            interval: DEFAULT_INTERVAL,
        }
    }

    /// Audit settings from the environment ([`KEY_ENV`] or [`KEY_FILE_ENV`]); `None` when
    /// neither is set.
    ///
    /// # Errors
    /// [`KeyError`] naming the variable, never its value.
    pub fn from_env() -> Result<Option<Audit>, KeyError> {
        Ok(SigningKey::from_env()?.map(Audit::new))
    }

    /// The writer's name: one chain per name. Two instances writing to one store must have
    /// different names (the default does, being made once per log directory). At most 100
    /// characters.
    #[must_use]
    pub fn writer(mut self, name: impl Into<String>) -> Audit {
        self.writer = Some(name.into());
        self
    }

    /// How often an idle digest is made while nothing is written (at least a second).
    #[must_use]
    pub fn interval(mut self, every: Duration) -> Audit {
        self.interval = every.max(Duration::from_secs(1));
        self
    }

    /// The chain of this writer for a store whose digest files go to `dir`, for a sink driven
    /// without a pipeline (a replay tool, a benchmark): hand it to the sink with
    /// [`crate::sink::Sink::keep_digests`]. A pipeline makes its own from [`Self`].
    ///
    /// # Errors
    /// The directory cannot be created, or the default writer name cannot be kept in it.
    pub fn chain(&self, dir: PathBuf) -> std::io::Result<Chain> {
        let writer = match &self.writer {
            Some(w) => w.clone(),
            None => default_writer(&dir)?,
        };
        Ok(Chain::new(self.key.clone(), writer, dir, self.interval))
    }
}

/// The writer name kept in `dir/writer`, made on first use from the host name and a random
/// suffix.
fn default_writer(dir: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let path = dir.join("writer");
    crate::fs::create_dir(dir)?;
    if let Ok(mut f) = crate::fs::open_read(&path) {
        let mut s = String::new();
        f.read_to_string(&mut s)?;
        let s = s.trim();
        if !s.is_empty() && s.len() <= 100 {
            return Ok(s.to_owned());
        }
    }
    let mut suffix = [0u8; 4];
    let _ = getrandom::fill(&mut suffix);
    let host = hostname();
    let name = format!("{}-{}", host, digest::hex(&suffix));
    let mut f = crate::fs::open_append(&path)?;
    std::io::Write::write_all(&mut f, name.as_bytes())?;
    Ok(name)
}

fn hostname() -> String {
    let raw = std::env::var("HOSTNAME").ok().or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|s| s.trim().to_owned())
    });
    let clean: String = raw
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .take(60)
        .collect();
    if clean.is_empty() {
        "writer".to_owned()
    } else {
        clean
    }
}
