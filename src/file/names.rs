//! The names actionlog gives its files in the log directory, and the only names it ever deletes,
//! compresses or reads back:
//!
//! - `YYYY-MM-DD.log`: a day's first part (part 0, the plain day name);
//! - `YYYY-MM-DD.N.log` (N = 1, 2, …, no leading zero): the day's next parts, when
//!   `max_file_bytes` is set;
//! - either of those with `.gz` appended: the same part, compressed (cargo feature `compress`);
//! - `.<one of the above>.gz.tmp`: a compression in progress (hidden; never read).
//!
//! A name is ours only if formatting what it parses to gives the same name back, so
//! `2025-02-30.log`, `2025-11-03.01.log` or `2025-11-03.log.bak` are never touched.

use std::path::Path;

use crate::clock::Day;

/// One part of one day: the key that orders the files (day, then part number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PartId {
    pub(crate) day: Day,
    pub(crate) part: u32,
}

impl PartId {
    /// The plain file name of this part: `YYYY-MM-DD.log` or `YYYY-MM-DD.N.log`.
    pub(crate) fn file_name(self) -> String {
        if self.part == 0 {
            self.day.format("%Y-%m-%d.log").to_string()
        } else {
            format!("{}.{}.log", self.day.format("%Y-%m-%d"), self.part)
        }
    }

    /// The compressed file name of this part (`….log.gz`).
    pub(crate) fn gz_name(self) -> String {
        format!("{}{GZ}", self.file_name())
    }

    /// The temporary name the compressor writes to before renaming to [`Self::gz_name`].
    #[cfg_attr(not(feature = "compress"), allow(dead_code))]
    pub(crate) fn tmp_name(self) -> String {
        format!(".{}{TMP}", self.gz_name())
    }
}

/// What kind of file of ours a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Plain,
    Gz,
    Tmp,
}

const GZ: &str = ".gz";
const TMP: &str = ".tmp";

/// Parses one of our names; `None` for anything else (including `latest.log`).
pub(crate) fn parse(name: &str) -> Option<(PartId, Kind)> {
    let (kind, plain) = if let Some(rest) = name.strip_prefix('.') {
        (Kind::Tmp, rest.strip_suffix(TMP)?.strip_suffix(GZ)?)
    } else if let Some(rest) = name.strip_suffix(GZ) {
        (Kind::Gz, rest)
    } else {
        (Kind::Plain, name)
    };
    let stem = plain.strip_suffix(".log")?;
    let day = chrono::NaiveDate::parse_from_str(stem.get(..10)?, "%Y-%m-%d").ok()?;
    let part = match stem.get(10..)? {
        "" => 0,
        rest => rest
            .strip_prefix('.')?
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0)?,
    };
    let id = PartId { day, part };
    // Canonical only: rejects "2025-1-03", "+1", "01" and the like.
    (id.file_name() == plain).then_some((id, kind))
}

/// One of our files found in the directory.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) id: PartId,
    pub(crate) kind: Kind,
    /// Size on disk when listed.
    pub(crate) len: u64,
}

