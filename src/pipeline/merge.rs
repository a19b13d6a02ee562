//! Folding the records of one action inside a batch into one row: the initiated and final
//! records of a span that opened and closed within a linger become a single write.

use std::collections::HashMap;

use uuid::Uuid;

use super::delivery::Weighted;
use crate::rows::Row;

/// Folds records with the same id into one (the newest state wins, but an open status never
/// replaces a final one), keeping first-seen order.
pub(crate) fn merge(records: Vec<Row>) -> Vec<Weighted> {
    let mut out: Vec<Weighted> = Vec::with_capacity(records.len());
    let mut index: HashMap<Uuid, usize> = HashMap::with_capacity(records.len());
    for row in records {
        let r = match row {
            Row::Action(r) => r,
            // A job run is written once, when it ends: nothing to merge.
            job => {
                out.push((job, 1));
                continue;
            }
        };
        match index.get(&r.id) {
            Some(&i) => {
                if let (Row::Action(slot), weight) = &mut out[i] {
                    *weight += 1;
                    // Whoever wrote first, this id is new to the database if any part of it was.
                    let first_write = slot.first_write || r.first_write;
                    if r.is_final() || !slot.is_final() {
                        *slot = r;
                    }
                    slot.first_write = first_write;
                }
            }
            None => {
                index.insert(r.id, out.len());
                out.push((Row::Action(r), 1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{ActionRecord, JobExecution};

    fn rec(id: Uuid, status: &str) -> Row {
        let mut r = ActionRecord::new(id, "t".into(), chrono::Utc::now(), status);
        r.first_write = status == "initiated";
        Row::Action(r)
    }

    fn status(row: &Row) -> &str {
        match row {
            Row::Action(a) => &a.status,
            Row::Job(j) => &j.status,
        }
    }

    #[test]
    fn merge_keeps_final_state_and_counts_weights() {
        let (a, b, j) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let run = JobExecution::new(j, "job", "success", chrono::Utc::now());
        let merged = merge(vec![
            rec(a, "initiated"),
            rec(b, "initiated"),
            Row::Job(Box::new(run)),
            rec(a, "completed"),
            rec(a, "initiated"),
        ]);
        let got: Vec<(Uuid, &str, u64)> = merged
            .iter()
            .map(|(r, w)| (r.id(), status(r), *w))
            .collect();
        assert_eq!(
            got,
            vec![(a, "completed", 3), (b, "initiated", 1), (j, "success", 1)]
        );
    }
}
