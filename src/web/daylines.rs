//! Day-file lines for the run page (the lines of a time span) and the live page (the lines
//! written after a position), read through [`crate::query::dayfiles`] so numbered and
//! compressed parts are read as the file layer wrote them.
//!
//! A position is `DAY.PART.OFFSET`: a byte offset into one part, always just after a whole
//! line, so a reader that resumes from it neither repeats nor skips a line.
//!
//! Lines are read with [`dayfiles::read_line`]: a line longer than
//! [`crate::limits::MAX_LINE_BYTES`] is read through, not kept, and shown as a note saying so.

use std::io::{self, BufRead, Read, Seek};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::query::dayfiles::{self, DayFile};

/// One day-file line.
#[derive(Debug, Clone)]
pub(crate) struct DayLine {
    pub raw: String,
    pub time: String,
    pub level: String,
    pub logger: String,
    pub message: String,
}

impl DayLine {
    /// The line read into `buf`; a note in its place when it was longer than the bound.
    fn read(buf: &[u8], read: dayfiles::LineRead) -> DayLine {
        if read.dropped == 0 {
            return DayLine::parse(String::from_utf8_lossy(buf).trim_end());
        }
        let note = format!(
            "(a line of {} bytes, longer than the {} bytes a line may take: not shown)",
            buf.len() as u64 + read.dropped,
            crate::limits::MAX_LINE_BYTES
        );
        DayLine {
            raw: note.clone(),
            time: String::new(),
            level: String::new(),
            logger: String::new(),
            message: note,
        }
    }

    fn parse(raw: &str) -> DayLine {
        let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
        let f = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        DayLine {
            raw: raw.to_owned(),
            time: f("timestamp"),
            level: f("level"),
            logger: f("logger"),
            message: if v.is_null() {
                raw.to_owned()
            } else {
                f("message")
            },
        }
    }

    /// As the console shows it: `TIME LEVEL [logger] message`.
    pub fn shown(&self) -> String {
        format!(
            "{} {:<5} [{}] {}",
            self.time, self.level, self.logger, self.message
        )
    }

    fn at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Where a reader of the day files stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogPos {
    pub day: String,
    pub part: u32,
    pub offset: u64,
}

impl std::fmt::Display for LogPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.day, self.part, self.offset)
    }
}

impl std::str::FromStr for LogPos {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut it = s.splitn(3, '.');
        let day = it
            .next()
            .filter(|d| dayfiles::day_of(&format!("{d}.log")).is_some());
        match (day, it.next(), it.next()) {
            (Some(day), Some(p), Some(o)) => Ok(LogPos {
                day: day.to_owned(),
                part: p.parse().map_err(|_| ())?,
                offset: o.parse().map_err(|_| ())?,
            }),
            _ => Err(()),
        }
    }
}

/// Opens `f` positioned at `offset` (a plain part is seeked; a compressed one read through).
fn open_at(f: &DayFile, offset: u64) -> io::Result<Box<dyn BufRead + Send>> {
    if f.path.extension().is_some_and(|e| e == "log") {
        let mut file = crate::fs::open_read(&f.path)?;
        file.seek(io::SeekFrom::Start(offset))?;
        return Ok(Box::new(io::BufReader::new(file)));
    }
    let mut r = dayfiles::open(f)?;
    io::copy(&mut (&mut r).take(offset), &mut io::sink())?;
    Ok(r)
}

/// The position just past the last whole line written so far (`None`: no day file yet).
pub(crate) fn end(dir: &Path) -> Option<LogPos> {
    let last = dayfiles::list(dir).ok()?.pop()?;
    let mut pos = LogPos {
        day: last.day.clone(),
        part: last.part,
        offset: 0,
    };
    // Count whole lines only: a line being written is read once it is complete.
    let mut r = open_at(&last, 0).ok()?;
    let mut buf = Vec::new();
    while let Ok(read) = dayfiles::read_line(&mut r, &mut buf, crate::limits::MAX_LINE_BYTES) {
        if !read.complete {
            break;
        }
        pos.offset += read.consumed;
        buf.clear();
    }
    Some(pos)
}

