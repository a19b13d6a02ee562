//! Compression of closed files (cargo feature `compress`): a thread of its own, at the lowest CPU
//! priority the platform gives a thread ([`lower_priority`]), turns each closed part `X.log`
//! (yesterday's day file, today's earlier parts) into `X.log.gz`, off the writer's path. The
//! writer only tells it, by a message that never blocks, which part is now open; every part
//! before that one is closed for good ([`super::rolling`] never reopens an older or a
//! compressed part). Compression is never urgent: retention bounds the directory whether or
//! not files are compressed, so on a machine with no idle CPU, files simply stay plain for
//! longer.
//!
//! The steps for one part, and what a crash (process killed) after each leaves on disk:
//!
//! | step | on disk after a crash here | a reader reads | the next start's compressor |
//! |---|---|---|---|
//! | 1. write `.X.log.gz.tmp` | `X.log` whole, a partial temp file | `X.log` | deletes the temp file, starts over |
//! | 2. fsync the temp file | `X.log`, a whole temp file | `X.log` | deletes the temp file, starts over |
//! | 3. rename it to `X.log.gz`, fsync the directory | both whole | `X.log.gz` | deletes `X.log` |
//! | 4. delete `X.log` | `X.log.gz` | `X.log.gz` | nothing to do |
//!
//! So there is always one whole copy of every line, and a reader never reads a line twice:
//! a name ending in `.gz` only ever names a complete, fsynced file, so **when both `X.log` and
//! `X.log.gz` exist the reader reads `X.log.gz` and ignores `X.log`**, and the compressor, at
//! start, deletes such a leftover `X.log` and every temp file (names starting with `.`, never
//! read). A temp file's name is ours and hidden; no other name is touched.
//!
//! If the plain file vanished meanwhile (retention deleted it), the temp file is discarded rather
//! than renamed, so compression never brings back a deleted file; the check, the rename and the
//! deletion of the plain file hold the lock retention holds for its pass
//! ([`super::retention::DirLock`]), never across a write or an fsync. On shutdown the
//! compressor stops at its next 64 KiB and discards the temp file; the next start does that
//! part again.
//! Failures (disk full, permissions) leave the plain file in place, are reported once on stderr
//! per failing streak, and are retried at the next change of part.
//!
//! Test hook: with `ACTIONLOG_TEST_COMPRESS_CRASH=k` (k = 1 to 4) in the environment, the
//! process aborts right after step k of the first part it compresses, as if killed; the tests
//! use it to check the table above.

use std::fs;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::names::{self, Kind, PartId};
use super::retention::DirLock;
use crate::error::Error;

/// The compressor thread's name.
pub(crate) const COMPRESS_THREAD: &str = "actionlog-compress";
const CHUNK: usize = 64 << 10;
const CRASH_ENV: &str = "ACTIONLOG_TEST_COMPRESS_CRASH";

/// The handle the writer keeps; dropping it stops the thread (within one chunk) and joins it.
pub(crate) struct Compressor {
    tx: Option<Sender<PartId>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Compressor {
    /// Starts the thread for `dir`; it waits for the first [`closed_before`](Self::closed_before).
    pub(crate) fn spawn(dir: PathBuf, lock: DirLock) -> Result<Self, Error> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let crash_at = std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok());
        let mut worker = Worker {
            dir,
            lock,
            stop: stop.clone(),
            crash_at,
            failing: false,
        };
        let thread = std::thread::Builder::new()
            .name(COMPRESS_THREAD.into())
            .spawn(move || worker.run(rx))
            .map_err(Error::Thread)?;
        Ok(Compressor {
            tx: Some(tx),
            stop,
            thread: Some(thread),
        })
    }

    /// Every part before `open` is closed: compress those not compressed yet. Never blocks.
    pub(crate) fn closed_before(&self, open: PartId) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(open);
        }
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    dir: PathBuf,
    /// Shared with retention: see [`DirLock`].
    lock: DirLock,
    stop: Arc<AtomicBool>,
    crash_at: Option<u8>,
    /// Whether the last attempt failed, so a failing streak is reported once.
    failing: bool,
}

/// Why a part was not compressed.
enum Skip {
    Stopped,
    Vanished,
}

