//! A small tmpfs the test owns (we run as root), for disk-full and small-disk tests. Under
//! `CI=true` a refused mount fails the test; elsewhere the test is skipped loudly.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub struct Tmpfs {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Tmpfs {
    /// A tmpfs of `size` (`6m`, `64k`, …) mounted on a fresh directory, or `None` (skip).
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and this machine refused to mount a tmpfs");
            }
            eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
            return None;
        }
        Some(Tmpfs { _dir: dir, path })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
