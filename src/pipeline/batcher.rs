//! The delivery worker's loop: collects records from the [`Queue`] into batches (size or linger,
//! whichever comes first), makes each batch a [`Request`] — the records of one action inside it
//! folded into one row (the initiated and final records of a span that opened and closed within
//! a linger become a single write), its rows sorted by table, each write's rows in a [`Batch`]
//! the sink may share without a copy — and hands it to [`Delivery`]; replays the spool oldest
//! first, spools or dead-letters what delivery gives back at shutdown, and answers flush and
//! shutdown commands ([`Asked`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, select};
use uuid::Uuid;

use super::delivery::Delivery;
use super::queue::{Asked, Queue};
use super::spool::{self, Claim, Full, Spilled, Spool};
use super::{ActionCounters, PipelineConfig};
use crate::rows::{ActionRecord, Envelope, JobExecution, LogLine, Row};
use crate::sink::Batch;

/// How often an open batch looks for more records (see [`Batcher::fill`]).
const FILL_TICK: Duration = Duration::from_millis(5);

/// How long the idle worker waits for a record or a command when its sink asks for no ticks:
/// waking then costs nothing, and the wait must be finite for `select!`'s timer.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

pub(crate) struct Batcher {
    queue: Queue,
    config: PipelineConfig,
    counters: Arc<ActionCounters>,
    delivery: Delivery,
}

impl Batcher {
    pub(crate) fn new(
        rx: Receiver<Envelope>,
        ctl: Receiver<super::Cmd>,
        config: PipelineConfig,
        counters: Arc<ActionCounters>,
        delivery: Delivery,
    ) -> Self {
        let spool = config
            .spool_path()
            .map(|dir| Spool::open(dir, config.spool_max_bytes, delivery.store()));
        let queue = Queue::new(rx, ctl, spool, config.capacity, config.redaction.clone());
        Batcher {
            queue,
            config,
            counters,
            delivery,
        }
    }

