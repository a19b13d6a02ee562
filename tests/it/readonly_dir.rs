//! The log directory's file system turns read-only while the service runs, then writable again:
//! file write errors are counted (Guard stats), the console and the database delivery go on
//! unaffected, nothing is lost while the pending lines fit in memory, and the file output
//! resumes (every line, in order, in the same day file) once the file system is back.
//!
//! How the read-only turn is made (root only): the log directory lives on a small ext4 image
//! the test loop-mounts with `errors=remount-ro`; writing `1` to
//! `/sys/fs/ext4/<dev>/trigger_fs_error` makes the kernel treat it like a real ext4 error and
//! put the file system into emergency read-only mode, so writes through the file the writer
//! already has open fail with EROFS — what a service sees when its disk goes bad. The simpler
//! ways do not work here: `mount -o remount,ro` (also on a tmpfs, also as a per-mount bind
//! remount) is refused with EBUSY while the writer holds its day file open for writing, and a
//! read-only bind mount or `chattr +i` do not affect a descriptor that is already open (checked
//! on this machine, kernel 6.18). Making it writable again is what an operator does: unmount
//! and mount the volume again (an emergency read-only ext4 refuses `remount,rw`). The file
//! system is synced just before the error, because an ext4 error discards whatever was not on
//! disk yet — the file system's doing, not the writer's.
//!
//! Under `CI=true` a machine that refuses the loop mount or lacks `trigger_fs_error` fails the
//! test instead of skipping it.
#![cfg(feature = "postgres")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use actionlog::{
    ActionFilter, ActionLayer, ColorMode, ConsoleLayer, FileLayer, ManualClock, PipelineConfig,
    Timezone,
};
use common::actions::assert_accounted;
use common::pg::TestDb;
use common::{SharedBuf, day_files, wait_until};
use tracing_subscriber::prelude::*;

/// A loop-mounted ext4 image the test owns.
struct Ext4 {
    _dir: tempfile::TempDir,
    image: PathBuf,
    path: PathBuf,
}

fn skip_or_fail(why: &str) -> Option<Ext4> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and {why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

fn run(cmd: &mut Command) -> bool {
    cmd.status().is_ok_and(|s| s.success())
}

impl Ext4 {
    fn mount() -> Option<Ext4> {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("fs.img");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        if !run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image)) {
            return skip_or_fail("mkfs.ext4 failed (not installed?)");
        }
        let fs = Ext4 {
            _dir: dir,
            image,
            path,
        };
        if !fs.attach() {
            return skip_or_fail("this machine refused to loop-mount an ext4 image (not root?)");
        }
        if !fs.error_trigger().exists() {
            return skip_or_fail("the kernel has no ext4 trigger_fs_error");
        }
        Some(fs)
    }

    fn attach(&self) -> bool {
        run(Command::new("mount")
            .args(["-o", "loop,errors=remount-ro"])
            .arg(&self.image)
            .arg(&self.path))
    }

    /// `/sys/fs/ext4/<loop device>/trigger_fs_error` of the current mount.
    fn error_trigger(&self) -> PathBuf {
        let out = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(&self.path)
            .output()
            .unwrap();
        let source = String::from_utf8(out.stdout).unwrap();
        let dev = Path::new(source.trim()).file_name().unwrap().to_owned();
        Path::new("/sys/fs/ext4").join(dev).join("trigger_fs_error")
    }

    /// Puts the file system into emergency read-only mode, as a real ext4 error would.
    fn break_it(&self) {
        assert!(run(Command::new("sync").arg("-f").arg(&self.path)));
        std::fs::write(self.error_trigger(), "1").unwrap();
    }

    /// Unmounts and mounts it again (the writer closed its file when the write failed; should it
    /// be retrying an open at that moment, the unmount is retried).
    fn repair(&self) {
        wait_until("the unmount", Duration::from_secs(30), || {
            run(Command::new("umount").arg(&self.path))
        });
        assert!(self.attach(), "mounting the image again");
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn seqs(lines: &[serde_json::Value]) -> Vec<i64> {
    lines
        .iter()
        .map(|l| l["metadata"]["seq"].as_i64().unwrap())
        .collect()
}

#[test]
fn read_only_log_dir_is_counted_console_and_database_go_on_and_files_resume() {
    let Some(db) = TestDb::new("readonly") else {
        return;
    };
    let Some(fs) = Ext4::mount() else {
        return;
    };
    let logs = fs.path.join("logs");
    let elsewhere = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let console = SharedBuf::default();
    let (files, file_guard) = FileLayer::builder(&logs)
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .build()
        .unwrap();
    let (actions, action_guard) = ActionLayer::builder(db.sink())
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .dead_letter_dir(elsewhere.path().join("dead-letter")),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let guard = file_guard.merge(action_guard);
    let subscriber = tracing_subscriber::registry()
        .with(files)
        .with(
            ConsoleLayer::with_writer(console.clone())
                .color(ColorMode::Never)
                .timezone(Timezone::Utc)
                .clock(clock.clone()),
        )
        .with(actions.with_filter(ActionFilter));
    let emit = |from: i64, to: i64, phase: &str| {
        for seq in from..to {
            tracing::info!(action_type = "scheduled_job_execution", seq, "{phase}");
        }
    };
    tracing::subscriber::with_default(subscriber, || {
        emit(-1, 0, "before");
        assert!(guard.flush());
        assert_eq!(guard.stats().lines_written, 1);

        fs.break_it();
        let probe = std::fs::write(fs.path.join("probe"), b"x").unwrap_err();
        assert_eq!(
            probe.raw_os_error(),
            Some(libc::EROFS),
            "the file system really is read-only: {probe}"
        );
        emit(0, 100, "read-only");
        assert!(
            guard.flush(),
            "a flush is answered even while the file fails"
        );
        let during = guard.stats();
        assert!(during.write_errors >= 1, "{during:?}");
        assert_eq!(
            (during.lines_written, during.lines_dropped),
            (1, 0),
            "{during:?}"
        );
        // The console and the database never depended on the log directory.
        assert_eq!(
            console
                .text()
                .lines()
                .filter(|l| l.contains("read-only"))
                .count(),
            100
        );
        assert_eq!(during.actions_delivered, 101, "{during:?}");
        assert_eq!(db.count(""), 101);

        fs.repair();
        emit(100, 200, "writable again");
        // A flush makes the writer retry at once (it otherwise retries every second).
        assert!(guard.flush());
    });
    let done = guard.shutdown(Duration::from_secs(10));
    assert!(done.complete, "{done:?}");
    let s = done.stats;
    assert_accounted(&s);
    assert_eq!((s.lines_written, s.lines_dropped), (201, 0), "{s:?}");
    assert_eq!(
        (
            s.actions_delivered,
            s.actions_dropped,
            s.actions_dead_lettered
        ),
        (201, 0, 0)
    );
    assert_eq!(db.count(""), 201);
    db.assert_no_duplicate_ids();
    assert_eq!(console.text().lines().count(), 201);

    // Every line, whole and in order, in the one day file on the remounted file system.
    let days = day_files(&logs);
    assert_eq!(days.len(), 1, "{days:?}");
    let lines = common::json_lines(&days[0]);
    assert_eq!(seqs(&lines), (-1..200).collect::<Vec<_>>());
}
