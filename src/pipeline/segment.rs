//! The spool's segment files, as [`super::spool`] describes them: writing them whole
//! (temporary name, fsync, rename) and within their bounds, the store marker on their first
//! line, listing, sizing, reading (bounded, never through a link) and parsing them back, and
//! moving aside an entry that is not one. Only [`super::spool::Spool`] calls these.

use std::borrow::Borrow;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::limits::MAX_LINE_BYTES;
use crate::rows::Row;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// The most one segment file holds (64 MiB). The writer starts a new segment before one would
/// pass it (and no line is longer than [`MAX_LINE_BYTES`]), so a larger file is not one
/// actionlog wrote: a replay reads no more than this of a file and moves a larger one aside.
pub(super) const MAX_SEGMENT_BYTES: u64 = 64 << 20;

/// Where a replay moves what it will not read: `<spool>/rejected/`.
pub(super) const REJECTED_DIR: &str = "rejected";

/// What [`write_segments`] did.
pub(super) struct Written<R> {
    /// Records written, in whole segments.
    pub(super) records: u64,
    /// Bytes of the segments written.
    pub(super) bytes: u64,
    /// Records whose line would be longer than [`MAX_LINE_BYTES`]: not written.
    pub(super) too_long: Vec<R>,
    /// The segment that could not be written, with how many records it held; the records
    /// after it were not taken.
    pub(super) failed: Option<(u64, io::Error)>,
}

/// Writes `records` as new segments in `dir`, as many as needed to keep each within
/// [`MAX_SEGMENT_BYTES`]. Records are encoded as the iterator yields them.
pub(super) fn write_segments<R: Borrow<Row>>(
    dir: &Path,
    store: &str,
    records: impl IntoIterator<Item = R>,
) -> Written<R> {
    write_within(dir, store, records, MAX_SEGMENT_BYTES, MAX_LINE_BYTES)
}

/// [`write_segments`] with its bounds given.
fn write_within<R: Borrow<Row>>(
    dir: &Path,
    store: &str,
    records: impl IntoIterator<Item = R>,
    max_segment: u64,
    max_line: usize,
) -> Written<R> {
    let header = if store.is_empty() {
        Vec::new()
    } else {
        format!("{HEADER}{store}\n").into_bytes()
    };
    let mut done = Written {
        records: 0,
        bytes: 0,
        too_long: Vec::new(),
        failed: None,
    };
    let mut body = header.clone();
    let mut n = 0;
    let flush = |body: &mut Vec<u8>, n: &mut u64, done: &mut Written<R>| {
        let result = write_file(dir, body);
        body.truncate(header.len());
        match result {
            Ok(bytes) => {
                done.records += std::mem::take(n);
                done.bytes += bytes;
                true
            }
            Err(e) => {
                done.failed = Some((std::mem::take(n), e));
                false
            }
        }
    };
    for r in records {
        // A row always serializes (strings and numbers only); skip one that would not.
        let Ok(json) = serde_json::to_vec(&r.borrow().to_json()) else {
            continue;
        };
        let line = 8 + 1 + json.len();
        if line > max_line {
            done.too_long.push(r);
            continue;
        }
        if n > 0
            && (body.len() + line + 1) as u64 > max_segment
            && !flush(&mut body, &mut n, &mut done)
        {
            return done;
        }
        body.extend_from_slice(format!("{:08x} ", crc32fast::hash(&json)).as_bytes());
        body.extend_from_slice(&json);
        body.push(b'\n');
        n += 1;
    }
    if n > 0 {
        flush(&mut body, &mut n, &mut done);
    }
    done
}

