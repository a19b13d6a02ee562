//! Verification: the digests (from the store and from the digest files) checked as chains,
//! then every row of the store compared with the newest entry that covers it.
//!
//! [`Check`] holds the state and takes the inputs in order: digest lines
//! ([`Check::store_digest`], [`Check::file_digest`]), then [`Check::chains`], which checks the
//! chains and says from which time the rows must be read, then every row from that time
//! ([`Check::action`], [`Check::run`]), then [`Check::finish`] with the [`Report`].
//! `query::verify_trail` drives it over a store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::canonical::{self, Entry, Hash, Table};
use super::digest::{self, Kind, Read};
use super::key::{KeyId, PublicKey};
use crate::rows::{ActionRecord, JobExecution};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; not evidence of a change (a writer that stopped without closing its
    /// chain, rows from before the trail began).
    Warning,
    /// The trail was changed, or its proof is.
    Problem,
}

/// Where a digest was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The store's `audit_digests` table.
    Store,
    /// A digest file, at this line (from 1).
    File(PathBuf, usize),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Store => f.write_str("the store"),
            Source::File(p, n) => write!(f, "{}:{n}", p.display()),
        }
    }
}

/// Which copy of the digests lacks some.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MissingFrom {
    /// The digest files have them, the store does not.
    Store,
    /// The store has them, the digest files do not.
    Files,
    /// Neither copy: the chain skips them.
    Both,
}

/// One thing verification found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Finding {
    /// A covered row whose content is not what its digest says.
    Modified {
        /// Its table.
        table: Table,
        /// Its id.
        id: Uuid,
        /// The digest that covers it (writer, sequence number).
        digest: (String, u64),
        /// Only the run's captured log changed.
        logs_only: bool,
    },
    /// A covered row that is gone (and no prune allowed it).
    Deleted {
        /// Its table.
        table: Table,
        /// Its id.
        id: Uuid,
        /// Its time as covered.
        at: DateTime<Utc>,
        /// The digest that covers it.
        digest: (String, u64),
    },
    /// A final row no digest covers, from after the trail began.
    Inserted {
        /// Its table.
        table: Table,
        /// Its id.
        id: Uuid,
        /// Its time.
        at: DateTime<Utc>,
    },
    /// A covered row moved: its content is a covered row's, at another time or under another
    /// id.
    Reordered {
        /// Its table.
        table: Table,
        /// Its id.
        id: Uuid,
        /// Its time now.
        at: DateTime<Utc>,
        /// The time its digest gives it.
        covered_at: DateTime<Utc>,
        /// The row whose covered content it holds, when that is another row.
        content_of: Option<Uuid>,
    },
    /// Digests of a chain are missing: sequence numbers `from..=to`, between two that are
    /// there, or found in one copy and not the other.
    MissingDigest {
        /// The writer.
        writer: String,
        /// The first missing number.
        from: u64,
        /// The last.
        to: u64,
        /// Where they are missing.
        missing_from: MissingFrom,
    },
    /// A digest that does not name the previous digest of its chain.
    BrokenChain {
        /// The writer.
        writer: String,
        /// The digest.
        seq: u64,
    },
    /// A digest whose signature is not good, or is by another key.
    BadSignature {
        /// The writer it claims.
        writer: String,
        /// The digest.
        seq: u64,
        /// The key id it names.
        key: KeyId,
        /// Where it was read.
        source: Source,
    },
    /// A digest whose root is not the root of its entries.
    BadRoot {
        /// The writer.
        writer: String,
        /// The digest.
        seq: u64,
    },
    /// The store and a digest file hold different digests under one number.
    DigestsDiffer {
        /// The writer.
        writer: String,
        /// The digest.
        seq: u64,
        /// The file.
        file: Source,
    },
    /// A line that is not a digest.
    Unreadable {
        /// Where.
        source: Source,
        /// Why.
        why: String,
    },
    /// A chain whose newest digest is older than its writer's interval allows, without a
    /// closing digest: the writer stopped without closing, or the newest digests were removed
    /// from every copy.
    Stale {
        /// The writer.
        writer: String,
        /// Its newest digest.
        seq: u64,
        /// When that was made.
        made_at: DateTime<Utc>,
    },
    /// A silence longer than the writer's interval between two digests, the earlier not a
    /// closing one: a crash and restart, or digests removed from every copy.
    Gap {
        /// The writer.
        writer: String,
        /// The digest before the silence.
        seq: u64,
        /// How long it lasted.
        seconds: i64,
    },
    /// Final rows and no digest covering any row at all: nothing is proven (digests were
    /// never kept, or all of them were removed).
    NoTrail {
        /// How many final rows.
        rows: u64,
    },
    /// Final rows older than the oldest row any digest covers: from before digests were kept,
    /// the trail does not cover them.
    BeforeTrail {
        /// How many.
        rows: u64,
    },
}

