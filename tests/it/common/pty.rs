//! Running the `actionlog` command with its stdout on a pseudo-terminal of a given size, as a
//! user's terminal would be. Unix only: `openpty`, the window size set with `TIOCSWINSZ`, the master side read
//! with `poll` until the command has closed its side, within a deadline.
#![allow(dead_code)]

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cli::{STORE_VARS, bin};

/// What the command wrote to the terminal (line ends as the program wrote them: the
/// terminal's `\r\n` turned back into `\n`), its stderr and its exit code.
pub struct Shown {
    pub text: String,
    pub stderr: String,
    pub code: Option<i32>,
}

/// A pseudo-terminal `columns` wide: (master, slave).
fn open(columns: u16) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let size = libc::winsize {
        ws_row: 50,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let rc = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    (master, slave)
}

/// `actionlog ARGS` in `dir`, stdout on a terminal `columns` wide, with only `env` for the
/// store and the width (`COLUMNS` removed unless given); fails the test if it hangs.
pub fn run(dir: &Path, columns: u16, args: &[&str], env: &[(&str, &str)]) -> Shown {
    let (master, slave) = open(columns);
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::piped());
    for v in STORE_VARS.iter().chain(&["COLUMNS", "NO_COLOR"]) {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // The command holds the only slave descriptor now: the master reads end-of-file (or EIO)
    // once it has exited.
    drop(cmd);
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    let mut master = File::from(master);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = child.kill();
            panic!("actionlog {args:?} did not finish within 60 s");
        }
        let mut fds = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let n = unsafe { libc::poll(&mut fds, 1, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "poll: {e}");
            continue;
        }
        if n == 0 {
            continue;
        }
        let mut buf = [0u8; 8192];
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
            // Linux: the slave side is closed.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the terminal: {e}"),
        }
    }
    let status = child.wait().unwrap();
    Shown {
        text: String::from_utf8(out)
            .expect("the terminal got UTF-8")
            .replace("\r\n", "\n"),
        stderr: err.join().unwrap(),
        code: status.code(),
    }
}
