//! Printing rows: a table on a terminal, JSON lines when piped, or CSV; control characters
//! escaped on the terminal, CSV cells that a spreadsheet would run as a formula defused;
//! tables fitted to the terminal's width, cells cut rather than rows wrapped.

use std::io::{self, Write};

use actionlog::query::Rows;
use actionlog::query::export::csv_record;
use serde_json::Value;

use crate::columns::{Compact, Grid, Pick};
use crate::fit;
use crate::terminal::{self, escape_controls};
use unicode_width::UnicodeWidthStr;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table as wide as the terminal (control characters escaped, long values cut).
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
    /// The columns asked for.
    pub pick: Pick,
    /// What a table may take, in display columns.
    pub width: usize,
    pub w: io::StdoutLock<'static>,
}

/// Escapes DEL and C1 characters, which JSON allows raw but a terminal may act on (serde_json
/// already escapes C0), and the characters that reorder text on screen
/// ([`terminal::escape_controls`]'s list), as JSON escapes: the value read back is the same.
fn json_for_terminal(s: String) -> String {
    let shown_raw =
        |c: char| !('\u{7f}'..='\u{9f}').contains(&c) && !terminal::reorders_or_breaks(c);
    if s.chars().all(shown_raw) {
        return s;
    }
    s.chars()
        .map(|c| {
            if shown_raw(c) {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect()
}

impl Out {
    /// Prints `rows`; `section` (for multi-part answers) becomes a title, a `section` key or a
    /// first CSV column; `compact` is the answer's compact column set for tables, if it has one.
    pub fn rows(
        &mut self,
        section: Option<&str>,
        rows: &Rows,
        compact: Option<&[Compact]>,
    ) -> io::Result<()> {
        match self.format {
            Format::Json => {
                let Some(rows) = self.pick.project(rows) else {
                    return Ok(());
                };
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
                let Some(rows) = self.pick.project(rows) else {
                    return Ok(());
                };
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
                let Some(grid) = self.pick.grid(rows, compact) else {
                    return Ok(());
                };
                if let Some(s) = section {
                    writeln!(self.w, "{}", terminal::cut(s, self.width))?;
                }
                if grid.cells.is_empty() {
                    writeln!(self.w, "(no rows)")?;
                } else {
                    writeln!(self.w, "{}", table(&grid, self.width))?;
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

/// A table in the command's style: a box (`UTF8_BORDERS_ONLY`) whose columns are two spaces
/// apart (the style's blank separator and one space of padding).
fn boxed(header: Vec<String>, rows: Vec<Vec<String>>) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    let columns = header.len();
    t.set_header(header);
    for r in rows {
        t.add_row(r);
    }
    for i in 0..columns {
        let right = if i + 1 == columns { 1 } else { 0 };
        if let Some(c) = t.column_mut(i) {
            c.set_padding((1, right));
        }
    }
    t
}

/// A table's width beyond its cells (borders, padding, separators), measured on the style.
fn frame(columns: usize) -> usize {
    let x = vec!["x".to_owned(); columns];
    let widest = boxed(x.clone(), vec![x]).lines().map(|l| l.width()).max();
    widest.unwrap_or(0).saturating_sub(columns)
}

/// `grid` as a table no wider than `width`: columns sized by [`fit::widths`], each cell
/// escaped and cut to its column; trailing columns left out only when not even one display
/// column each would fit.
fn table(grid: &Grid, width: usize) -> comfy_table::Table {
    let mut shown = grid.headers.len();
    while shown > 1 && frame(shown) + shown > width {
        shown -= 1;
    }
    let natural: Vec<usize> = (0..shown)
        .map(|c| {
            grid.cells
                .iter()
                .map(|r| terminal::shown_width(&r[c]))
                .chain([terminal::shown_width(&grid.headers[c])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let widths = fit::widths(
        &natural,
        &grid.give[..shown],
        width.saturating_sub(frame(shown)),
    );
    // A cut cell is padded to its column's width: an escape or a wide character is never cut
    // in half, so a cut can end short of the width, and a column of such cells would leave
    // room the table was given unused.
    let cut = |cells: &[String]| -> Vec<String> {
        cells[..shown]
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let mut s = terminal::cut(c, *w);
                if terminal::shown_width(c) > *w {
                    let short = w.saturating_sub(s.width());
                    s.extend(std::iter::repeat_n(' ', short));
                }
                s
            })
            .collect()
    };
    boxed(
        cut(&grid.headers),
        grid.cells.iter().map(|r| cut(r)).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::Give;

    fn grid(cells: Vec<Vec<&str>>) -> Grid {
        Grid {
            headers: vec!["time".into(), "user".into(), "message".into()],
            give: vec![Give::Keep, Give::Cut, Give::Text],
            cells: cells
                .into_iter()
                .map(|r| r.into_iter().map(String::from).collect())
                .collect(),
        }
    }

    #[test]
    fn a_table_takes_the_whole_width_and_never_more() {
        let g = grid(vec![
            vec![
                "2026-11-03T10:00:05Z",
                "ユーザー名がとても長い",
                &"x".repeat(300),
            ],
            vec![
                "2026-11-03T10:00:06Z",
                "a\u{1b}[2Jb",
                "日本語\u{7}のテキスト".repeat(20).as_str(),
            ],
        ]);
        for width in 7..260 {
            let text = table(&g, width).to_string();
            let widest = text.lines().map(UnicodeWidthStr::width).max().unwrap();
            assert!(widest <= width, "{width}:\n{text}");
            if width >= 40 {
                // The frame is counted exactly: a long message fills the row (but for the
                // column a wide character could not take).
                assert!(widest + 1 >= width, "{width}:\n{text}");
            }
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_table_that_fits_is_shown_whole() {
        let text = table(&grid(vec![vec!["t", "ann", "hello"]]), 80).to_string();
        assert!(text.contains("│ t     ann   hello   │"), "{text}");
        assert_eq!(frame(3), 8, "{text}");
    }
}