impl Finding {
    /// How bad it is.
    #[must_use]
    pub fn severity(&self) -> Severity {
        match self {
            Finding::Stale { .. } | Finding::Gap { .. } | Finding::BeforeTrail { .. } => {
                Severity::Warning
            }
            _ => Severity::Problem,
        }
    }
}

fn t(micros: i64) -> DateTime<Utc> {
    // (`from_timestamp_micros` is newer than the lowest chrono the crate builds with.)
    let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0);
    DateTime::from_timestamp(micros.div_euclid(1_000_000), nanos).unwrap_or_default()
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ts = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        match self {
            Finding::Modified {
                table,
                id,
                digest: (w, s),
                logs_only,
            } => write!(
                f,
                "modified   {} {id}: {} differs from digest {w}#{s}",
                table.name(),
                if *logs_only {
                    "its captured log"
                } else {
                    "its content"
                }
            ),
            Finding::Deleted {
                table,
                id,
                at,
                digest: (w, s),
            } => write!(
                f,
                "deleted    {} {id} ({}), covered by digest {w}#{s}",
                table.name(),
                ts(at)
            ),
            Finding::Inserted { table, id, at } => write!(
                f,
                "inserted   {} {id} ({}): no digest covers it",
                table.name(),
                ts(at)
            ),
            Finding::Reordered {
                table,
                id,
                at,
                covered_at,
                content_of,
            } => match content_of {
                Some(o) => write!(
                    f,
                    "reordered  {} {id}: holds the content of {o}",
                    table.name()
                ),
                None => write!(
                    f,
                    "reordered  {} {id}: at {}, its digest has it at {}",
                    table.name(),
                    ts(at),
                    ts(covered_at)
                ),
            },
            Finding::MissingDigest {
                writer,
                from,
                to,
                missing_from,
            } => {
                let which = if from == to {
                    format!("digest {writer}#{from}")
                } else {
                    format!("digests {writer}#{from}..{to}")
                };
                match missing_from {
                    MissingFrom::Store => {
                        write!(
                            f,
                            "missing    {which}: in the digest files, not in the store"
                        )
                    }
                    MissingFrom::Files => {
                        write!(
                            f,
                            "missing    {which}: in the store, not in the digest files"
                        )
                    }
                    MissingFrom::Both => write!(f, "missing    {which}: the chain skips it"),
                }
            }
            Finding::BrokenChain { writer, seq } => write!(
                f,
                "broken     digest {writer}#{seq} does not name the digest before it"
            ),
            Finding::BadSignature {
                writer,
                seq,
                key,
                source,
            } => write!(
                f,
                "signature  digest {writer}#{seq} in {source} is not signed by the key given (it names key {key})"
            ),
            Finding::BadRoot { writer, seq } => write!(
                f,
                "broken     digest {writer}#{seq}: its root is not its entries'"
            ),
            Finding::DigestsDiffer { writer, seq, file } => write!(
                f,
                "differs    digest {writer}#{seq}: the store's and {file}'s are not the same"
            ),
            Finding::Unreadable { source, why } => {
                write!(f, "unreadable {source}: {why}")
            }
            Finding::Stale {
                writer,
                seq,
                made_at,
            } => write!(
                f,
                "stale      chain {writer} ends at #{seq} ({}) without a closing digest",
                ts(made_at)
            ),
            Finding::Gap {
                writer,
                seq,
                seconds,
            } => write!(
                f,
                "gap        chain {writer}: {seconds} s without a digest after #{seq}, which was not a closing one"
            ),
            Finding::NoTrail { rows } => write!(
                f,
                "unproven   {rows} final rows and no digest covers any row"
            ),
            Finding::BeforeTrail { rows } => write!(
                f,
                "uncovered  {rows} final rows are older than the first digest"
            ),
        }
    }
}

