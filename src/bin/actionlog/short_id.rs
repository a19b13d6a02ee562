//! Short ids: what the compact tables show of a UUID, and how the command takes one back.
//!
//! A UUID v7 starts with its time in milliseconds, so its first digits are shared by every id
//! of the same moment; its last 8 hex digits are random (32 bits, in v4 ids too), so they
//! tell apart the rows of any page. `id=` and `job_execution_id=` filters and `runs --logs`
//! take a short id as well as a full one: the store is asked for ids containing it, and only
//! those ending in it are kept.

use actionlog::query::export::cell_text;
use actionlog::query::{Entity, Rows};

/// Hex digits a short id has.
const LEN: usize = 8;

/// The last 8 hex digits of a UUID; any other text as it is.
pub fn of(id: &str) -> &str {
    let b = id.as_bytes();
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if uuid { &id[36 - LEN..] } else { id }
}

/// Whether `s` is a short id (8 hex digits), as opposed to a full UUID.
pub fn is_short(s: &str) -> bool {
    s.len() == LEN && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// Id columns that must end in a short id: what the store's `~` search cannot say alone.
#[derive(Debug, Default)]
pub struct Ends(Vec<(String, String)>);

impl Ends {
    /// The filter expressions as the store is asked: `COLUMN=SHORT` on an id column becomes
    /// `COLUMN~short`, remembered so that [`Ends::keep`] drops the rows holding it elsewhere.
    pub fn rewrite(entity: Entity, exprs: &[String]) -> (Vec<String>, Ends) {
        let mut ends = Ends::default();
        let exprs = exprs
            .iter()
            .map(|e| match e.split_once('=') {
                Some((name, value))
                    if matches!(name.trim(), "id" | "job_execution_id")
                        && entity.columns().contains(&name.trim())
                        && is_short(value) =>
                {
                    let value = value.to_ascii_lowercase();
                    ends.0.push((name.trim().to_owned(), value.clone()));
                    format!("{}~{value}", name.trim())
                }
                _ => e.clone(),
            })
            .collect();
        (exprs, ends)
    }

    /// Keeps the rows whose id columns end in their short ids. Dropping rows from a page
    /// leaves its cursor as it is: the next page still starts after the last row read.
    pub fn keep(&self, rows: &mut Rows) {
        if self.0.is_empty() {
            return;
        }
        let at: Vec<(Option<usize>, &str)> = self
            .0
            .iter()
            .map(|(c, s)| (rows.columns.iter().position(|x| x == c), s.as_str()))
            .collect();
        rows.rows.retain(|r| {
            at.iter().all(|(i, s)| {
                i.and_then(|i| r.get(i))
                    .is_some_and(|v| of(&cell_text(v).to_ascii_lowercase()) == *s)
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_random_end_of_a_uuid() {
        assert_eq!(of("01890a5d-ac96-774b-bcce-b302099a8057"), "099a8057");
        assert_eq!(of("data_collection"), "data_collection");
        assert!(is_short("099A8057"));
        assert!(!is_short("01890a5d-ac96-774b-bcce-b302099a8057"));
        assert!(!is_short("099a805"));
    }

    #[test]
    fn short_id_filters_keep_only_ids_ending_in_them() {
        let (exprs, ends) = Ends::rewrite(
            Entity::Actions,
            &[
                "id=099A8057".into(),
                "status=failed".into(),
                "id!=099a8057".into(),
                "job_execution_id=01890a5d-ac96-774b-bcce-b302099a8057".into(),
            ],
        );
        assert_eq!(
            exprs,
            [
                "id~099a8057",
                "status=failed",
                "id!=099a8057",
                "job_execution_id=01890a5d-ac96-774b-bcce-b302099a8057"
            ]
        );
        let (runs, _) = Ends::rewrite(Entity::Runs, &["job_execution_id=099a8057".into()]);
        assert_eq!(runs, ["job_execution_id=099a8057"], "not a column of runs");
        let mut rows = Rows {
            columns: vec!["id".into()],
            rows: vec![
                vec![Value::from("01890a5d-ac96-774b-bcce-b302099a8057")],
                // Holds the digits, but not at its end.
                vec![Value::from("099a8057-ac96-774b-bcce-b30200000000")],
            ],
        };
        ends.keep(&mut rows);
        assert_eq!(rows.rows.len(), 1);
        assert_eq!(rows.rows[0][0], "01890a5d-ac96-774b-bcce-b302099a8057");
    }
}
