//! A signed digest: its fields, its one-line JSON form (the same bytes in the store and in the
//! digest file), its signature and its hash (what the next digest of the chain names).
//!
//! The line ends with `,"sig":"<128 hex digits>"}` and the signature is over every byte before
//! that suffix plus the closing brace — the line as written, so no re-serialization has to agree
//! with the writer's. Reading parses exactly the signed bytes.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer as _, Verifier as _};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::canonical::{Entry, Hash, Table};
use super::key::{KeyId, PublicKey, SigningKey};

/// The version of the digest format this crate writes and reads.
pub const FORMAT: u64 = 1;

/// What a digest records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Rows written in one transaction.
    Rows,
    /// Nothing was written since the previous digest: the chain is alive.
    Idle,
    /// The writer stopped cleanly; the next digest, if any, comes after a restart.
    Close,
    /// Rows older than the cutoffs were deleted on purpose (retention).
    Prune,
}

impl Kind {
    /// The kind's name in the line and the store's `kind` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rows => "rows",
            Kind::Idle => "idle",
            Kind::Close => "close",
            Kind::Prune => "prune",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "rows" => Kind::Rows,
            "idle" => Kind::Idle,
            "close" => Kind::Close,
            "prune" => Kind::Prune,
            _ => return None,
        })
    }
}

/// What a prune digest allows: rows older than its cutoffs may be missing, and each listed
/// chain may start after the digests it names (those were deleted with the rows they covered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Action rows with `action_timestamp` before this may be gone.
    pub actions_before: Option<DateTime<Utc>>,
    /// Job runs with `started_at` before this may be gone.
    pub runs_before: Option<DateTime<Utc>>,
    /// Job runs started before this may have lost their captured log.
    pub run_logs_before: Option<DateTime<Utc>>,
    /// For each writer, the last digest deleted (its sequence number and hash): the first one
    /// kept names it as its previous.
    pub anchors: Vec<(String, u64, Hash)>,
}

/// One digest of a writer's chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// The writer instance whose chain this is.
    pub writer: String,
    /// Its place in the chain, from 1.
    pub seq: u64,
    /// What it records.
    pub kind: Kind,
    /// When it was made.
    pub made_at: DateTime<Utc>,
    /// The writer's idle interval in seconds: it makes a digest at least this often while it
    /// runs, so a longer silence without a closing digest is visible.
    pub every: u64,
    /// The hash of the previous digest of the chain (zeros for the first).
    pub prev: Hash,
    /// The rows it covers, in the order they were written.
    pub entries: Vec<Entry>,
    /// The SHA-256 of the entries' bytes, in order.
    pub root: Hash,
    /// What a prune digest allows.
    pub pruned: Option<Pruned>,
    /// Who signed it.
    pub key: KeyId,
}

/// A digest as written: its line, hash and fields.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The line (no newline), as the store and the digest file hold it.
    pub line: String,
    /// The hash the next digest names: SHA-256 of the line's signed bytes (all but its
    /// signature).
    pub hash: Hash,
    /// The fields.
    pub digest: Digest,
}

impl Sealed {
    /// The store's row for it.
    pub(crate) fn row(&self) -> crate::rows::DigestRow {
        crate::rows::DigestRow {
            writer: self.digest.writer.clone(),
            seq: i64::try_from(self.digest.seq).unwrap_or(i64::MAX),
            made_at: self.digest.made_at,
            kind: self.digest.kind.as_str(),
            digest: self.line.clone(),
        }
    }
}

/// Why a digest line cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// It does not end with a signature.
    #[error("no signature at the end of the line")]
    NoSignature,
    /// Its fields are not a digest's.
    #[error("not a digest: {0}")]
    Malformed(&'static str),
    /// A newer format than this crate reads.
    #[error("digest format {0}, newer than this version reads")]
    Format(u64),
}

/// The root over `entries`: SHA-256 of each entry's bytes in order.
pub(crate) fn root(entries: &[Entry]) -> Hash {
    let mut h = Sha256::new();
    for e in entries {
        h.update(e.table.tag().as_bytes());
        h.update(e.id.as_bytes());
        h.update(e.at.to_be_bytes());
        h.update(e.hash);
        if let Some(l) = &e.logs {
            h.update([1]);
            h.update(l);
        } else {
            h.update([0]);
        }
    }
    h.finalize().into()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex.
pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    push_hex(&mut s, b);
    s
}