/// What verification found, and what it read.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every finding, problems first, each in table, time and id order.
    pub findings: Vec<Finding>,
    /// Digests read (store and files together, each once).
    pub digests: u64,
    /// Chains (writers).
    pub writers: Vec<String>,
    /// Rows read from the store.
    pub rows: u64,
    /// Rows found as their digest says.
    pub verified: u64,
    /// Rows still open (`initiated`, `in_progress`): not covered until final.
    pub open: u64,
    /// Covered rows gone under a prune digest's cutoff.
    pub pruned: u64,
    /// Whether digest files were compared with the store.
    pub files_checked: bool,
}

impl Report {
    /// True when nothing is a [`Severity::Problem`].
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.severity() == Severity::Warning)
    }
}

/// One digest as read from its copies.
#[derive(Clone)]
struct Copy {
    read: Read,
    /// The SHA-256 of the line as read (trailing white space aside), to tell two copies apart
    /// without keeping the lines: a digest of 500 rows is a line of 65 KB.
    line: Hash,
    /// The SHA-256 of the line exactly as given: another line with these bytes reads the same.
    exact: Hash,
    source: Source,
}

/// What an entry expects of its row.
struct Expect {
    at: i64,
    hash: Hash,
    logs: Option<Hash>,
    /// The covering digest: its place in [`Check::covering`].
    digest: usize,
    seen: bool,
}

/// A digest that covers rows: (writer, sequence number) and when it was made.
type Covering = ((String, u64), DateTime<Utc>);

/// The hasher of the maps keyed by what signed digests list (row ids, content hashes). Those
/// keys are UUIDs and SHA-256 values, spread already, and only the signer chooses them (a
/// row read from the store is only looked up), so the keyed SipHash of `HashMap`'s default,
/// a defence against chosen keys, buys nothing here; it was a sixth of the comparison's time
/// over a million rows. FxHash's step, with the final rotation that puts its best-mixed bits
/// where the table looks.
#[derive(Default, Clone, Copy)]
struct Spread(u64);

