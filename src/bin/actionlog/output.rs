//! Printing rows: a table on a terminal, JSON lines when piped, or CSV; control characters
//! escaped on the terminal, CSV cells that a spreadsheet would run as a formula defused.

use std::io::{self, Write};

use actionlog::query::Rows;
use actionlog::query::export::{cell_text, csv_record};
use serde_json::Value;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table (control characters escaped, long values cut).
    Table,
    /// One JSON object per row.
    Json,
    /// Comma-separated values with a header row, formula-safe.
    Csv,
}

/// Where output goes and how.
pub struct Out {
    pub format: Format,
    /// Stdout is a terminal: escape everything a terminal would interpret.
    pub terminal: bool,
    pub w: io::StdoutLock<'static>,
}

/// `\n`, `\r`, `\t` and every other control character (C0, DEL, C1, so ESC and CSI too)
/// written as a visible escape, the way the console layer writes them.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Escapes DEL and C1 characters, which JSON allows raw but a terminal may act on (serde_json
/// already escapes C0).
fn json_for_terminal(s: String) -> String {
    if !s.chars().any(|c| ('\u{7f}'..='\u{9f}').contains(&c)) {
        return s;
    }
    s.chars()
        .map(|c| {
            if ('\u{7f}'..='\u{9f}').contains(&c) {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

const MAX_CELL: usize = 80;

impl Out {
    /// Prints `rows`; `section` (for multi-part answers) becomes a title, a `section` key or a
    /// first CSV column.
    pub fn rows(&mut self, section: Option<&str>, rows: &Rows) -> io::Result<()> {
        match self.format {
            Format::Json => {
                for obj in rows.objects() {
                    let mut obj = obj;
                    if let Some(s) = section {
                        obj.insert("section".into(), Value::from(s));
                    }
                    let mut line = Value::Object(obj).to_string();
                    if self.terminal {
                        line = json_for_terminal(line);
                    }
                    writeln!(self.w, "{line}")?;
                }
            }
            Format::Csv => {
                let mut header: Vec<String> = Vec::new();
                if section.is_some() {
                    header.push("section".into());
                }
                header.extend(rows.columns.iter().cloned());
                self.csv_line(header.into_iter().map(Value::from).collect())?;
                for r in &rows.rows {
                    let mut line = Vec::new();
                    if let Some(s) = section {
                        line.push(Value::from(s));
                    }
                    line.extend(r.iter().cloned());
                    self.csv_line(line)?;
                }
            }
            Format::Table => {
                if let Some(s) = section {
                    writeln!(self.w, "{s}")?;
                }
                let mut t = comfy_table::Table::new();
                t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                t.set_header(rows.columns.iter().map(|c| escape_controls(c)));
                for r in &rows.rows {
                    t.add_row(r.iter().map(|v| {
                        let s = escape_controls(&cell_text(v));
                        if s.chars().count() > MAX_CELL {
                            let cut: String = s.chars().take(MAX_CELL - 1).collect();
                            format!("{cut}…")
                        } else {
                            s
                        }
                    }));
                }
                if rows.rows.is_empty() {
                    writeln!(self.w, "(no rows)")?;
                } else {
                    writeln!(self.w, "{t}")?;
                }
            }
        }
        Ok(())
    }

    fn csv_line(&mut self, cells: Vec<Value>) -> io::Result<()> {
        let line = csv_record(&cells);
        let line = if self.terminal {
            escape_controls(&line)
        } else {
            line
        };
        write!(self.w, "{line}\r\n")
    }

    /// A line of text (escaped on a terminal).
    pub fn text(&mut self, s: &str) -> io::Result<()> {
        if self.terminal {
            writeln!(self.w, "{}", escape_controls(s))
        } else {
            writeln!(self.w, "{s}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_escaped() {
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\n\u{9b}"),
            "a\\u{1b}[2Jb\\n\\u{9b}"
        );
    }
}
