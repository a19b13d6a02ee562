//! The writer's side of one chain: its place (the next sequence number and the previous
//! digest's hash), the sealing of a transaction's rows, and the digest files.
//!
//! A sink seals the entries of the rows it is about to write ([`Chain::seal`]), inserts the
//! digest in the same transaction as the rows, and after the commit calls
//! [`Chain::committed`], which moves the chain on and appends the line to the day's digest file.
//! After a failed write the chain is [`Chain::failed`]: the transaction may have committed
//! after all (its answer lost), so before the next seal the sink reads its newest digest back
//! from the store and [`Chain::sync`]s to it. At start it does the same, and the digest file
//! gets any digest the store has and the file lacks (a crash between commit and append).

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::canonical::{Entry, Hash};
use super::digest::{self, Digest, Kind, Pruned, Sealed};
use super::key::SigningKey;

/// The file name of the day `d`'s digests.
pub(crate) fn day_file_name(d: chrono::NaiveDate) -> String {
    format!("digests-{}.jsonl", d.format("%Y-%m-%d"))
}

/// The writer side of one chain (one writer instance writing to one store).
#[derive(Debug)]
pub struct Chain {
    key: SigningKey,
    writer: String,
    dir: PathBuf,
    interval: Duration,
    next_seq: u64,
    prev: Hash,
    /// When the newest digest was made (by this process or, after [`Self::sync`], before it).
    last_made: Option<DateTime<Utc>>,
    /// The store must be read back before the next seal.
    stale: bool,
}

impl Chain {
    /// A chain for `writer` signing with `key`, keeping digest files in `dir` and making an idle
    /// digest after `interval` without one. It must be [`Self::sync`]ed before the first seal.
    pub(crate) fn new(key: SigningKey, writer: String, dir: PathBuf, interval: Duration) -> Chain {
        Chain {
            key,
            writer,
            dir,
            interval,
            next_seq: 1,
            prev: [0; 32],
            last_made: None,
            stale: true,
        }
    }

    /// The writer's name.
    pub(crate) fn writer(&self) -> &str {
        &self.writer
    }

    /// Whether the store's newest digest must be read before the next seal.
    pub(crate) fn needs_sync(&self) -> bool {
        self.stale
    }

    /// Continues after the newest digest of this chain: the store's (`store_newest`, its line)
    /// or the digest files', whichever is further on. A digest the store has and the files lack
    /// is appended to today's file. A line that does not read with this writer's key is not
    /// followed (verification reports it).
    ///
    /// # Errors
    /// The digest file cannot be read or written.
    pub(crate) fn sync(&mut self, store_newest: Option<&str>) -> io::Result<()> {
        let public = self.key.public();
        let read = |line: &str| {
            digest::read_line(line, &public)
                .ok()
                .filter(|r| r.signature_ok && r.digest.writer == self.writer)
        };
        let from_store = store_newest.and_then(read);
        let from_file = self.newest_in_files()?.as_deref().and_then(read);
        let newest = match (from_store, from_file) {
            (Some(s), Some(f)) => {
                if s.digest.seq > f.digest.seq {
                    self.append(store_newest.unwrap_or_default(), &s.digest.made_at)?;
                }
                Some(if s.digest.seq >= f.digest.seq { s } else { f })
            }
            (Some(s), None) => {
                self.append(store_newest.unwrap_or_default(), &s.digest.made_at)?;
                Some(s)
            }
            (None, f) => f,
        };
        if let Some(r) = newest {
            // Never step back: a chain this process moved on is ahead of an older copy.
            if r.digest.seq + 1 >= self.next_seq {
                self.next_seq = r.digest.seq + 1;
                self.prev = r.hash;
                self.last_made = Some(r.digest.made_at);
            }
        }
        self.stale = false;
        Ok(())
    }

    /// The digest of one transaction's rows (an idle one when `entries` is empty).
    pub(crate) fn seal(&self, entries: Vec<Entry>, now: DateTime<Utc>) -> Sealed {
        let kind = if entries.is_empty() {
            Kind::Idle
        } else {
            Kind::Rows
        };
        self.seal_kind(kind, entries, None, now)
    }

    /// A digest of any kind.
    pub(crate) fn seal_kind(
        &self,
        kind: Kind,
        entries: Vec<Entry>,
        pruned: Option<Pruned>,
        now: DateTime<Utc>,
    ) -> Sealed {
        let d = Digest {
            writer: self.writer.clone(),
            seq: self.next_seq,
            kind,
            made_at: now,
            every: self.interval.as_secs().max(1),
            prev: self.prev,
            entries,
            root: [0; 32],
            pruned,
            key: Default::default(),
        };
        digest::seal(d, &self.key)
    }

    /// The store took `sealed`: the chain moves on and the line goes to the day's file. A file
    /// that cannot be written is reported by the caller; the chain moves on regardless (the
    /// store holds the digest, and the next start copies it to the file).
    pub(crate) fn committed(&mut self, sealed: &Sealed) -> io::Result<()> {
        self.next_seq = sealed.digest.seq + 1;
        self.prev = sealed.hash;
        self.last_made = Some(sealed.digest.made_at);
        self.stale = false;
        self.append(&sealed.line, &sealed.digest.made_at)
    }

    /// A write failed: it may have committed, so read the store back before the next seal.
    pub(crate) fn failed(&mut self) {
        self.stale = true;
    }

    /// Whether an idle digest is due at `now`.
    pub(crate) fn idle_due(&self, now: DateTime<Utc>) -> bool {
        self.last_made.is_none_or(|t| {
            now.signed_duration_since(t)
                .to_std()
                .is_ok_and(|d| d >= self.interval)
        })
    }

    /// How often an idle digest is made.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    fn append(&self, line: &str, made_at: &DateTime<Utc>) -> io::Result<()> {
        crate::fs::create_dir(&self.dir)?;
        let path = self.dir.join(day_file_name(made_at.date_naive()));
        let mut f = crate::fs::open_append(&path)?;
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        // One write: a reader (or a crash) sees the whole line or none of it.
        f.write_all(&buf)
    }

    /// The last line of the newest digest file of this writer, if any.
    fn newest_in_files(&self) -> io::Result<Option<String>> {
        let mut days = day_files(&self.dir)?;
        days.sort();
        for path in days.iter().rev() {
            let f = match crate::fs::open_read(path) {
                Ok(f) => f,
                Err(e) if crate::fs::is_refused(&e) => continue,
                Err(e) => return Err(e),
            };
            let mut last = None;
            for line in io::BufReader::new(f).lines() {
                let line = line?;
                if line.contains(&format!(
                    "\"writer\":{}",
                    serde_json::Value::from(self.writer.as_str())
                )) {
                    last = Some(line);
                }
            }
            if last.is_some() {
                return Ok(last);
            }
        }
        Ok(None)
    }
}

/// The digest files in `dir` (none when it does not exist).
pub(crate) fn day_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("digests-") && name.ends_with(".jsonl") {
            out.push(e.path());
        }
    }
    Ok(out)
}