/// Appends the lowercase hex of `b` (a digest line holds a thousand hashes).
pub(crate) fn push_hex(s: &mut String, b: &[u8]) {
    for x in b {
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 15)]));
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase or uppercase hex into exactly `N` bytes. Each pair reads as
/// `u8::from_str_radix(pair, 16)` does (which takes a `+` before a single digit), without its
/// per-pair cost: a verification reads a million hashes.
pub(crate) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = match *pair {
            [b'+', lo] => nibble(lo)?,
            [hi, lo] => (nibble(hi)? << 4) | nibble(lo)?,
            _ => return None,
        };
    }
    Some(out)
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The unsigned text of `d`: the line up to its signature.
fn unsigned(d: &Digest) -> String {
    let mut s = String::with_capacity(160 + d.entries.len() * 130);
    let _ = write!(
        s,
        "{{\"v\":{FORMAT},\"writer\":{},\"seq\":{},\"kind\":\"{}\",\"made_at\":\"{}\",\"every\":{},\"prev\":\"{}\",\"key\":\"{}\",\"entries\":[",
        Value::String(d.writer.clone()),
        d.seq,
        d.kind.as_str(),
        time(&d.made_at),
        d.every,
        hex(&d.prev),
        d.key,
    );
    // Pushed piece by piece, not through `write!`: the entries are most of a line, and the
    // sink builds one for every transaction.
    let mut id = Uuid::encode_buffer();
    for (i, e) in d.entries.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("[\"");
        s.push_str(e.table.tag());
        s.push_str("\",\"");
        s.push_str(e.id.hyphenated().encode_lower(&mut id));
        s.push_str("\",");
        s.push_str(itoa::Buffer::new().format(e.at));
        s.push_str(",\"");
        push_hex(&mut s, &e.hash);
        s.push('"');
        if let Some(l) = &e.logs {
            s.push_str(",\"");
            push_hex(&mut s, l);
            s.push('"');
        }
        s.push(']');
    }
    let _ = write!(s, "],\"root\":\"{}\"", hex(&d.root));
    if let Some(p) = &d.pruned {
        s.push_str(",\"pruned\":{");
        let mut first = true;
        for (k, v) in [
            ("actions_before", &p.actions_before),
            ("runs_before", &p.runs_before),
            ("run_logs_before", &p.run_logs_before),
        ] {
            if let Some(t) = v {
                if !first {
                    s.push(',');
                }
                first = false;
                let _ = write!(s, "\"{k}\":\"{}\"", time(t));
            }
        }
        if !first {
            s.push(',');
        }
        s.push_str("\"anchors\":[");
        for (i, (w, seq, h)) in p.anchors.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "[{},{seq},\"{}\"]", Value::String(w.clone()), hex(h));
        }
        s.push_str("]}");
    }
    s
}

/// The hash a digest is named by: SHA-256 of its signed bytes.
pub(crate) fn hash_of_signed(signed: &[u8]) -> Hash {
    Sha256::digest(signed).into()
}

/// The bytes signed for a line whose unsigned part is `unsigned`.
fn signed_bytes(unsigned: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(unsigned.len() + 1);
    b.extend_from_slice(unsigned.as_bytes());
    b.push(b'}');
    b
}

/// Signs `d` (its `root` and `key` are set here) into its line.
pub(crate) fn seal(mut d: Digest, key: &SigningKey) -> Sealed {
    d.root = root(&d.entries);
    d.key = key.id();
    let text = unsigned(&d);
    let signed = signed_bytes(&text);
    let sig = key.inner().sign(&signed);
    let line = format!("{text},\"sig\":\"{}\"}}", hex(&sig.to_bytes()));
    Sealed {
        hash: hash_of_signed(&signed),
        line,
        digest: d,
    }
}

/// A line read back: its fields, its hash, and whether its signature is good for `key`.
#[derive(Debug, Clone)]
pub struct Read {
    /// The fields.
    pub digest: Digest,
    /// Its hash (see [`Sealed::hash`]).
    pub hash: Hash,
    /// The signature is `key`'s and good for the signed bytes.
    pub signature_ok: bool,
    /// The root field equals the root of its entries.
    pub root_ok: bool,
}