/// Our regular files in `dir`, sorted by (part, kind); symlinks and other names are skipped.
pub(crate) fn scan(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let Ok(e) = e else { continue };
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let Some((id, kind)) = parse(&name) else {
            continue;
        };
        // `DirEntry::metadata` does not follow symlinks: a planted link is never ours.
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        v.push(Entry {
            name,
            id,
            kind,
            len: meta.len(),
        });
    }
    v.sort_by_key(|e| (e.id, e.kind as u8));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str, part: u32) -> PartId {
        PartId {
            day: s.parse().unwrap(),
            part,
        }
    }

    #[test]
    fn our_names_round_trip() {
        let d = id("2025-11-03", 0);
        assert_eq!(parse("2025-11-03.log"), Some((d, Kind::Plain)));
        assert_eq!(parse("2025-11-03.log.gz"), Some((d, Kind::Gz)));
        assert_eq!(parse(".2025-11-03.log.gz.tmp"), Some((d, Kind::Tmp)));
        let p = id("2025-11-03", 12);
        assert_eq!(p.file_name(), "2025-11-03.12.log");
        assert_eq!(parse("2025-11-03.12.log"), Some((p, Kind::Plain)));
        assert_eq!(parse("2025-11-03.12.log.gz"), Some((p, Kind::Gz)));
        assert_eq!(parse(&p.tmp_name()), Some((p, Kind::Tmp)));
    }

    #[test]
    fn other_names_are_not_ours() {
        for n in [
            "latest.log",
            ".latest.log.tmp-12",
            "2025-02-30.log",
            "2025-1-03.log",
            "2025-11-03.log.bak",
            "2025-11-03.0.log",
            "2025-11-03.01.log",
            "2025-11-03.+1.log",
            "2025-11-03.x.log",
            "2025-11-03..log",
            "2025-11-03.log.gz.tmp",
            ".2025-11-03.log.tmp",
            "notes-2025.log",
            "2025-11-03.jsonl",
            "é",
        ] {
            assert_eq!(parse(n), None, "{n}");
        }
    }

    mod properties {
        use super::super::*;
        use crate::props::{config, hostile_char, hostile_text};
        use chrono::Datelike;
        use proptest::prelude::*;

        fn name_of(id: PartId, kind: Kind) -> String {
            match kind {
                Kind::Plain => id.file_name(),
                Kind::Gz => id.gz_name(),
                Kind::Tmp => id.tmp_name(),
            }
        }

        /// Days the names can hold: years 0000 to 9999, as `%Y` writes them in four digits.
        fn part_id() -> impl Strategy<Value = PartId> {
            let first = chrono::NaiveDate::from_ymd_opt(0, 1, 1).unwrap();
            let last = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
            (
                first.num_days_from_ce()..=last.num_days_from_ce(),
                prop_oneof![3 => Just(0u32), 3 => 1u32..20, 1 => any::<u32>()],
            )
                .prop_map(|(d, part)| PartId {
                    day: chrono::NaiveDate::from_num_days_from_ce_opt(d).unwrap(),
                    part,
                })
        }

        fn kind() -> impl Strategy<Value = Kind> {
            prop::sample::select(vec![Kind::Plain, Kind::Gz, Kind::Tmp])
        }

        /// A name of ours with one character inserted, removed or replaced.
        fn mutated() -> impl Strategy<Value = String> {
            (
                part_id(),
                kind(),
                any::<prop::sample::Index>(),
                0..3u8,
                hostile_char(),
            )
                .prop_map(|(id, k, at, edit, c)| {
                    let mut chars: Vec<char> = name_of(id, k).chars().collect();
                    let i = at.index(chars.len() + 1);
                    match edit {
                        0 => chars.insert(i, c),
                        1 if i < chars.len() => {
                            chars.remove(i);
                        }
                        _ if i < chars.len() => chars[i] = c,
                        _ => chars.push(c),
                    }
                    chars.into_iter().collect()
                })
        }

        proptest! {
            #![proptest_config(config(512))]

            /// Every name actionlog gives a part reads back as that part (512 cases).
            #[test]
            fn our_names_read_back(id in part_id(), k in kind()) {
                prop_assert_eq!(parse(&name_of(id, k)), Some((id, k)));
            }

            /// Any other name is ours only if it is exactly the name of what it parses to, so
            /// retention, compression and the readers never touch a file they did not name
            /// (512 cases, near misses of our names and hostile text).
            #[test]
            fn a_name_is_ours_only_in_its_canonical_form(
                s in prop_oneof![mutated(), hostile_text(24)],
            ) {
                if let Some((id, k)) = parse(&s) {
                    prop_assert_eq!(name_of(id, k), s);
                }
            }
        }
    }
}
