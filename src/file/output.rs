//! Where the writer's lines go: the day files ([`super::rolling`]), or standard output alone
//! when the day files are off ([`super::stdout`]). The writer drives both the same way — the
//! day it is on, the open file, a failure and its retries — and what has no meaning on stdout
//! (parts, a file deleted under it, reopening) does nothing there.

use std::fmt;
use std::fs::File;
use std::io;

use super::rolling::DayFiles;
use super::stdout::Stdout;
use crate::clock::Day;

pub(crate) enum Output {
    Files(DayFiles),
    /// Standard output, and the day the writer is on (a round orders its lines by day
    /// whatever the destination).
    Stdout {
        out: Stdout,
        day: Day,
    },
}

impl Output {
    /// The day files, when they are the destination.
    pub(crate) fn day_files(&self) -> Option<&DayFiles> {
        match self {
            Output::Files(f) => Some(f),
            Output::Stdout { .. } => None,
        }
    }

    /// The day being written.
    pub(crate) fn day(&self) -> Day {
        match self {
            Output::Files(f) => f.day(),
            Output::Stdout { day, .. } => *day,
        }
    }

    /// Moves on to `day` (later than [`Output::day`]): its day file, for the files.
    pub(crate) fn enter_day(&mut self, to: Day) -> io::Result<()> {
        match self {
            Output::Files(f) => f.rotate(to),
            Output::Stdout { day, .. } => {
                *day = to;
                Ok(())
            }
        }
    }

    /// The size at which the open part is closed (never, on stdout).
    pub(crate) fn part_cap(&self) -> Option<u64> {
        match self {
            Output::Files(f) => f.part_cap(),
            Output::Stdout { .. } => None,
        }
    }

    /// Bytes in the open part (read only under a part cap).
    pub(crate) fn len(&self) -> u64 {
        match self {
            Output::Files(f) => f.len(),
            Output::Stdout { .. } => 0,
        }
    }

    /// Notes `n` bytes written.
    pub(crate) fn wrote(&mut self, n: usize) {
        if let Output::Files(f) = self {
            f.wrote(n);
        }
    }

    /// Continues in the day's next part (only under a part cap, so never on stdout).
    pub(crate) fn next_part(&mut self) -> io::Result<()> {
        match self {
            Output::Files(f) => f.next_part(),
            Output::Stdout { .. } => Ok(()),
        }
    }

    /// What to write to, reopening a day file closed after an error.
    pub(crate) fn file(&mut self) -> io::Result<&mut File> {
        match self {
            Output::Files(f) => f.file(),
            Output::Stdout { out, .. } => Ok(out.file()),
        }
    }

    /// Forgets the open day file after an error, so the next write reopens it; stdout stays.
    pub(crate) fn close(&mut self) {
        if let Output::Files(f) = self {
            f.close();
        }
    }

    /// Whether the open day file is no longer what its path names.
    pub(crate) fn is_stale(&self) -> bool {
        match self {
            Output::Files(f) => f.is_stale(),
            Output::Stdout { .. } => false,
        }
    }
}

/// The destination as reports name it: the open day file's path, or `standard output`.
impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Files(files) => write!(f, "{}", files.current_path().display()),
            Output::Stdout { .. } => f.write_str("standard output"),
        }
    }
}