/// Writes one segment file whole: a temporary name, fsync, rename.
fn write_file(dir: &Path, body: &[u8]) -> io::Result<u64> {
    crate::fs::create_dir(dir)?;
    let name = format!(
        "seg-{:013}-{}-{}.jsonl",
        chrono::Utc::now().timestamp_millis(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    let mut f = crate::fs::open_append(&tmp)?;
    f.write_all(body)?;
    f.sync_all()?;
    fs::rename(&tmp, &path)?;
    Ok(body.len() as u64)
}

/// How a segment's first line names its store.
const HEADER: &str = "# actionlog spool store=";

/// The store `path` is marked with; `Ok(None)` for an unmarked segment (or one that cannot be
/// read, which its replay then reports); an error [`crate::fs::is_refused`] recognizes for an
/// entry that is not a segment at all (a symlink, FIFO, device or socket), never followed nor
/// waited on.
pub(super) fn owner(path: &Path) -> io::Result<Option<String>> {
    let mut head = Vec::with_capacity(512);
    let file = match crate::fs::open_read(path) {
        Ok(f) => f,
        Err(e) if crate::fs::is_refused(&e) => return Err(e),
        Err(_) => return Ok(None),
    };
    if file.take(4096).read_to_end(&mut head).is_err() {
        return Ok(None);
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.strip_prefix(HEADER))
        .map(str::to_owned))
}

/// The bytes of an open segment, or `Err(length)` for a file longer than
/// [`MAX_SEGMENT_BYTES`], of which no more than that is read (a file that grows while it is
/// read included).
pub(super) fn read_bounded(file: &mut fs::File) -> io::Result<Result<Vec<u8>, u64>> {
    let len = file.metadata()?.len();
    if len > MAX_SEGMENT_BYTES {
        return Ok(Err(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_SEGMENT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SEGMENT_BYTES {
        return Ok(Err(bytes.len() as u64));
    }
    Ok(Ok(bytes))
}

/// Moves `path` (the entry itself, never a link's target) into `<dir>/rejected/` under a name
/// not taken there; returns where it went.
pub(super) fn move_aside(dir: &Path, path: &Path) -> io::Result<PathBuf> {
    let aside = dir.join(REJECTED_DIR);
    crate::fs::create_dir(&aside)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut to = aside.join(name);
    let mut n = 0;
    // Never over another rejected file: each is kept for whoever looks into it.
    while fs::symlink_metadata(&to).is_ok() {
        n += 1;
        to = aside.join(format!("{}.{n}", name.to_string_lossy()));
    }
    fs::rename(path, &to)?;
    Ok(to)
}

/// Bytes held in `dir`: every segment, and any unfinished temporary file.
pub(super) fn size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// The segments in `dir`, oldest first (none if the directory does not exist).
pub(super) fn segments(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut segs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".jsonl"))
        })
        .collect();
    segs.sort();
    segs
}

/// The records of one segment's bytes and how many lines were skipped as damaged (a line
/// longer than [`MAX_LINE_BYTES`] among them: the writer never writes one).
pub(crate) fn parse_segment(bytes: &[u8]) -> (Vec<Row>, u64) {
    parse_within(bytes, MAX_LINE_BYTES)
}

/// [`parse_segment`] with its line bound given.
fn parse_within(bytes: &[u8], max_line: usize) -> (Vec<Row>, u64) {
    let mut records = Vec::new();
    let mut skipped = 0;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        // Empty lines, and the store marker (checked when the segment was chosen).
        if line.is_empty() || (i == 0 && line.starts_with(HEADER.as_bytes())) {
            continue;
        }
        if line.len() > max_line {
            skipped += 1;
            continue;
        }
        match parse_line(line) {
            Some(r) => records.push(r),
            None => skipped += 1,
        }
    }
    (records, skipped)
}

