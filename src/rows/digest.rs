//! One signed digest of the tamper-evident trail as every store keeps it (`audit_digests`,
//! `migrations/0007_audit.sql`), and what storing one found.
//!
//! A writer instance keeps a chain of digests (`seq` 1, 2, 3 …). A digest is stored once:
//! storing the same `(writer, seq)` again with the same text changes nothing (a retried
//! write), and with another text changes nothing either but is reported as a fork, for the
//! writer to decide what to do.

use chrono::{DateTime, Utc};

/// The kinds a digest may have (the column is `VARCHAR(10)`).
// The sinks' digest step builds rows and calls the stores' helpers; until it does, only the
// helpers' tests use what is here.
#[allow(dead_code)]
pub(crate) const DIGEST_KINDS: [&str; 4] = ["rows", "idle", "close", "prune"];

/// One `audit_digests` row.
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestRow {
    /// The writer instance whose chain this is (at most 100 characters).
    pub(crate) writer: String,
    /// The digest's place in its writer's chain: 1, 2, 3 …
    pub(crate) seq: i64,
    /// When the digest was made; stores keep it to the microsecond.
    pub(crate) made_at: DateTime<Utc>,
    /// One of [`DIGEST_KINDS`].
    pub(crate) kind: &'static str,
    /// The signed digest: one JSON line, byte for byte the digest file's line (stored as it
    /// is, never cleaned: a changed byte would break its signature).
    pub(crate) digest: String,
}

/// What storing a [`DigestRow`] found.
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DigestInsert {
    /// The digest was stored now.
    Inserted,
    /// The same text was already stored under its `(writer, seq)`: a retry; nothing changed.
    AlreadyStored,
    /// Another text is stored under its `(writer, seq)`: the writer's chain forked (two
    /// instances under one name, or a writer that lost its state). Nothing changed; `stored` is
    /// the text the store keeps.
    Fork {
        /// The digest already stored.
        stored: String,
    },
}

#[allow(dead_code)]
impl DigestInsert {
    /// The outcome for `ours` when the store already held `stored` under the same key.
    pub(crate) fn existing(ours: &str, stored: String) -> DigestInsert {
        if stored == ours {
            DigestInsert::AlreadyStored
        } else {
            DigestInsert::Fork { stored }
        }
    }
}
