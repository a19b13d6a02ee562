//! Hostile entries in `<log_dir>/spool/`, met by `actionlog::builder().init()` in a child
//! process (this test binary re-run in child mode) which the parent waits for with a deadline
//! and kills if it is not done: a FIFO, a socket and a symlink to a device never hold `init`
//! (they are not even opened for blocking reads); symlinks to files outside the directory are
//! never followed, so their lines never reach the store nor the damaged-line count; a file past
//! the segment bound (a sparse 2 GiB one) is not read, and a line past the line bound is
//! skipped and counted, so the child's peak memory stays far below either. Each such entry is
//! moved to `spool/rejected/` and reported once on stderr; the valid segments beside them are
//! delivered as always.
#![cfg(all(unix, feature = "sqlite"))]

use crate::common;

use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use actionlog::ActionRecord;

const CHILD: &str = "ACTIONLOG_SPOOL_HOSTILE_CHILD";
/// What the child must finish within; it replays a few records into SQLite.
const DEADLINE: Duration = Duration::from_secs(60);
/// The child's address space, a net under a reader that would read a hostile file whole: far
/// above what the child needs (a few hundred MiB of reservations for its threads), far below
/// the 2 GiB file.
const ADDRESS_SPACE_KIB: u64 = 1536 * 1024;

/// Child mode: start with the default store (`<dir>/actions.db`), stop, print the figures.
fn child(dir: &str) {
    let guard = actionlog::builder()
        .log_dir(dir)
        .console(false)
        .panic_hook(false)
        .init()
        .unwrap();
    let s = guard.shutdown(Duration::from_secs(30)).stats;
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap();
    println!(
        "replayed {} delivered {} dropped {} peak_kib {hwm}",
        s.actions_replayed, s.actions_delivered, s.actions_dropped
    );
}

/// What the child said.
struct Run {
    replayed: u64,
    delivered: u64,
    dropped: u64,
    peak_kib: u64,
    stderr: String,
}