/// Up to `max` whole lines after `from` (every line when `from` is `None`), and the position
/// after them.
pub(crate) fn after(
    dir: &Path,
    from: Option<&LogPos>,
    max: usize,
) -> (Vec<DayLine>, Option<LogPos>) {
    let Ok(parts) = dayfiles::list(dir) else {
        return (Vec::new(), from.cloned());
    };
    let mut out = Vec::new();
    let mut pos = from.cloned();
    let start = match &pos {
        None => 0,
        Some(p) => match parts
            .iter()
            .position(|f| (&f.day, f.part) >= (&p.day, p.part))
        {
            Some(i) => i,
            None => return (out, pos),
        },
    };
    for f in &parts[start..] {
        let offset = match &pos {
            Some(p) if p.day == f.day && p.part == f.part => p.offset,
            _ => 0,
        };
        let Ok(mut r) = open_at(f, offset) else {
            break;
        };
        let mut at = offset;
        let mut buf = Vec::new();
        while out.len() < max {
            buf.clear();
            match dayfiles::read_line(&mut r, &mut buf, crate::limits::MAX_LINE_BYTES) {
                Ok(read) if read.complete => {
                    at += read.consumed;
                    if !buf.trim_ascii_end().is_empty() || read.dropped > 0 {
                        out.push(DayLine::read(&buf, read));
                    }
                }
                _ => break,
            }
        }
        pos = Some(LogPos {
            day: f.day.clone(),
            part: f.part,
            offset: at,
        });
        if out.len() >= max {
            break;
        }
    }
    (out, pos)
}

/// The lines stamped within `[start, end]`, at most `max`, from the days the span touches.
pub(crate) fn between(
    dir: &Path,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    max: usize,
) -> Vec<DayLine> {
    let Ok(parts) = dayfiles::list(dir) else {
        return Vec::new();
    };
    // Day files are named by the writer's day, which may be local time: take a day of margin.
    let lo = (start - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let hi = (end + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let mut out = Vec::new();
    for f in parts.iter().filter(|f| f.day >= lo && f.day <= hi) {
        let Ok(mut r) = dayfiles::open(f) else {
            continue;
        };
        let mut buf = Vec::new();
        while let Ok(read) = dayfiles::read_line(&mut r, &mut buf, crate::limits::MAX_LINE_BYTES) {
            if read.consumed == 0 {
                break;
            }
            // An over-long line has no time to place it by: not shown here.
            let l = DayLine::read(&buf, read);
            buf.clear();
            if l.at().is_some_and(|t| t >= start && t <= end) {
                out.push(l);
                if out.len() >= max {
                    return out;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_past_the_bound_is_a_note_never_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let line = |msg: &str| {
            format!(
                r#"{{"timestamp":"2026-03-01T10:00:00.000000+00:00","level":"INFO","message":"{msg}","logger":"app"}}"#
            )
        };
        let long = "x".repeat(crate::limits::MAX_LINE_BYTES + 1);
        let text = format!("{}\n{long}\n{}\n", line("a"), line("b"));
        std::fs::write(dir.path().join("2026-03-01.log"), &text).unwrap();

        let (lines, pos) = after(dir.path(), None, 10);
        let shown: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(shown.len(), 3);
        assert_eq!((shown[0], shown[2]), ("a", "b"));
        assert!(shown[1].contains("not shown"), "{}", &shown[1][..100]);
        assert!(lines[1].raw.len() < 200);
        assert_eq!(pos.unwrap().offset, text.len() as u64);
        assert_eq!(end(dir.path()).unwrap().offset, text.len() as u64);

        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let found = between(
            dir.path(),
            t("2026-03-01T00:00:00Z"),
            t("2026-03-02T00:00:00Z"),
            10,
        );
        assert_eq!(found.len(), 2);
    }
}
