//! `actionlog tail`: the day files as console lines, and `-f` following
//! `latest.log` across midnight. Which files exist and how they are opened is
//! `actionlog::query::dayfiles`; this file only filters, renders and follows.
//!
//! Following: the current day file is read to its end, then polled; once a newer day file
//! exists, the current one is read to its end once more (the writer finished it before it
//! opened the next) and the next day in name order is read from its start, so every line is
//! printed once, in order, however many days passed between two polls.
//!
//! A line longer than `actionlog::limits::MAX_LINE_BYTES` is read through without being kept
//! and reported on stderr instead of printed.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::time::Duration;

use actionlog::limits::MAX_LINE_BYTES;
use actionlog::query::dayfiles::{self, DayFile};
use serde_json::Value;

use crate::terminal::escape_controls;

/// What to show and how.
pub struct TailOpts {
    pub follow: bool,
    pub lines: usize,
    /// Minimum level rank (see [`rank`]).
    pub level: Option<u8>,
    pub logger: Option<String>,
    pub grep: Option<String>,
    /// Only the lines of this trace: their `trace_id` (32 lowercase hex digits) equals it.
    pub trace: Option<String>,
    pub json: bool,
    pub color: bool,
    pub poll: Duration,
}

/// A trace id as `--trace` takes it: 32 hex digits, in lowercase as the lines hold it.
pub fn trace_id(id: &str) -> Option<String> {
    let id = id.trim();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// TRACE 0 … ERROR 4; `WARN` and `WARNING` alike.
pub fn rank(level: &str) -> Option<u8> {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => Some(0),
        "DEBUG" => Some(1),
        "INFO" => Some(2),
        "WARN" | "WARNING" => Some(3),
        "ERROR" => Some(4),
        _ => None,
    }
}

impl TailOpts {
    /// The line to print for one raw day-file line, if it passes the filters.
    fn render(&self, raw: &str) -> Option<String> {
        let raw = raw.trim_end_matches(['\n', '\r']);
        if raw.is_empty() {
            return None;
        }
        if let Some(g) = &self.grep {
            if !raw.contains(g.as_str()) {
                return None;
            }
        }
        // Most lines of a day are of other traces (or of none): skip them before parsing.
        if let Some(t) = &self.trace {
            if !raw.contains(t.as_str()) {
                return None;
            }
        }
        let v: Value = serde_json::from_str(raw).ok()?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        if let Some(t) = &self.trace {
            if field("trace_id") != t {
                return None;
            }
        }
        let level = field("level");
        if let Some(min) = self.level {
            if rank(level).is_none_or(|r| r < min) {
                return None;
            }
        }
        let logger = field("logger");
        if let Some(t) = &self.logger {
            if logger != t && !logger.starts_with(&format!("{t}::")) {
                return None;
            }
        }
        if self.json {
            return Some(escape_controls(raw));
        }
        let ts = escape_controls(&field("timestamp").chars().take(19).collect::<String>());
        let pad = " ".repeat(9 - level.len().min(8));
        let shown = escape_controls(level);
        let shown = if self.color {
            let code = match rank(level) {
                Some(0) => "2",
                Some(1) => "36",
                Some(2) => "32",
                Some(3) => "33",
                Some(4) => "31",
                _ => "0",
            };
            format!("\x1b[{code}m{shown}\x1b[0m")
        } else {
            shown
        };
        let mut line = format!(
            "{ts} {shown}{pad}[{}] {}",
            escape_controls(logger),
            escape_controls(field("message"))
        );
        if let Some(meta) = raw_metadata(raw).filter(|m| m.len() > 2) {
            line.push(' ');
            line.push_str(&escape_controls(&spaced(meta)));
        }
        Some(line)
    }
}

/// The file line's `metadata` object as written (key order kept): the first `,"metadata":`
/// is the top-level key, since a quote inside a string is always escaped.
fn raw_metadata(raw: &str) -> Option<&str> {
    let at = raw.find(",\"metadata\":")? + ",\"metadata\":".len();
    let rest = raw[at..].strip_suffix('}')?;
    rest.starts_with('{').then_some(rest)
}

/// Compact JSON with the console's separators, `": "` and `", "`.
fn spaced(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    let (mut in_str, mut esc) = (false, false);
    for c in json.chars() {
        out.push(c);
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else {
            match c {
                '"' => in_str = true,
                ':' | ',' => out.push(' '),
                _ => {}
            }
        }
    }
    out
}

fn no_day_files(dir: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "{}: no day files (YYYY-MM-DD.log, .N.log, .log.gz); is --log-dir right?",
            dir.display()
        ),
    )
}

