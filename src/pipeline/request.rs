//! A batch made ready for the sink ([`Request`]): the records of one action inside it folded
//! into one row (the initiated and final records of a span that opened and closed within a
//! linger become a single write), then its rows sorted by table, each write's rows held in a
//! [`Batch`] the sink may share without a copy.

use std::collections::HashMap;

use uuid::Uuid;

use crate::rows::{ActionRecord, JobExecution, Row};
use crate::sink::Batch;

/// A row and how many received records it stands for after merging.
pub(crate) type Weighted = (Row, u64);

/// One write's rows: actions are written first, then job runs; a retry writes both again,
/// which the idempotent writes make harmless.
pub(crate) struct Request {
    pub(crate) actions: Batch<ActionRecord>,
    /// How many received records each action row stands for, in the same order.
    weights: Vec<u64>,
    pub(crate) jobs: Batch<JobExecution>,
}

impl Request {
    /// Rows in the request.
    pub(crate) fn len(&self) -> usize {
        self.actions.len() + self.jobs.len()
    }

    /// Received records the request stands for.
    pub(crate) fn weight(&self) -> u64 {
        self.weights.iter().sum::<u64>() + self.jobs.len() as u64
    }

    /// Two requests of about half the rows each, to isolate rows the store rejects: actions
    /// apart from job runs first, then halves of one kind.
    pub(crate) fn split(self) -> (Request, Request) {
        let (mut actions, mut weights, mut jobs) =
            (self.actions.into_vec(), self.weights, self.jobs.into_vec());
        let part = |actions: Vec<ActionRecord>, weights, jobs: Vec<JobExecution>| Request {
            actions: actions.into(),
            weights,
            jobs: jobs.into(),
        };
        if !actions.is_empty() && !jobs.is_empty() {
            return (
                part(actions, weights, Vec::new()),
                part(Vec::new(), Vec::new(), jobs),
            );
        }
        let right = if jobs.is_empty() {
            let at = actions.len() / 2;
            part(actions.split_off(at), weights.split_off(at), Vec::new())
        } else {
            part(Vec::new(), Vec::new(), jobs.split_off(jobs.len() / 2))
        };
        (part(actions, weights, jobs), right)
    }

    /// The rows back, each with its weight, for the spool or the dead-letter file.
    pub(crate) fn into_rows(self) -> impl Iterator<Item = Weighted> {
        let actions = self.actions.into_vec().into_iter().map(Row::Action);
        let jobs = self
            .jobs
            .into_vec()
            .into_iter()
            .map(|j| (Row::Job(Box::new(j)), 1));
        actions.zip(self.weights).chain(jobs)
    }
}

/// The request for `rows`: records with the same id folded into one (the newest state wins,
/// but an open status never replaces a final one), keeping first-seen order.
pub(crate) fn request(rows: Vec<Row>) -> Request {
    let mut actions: Vec<ActionRecord> = Vec::with_capacity(rows.len());
    let mut weights: Vec<u64> = Vec::with_capacity(rows.len());
    let mut jobs = Vec::new();
    let mut index: HashMap<Uuid, usize> = HashMap::with_capacity(rows.len());
    for row in rows {
        let r = match row {
            Row::Action(r) => r,
            // A job run is written once, when it ends: nothing to merge.
            Row::Job(j) => {
                jobs.push(*j);
                continue;
            }
        };
        match index.get(&r.id) {
            Some(&i) => {
                let slot = &mut actions[i];
                weights[i] += 1;
                // Whoever wrote first, this id is new to the database if any part of it was.
                let first_write = slot.first_write || r.first_write;
                if r.is_final() || !slot.is_final() {
                    *slot = r;
                }
                slot.first_write = first_write;
            }
            None => {
                index.insert(r.id, actions.len());
                actions.push(r);
                weights.push(1);
            }
        }
    }
    Request {
        actions: actions.into(),
        weights,
        jobs: jobs.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let merged = request(vec![
            rec(a, "initiated"),
            rec(b, "initiated"),
            Row::Job(Box::new(run)),
            rec(a, "completed"),
            rec(a, "initiated"),
        ]);
        let got: Vec<(Uuid, String, u64)> = merged
            .into_rows()
            .map(|(r, w)| (r.id(), status(&r).to_owned(), w))
            .collect();
        assert_eq!(
            got,
            vec![
                (a, "completed".to_owned(), 3),
                (b, "initiated".to_owned(), 1),
                (j, "success".to_owned(), 1)
            ]
        );
    }
}
