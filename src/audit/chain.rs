//! The writer's side of one chain: its place (the next sequence number and the previous
//! digest's hash), the sealing of a transaction's rows, and the digest files.
//!
//! A sink, through its [`Trail`], takes the digest of the rows it is writing from
//! [`Chain::next`], inserts it in the same transaction as the rows, and after the commit the
//! chain moves on ([`Chain::committed`]) and the line goes to the day's digest file. Until then
//! the chain is unsure: the transaction may have committed with its answer lost, so before the
//! next seal the sink reads its newest digest back from the store and [`Chain::sync`]s to it.
//! At start it does the same, and the digest file gets any digest the store has and the file
//! lacks (a crash between commit and append).

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
    /// A prune to record: the next digest is a prune digest until one is committed.
    prune: Option<Pruned>,
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
            prune: None,
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
    /// is appended to its day's file. A line that does not read with this writer's key is not
    /// followed (verification reports it). A digest file that cannot be read or written is
    /// reported, not an error: the store's copy is the one the chain goes on from.
    pub(crate) fn sync(&mut self, store_newest: Option<&str>) {
        let public = self.key.public();
        let read = |line: &str| {
            digest::read_line(line, &public)
                .ok()
                .filter(|r| r.signature_ok && r.digest.writer == self.writer)
        };
        let from_store = store_newest.and_then(|l| read(l).map(|r| (r, l)));
        let from_file = match self.newest_in_files() {
            Ok(line) => line.as_deref().and_then(read),
            Err(e) => {
                crate::report::emit(format_args!(
                    "the digest files in {} cannot be read ({e}); going on from the store's newest digest",
                    self.dir.display()
                ));
                None
            }
        };
        let file_seq = from_file.as_ref().map(|f| f.digest.seq);
        let newest = match from_store {
            Some((s, line)) if file_seq.is_none_or(|f| s.digest.seq > f) => {
                if let Err(e) = self.append(line, &s.digest.made_at) {
                    crate::report::emit(format_args!(
                        "the digest file cannot be written ({e}); the store keeps the digest"
                    ));
                }
                Some(s)
            }
            Some((s, _)) if file_seq == Some(s.digest.seq) => Some(s),
            _ => from_file,
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
    }

    /// The digest to store with a transaction: the closing one (`close`), else one of the rows
    /// `entries` lists, else (none) an idle one if due; `None` when nothing is due. Until
    /// [`Self::committed`] the chain counts the write as failed, so an error anywhere (the
    /// insert, the rows, the commit) makes the next write read the store back first.
    pub(crate) fn next(
        &mut self,
        close: bool,
        entries: Vec<Entry>,
        now: DateTime<Utc>,
    ) -> Option<Sealed> {
        let sealed = if let Some(p) = &self.prune {
            self.seal_kind(Kind::Prune, entries, Some(p.clone()), now)
        } else if close {
            self.seal_kind(Kind::Close, entries, None, now)
        } else if entries.is_empty() && !self.idle_due(now) {
            return None;
        } else {
            self.seal(entries, now)
        };
        self.stale = true;
        Some(sealed)
    }

    /// How many times a sink re-reads the store and seals again when its digest's number is
    /// taken (another writer under the same name) before the write fails.
    pub(crate) const FORK_RETRIES: usize = 3;

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
        if sealed.digest.kind == Kind::Prune {
            self.prune = None;
        }
        self.append(&sealed.line, &sealed.digest.made_at)
    }

    /// Makes the next digest a prune digest recording `p` (see [`crate::retention`]).
    pub fn record_prune(&mut self, p: Pruned) {
        self.prune = Some(p);
    }

    /// Whether an idle digest is due at `now`.
    pub(crate) fn idle_due(&self, now: DateTime<Utc>) -> bool {
        self.prune.is_some()
            || self.last_made.is_none_or(|t| {
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

/// A sink's side of the trail: its chain, once digests are kept, and the digest of the
/// transaction in progress. Each sink stores the digest its own way, in its transaction:
/// ```text
/// for _ in 0..Chain::FORK_RETRIES {
///     if trail.needs_sync() { trail.sync(last_digest(tx, trail.writer())?)?; }
///     let Some(sealed) = trail.next(close, entries.clone()) else { break };
///     if trail.stored(sealed, insert_digest(tx, &row)?) { break }
/// }
/// commit; trail.committed();
/// ```
#[derive(Debug, Default)]
pub(crate) struct Trail {
    chain: Option<Chain>,
    pending: Option<Sealed>,
}

impl Trail {
    /// Digests from now on, in `chain`.
    pub(crate) fn keep(&mut self, chain: Chain) {
        self.chain = Some(chain);
    }

    /// Whether digests are kept.
    pub(crate) fn is_on(&self) -> bool {
        self.chain.is_some()
    }

    /// The writer's name ("" when off).
    pub(crate) fn writer(&self) -> &str {
        self.chain.as_ref().map_or("", |c| c.writer())
    }

    /// Whether the store's newest digest must be read before sealing.
    pub(crate) fn needs_sync(&self) -> bool {
        self.chain.as_ref().is_some_and(Chain::needs_sync)
    }

    /// [`Chain::sync`] to the store's newest digest line.
    pub(crate) fn sync(&mut self, newest: Option<&str>) {
        if let Some(c) = self.chain.as_mut() {
            c.sync(newest);
        }
    }

    /// [`Chain::next`], now; a digest sealed before and not committed is dropped.
    pub(crate) fn next(&mut self, close: bool, entries: Vec<Entry>) -> Option<Sealed> {
        self.pending = None;
        self.chain.as_mut()?.next(close, entries, Utc::now())
    }

    /// What storing `sealed` found: `true` when it is stored (kept for [`Self::committed`]),
    /// `false` when its number was another's (the chain reads the store again).
    pub(crate) fn stored(&mut self, sealed: Sealed, insert: crate::rows::DigestInsert) -> bool {
        match insert {
            crate::rows::DigestInsert::Inserted | crate::rows::DigestInsert::AlreadyStored => {
                self.pending = Some(sealed);
                true
            }
            crate::rows::DigestInsert::Fork { .. } => false,
        }
    }

    /// The transaction committed: the chain moves on and the digest goes to its file (a file
    /// that cannot be written is reported; the store keeps the digest, and the next start
    /// copies it to the file).
    pub(crate) fn committed(&mut self) {
        if let (Some(chain), Some(sealed)) = (self.chain.as_mut(), self.pending.take()) {
            if let Err(e) = chain.committed(&sealed) {
                crate::report::emit(format_args!(
                    "the digest file cannot be written ({e}); the store keeps the digest, and the next start copies it to the file"
                ));
            }
        }
    }

    /// The idle interval, when on.
    #[cfg_attr(not(any(feature = "postgres", feature = "supabase")), allow(dead_code))]
    pub(crate) fn interval(&self) -> Option<Duration> {
        self.chain.as_ref().map(Chain::interval)
    }
}

/// The message of a write whose digest number was taken [`Chain::FORK_RETRIES`] times.
pub(crate) const FORKED: &str =
    "the next digest number is taken again and again: two writers share a name";

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