impl Spread {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

impl Hasher for Spread {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

type Quick = BuildHasherDefault<Spread>;

/// The SHA-256 of a digest line exactly as given ([`Copy::exact`]) and as [`Copy::line`]
/// keeps it.
fn line_hashes(line: &str) -> (Hash, Hash) {
    let exact: Hash = Sha256::digest(line.as_bytes()).into();
    let trimmed = line.trim_end();
    if trimmed.len() == line.len() {
        (exact, exact)
    } else {
        (exact, Sha256::digest(trimmed.as_bytes()).into())
    }
}

/// The verification state (see the module's documentation).
pub struct Check {
    key: PublicKey,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    store: BTreeMap<(String, u64), Copy>,
    /// The store's digests by [`Copy::line`]: a file line the same as one of them is not read
    /// again (the files normally repeat the store line for line).
    store_lines: HashMap<Hash, (String, u64), Quick>,
    files: BTreeMap<(String, u64), Copy>,
    files_checked: bool,
    findings: Vec<Finding>,
    expect: HashMap<(Table, Uuid), Expect, Quick>,
    /// The digests that cover rows, which [`Expect::digest`] names.
    covering: Vec<Covering>,
    /// Each covered content hash and its row, in the order covered; made into `by_hash` when a
    /// row's content first differs (most verifications never need it).
    hashes: Vec<(Hash, Uuid)>,
    /// Covered content hash → the row it belongs to, to tell a moved row from a changed one.
    by_hash: Option<HashMap<Hash, Uuid, Quick>>,
    actions_pruned_before: Option<i64>,
    runs_pruned_before: Option<i64>,
    run_logs_trimmed_before: Option<i64>,
    trail_start: Option<i64>,
    before_trail: u64,
    report: Report,
}

impl Check {
    /// Verification with `key`, of digests made at or after `since` (all when `None`), at `now`.
    #[must_use]
    pub fn new(key: PublicKey, since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Check {
        Check {
            key,
            since,
            now,
            store: BTreeMap::new(),
            store_lines: HashMap::default(),
            files: BTreeMap::new(),
            files_checked: false,
            findings: Vec::new(),
            expect: HashMap::default(),
            covering: Vec::new(),
            hashes: Vec::new(),
            by_hash: None,
            actions_pruned_before: None,
            runs_pruned_before: None,
            run_logs_trimmed_before: None,
            trail_start: None,
            before_trail: 0,
            report: Report::default(),
        }
    }

    fn read(&mut self, line: &str, source: Source) -> Option<Copy> {
        let (exact, hash) = line_hashes(line);
        // A line the same as a store digest's reads the same: no need to parse and check it
        // again (half of the digests' reading time when the files are compared).
        if let Some(c) = self
            .store_lines
            .get(&exact)
            .and_then(|k| self.store.get(k))
            .filter(|c| c.exact == exact)
        {
            return Some(Copy {
                source,
                ..c.clone()
            });
        }
        match digest::read_line(line, &self.key) {
            Ok(read) => {
                if self.since.is_some_and(|s| read.digest.made_at < s) {
                    return None;
                }
                Some(Copy {
                    read,
                    line: hash,
                    exact,
                    source,
                })
            }
            Err(e) => {
                self.findings.push(Finding::Unreadable {
                    source,
                    why: e.to_string(),
                });
                None
            }
        }
    }

    /// A digest line from the store's table.
    pub fn store_digest(&mut self, line: &str) {
        if let Some(c) = self.read(line, Source::Store) {
            let k = (c.read.digest.writer.clone(), c.read.digest.seq);
            self.store_lines.insert(c.exact, k.clone());
            self.store.insert(k, c);
        }
    }

    /// A digest file's text (its lines are digests). Once called, the store's digests are
    /// expected in the files too.
    pub fn file_digests(&mut self, path: PathBuf, text: &str) {
        self.files_checked = true;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(c) = self.read(line, Source::File(path.clone(), i + 1)) {
                let k = (c.read.digest.writer.clone(), c.read.digest.seq);
                self.files.insert(k, c);
            }
        }
    }

    /// Says that digest files were given even if none held a line (an emptied file is then
    /// reported).
    pub fn expect_files(&mut self) {
        self.files_checked = true;
    }