/// Runs the test `name` in child mode on `dir`, under the address-space net; fails the test if
/// it does not finish by the deadline (killing it) or fails.
fn run_child(name: &str, dir: &Path) -> Run {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(exe)
        .args([
            "--exact",
            common::test_path(module_path!(), name).as_str(),
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, dir);
    for v in [
        "ACTIONLOG_DATABASE_URL",
        "DATABASE_URL",
        "SUPABASE_URL",
        "SUPABASE_KEY",
        "RUST_LOG",
    ] {
        cmd.env_remove(v);
    }
    let out = wait(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child failed: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("replayed ").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no figures from the child:\n{stdout}\n{stderr}"));
    let n: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    Run {
        replayed: n[0],
        delivered: n[1],
        dropped: n[2],
        peak_kib: n[3],
        stderr,
    }
}

/// Waits for `cmd` to end, killing it (and failing the test) past the deadline. The pause
/// between polls only limits the polling rate.
fn wait(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t2 = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("init did not return within {DEADLINE:?}: held by an entry in the spool");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
    }
}

/// A record as a spool line (`<crc32> <json>`), newline included.
fn line(rec: &ActionRecord) -> Vec<u8> {
    let json = serde_json::to_vec(&rec.to_json()).unwrap();
    let mut l = format!("{:08x} ", crc32fast::hash(&json)).into_bytes();
    l.extend_from_slice(&json);
    l.push(b'\n');
    l
}

fn record(n: u128, kind: &str) -> ActionRecord {
    let mut r = ActionRecord::blank(uuid::Uuid::from_u128(n), kind);
    r.status = "completed".into();
    r
}

/// An unmarked segment (it belongs to whoever opens the spool) holding `recs`.
fn segment(path: &Path, recs: &[ActionRecord]) {
    let body: Vec<u8> = recs.iter().flat_map(line).collect();
    std::fs::write(path, body).unwrap();
}

fn seg(spool: &Path, n: u32) -> PathBuf {
    spool.join(format!("seg-{n:013}-1-0.jsonl"))
}

fn rejected(spool: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(spool.join("rejected"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The stored action ids.
fn stored(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut q = c.prepare("SELECT id FROM action_logs ORDER BY id").unwrap();
    q.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

const FIFO_TEST: &str = "a_fifo_a_socket_or_a_device_link_in_the_spool_never_holds_init";

#[test]
fn a_fifo_a_socket_or_a_device_link_in_the_spool_never_holds_init() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    // Before the valid segment in replay order, so each is met first.
    mkfifo(&seg(&spool, 1));
    let _socket = std::os::unix::net::UnixListener::bind(seg(&spool, 2)).unwrap();
    symlink("/dev/zero", seg(&spool, 3)).unwrap();
    segment(&seg(&spool, 4), &[record(1, "kept"), record(2, "kept")]);

    let run = run_child(FIFO_TEST, dir.path());
    assert_eq!((run.replayed, run.delivered), (2, 2), "{}", run.stderr);
    assert_eq!(
        rejected(&spool),
        [1, 2, 3].map(|n| format!("seg-{n:013}-1-0.jsonl")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("moved to").count(), 3, "{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    assert!(run.stderr.contains("symlink"), "{}", run.stderr);
    assert_eq!(stored(&dir.path().join("actions.db")).len(), 2);
    assert!(
        std::fs::read_dir(&spool).unwrap().count() == 1,
        "only rejected/ is left"
    );

    // Reported once: the next start finds nothing to say.
    let again = run_child(FIFO_TEST, dir.path());
    assert_eq!(again.replayed, 0);
    assert!(!again.stderr.contains("moved to"), "{}", again.stderr);
}

const OUTSIDE_TEST: &str = "links_to_files_outside_the_spool_are_never_followed";

#[test]
fn links_to_files_outside_the_spool_are_never_followed() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    // Valid lines, elsewhere: whoever plants the link wants them stored.
    let planted = outside.path().join("records.jsonl");
    let body = [line(&record(7, "planted")), line(&record(8, "planted"))].concat();
    std::fs::write(&planted, &body).unwrap();
    symlink(&planted, seg(&spool, 1)).unwrap();
    // Not ours to read: its line count must not leak as damaged lines either.
    symlink("/etc/passwd", seg(&spool, 2)).unwrap();
    segment(&seg(&spool, 3), &[record(1, "kept")]);

    let run = run_child(OUTSIDE_TEST, dir.path());
    assert_eq!((run.replayed, run.dropped), (1, 0), "{}", run.stderr);
    assert_eq!(
        stored(&dir.path().join("actions.db")),
        [uuid::Uuid::from_u128(1).to_string()],
        "only the spool's own records are stored"
    );
    assert!(!run.stderr.contains("damaged"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("moved to").count(), 2, "{}", run.stderr);
    assert_eq!(rejected(&spool).len(), 2);
    // The links were moved, their targets left alone.
    let moved = spool
        .join("rejected")
        .join(format!("seg-{:013}-1-0.jsonl", 1));
    assert_eq!(std::fs::read_link(moved).unwrap(), planted);
    assert_eq!(std::fs::read(&planted).unwrap(), body);
}

const BOUND_TEST: &str = "spool_replay_reads_no_segment_or_line_past_its_bound";

#[test]
fn spool_replay_reads_no_segment_or_line_past_its_bound() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    // A sparse 2 GiB segment: no disk taken, and none of it may be read.
    let huge = std::fs::File::create(seg(&spool, 1)).unwrap();
    huge.set_len(2 << 30).unwrap();
    drop(huge);
    // A valid record whose line is longer than a line may be (17 MiB), between two others.
    let mut long = record(5, "long");
    long.action_details
        .insert("blob".into(), "x".repeat(17 << 20).into());
    segment(
        &seg(&spool, 2),
        &[record(1, "kept"), long, record(2, "kept")],
    );
    segment(&seg(&spool, 3), &[record(3, "kept")]);

    let run = run_child(BOUND_TEST, dir.path());
    eprintln!("child peak memory: {} KiB", run.peak_kib);
    assert_eq!((run.replayed, run.delivered), (3, 3), "{}", run.stderr);
    // The long line: skipped and counted, as a damaged line is.
    assert_eq!(run.dropped, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("1 damaged lines skipped"),
        "{}",
        run.stderr
    );
    assert_eq!(
        rejected(&spool),
        [format!("seg-{:013}-1-0.jsonl", 1)],
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("2147483648 bytes"), "{}", run.stderr);
    // The segment with the long line is read (it is within the segment bound), the sparse one
    // is not: a few times the long line, never the 2 GiB.
    assert!(
        run.peak_kib < 256 * 1024,
        "peak memory {} KiB:\n{}",
        run.peak_kib,
        run.stderr
    );
    let ids = stored(&dir.path().join("actions.db"));
    assert_eq!(ids.len(), 3);
    assert!(!ids.contains(&uuid::Uuid::from_u128(5).to_string()));
}