const SIG_SUFFIX: usize = ",\"sig\":\"\"}".len() + 128;

/// Reads a digest line and checks its signature against `key`.
///
/// # Errors
/// [`LineError`] when the line is not a digest.
pub fn read_line(line: &str, key: &PublicKey) -> Result<Read, LineError> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.len() < SIG_SUFFIX || !line.is_char_boundary(line.len() - SIG_SUFFIX) {
        return Err(LineError::NoSignature);
    }
    let (text, tail) = line.split_at(line.len() - SIG_SUFFIX);
    let sig_hex = tail
        .strip_prefix(",\"sig\":\"")
        .and_then(|t| t.strip_suffix("\"}"))
        .ok_or(LineError::NoSignature)?;
    let sig = unhex::<64>(sig_hex).ok_or(LineError::NoSignature)?;
    let signed = signed_bytes(text);
    let v: Value = serde_json::from_slice(&signed).map_err(|_| LineError::Malformed("not JSON"))?;
    let digest = parse(&v)?;
    let signature_ok = digest.key == key.id()
        && key
            .inner()
            .verify(&signed, &Signature::from_bytes(&sig))
            .is_ok();
    Ok(Read {
        root_ok: root(&digest.entries) == digest.root,
        hash: hash_of_signed(&signed),
        digest,
        signature_ok,
    })
}