    /// Checks the chains, then gives the time from which rows must be read (`None`: all).
    pub fn chains(&mut self) -> Option<DateTime<Utc>> {
        let mut all: BTreeMap<(String, u64), Copy> = BTreeMap::new();
        let store = std::mem::take(&mut self.store);
        let mut files = std::mem::take(&mut self.files);
        self.store_lines = HashMap::default();
        // Pruning first: what a good prune digest allows applies to every chain.
        let mut anchors: HashMap<String, (u64, Hash)> = HashMap::new();
        for c in store.values().chain(files.values()) {
            let d = &c.read.digest;
            if !(c.read.signature_ok && d.kind == Kind::Prune) {
                continue;
            }
            if let Some(p) = &d.pruned {
                let later = |cur: Option<i64>, t: &Option<DateTime<Utc>>| match (cur, t) {
                    (c, None) => c,
                    (None, Some(t)) => Some(canonical::micros(t)),
                    (Some(c), Some(t)) => Some(c.max(canonical::micros(t))),
                };
                self.actions_pruned_before = later(self.actions_pruned_before, &p.actions_before);
                self.runs_pruned_before = later(self.runs_pruned_before, &p.runs_before);
                self.run_logs_trimmed_before =
                    later(self.run_logs_trimmed_before, &p.run_logs_before);
                for (w, s, h) in &p.anchors {
                    let e = anchors.entry(w.clone()).or_insert((*s, *h));
                    if *s > e.0 {
                        *e = (*s, *h);
                    }
                }
            }
        }
        for (k, c) in store {
            if anchors.get(&k.0).is_some_and(|(s, _)| k.1 <= *s) {
                continue;
            }
            match files.remove(&k) {
                Some(f) if f.line != c.line => {
                    self.findings.push(Finding::DigestsDiffer {
                        writer: k.0.clone(),
                        seq: k.1,
                        file: f.source.clone(),
                    });
                    // Whichever is good stands (the store's when both are); a bad signature
                    // on the other copy is named too.
                    let (keep, other) = if !c.read.signature_ok && f.read.signature_ok {
                        (f, c)
                    } else {
                        (c, f)
                    };
                    if !other.read.signature_ok {
                        self.findings.push(Finding::BadSignature {
                            writer: k.0.clone(),
                            seq: k.1,
                            key: other.read.digest.key,
                            source: other.source.clone(),
                        });
                    }
                    all.insert(k, keep);
                }
                Some(_) => {
                    all.insert(k, c);
                }
                None => {
                    // A prune digest is made where the prune runs, often not beside a writer:
                    // the store's copy is the one expected.
                    if self.files_checked && c.read.digest.kind != Kind::Prune {
                        self.missing(&k.0, k.1, k.1, MissingFrom::Files);
                    }
                    all.insert(k, c);
                }
            }
        }
        for (k, f) in files {
            if anchors.get(&k.0).is_some_and(|(s, _)| k.1 <= *s) {
                continue;
            }
            self.missing(&k.0, k.1, k.1, MissingFrom::Store);
            all.insert(k, f);
        }
        self.report.digests = all.len() as u64;
        let entries: usize = all.values().map(|c| c.read.digest.entries.len()).sum();
        self.expect.reserve(entries);
        self.hashes.reserve(entries);
        // Each chain in order.
        let mut by_writer: BTreeMap<String, Vec<Copy>> = BTreeMap::new();
        for ((w, _), c) in all {
            by_writer.entry(w).or_default().push(c);
        }
        let mut scan_from: Option<i64> = self.since.as_ref().map(canonical::micros);
        for (writer, chain) in by_writer {
            let mut prev: Option<(u64, Hash, &Copy)> = None;
            for c in &chain {
                let d = &c.read.digest;
                if !c.read.signature_ok {
                    self.findings.push(Finding::BadSignature {
                        writer: writer.clone(),
                        seq: d.seq,
                        key: d.key,
                        source: c.source.clone(),
                    });
                } else if !c.read.root_ok {
                    self.findings.push(Finding::BadRoot {
                        writer: writer.clone(),
                        seq: d.seq,
                    });
                }
                match prev {
                    None => {
                        // The chain's start: its first digest, a prune anchor, or where
                        // `--since` begins reading.
                        let anchored = anchors.get(&writer);
                        let ok = match anchored {
                            Some((s, h)) => d.seq == s + 1 && d.prev == *h,
                            None => d.seq == 1 && d.prev == [0; 32],
                        };
                        if !ok && self.since.is_none() {
                            let first = anchored.map_or(1, |(s, _)| s + 1);
                            if d.seq > first {
                                self.missing(&writer, first, d.seq - 1, MissingFrom::Both);
                            } else {
                                self.findings.push(Finding::BrokenChain {
                                    writer: writer.clone(),
                                    seq: d.seq,
                                });
                            }
                        }
                    }
                    Some((ps, ph, pc)) => {
                        if d.seq > ps + 1 {
                            self.missing(&writer, ps + 1, d.seq - 1, MissingFrom::Both);
                        } else if d.prev != ph {
                            self.findings.push(Finding::BrokenChain {
                                writer: writer.clone(),
                                seq: d.seq,
                            });
                        }
                        let pd = &pc.read.digest;
                        let silence = d.made_at.signed_duration_since(pd.made_at);
                        if !ends_a_run(pd.kind) && silence > allowed(pd.every) {
                            self.findings.push(Finding::Gap {
                                writer: writer.clone(),
                                seq: pd.seq,
                                seconds: silence.num_seconds(),
                            });
                        }
                    }
                }
                prev = Some((d.seq, c.read.hash, c));
                if c.read.signature_ok && c.read.root_ok && !d.entries.is_empty() {
                    let digest = self.covering.len();
                    self.covering.push(((writer.clone(), d.seq), d.made_at));
                    for e in &d.entries {
                        scan_from = scan_from.map(|s| s.min(e.at));
                        // The trail begins with the oldest row it covers: an uncovered row
                        // older than that may be from before digests were kept.
                        let start = self.trail_start.get_or_insert(e.at);
                        *start = (*start).min(e.at);
                        self.cover(e, digest);
                    }
                }
            }
            if let Some((seq, _, c)) = prev {
                let d = &c.read.digest;
                if !ends_a_run(d.kind)
                    && self.now.signed_duration_since(d.made_at) > allowed(d.every)
                {
                    self.findings.push(Finding::Stale {
                        writer: writer.clone(),
                        seq,
                        made_at: d.made_at,
                    });
                }
            }
            self.report.writers.push(writer);
        }
        self.report.files_checked = self.files_checked;
        scan_from.map(t)
    }