/// Runs `tail` until the output closes (or, without `-f`, once the lines are printed).
pub fn run(dir: &Path, o: &TailOpts, out: &mut impl Write) -> io::Result<()> {
    let files = dayfiles::list(dir)?;
    if !o.follow {
        let mut last: VecDeque<String> = VecDeque::new();
        for f in files.iter().rev() {
            let mut mine: Vec<String> = Vec::new();
            let mut reader = dayfiles::open(f)?;
            let mut line = Line::default();
            while line.read(&mut reader, &f.path, |s| {
                mine.extend(o.render(s));
                Ok(())
            })? {}
            line.finish(&f.path, |s| {
                mine.extend(o.render(s));
                Ok(())
            })?;
            for s in mine.into_iter().rev() {
                if last.len() < o.lines {
                    last.push_front(s);
                }
            }
            if last.len() >= o.lines {
                break;
            }
        }
        if files.is_empty() {
            return Err(no_day_files(dir));
        }
        for s in last {
            writeln!(out, "{s}")?;
        }
        return out.flush();
    }
    let start = dayfiles::latest(dir)
        .and_then(|(day, part)| {
            files
                .iter()
                .find(|f| f.day == day && f.part == part)
                .cloned()
        })
        .or_else(|| files.last().cloned());
    let mut current: DayFile = match start {
        Some(f) => f,
        None => loop {
            // Nothing written yet: wait for the first day file.
            if let Some(f) = dayfiles::list(dir)?.into_iter().next() {
                break f;
            }
            std::thread::sleep(o.poll);
        },
    };
    let mut reader = dayfiles::open(&current)?;
    let mut pending = Line::default();
    // The current file's last lines, then everything that follows.
    let mut first: VecDeque<String> = VecDeque::new();
    pending.drain(&mut reader, &current.path, |s| {
        if let Some(s) = o.render(s) {
            first.push_back(s);
            if first.len() > o.lines {
                first.pop_front();
            }
        }
        Ok(())
    })?;
    for s in first {
        writeln!(out, "{s}")?;
    }
    out.flush()?;
    loop {
        let mut emit = |s: &str| match o.render(s) {
            Some(s) => writeln!(out, "{s}"),
            None => Ok(()),
        };
        let got = pending.drain(&mut reader, &current.path, &mut emit)?;
        if got {
            out.flush()?;
            continue;
        }
        // The next part of the same day (a size cap) or the next day.
        let next = dayfiles::list(dir)?
            .into_iter()
            .find(|f| (&f.day, f.part) > (&current.day, current.part));
        match next {
            Some(f) => {
                pending.drain(&mut reader, &current.path, &mut emit)?;
                pending.finish(&current.path, &mut emit)?;
                out.flush()?;
                reader = dayfiles::open(&f)?;
                current = f;
            }
            None => std::thread::sleep(o.poll),
        }
    }
}

/// The line being read: what was kept of it, and how many bytes past the bound were not.
#[derive(Default)]
struct Line {
    kept: Vec<u8>,
    dropped: u64,
}

impl Line {
    /// Reads one line from `reader`, passing it to `line` once complete (or reporting it when
    /// it was too long to keep); `false` at the end of what is available now. A line still
    /// being written stays here for the next call.
    fn read(
        &mut self,
        reader: &mut impl BufRead,
        path: &Path,
        line: impl FnOnce(&str) -> io::Result<()>,
    ) -> io::Result<bool> {
        let r = dayfiles::read_line(reader, &mut self.kept, MAX_LINE_BYTES)?;
        self.dropped += r.dropped;
        if r.complete {
            self.finish(path, line)?;
        }
        Ok(r.consumed > 0)
    }

    /// Reads every complete line now available; `true` if any was read.
    fn drain(
        &mut self,
        reader: &mut impl BufRead,
        path: &Path,
        mut line: impl FnMut(&str) -> io::Result<()>,
    ) -> io::Result<bool> {
        let mut any = false;
        while self.read(reader, path, &mut line)? {
            any = true;
        }
        Ok(any)
    }

    /// Passes on (or reports) what is held, even without its newline: the file's last line.
    fn finish(&mut self, path: &Path, line: impl FnOnce(&str) -> io::Result<()>) -> io::Result<()> {
        let (kept, dropped) = (
            std::mem::take(&mut self.kept),
            std::mem::take(&mut self.dropped),
        );
        if dropped > 0 {
            eprintln!(
                "actionlog: a line of {} bytes in {}, longer than the {MAX_LINE_BYTES} bytes a line may take; skipped",
                kept.len() as u64 + dropped,
                escape_controls(&path.display().to_string()),
            );
            return Ok(());
        }
        if kept.is_empty() {
            return Ok(());
        }
        line(&String::from_utf8_lossy(&kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_line_from_a_file_line() {
        let o = TailOpts {
            follow: false,
            lines: 10,
            level: None,
            logger: None,
            grep: None,
            trace: None,
            json: false,
            color: false,
            poll: Duration::from_millis(1),
        };
        let raw = r#"{"timestamp":"2025-11-03T14:30:45.123456+01:00","level":"INFO","message":"Start \u001b[2J","logger":"data_collection_page","metadata":{"us_congress":true,"lookback_days":30,"s":"a,b:c"}}"#;
        assert_eq!(
            o.render(raw).unwrap(),
            "2025-11-03T14:30:45 INFO     [data_collection_page] Start \\u{1b}[2J {\"us_congress\": true, \"lookback_days\": 30, \"s\": \"a,b:c\"}"
        );
    }

    #[test]
    fn only_the_lines_of_one_trace() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let o = TailOpts {
            follow: false,
            lines: 10,
            level: None,
            logger: None,
            grep: None,
            trace: trace_id(&id.to_ascii_uppercase()),
            json: true,
            color: false,
            poll: Duration::from_millis(1),
        };
        let line = |t: &str| {
            format!(
                r#"{{"timestamp":"2025-11-03T14:30:45.123456+00:00","level":"INFO","message":"m","logger":"x",{t}"metadata":{{}}}}"#
            )
        };
        let mine = line(&format!(
            r#""trace_id":"{id}","span_id":"00f067aa0ba902b7","#
        ));
        assert_eq!(o.render(&mine).as_deref(), Some(mine.as_str()));
        let other =
            line(r#""trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"00f067aa0ba902b7","#);
        assert_eq!(o.render(&other), None);
        assert_eq!(o.render(&line("")), None);
        // The id elsewhere in the line is not the line's trace.
        let mention = line("").replace(r#""message":"m""#, &format!(r#""message":"{id}""#));
        assert_eq!(o.render(&mention), None);
        assert_eq!(trace_id("xyz"), None);
        assert_eq!(trace_id(&id[1..]), None);
    }
}