/// Puts this thread at the lowest CPU priority a thread can take without privileges, so that
/// compression takes only the CPU the app and the writer leave: at normal priority, on a
/// saturated machine, it competes with the file path for the cores. Per platform:
/// - Linux, Android: the `SCHED_IDLE` class (run only when nothing else wants the CPU), failing
///   that nice 19; both are per thread there, and `pid/who = 0` names the calling thread;
/// - macOS, iOS: the thread's background state (`PRIO_DARWIN_BG`: lowest CPU and I/O priority);
/// - Windows: the thread's background mode (`THREAD_MODE_BACKGROUND_BEGIN`: lowest CPU, I/O
///   and memory priority);
/// - the BSDs and other Unix: nothing, since a nice value there is the whole process's and
///   would slow the app, and their idle class needs privileges.
///
/// A failure leaves the priority as it was.
#[allow(unsafe_code)]
fn lower_priority() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: both calls take plain integers or a pointer to a live local, and keep no pointer;
    // a zeroed `sched_param` is priority 0, the only one SCHED_IDLE takes.
    unsafe {
        let idle: libc::sched_param = std::mem::zeroed();
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle) != 0 {
            let _ = libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        }
    }
    #[cfg(target_vendor = "apple")]
    // SAFETY: plain integers; `who = 0` with PRIO_DARWIN_THREAD names the calling thread.
    unsafe {
        let _ = libc::setpriority(libc::PRIO_DARWIN_THREAD, 0, libc::PRIO_DARWIN_BG);
    }
    #[cfg(windows)]
    // SAFETY: `GetCurrentThread` returns a pseudo-handle to the calling thread, valid for the
    // whole call; background mode can only be set on the calling thread.
    unsafe {
        use windows_sys::Win32::System::Threading::{
            GetCurrentThread, SetThreadPriority, THREAD_MODE_BACKGROUND_BEGIN,
        };
        let _ = SetThreadPriority(GetCurrentThread(), THREAD_MODE_BACKGROUND_BEGIN);
    }
}

impl Worker {
    fn run(&mut self, rx: Receiver<PartId>) {
        lower_priority();
        while let Ok(mut open) = rx.recv() {
            // Several parts may have closed while we worked: the newest open part says it all.
            while let Ok(o) = rx.try_recv() {
                open = open.max(o);
            }
            let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.pass(open)));
            if let Err(p) = pass {
                crate::report::emit(format_args!(
                    "the compressor panicked ({}); closed files stay uncompressed until the next part",
                    crate::report::panic_text(p.as_ref())
                ));
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    /// Cleans up after an interrupted run, then compresses every closed plain part, oldest first.
    fn pass(&mut self, open: PartId) {
        let Ok(entries) = names::scan(&self.dir) else {
            return;
        };
        for e in entries.iter().filter(|e| e.kind == Kind::Tmp) {
            // Only this thread writes temp files, and it is between files now: any is stale.
            let _ = fs::remove_file(self.dir.join(&e.name));
        }
        let has_gz = |id: PartId| entries.iter().any(|e| e.id == id && e.kind == Kind::Gz);
        for e in entries
            .iter()
            .filter(|e| e.kind == Kind::Plain && e.id < open)
        {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            if has_gz(e.id) {
                // Step 3 of an earlier run finished: the .gz is whole, the plain file is a copy.
                let _ = fs::remove_file(self.dir.join(&e.name));
                continue;
            }
            match self.compress(e.id) {
                Ok(_) => self.failing = false,
                Err(err) => {
                    let _ = fs::remove_file(self.dir.join(e.id.tmp_name()));
                    if !self.failing {
                        self.failing = true;
                        crate::report::emit(format_args!(
                            "cannot compress {}: {err}; it stays uncompressed, retried at the next part",
                            self.dir.join(&e.name).display()
                        ));
                    }
                    return;
                }
            }
        }
    }

    /// The steps of the module docs for one part.
    fn compress(&self, id: PartId) -> io::Result<Result<(), Skip>> {
        let plain = self.dir.join(id.file_name());
        let tmp = self.dir.join(id.tmp_name());
        let gz = self.dir.join(id.gz_name());
        let mut src = match crate::fs::open_read(&plain) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Err(Skip::Vanished)),
            Err(e) => return Err(e),
        };
        // Same mode as the day files, whatever the umask.
        let out = crate::fs::create_truncate(&tmp)?;
        // Level 1: log lines compress well even at the fastest level, for a fraction of the
        // default level's CPU per byte, so it keeps up with bursts.
        let mut enc = GzEncoder::new(out, Compression::fast());
        let mut buf = vec![0u8; CHUNK];
        let mut first = true;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            enc.write_all(&buf[..n])?;
            if first {
                first = false;
                enc.get_mut().flush()?;
                self.crash_point(1);
            }
            if self.stop.load(Ordering::Relaxed) {
                drop(enc);
                let _ = fs::remove_file(&tmp);
                return Ok(Err(Skip::Stopped));
            }
        }
        let out = enc.finish()?;
        out.sync_all()?;
        drop(out);
        self.crash_point(2);
        {
            let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            if fs::symlink_metadata(&plain).is_err() {
                // Retention deleted it while we worked: do not bring it back as a .gz.
                let _ = fs::remove_file(&tmp);
                return Ok(Err(Skip::Vanished));
            }
            fs::rename(&tmp, &gz)?;
        }
        // The .gz is durable under its name before the plain copy goes.
        crate::fs::sync_dir(&self.dir)?;
        self.crash_point(3);
        {
            let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            match fs::remove_file(&plain) {
                // Retention may have deleted it meanwhile: gone either way.
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.crash_point(4);
        crate::fs::sync_dir(&self.dir)?;
        Ok(Ok(()))
    }

    /// The test hook of the module docs.
    fn crash_point(&self, step: u8) {
        if self.crash_at == Some(step) {
            std::process::abort();
        }
    }
}