fn parse(v: &Value) -> Result<Digest, LineError> {
    use LineError::Malformed as M;
    let m = v.as_object().ok_or(M("not an object"))?;
    let str_of = |k: &'static str| m.get(k).and_then(Value::as_str).ok_or(M(k));
    let format = m.get("v").and_then(Value::as_u64).ok_or(M("v"))?;
    if format != FORMAT {
        return Err(LineError::Format(format));
    }
    let time_of = |s: &str, k: &'static str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.to_utc())
            .map_err(|_| M(k))
    };
    let hash_of = |s: &str, k: &'static str| unhex::<32>(s).ok_or(M(k));
    let mut entries = Vec::new();
    for e in m
        .get("entries")
        .and_then(Value::as_array)
        .ok_or(M("entries"))?
    {
        let a = e.as_array().ok_or(M("entry"))?;
        let s = |i: usize| a.get(i).and_then(Value::as_str).ok_or(M("entry"));
        entries.push(Entry {
            table: Table::from_tag(s(0)?).ok_or(M("entry table"))?,
            id: Uuid::parse_str(s(1)?).map_err(|_| M("entry id"))?,
            at: a.get(2).and_then(Value::as_i64).ok_or(M("entry time"))?,
            hash: hash_of(s(3)?, "entry hash")?,
            logs: match a.get(4) {
                None => None,
                Some(l) => Some(hash_of(l.as_str().ok_or(M("entry logs"))?, "entry logs")?),
            },
        });
    }
    let pruned = match m.get("pruned") {
        None => None,
        Some(p) => {
            let t = |k: &'static str| {
                p.get(k)
                    .and_then(Value::as_str)
                    .map(|s| time_of(s, k))
                    .transpose()
            };
            let mut anchors = Vec::new();
            for a in p
                .get("anchors")
                .and_then(Value::as_array)
                .ok_or(M("anchors"))?
            {
                let a = a.as_array().ok_or(M("anchor"))?;
                anchors.push((
                    a.first()
                        .and_then(Value::as_str)
                        .ok_or(M("anchor"))?
                        .to_owned(),
                    a.get(1).and_then(Value::as_u64).ok_or(M("anchor"))?,
                    hash_of(
                        a.get(2).and_then(Value::as_str).ok_or(M("anchor"))?,
                        "anchor",
                    )?,
                ));
            }
            Some(Pruned {
                actions_before: t("actions_before")?,
                runs_before: t("runs_before")?,
                run_logs_before: t("run_logs_before")?,
                anchors,
            })
        }
    };
    Ok(Digest {
        writer: str_of("writer")?.to_owned(),
        seq: m.get("seq").and_then(Value::as_u64).ok_or(M("seq"))?,
        kind: Kind::parse(str_of("kind")?).ok_or(M("kind"))?,
        made_at: time_of(str_of("made_at")?, "made_at")?,
        every: m.get("every").and_then(Value::as_u64).ok_or(M("every"))?,
        prev: hash_of(str_of("prev")?, "prev")?,
        entries,
        root: hash_of(str_of("root")?, "root")?,
        pruned,
        key: str_of("key")?.parse().map_err(|_| M("key"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_line_reads_back_and_any_change_breaks_its_signature() {
        let key = SigningKey::generate().unwrap();
        let d = Digest {
            writer: "web-1 \"east\"".into(),
            seq: 7,
            kind: Kind::Prune,
            made_at: Utc::now(),
            every: 60,
            prev: [3; 32],
            entries: vec![Entry {
                table: Table::Runs,
                id: Uuid::now_v7(),
                at: 1_700_000_000_123_456,
                hash: [9; 32],
                logs: Some([8; 32]),
            }],
            root: [0; 32],
            pruned: Some(Pruned {
                actions_before: Some(Utc::now()),
                runs_before: None,
                run_logs_before: Some(Utc::now()),
                anchors: vec![("web-1".into(), 41, [5; 32])],
            }),
            key: KeyId::default(),
        };
        let s = seal(d, &key);
        let r = read_line(&s.line, &key.public()).unwrap();
        assert!(r.signature_ok && r.root_ok);
        assert_eq!(r.hash, s.hash);
        let mut made = s.digest.made_at;
        made = chrono::DateTime::from_timestamp_micros(made.timestamp_micros()).unwrap();
        assert_eq!(r.digest.made_at, made);
        assert_eq!(r.digest.entries, s.digest.entries);
        assert_eq!(
            r.digest.pruned.as_ref().unwrap().anchors,
            s.digest.pruned.unwrap().anchors
        );
        let forged = s.line.replace("\"seq\":7", "\"seq\":8");
        assert!(!read_line(&forged, &key.public()).unwrap().signature_ok);
        let other = SigningKey::generate().unwrap();
        assert!(!read_line(&s.line, &other.public()).unwrap().signature_ok);
        assert_eq!(
            read_line("{}", &key.public()).unwrap_err(),
            LineError::NoSignature
        );
    }

    /// The line pinned: a digest's bytes are what its signature and the next digest's `prev`
    /// are over, so no change to the code may move them (values from the first implementation;
    /// Ed25519 signatures are deterministic).
    #[test]
    fn the_line_is_pinned() {
        let key = SigningKey::from_text(&"07".repeat(32), "test").unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let id = |n: u128| Uuid::from_u128(0x0193_b3e4_0000_7000_8000_0000_0000_0000 + n);
        let d = Digest {
            writer: "web-1 \"east\"\n".into(),
            seq: 42,
            kind: Kind::Prune,
            made_at: at("2026-12-06T10:11:12.123456Z"),
            every: 60,
            prev: [3; 32],
            entries: vec![
                Entry {
                    table: Table::Actions,
                    id: id(1),
                    at: 1_765_015_872_123_456,
                    hash: [0xab; 32],
                    logs: None,
                },
                Entry {
                    table: Table::Runs,
                    id: id(2),
                    at: -5,
                    hash: [0x01; 32],
                    logs: Some([0xfe; 32]),
                },
            ],
            root: [0; 32],
            pruned: Some(Pruned {
                actions_before: Some(at("2026-11-06T00:00:00Z")),
                runs_before: None,
                run_logs_before: Some(at("2026-11-20T00:00:00Z")),
                anchors: vec![("web-0".into(), 41, [5; 32])],
            }),
            key: KeyId::default(),
        };
        let s = seal(d, &key);
        let got = (
            hex(&s.hash),
            s.line.len(),
            s.line[s.line.len() - 131..].to_owned(),
        );
        assert_eq!(
            got,
            (
                "efce792b1301044f5aac1345a3dd0231b6eee8078b66fb6c7d1deceb4fea69ed".to_owned(),
                941,
                "\"143c3b8116e1c846c56fa9781e8ca221bc7f6fdc014673f55d1dc5f63d6e878399db327a\
                 02c9f82a065f6197fda658f2ec7926b1ec2b27bb393f3797c3125c0e\"}"
                    .to_owned()
            )
        );
    }
}