    fn missing(&mut self, writer: &str, from: u64, to: u64, missing_from: MissingFrom) {
        // Consecutive numbers missing from the same place are one finding.
        if let Some(Finding::MissingDigest {
            writer: w,
            to: last,
            missing_from: m,
            ..
        }) = self.findings.last_mut()
        {
            if w == writer && *last + 1 == from && *m == missing_from {
                *last = to;
                return;
            }
        }
        self.findings.push(Finding::MissingDigest {
            writer: writer.to_owned(),
            from,
            to,
            missing_from,
        });
    }

    /// `e`, listed by the digest `digest` of [`Self::covering`], is what its row must hold
    /// unless a newer digest lists it too.
    fn cover(&mut self, e: &Entry, digest: usize) {
        let newer = |x: &Expect| match (self.covering.get(x.digest), self.covering.get(digest)) {
            (Some(a), Some(b)) => (a.1, &a.0) <= (b.1, &b.0),
            _ => true,
        };
        let x = Expect {
            at: e.at,
            hash: e.hash,
            logs: e.logs,
            digest,
            seen: false,
        };
        match self.expect.entry((e.table, e.id)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(x);
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                if !newer(o.get()) {
                    return;
                }
                o.insert(x);
            }
        }
        self.hashes.push((e.hash, e.id));
    }

    /// The digest `i` of [`Self::covering`] as findings name it.
    fn digest_name(&self, i: usize) -> (String, u64) {
        self.covering
            .get(i)
            .map(|c| c.0.clone())
            .unwrap_or_default()
    }

    /// One action row of the store.
    pub fn action(&mut self, r: &ActionRecord) {
        self.report.rows += 1;
        match canonical::action_entry(r, true) {
            None => self.report.open += 1,
            Some(e) => self.compare(e, false),
        }
    }

    /// One job run of the store; `logs_null` when its captured log is NULL (trimmed).
    pub fn run(&mut self, r: &JobExecution, logs_null: bool) {
        self.report.rows += 1;
        let mut e = canonical::run_entry(r, true);
        if logs_null {
            e.logs = None;
        }
        self.compare(e, true);
    }