fn parse_line(line: &[u8]) -> Option<Row> {
    let (crc, json) = (line.get(..8)?, line.get(9..)?);
    let crc = u32::from_str_radix(std::str::from_utf8(crc).ok()?, 16).ok()?;
    if line.get(8) != Some(&b' ') || crc32fast::hash(json) != crc {
        return None;
    }
    Row::from_json(&serde_json::from_slice(json).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{ActionRecord, JobExecution};
    use proptest::prelude::*;

    fn action(n: usize, details: &str) -> Row {
        let mut a = ActionRecord::blank(uuid::Uuid::from_u128(n as u128 + 1), "a");
        a.action_details.insert("d".into(), details.into());
        Row::Action(a)
    }

    /// A record as one segment line, newline excluded.
    fn line(r: &Row) -> Vec<u8> {
        let json = serde_json::to_vec(&r.to_json()).unwrap();
        let mut l = format!("{:08x} ", crc32fast::hash(&json)).into_bytes();
        l.extend_from_slice(&json);
        l
    }

    fn files(dir: &Path) -> Vec<Vec<u8>> {
        segments(dir).iter().map(|p| fs::read(p).unwrap()).collect()
    }

    #[test]
    fn segments_are_split_at_their_bound_and_too_long_records_handed_back() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<Row> = (0..10).map(|n| action(n, &"x".repeat(100))).collect();
        let long = action(99, &"y".repeat(1000));
        let one = line(&rows[0]).len() + 1;
        let all = rows[..5]
            .iter()
            .cloned()
            .chain([long.clone()])
            .chain(rows[5..].iter().cloned());
        // Room for three records after the marker, a line bound the long one passes.
        let header = format!("{HEADER}s t\n").len();
        let w = write_within(dir.path(), "s t", all, (header + 3 * one) as u64, 600);
        assert!(w.failed.is_none());
        assert_eq!(w.records, 10);
        assert_eq!(w.too_long, vec![long]);
        let segs = files(dir.path());
        assert_eq!(segs.len(), 4, "3 + 3 + 3 + 1 records");
        assert_eq!(w.bytes, segs.iter().map(|s| s.len() as u64).sum::<u64>());
        let mut back = Vec::new();
        for s in &segs {
            assert!(s.len() <= header + 3 * one);
            assert!(s.starts_with(format!("{HEADER}s t\n").as_bytes()));
            let (r, skipped) = parse_within(s, 600);
            assert_eq!(skipped, 0);
            back.extend(r);
        }
        // Times are kept to the microsecond: compare what the files hold.
        let json = |rows: &[Row]| rows.iter().map(Row::to_json).collect::<Vec<_>>();
        assert_eq!(json(&back), json(&rows));
    }

    #[test]
    fn a_file_past_the_segment_bound_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg-1-1-1.jsonl");
        // Sparse: no disk taken, and nothing of it is read.
        let w = fs::File::create(&path).unwrap();
        w.set_len(2 << 30).unwrap();
        let mut f = crate::fs::open_read(&path).unwrap();
        assert_eq!(read_bounded(&mut f).unwrap(), Err(2 << 30));
        w.set_len(MAX_SEGMENT_BYTES + 1).unwrap();
        assert_eq!(read_bounded(&mut f).unwrap(), Err(MAX_SEGMENT_BYTES + 1));
        fs::write(&path, b"0000 x\n").unwrap();
        assert_eq!(read_bounded(&mut f).unwrap(), Ok(b"0000 x\n".to_vec()));
    }

    #[cfg(unix)]
    #[test]
    fn links_and_fifos_are_refused_at_once_and_moved_aside_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("seg-1-1-1.jsonl");
        fs::write(
            &target,
            [line(&action(0, "outside")), b"\n".to_vec()].concat(),
        )
        .unwrap();
        let link = dir.path().join("seg-1-1-1.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let fifo = dir.path().join("seg-2-1-1.jsonl");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        for p in [&link, &fifo] {
            let e = owner(p).unwrap_err();
            assert!(crate::fs::is_refused(&e), "{}: {e}", p.display());
        }
        assert!(owner(&link).unwrap_err().to_string().contains("symlink"));
        assert!(
            owner(&fifo)
                .unwrap_err()
                .to_string()
                .contains("not a regular file")
        );

        // Moved, under a name not taken in `rejected/`: the link itself, its target untouched.
        let aside = dir.path().join(REJECTED_DIR);
        fs::create_dir(&aside).unwrap();
        fs::write(aside.join("seg-1-1-1.jsonl"), "kept").unwrap();
        let to = move_aside(dir.path(), &link).unwrap();
        assert_eq!(to, aside.join("seg-1-1-1.jsonl.1"));
        assert!(fs::symlink_metadata(&to).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(aside.join("seg-1-1-1.jsonl")).unwrap(), b"kept");
        assert!(target.exists());
        move_aside(dir.path(), &fifo).unwrap();
        assert!(segments(dir.path()).is_empty());
    }

    /// What the decoder's property test found: a time finer than the microsecond and a float
    /// that the default JSON parser reads one unit off; both read back as written again.
    #[test]
    fn a_record_read_back_writes_back_the_same() {
        for json in [
            r#"{"id":"00000000-0000-0000-0000-000000000000","action_type":"t","status":"completed","action_timestamp":"2026-03-01T12:00:00.123456789Z","request_duration_seconds":0}"#,
            r#"{"id":"00000000-0000-0000-0000-000000000000","action_type":"t","status":"completed","action_timestamp":"2026-03-01T12:00:00Z","request_duration_seconds":9037149894504940033}"#,
            r#"{"id":"00000000-0000-0000-0000-000000000000","_table":"job_executions","job_id":"j","status":"failed","started_at":"2026-03-01T12:00:00.999999999+05:30","duration_seconds":0.09144338512092887}"#,
            r#"{"_table":"log_lines","line":"{\"timestamp\":\"2026-03-01T12:00:00.000001+00:00\",\"level\":\"INFO\",\"message\":\"a \\\"b\\\"\",\"logger\":\"x\",\"metadata\":{}}"}"#,
        ] {
            let l = [
                format!("{:08x} ", crc32fast::hash(json.as_bytes())).as_bytes(),
                json.as_bytes(),
            ]
            .concat();
            let (rows, skipped) = parse_within(&l, MAX_LINE_BYTES);
            assert_eq!((rows.len(), skipped), (1, 0), "{json}");
            assert_eq!(
                parse_within(&line(&rows[0]), MAX_LINE_BYTES),
                (rows, 0),
                "{json}"
            );
        }
    }

    /// A segment line: a record written as the spool writes it (an action or a job run), the
    /// same with one byte changed, a record's JSON under a correct checksum but with values
    /// the writer never writes (a time to the nanosecond, a number where text goes), or bytes.
    fn any_line() -> impl Strategy<Value = Vec<u8>> {
        let text = "\\PC{0,12}";
        let record = (
            any::<u128>(),
            text,
            text,
            proptest::option::of(text),
            -1e6..1e6f64,
            any::<bool>(),
            0i64..4_000_000_000_000_000,
        )
            .prop_map(|(id, kind, detail, user, secs, job, micros)| {
                let at = chrono::DateTime::from_timestamp_micros(micros).unwrap();
                if job {
                    let mut j = JobExecution::new(uuid::Uuid::from_u128(id), &kind, "failed", at);
                    j.logs = detail;
                    j.duration_seconds = Some(secs);
                    j.error_message = user;
                    Row::Job(Box::new(j))
                } else {
                    let mut a = ActionRecord::blank(uuid::Uuid::from_u128(id), &kind);
                    a.action_timestamp = at;
                    a.user_id = user;
                    a.request_duration_seconds = Some(secs);
                    a.action_details.insert(detail, secs.into());
                    Row::Action(a)
                }
            });
        let time = prop_oneof![
            Just("Z".to_owned()),
            Just("+05:30".to_owned()),
            "[0-9:.TZ+-]{0,12}"
        ];
        let odd_json = (any::<u128>(), time, any::<i64>(), any::<bool>()).prop_map(
            |(id, zone, n, number_type)| {
                serde_json::json!({
                    "id": uuid::Uuid::from_u128(id).to_string(),
                    "action_type": if number_type { serde_json::json!(n) } else { "t".into() },
                    "action_timestamp": format!("2026-03-01T12:00:00.123456789{zone}"),
                    "status": "completed",
                    "action_details": {"n": n},
                    "request_duration_seconds": n,
                })
            },
        );
        prop_oneof![
            3 => record.clone().prop_map(|r| line(&r)),
            2 => (record, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(r, at, b)| {
                let mut l = line(&r);
                let i = at.index(l.len());
                l[i] ^= b.max(1);
                l
            }),
            2 => odd_json.prop_map(|v| {
                let json = serde_json::to_vec(&v).unwrap();
                [format!("{:08x} ", crc32fast::hash(&json)).into_bytes(), json].concat()
            }),
            1 => proptest::collection::vec(any::<u8>(), 0..64),
        ]
    }

    proptest! {
        // 512 cases, from a fixed seed: the same inputs on every run.
        #![proptest_config(ProptestConfig {
            cases: 512,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5E9_0001),
            ..ProptestConfig::default()
        })]

        /// Any bytes: no panic; every non-empty line (the store marker aside) is either a
        /// record, which written again reads back the same, or counted as damaged; a line
        /// longer than the bound is always damaged.
        #[test]
        fn the_segment_decoder_takes_any_bytes(
            marker in any::<bool>(),
            lines in proptest::collection::vec(any_line(), 0..8),
            max_line in prop_oneof![Just(MAX_LINE_BYTES), 16usize..400],
        ) {
            let mut bytes = if marker { format!("{HEADER}s t\n").into_bytes() } else { Vec::new() };
            for l in &lines {
                bytes.extend_from_slice(l);
                bytes.push(b'\n');
            }
            let (records, skipped) = parse_within(&bytes, max_line);
            let body: Vec<&[u8]> = bytes
                .split(|&b| b == b'\n')
                .enumerate()
                .filter(|(i, l)| !(l.is_empty() || (*i == 0 && l.starts_with(HEADER.as_bytes()))))
                .map(|(_, l)| l)
                .collect();
            prop_assert_eq!(records.len() as u64 + skipped, body.len() as u64);
            let long = body.iter().filter(|l| l.len() > max_line).count() as u64;
            prop_assert!(skipped >= long);
            for r in &records {
                let again = line(r);
                prop_assert!(again.len() <= max_line || max_line < MAX_LINE_BYTES);
                prop_assert_eq!(parse_within(&again, MAX_LINE_BYTES), (vec![r.clone()], 0));
            }
        }
    }
}