    /// Serves until shutdown; a panic inside (in a sink, or a bug of ours) is reported and the
    /// loop starts again: delivery never silently stops.
    pub(crate) fn run(mut self) {
        // The sink's own tracing and log output must not come back into this pipeline.
        let _quiet = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        loop {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.serve())) {
                Ok(()) => return,
                Err(p) => crate::report::emit(format_args!(
                    "the action worker panicked ({}); restarting it",
                    crate::report::panic_text(p.as_ref())
                )),
            }
        }
    }

    fn replay_due(&self) -> bool {
        self.queue.spool.as_ref().is_some_and(Spool::replay_due)
    }

    fn serve(&mut self) {
        // An earlier run's spool goes first.
        if self.replay_due() {
            self.replay_spool();
        }
        loop {
            match std::mem::replace(&mut self.queue.asked, Asked::Nothing) {
                Asked::Shutdown(deadline, acks) => {
                    self.queue.asked = Asked::Shutdown(deadline, Vec::new());
                    // Like a flush, within the deadline: what was spilled during this run goes
                    // too (oldest first); unless the sink is failing, in which case the
                    // segments are already where the next start looks.
                    loop {
                        if self.replay_due() && !self.delivery.is_failing() {
                            self.replay_spool();
                        }
                        self.drain_and_deliver();
                        if !self.replay_due() || self.delivery.is_failing() {
                            break;
                        }
                    }
                    self.delivery.close(self.queue.asked.deadline());
                    if let Asked::Shutdown(_, late) =
                        std::mem::replace(&mut self.queue.asked, Asked::Nothing)
                    {
                        for ack in acks.iter().chain(&late) {
                            let _ = ack.send(());
                        }
                    }
                    return;
                }
                Asked::Flush(acks) => {
                    // A flush covers what was spilled while draining, too.
                    loop {
                        self.drain_and_deliver();
                        if !self.replay_due() {
                            break;
                        }
                        self.replay_spool();
                    }
                    for ack in acks {
                        let _ = ack.send(());
                    }
                    continue;
                }
                Asked::Nothing => {}
            }
            if self.replay_due() {
                // Records moved to disk during a slow or failed delivery are older than what
                // the channel holds now: they go first. A command may have come during the
                // replay: look again before blocking.
                self.replay_spool();
                continue;
            }
            // A sink with work of its own between writes (idle digests) is woken for it.
            let wait = self.delivery.tick_in().unwrap_or(IDLE_WAIT);
            let first = select! {
                recv(self.queue.rx) -> r => match r {
                    Ok(r) => Some(r),
                    // Every layer is gone; only commands (and the sink's ticks) can come now.
                    Err(_) => match self.queue.ctl.recv_timeout(wait) {
                        Ok(cmd) => { self.queue.asked.add(cmd); None }
                        Err(RecvTimeoutError::Timeout) => { self.delivery.tick(); None }
                        Err(RecvTimeoutError::Disconnected) => {
                            self.delivery.close(None);
                            return;
                        }
                    },
                },
                recv(self.queue.ctl) -> c => match c {
                    Ok(cmd) => { self.queue.asked.add(cmd); None }
                    Err(_) => {
                        // The guard is gone without a shutdown: deliver what is queued and stop.
                        self.drain_and_deliver();
                        self.delivery.close(None);
                        return;
                    }
                },
                default(wait) => {
                    self.delivery.tick();
                    None
                },
            };
            if let Some(first) = first {
                let mut batch = vec![first];
                self.fill(&mut batch);
                self.deliver_batch(batch);
            }
        }
    }

    /// Delivers the request through [`Delivery`], which attends to the queue while it waits.
    fn deliver(&mut self, req: Request) -> Vec<Weighted> {
        self.delivery.deliver(req, &mut self.queue)
    }

    /// Delivers what the spool holds, oldest segment first, deleting each segment once all of
    /// it was delivered (or dead-lettered).
    fn replay_spool(&mut self) {
        let Some(spool) = self.queue.spool.as_mut() else {
            return;
        };
        // Consecutive segments are delivered together in full batches: spills are often small
        // (half a channel), and one write per segment would make a slow sink slower still.
        let segments = spool.pending();
        let mut group = Vec::new();
        let mut records = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            // Another program sharing the directory may be replaying it: leave it to that one.
            let claimed = spool::claim(seg)
                .and_then(|mut claim| Some((self.queue.spool.as_mut()?.read(&mut claim), claim)));
            if let Some((read, claim)) = claimed {
                match read {
                    // Too large to be a segment: moved aside, reported.
                    Ok(None) => {}
                    Ok(Some((r, skipped))) => {
                        if skipped > 0 {
                            self.counters.dropped.fetch_add(skipped, Ordering::Relaxed);
                            crate::report::emit(format_args!(
                                "{skipped} damaged lines skipped in spool segment {}",
                                seg.display()
                            ));
                        }
                        records.extend(r);
                        group.push(claim);
                    }
                    Err(e) => crate::report::emit(format_args!(
                        "cannot read spool segment {}: {e}",
                        claim.path().display()
                    )),
                }
            }
            let last = i + 1 == segments.len();
            let full = records.len() >= self.config.batch_size;
            if (full || (last && !group.is_empty()))
                && !self.replay_group(std::mem::take(&mut records), std::mem::take(&mut group))
            {
                return;
            }
        }
    }

    /// Delivers the records of the segments in `group`, then confirms them to the spool;
    /// `false` when the shutdown deadline or the retry budget came first: the segments stay
    /// for later (re-delivering the part that landed is harmless) and their records are not
    /// counted twice.
    fn replay_group(&mut self, records: Vec<Row>, group: Vec<Claim>) -> bool {
        self.counters
            .replayed
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let mut kept = Vec::new();
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let chunk = records.by_ref().take(self.config.batch_size).collect();
            kept.extend(self.deliver(request(chunk)));
        }
        if kept.is_empty() {
            if let Some(spool) = self.queue.spool.as_mut() {
                spool.confirm(group);
            }
            true
        } else {
            let n: u64 = kept.iter().map(|(_, w)| w).sum();
            self.counters.replayed.fetch_sub(n, Ordering::Relaxed);
            false
        }
    }

    /// Adds records until the batch is full or its first record has lingered long enough.
    ///
    /// While a batch is open the worker does not block on the record channel: it takes what is
    /// queued, then waits on the control channel for a short tick. A receiver blocked on the
    /// record channel would make every `send` on the app's threads pay a futex wake-up; polling
    /// keeps the hot path free of syscalls at the price of up to one tick of extra latency.
    fn fill(&mut self, batch: &mut Vec<Envelope>) {
        let linger_end = Instant::now() + self.config.linger;
        loop {
            let room = self.config.batch_size.saturating_sub(batch.len());
            batch.extend(self.queue.rx.try_iter().take(room));
            let now = Instant::now();
            if batch.len() >= self.config.batch_size
                || now >= linger_end
                || !matches!(self.queue.asked, Asked::Nothing)
            {
                return;
            }
            let tick = (linger_end - now).min(FILL_TICK);
            match self.queue.ctl.recv_timeout(tick) {
                Ok(cmd) => self.queue.asked.add(cmd),
                // The guard is gone: deliver this batch now rather than spin until the linger ends.
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Delivers everything already queued, batch by batch.
    fn drain_and_deliver(&mut self) {
        loop {
            let batch: Vec<Envelope> = self
                .queue
                .rx
                .try_iter()
                .take(self.config.batch_size)
                .collect();
            if batch.is_empty() {
                return;
            }
            self.deliver_batch(batch);
        }
    }

    /// Turns the captures into rows (only now, when the batch closes: the per-record work stays
    /// off the cores the app is using while records arrive) and delivers them; what is left
    /// goes to the spool at shutdown, else to the dead-letter file.
    fn deliver_batch(&mut self, batch: Vec<Envelope>) {
        let rows = batch.into_iter().map(|e| self.queue.row(e)).collect();
        let mut left = self.deliver(request(rows));
        if left.is_empty() {
            return;
        }
        let shutting_down = self.queue.asked.deadline().is_some();
        if shutting_down {
            if let Some(spool) = self.queue.spool.as_mut() {
                match spool.write(left.iter().map(|(r, _)| r)) {
                    Ok(Spilled {
                        too_long,
                        failed: None,
                        ..
                    }) => {
                        // What a segment could not hold goes on to the dead-letter file. The
                        // spool hands back the rows themselves (lines have no id to match).
                        let long: HashSet<*const Row> =
                            too_long.iter().map(|r| *r as *const Row).collect();
                        let long: HashSet<usize> = left
                            .iter()
                            .enumerate()
                            .filter(|(_, (r, _))| long.contains(&(r as *const Row)))
                            .map(|(i, _)| i)
                            .collect();
                        let (spooled, rest): (Vec<_>, Vec<_>) = left
                            .into_iter()
                            .enumerate()
                            .partition(|(i, _)| !long.contains(i));
                        let (spooled, rest): (Vec<_>, Vec<_>) = (
                            spooled.into_iter().map(|(_, w)| w).collect(),
                            rest.into_iter().map(|(_, w)| w).collect(),
                        );
                        let n: u64 = spooled.iter().map(|(_, w)| w).sum();
                        self.counters.spooled.fetch_add(n, Ordering::Relaxed);
                        if rest.is_empty() {
                            return;
                        }
                        left = rest;
                    }
                    // Segments written before the one that failed are replayed by the next
                    // start, and their records dead-lettered now as well: the idempotent
                    // upsert makes the second copy harmless.
                    Ok(Spilled {
                        failed: Some((_, e)),
                        ..
                    }) => crate::report::emit(format_args!(
                        "cannot write the spool in {}: {e}; using the dead-letter file",
                        spool.dir().display()
                    )),
                    // At the bound: said once by the spool, not once per batch.
                    Err(Full { .. }) => {}
                }
            }
        }
        // The sink kept failing past the shutdown deadline or the retry budget.
        self.delivery.give_up(left, shutting_down);
    }
}

/// A row and how many received records it stands for after merging.
pub(crate) type Weighted = (Row, u64);

/// One write's rows: actions are written first, then job runs, then log lines; a retry writes
/// them all again, which the idempotent writes make harmless. (Lines travel in a pipeline of
/// their own: a request holds them beside records only when a spool was shared by hand.)
pub(crate) struct Request {
    pub(crate) actions: Batch<ActionRecord>,
    /// How many received records each action row stands for, in the same order.
    weights: Vec<u64>,
    pub(crate) jobs: Batch<JobExecution>,
    pub(crate) lines: Batch<LogLine>,
}

impl Request {
    fn of(actions: Vec<ActionRecord>, weights: Vec<u64>, jobs: Vec<JobExecution>) -> Request {
        Request {
            actions: actions.into(),
            weights,
            jobs: jobs.into(),
            lines: Batch::default(),
        }
    }

    fn of_lines(lines: Vec<LogLine>) -> Request {
        Request {
            lines: lines.into(),
            ..Request::of(Vec::new(), Vec::new(), Vec::new())
        }
    }

    /// Rows in the request.
    pub(crate) fn len(&self) -> usize {
        self.actions.len() + self.jobs.len() + self.lines.len()
    }

    /// Received records the request stands for.
    pub(crate) fn weight(&self) -> u64 {
        self.weights.iter().sum::<u64>() + self.jobs.len() as u64 + self.lines.len() as u64
    }

    /// The request's parts of one kind each, in the order they are written (actions, job
    /// runs, lines), the empty ones left out.
    pub(crate) fn parts(self) -> Vec<Request> {
        let (actions, weights, jobs, lines) = (
            self.actions.into_vec(),
            self.weights,
            self.jobs.into_vec(),
            self.lines.into_vec(),
        );
        let mut parts = Vec::with_capacity(3);
        if !actions.is_empty() {
            parts.push(Request::of(actions, weights, Vec::new()));
        }
        if !jobs.is_empty() {
            parts.push(Request::of(Vec::new(), Vec::new(), jobs));
        }
        if !lines.is_empty() {
            parts.push(Request::of_lines(lines));
        }
        parts
    }

    /// Two requests of about half the rows each, to isolate rows the store rejects: one kind
    /// apart from the others first, then halves of one kind.
    pub(crate) fn split(self) -> (Request, Request) {
        let mut parts = self.parts();
        if parts.len() > 1 {
            let first = parts.remove(0);
            let rest = parts
                .into_iter()
                .reduce(Request::join)
                .expect("more than one part");
            return (first, rest);
        }
        let Some(one) = parts.pop() else {
            return (Request::of_lines(Vec::new()), Request::of_lines(Vec::new()));
        };
        let (mut actions, mut weights, mut jobs, mut lines) = (
            one.actions.into_vec(),
            one.weights,
            one.jobs.into_vec(),
            one.lines.into_vec(),
        );
        let right = if !actions.is_empty() {
            let at = actions.len() / 2;
            Request::of(actions.split_off(at), weights.split_off(at), Vec::new())
        } else if !jobs.is_empty() {
            Request::of(Vec::new(), Vec::new(), jobs.split_off(jobs.len() / 2))
        } else {
            Request::of_lines(lines.split_off(lines.len() / 2))
        };
        let left = Request {
            lines: lines.into(),
            ..Request::of(actions, weights, jobs)
        };
        (left, right)
    }

    /// One request of the rows of both (kinds apart, as [`Self::parts`] gives them).
    pub(crate) fn join(self, other: Request) -> Request {
        let mut actions = self.actions.into_vec();
        let mut weights = self.weights;
        let mut jobs = self.jobs.into_vec();
        let mut lines = self.lines.into_vec();
        actions.extend(other.actions.into_vec());
        weights.extend(other.weights);
        jobs.extend(other.jobs.into_vec());
        lines.extend(other.lines.into_vec());
        Request {
            lines: lines.into(),
            ..Request::of(actions, weights, jobs)
        }
    }

    /// The rows back, each with its weight, for the spool or the dead-letter file.
    pub(crate) fn into_rows(self) -> impl Iterator<Item = Weighted> {
        let actions = self.actions.into_vec().into_iter().map(Row::Action);
        let jobs = self
            .jobs
            .into_vec()
            .into_iter()
            .map(|j| (Row::Job(Box::new(j)), 1));
        let lines = self.lines.into_vec().into_iter().map(|l| (Row::Line(l), 1));
        actions.zip(self.weights).chain(jobs).chain(lines)
    }
}

/// The request for `rows`: records with the same id folded into one (the newest state wins,
/// but an open status never replaces a final one), keeping first-seen order.
pub(crate) fn request(rows: Vec<Row>) -> Request {
    // A batch is of one kind, but for a replay of a spool shared by hand.
    let (records, others) = match rows.first() {
        Some(Row::Action(_)) => (rows.len(), 0),
        _ => (0, rows.len()),
    };
    let mut actions: Vec<ActionRecord> = Vec::with_capacity(records);
    let mut weights: Vec<u64> = Vec::with_capacity(records);
    let mut index: HashMap<Uuid, usize> = HashMap::with_capacity(records);
    let mut jobs = Vec::new();
    let mut lines = Vec::with_capacity(if matches!(rows.first(), Some(Row::Line(_))) {
        others
    } else {
        0
    });
    for row in rows {
        let r = match row {
            Row::Action(r) => r,
            // A job run is written once, when it ends: nothing to merge.
            Row::Job(j) => {
                jobs.push(*j);
                continue;
            }
            // Every line is its own.
            Row::Line(l) => {
                lines.push(l);
                continue;
            }
        };
        match index.get(&r.id) {
            Some(&i) => {
                let slot = &mut actions[i];
                weights[i] += 1;
                // Whoever wrote first, this id is new to the database if any part of it was.
                let first_write = slot.first_write || r.first_write;
                // The ids of the newest record that has them: a final record made without a
                // trace context keeps the one its initiated record carried.
                let ids = (slot.trace_id.take(), slot.span_id.take());
                if r.is_final() || !slot.is_final() {
                    *slot = r;
                }
                if slot.trace_id.is_none() {
                    (slot.trace_id, slot.span_id) = ids;
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
        lines: lines.into(),
        ..Request::of(actions, weights, jobs)
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
            Row::Line(_) => "line",
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
            .map(|(r, w)| (r.id().unwrap(), status(&r).to_owned(), w))
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

    #[test]
    fn lines_are_a_part_of_their_own_and_split_in_halves() {
        let line = |n: u32| Row::Line(LogLine::new(format!("{{\"n\":{n}}}")));
        let a = Uuid::now_v7();
        let req = request(vec![line(1), rec(a, "completed"), line(2), line(3)]);
        assert_eq!((req.len(), req.weight()), (4, 4));
        let (first, rest) = req.split();
        assert_eq!((first.actions.len(), first.lines.len()), (1, 0));
        assert_eq!((rest.actions.len(), rest.lines.len()), (0, 3));
        let (l, r) = rest.split();
        assert_eq!((l.lines.len(), r.lines.len()), (1, 2));
        let back: Vec<Row> = l.join(r).into_rows().map(|(r, _)| r).collect();
        assert_eq!(back, vec![line(1), line(2), line(3)]);
        assert!(back.iter().all(|r| r.id().is_none()));
    }

    #[test]
    fn merge_keeps_the_trace_ids() {
        let trace = |row: &mut Row, t: &str, s: &str| {
            if let Row::Action(a) = row {
                a.trace_id = Some(t.into());
                a.span_id = Some(s.into());
            }
        };
        let ids = |req: Request| -> Vec<(Option<String>, Option<String>)> {
            req.into_rows()
                .map(|(r, _)| match r {
                    Row::Action(a) => (a.trace_id, a.span_id),
                    _ => unreachable!(),
                })
                .collect()
        };
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let t1 = "4bf92f3577b34da6a3ce929d0e0e4736";
        let t2 = "0af7651916cd43dd8448eb211c80319c";
        let mut a_init = rec(a, "initiated");
        trace(&mut a_init, t1, "00f067aa0ba902b7");
        let mut b_init = rec(b, "initiated");
        trace(&mut b_init, t1, "b7ad6b7169203331");
        let mut b_done = rec(b, "completed");
        trace(&mut b_done, t2, "53995c3f42cd8ad8");
        let got = ids(request(vec![a_init, b_init, rec(a, "completed"), b_done]));
        assert_eq!(
            got,
            vec![
                (Some(t1.into()), Some("00f067aa0ba902b7".into())),
                (Some(t2.into()), Some("53995c3f42cd8ad8".into())),
            ]
        );
    }
}