    fn compare(&mut self, e: Entry, run: bool) {
        let trimmed_ok = self.run_logs_trimmed_before.is_some_and(|c| e.at < c);
        let Some(x) = self.expect.get_mut(&(e.table, e.id)) else {
            // Older than the window `since` opens: its digest, if any, is outside it.
            if self.since.is_some_and(|s| e.at < canonical::micros(&s)) {
                return;
            }
            if self.trail_start.is_none_or(|s| e.at < s) {
                self.before_trail += 1;
            } else {
                self.findings.push(Finding::Inserted {
                    table: e.table,
                    id: e.id,
                    at: t(e.at),
                });
            }
            return;
        };
        x.seen = true;
        if e.hash == x.hash {
            let logs_ok = !run || e.logs == x.logs || (e.logs.is_none() && trimmed_ok);
            if e.at != x.at {
                self.findings.push(Finding::Reordered {
                    table: e.table,
                    id: e.id,
                    at: t(e.at),
                    covered_at: t(x.at),
                    content_of: None,
                });
            } else if !logs_ok {
                let digest = x.digest;
                self.findings.push(Finding::Modified {
                    table: e.table,
                    id: e.id,
                    digest: self.digest_name(digest),
                    logs_only: true,
                });
            } else {
                self.report.verified += 1;
            }
            return;
        }
        let (digest, covered_at) = (x.digest, x.at);
        let digest = self.digest_name(digest);
        let hashes = &self.hashes;
        let by_hash = self.by_hash.get_or_insert_with(|| {
            let mut m = HashMap::with_capacity_and_hasher(hashes.len(), Quick::default());
            // In the order covered, so the newest owner of a content stands, as when each
            // entry was added as it came.
            m.extend(hashes.iter().map(|(h, id)| (*h, *id)));
            m
        });
        match by_hash.get(&e.hash) {
            Some(other) if *other != e.id => self.findings.push(Finding::Reordered {
                table: e.table,
                id: e.id,
                at: t(e.at),
                covered_at: t(covered_at),
                content_of: Some(*other),
            }),
            _ => self.findings.push(Finding::Modified {
                table: e.table,
                id: e.id,
                digest,
                logs_only: false,
            }),
        }
    }

    /// The report: covered rows not seen are deleted, unless pruned.
    #[must_use]
    pub fn finish(mut self) -> Report {
        let mut deleted = Vec::new();
        for ((table, id), x) in &self.expect {
            if x.seen {
                continue;
            }
            let cutoff = match table {
                Table::Actions => self.actions_pruned_before,
                Table::Runs => self.runs_pruned_before,
            };
            if cutoff.is_some_and(|c| x.at < c) {
                self.report.pruned += 1;
                continue;
            }
            deleted.push(Finding::Deleted {
                table: *table,
                id: *id,
                at: t(x.at),
                digest: self.digest_name(x.digest),
            });
        }
        self.findings.extend(deleted);
        if self.before_trail > 0 {
            self.findings.push(match self.trail_start {
                None => Finding::NoTrail {
                    rows: self.before_trail,
                },
                Some(_) => Finding::BeforeTrail {
                    rows: self.before_trail,
                },
            });
        }
        let mut seen = HashSet::new();
        self.findings.retain(|f| seen.insert(f.clone()));
        self.findings
            .sort_by(|a, b| b.severity().cmp(&a.severity()).then(a.cmp(b)));
        self.report.findings = self.findings;
        self.report
    }
}

/// Whether a digest of this kind ends a run of its writer, so silence may follow: a closing
/// digest, or a prune's (a prune is a one-off).
fn ends_a_run(kind: Kind) -> bool {
    matches!(kind, Kind::Close | Kind::Prune)
}

/// The silence a chain may have between digests: three intervals, and a minute for clocks
/// and slow stores.
fn allowed(every: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(every.saturating_mul(3)).unwrap_or(i64::MAX / 4) + 60)
}

/// What `query::verify_trail` reads besides the store.
#[derive(Debug, Clone)]
pub struct Options {
    /// The public key the digests must be signed with.
    pub key: PublicKey,
    /// Only digests made at or after this (and the rows they cover, and rows from then on).
    pub since: Option<DateTime<Utc>>,
    /// Directories of digest files to compare with the store (every `digests-*.jsonl` in
    /// each); none: the files are not compared.
    pub digest_dirs: Vec<PathBuf>,
    /// The time staleness is judged at.
    pub now: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::digest::{Digest, seal};
    use crate::audit::key::SigningKey;

    fn record(n: u64) -> ActionRecord {
        let mut r = ActionRecord::blank(Uuid::now_v7(), "export");
        r.status = "completed".into();
        r.action_details.insert("n".into(), n.into());
        r
    }

    /// Digests 1.. of writer `w` over `batches`, as lines.
    fn lines(key: &SigningKey, batches: &[&[ActionRecord]]) -> Vec<String> {
        let mut prev = [0; 32];
        let mut out = Vec::new();
        for (i, b) in batches.iter().enumerate() {
            let s = seal(
                Digest {
                    writer: "w".into(),
                    seq: i as u64 + 1,
                    kind: if i + 1 == batches.len() {
                        Kind::Close
                    } else {
                        Kind::Rows
                    },
                    made_at: Utc::now(),
                    every: 60,
                    prev,
                    entries: b
                        .iter()
                        .filter_map(|r| canonical::action_entry(r, true))
                        .collect(),
                    root: [0; 32],
                    pruned: None,
                    key: KeyId::default(),
                },
                key,
            );
            prev = s.hash;
            out.push(s.line);
        }
        out
    }

    #[test]
    fn file_lines_are_read_as_the_stores_only_when_byte_for_byte_the_same() {
        let key = SigningKey::generate().unwrap();
        let (a, b) = (vec![record(1)], vec![record(2)]);
        let l = lines(&key, &[&a, &b]);
        let mut c = Check::new(key.public(), None, Utc::now());
        for line in &l {
            c.store_digest(line);
        }
        // The first line as the store has it; the second with a space after it, which the line
        // reader refuses (no signature at the end), as it would without the store's copy.
        c.file_digests("d.jsonl".into(), &format!("{}\n{} \n", l[0], l[1]));
        c.chains();
        for r in a.iter().chain(&b) {
            c.action(r);
        }
        let report = c.finish();
        assert_eq!(report.verified, 2, "{report:?}");
        assert_eq!(
            report.findings,
            [
                Finding::MissingDigest {
                    writer: "w".into(),
                    from: 2,
                    to: 2,
                    missing_from: MissingFrom::Files,
                },
                Finding::Unreadable {
                    source: Source::File("d.jsonl".into(), 2),
                    why: crate::audit::LineError::NoSignature.to_string(),
                },
            ]
        );
    }

    #[test]
    fn a_row_holding_another_covered_rows_content_is_named_with_it() {
        let key = SigningKey::generate().unwrap();
        let rows = vec![record(1), record(2), record(3)];
        let l = lines(&key, &[&rows]);
        let mut c = Check::new(key.public(), None, Utc::now());
        c.store_digest(&l[0]);
        c.chains();
        // The second row now holds the first's content (and time); the third changed.
        let mut moved = rows[0].clone();
        moved.id = rows[1].id;
        let mut changed = rows[2].clone();
        changed.result_message = Some("other".into());
        for r in [&rows[0], &moved, &changed] {
            c.action(r);
        }
        let report = c.finish();
        assert_eq!(report.verified, 1);
        assert_eq!(
            report.findings,
            [
                Finding::Modified {
                    table: Table::Actions,
                    id: rows[2].id,
                    digest: ("w".into(), 1),
                    logs_only: false,
                },
                Finding::Reordered {
                    table: Table::Actions,
                    id: rows[1].id,
                    at: t(canonical::micros(&rows[0].action_timestamp)),
                    covered_at: t(canonical::micros(&rows[1].action_timestamp)),
                    content_of: Some(rows[0].id),
                },
            ]
        );
    }
}
