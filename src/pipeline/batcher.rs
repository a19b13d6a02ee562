//! The delivery worker: collects records into batches (size or linger, whichever comes first),
//! merges records of one action inside a batch, writes each batch through the [`Sink`] with
//! retries, isolates rejected rows by splitting, and dead-letters what the database refuses.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, select};
use uuid::Uuid;

use super::dead_letter::DeadLetter;
use super::retry::Backoff;
use super::spool;
use super::{ActionCounters, Cmd, Envelope, PipelineConfig, Row};
use crate::action::ActionRecord;
use crate::clock::Clock;
use crate::job::JobExecution;
use crate::sink::{FailureKind, Sink, SinkError};

/// Why a write was abandoned when the shutdown deadline came first.
const LATE: &str = "the shutdown deadline came during the write";

/// How often the channel is checked for spilling while the sink is busy or failing.
const SPILL_CHECK: Duration = Duration::from_millis(10);

fn make_row(envelope: Envelope, config: &PipelineConfig) -> Row {
    // Top-level keys are field names, already redacted by the layers (with a per-name cache);
    // only nested JSON, if any, needs a look here.
    match envelope {
        Envelope::Action(captured) => {
            let mut rec = captured.into_record();
            for v in rec.action_details.values_mut() {
                config.redaction.scrub_json(v);
            }
            Row::Action(rec)
        }
        Envelope::Job(mut run) => {
            for v in run.metadata.values_mut() {
                config.redaction.scrub_json(v);
            }
            Row::Job(run)
        }
    }
}

/// Moves everything waiting in the channel to a new spool segment once the channel is half
/// full, if a spool is configured; returns how many records moved. A segment that cannot be
/// written loses its records, counted as dropped and reported.
fn spill(rx: &Receiver<Envelope>, config: &PipelineConfig, counters: &ActionCounters) -> u64 {
    let Some(dir) = &config.spool_dir else {
        return 0;
    };
    if rx.len() < (config.capacity / 2).max(1) {
        return 0;
    }
    let held = counters.spool_bytes.load(Ordering::Relaxed);
    if let Err(e) = spool::room(held, config.spool_max_bytes) {
        // Leave the records in the channel: the overflow policy applies to newer ones, and the
        // oldest, on disk, are kept.
        if !counters.spool_full.swap(true, Ordering::Relaxed) {
            crate::report::emit(format_args!(
                "WARNING: {e} in {}; records wait in the channel and are dropped (counted) when it is full",
                dir.display(),
            ));
        }
        return 0;
    }
    if counters.spool_full.swap(false, Ordering::Relaxed) {
        crate::report::emit(format_args!(
            "the spool in {} is below its bound again; spilling resumes",
            dir.display()
        ));
    }
    // At most what is queued now: a producer faster than this loop would otherwise keep it
    // going, piling records up in memory instead of on disk.
    let queued = rx.len();
    let mut records = Vec::with_capacity(queued);
    while records.len() < queued {
        match rx.try_recv() {
            Ok(c) => records.push(make_row(c, config)),
            Err(_) => break,
        }
    }
    let n = records.len() as u64;
    match spool::write_segment(dir, &records) {
        Ok(bytes) => {
            counters.spool_bytes.fetch_add(bytes, Ordering::Relaxed);
            counters.spooled.fetch_add(n, Ordering::Relaxed)
        }
        Err(e) => {
            crate::report::emit(format_args!(
                "cannot spill {n} action records to {}: {e}",
                dir.display()
            ));
            counters.dropped.fetch_add(n, Ordering::Relaxed)
        }
    };
    n
}

/// How often an open batch looks for more records (see [`Batcher::fill`]).
const FILL_TICK: Duration = Duration::from_millis(5);

/// A record and how many received records it stands for after merging.
type Weighted = (Row, u64);

pub(crate) struct Batcher {
    rx: Receiver<Envelope>,
    ctl: Receiver<Cmd>,
    sink: Box<dyn Sink>,
    config: PipelineConfig,
    counters: Arc<ActionCounters>,
    clock: Arc<dyn Clock>,
    rt: tokio::runtime::Runtime,
    dead_letter: DeadLetter,
    /// Since when the sink has been failing; `None` while healthy.
    outage: Option<Instant>,
    /// The sink's last failure, quoted in dead letters written at shutdown.
    last_error: Option<String>,
    /// Set once shutdown was asked: retries stop at this instant.
    deadline: Option<Instant>,
    /// Acks to send once the current backlog is delivered.
    flush_acks: Vec<Sender<()>>,
    shutdown_ack: Option<Sender<()>>,
    /// Whether the spool of an earlier run was replayed already.
    replayed: bool,
    /// Whether records were moved to the spool since the last replay.
    spilled: bool,
}

impl Batcher {
    pub(crate) fn new(
        rx: Receiver<Envelope>,
        ctl: Receiver<Cmd>,
        sink: Box<dyn Sink>,
        config: PipelineConfig,
        counters: Arc<ActionCounters>,
        clock: Arc<dyn Clock>,
        rt: tokio::runtime::Runtime,
    ) -> Self {
        let dead_letter =
            DeadLetter::new(config.dead_letter_dir.clone(), config.dead_letter_max_bytes);
        Batcher {
            rx,
            ctl,
            sink,
            config,
            counters,
            clock,
            rt,
            dead_letter,
            outage: None,
            last_error: None,
            deadline: None,
            flush_acks: Vec::new(),
            shutdown_ack: None,
            replayed: false,
            spilled: false,
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

    fn serve(&mut self) {
        if !self.replayed {
            self.replayed = true;
            self.replay_spool();
        }
        loop {
            // Commands may have arrived while delivering (during a backoff pause or a fill):
            // act on them before blocking again.
            if let Some(ack) = self.shutdown_ack.take() {
                // Like a flush, within the deadline: what was spilled during this run goes too
                // (oldest first), not only what the channel holds; unless the sink is failing,
                // in which case the segments are already where the next start looks.
                loop {
                    if self.spilled && self.outage.is_none() {
                        self.spilled = false;
                        self.replay_spool();
                    }
                    self.drain_and_deliver();
                    if !self.spilled || self.outage.is_some() {
                        break;
                    }
                }
                let _ = ack.send(());
                return;
            }
            if self.spilled {
                // Records moved to disk during a slow or failed delivery are older than what
                // the channel holds now: they go first.
                self.spilled = false;
                self.replay_spool();
                // A shutdown may have come during the replay: check again before blocking.
                continue;
            }
            if !self.flush_acks.is_empty() {
                // A flush covers what was spilled while draining, too.
                loop {
                    self.drain_and_deliver();
                    if !self.spilled {
                        break;
                    }
                    self.spilled = false;
                    self.replay_spool();
                }
                for ack in self.flush_acks.drain(..) {
                    let _ = ack.send(());
                }
                continue;
            }
            let mut batch = Vec::new();
            select! {
                recv(self.rx) -> r => match r {
                    Ok(r) => batch.push(r),
                    // Every layer is gone; only commands can come now.
                    Err(_) => match self.ctl.recv() {
                        Ok(cmd) => self.command(cmd),
                        Err(_) => return,
                    },
                },
                recv(self.ctl) -> c => match c {
                    Ok(cmd) => self.command(cmd),
                    Err(_) => {
                        // The guard is gone without a shutdown: deliver what is queued and stop.
                        self.drain_and_deliver();
                        return;
                    }
                },
            }
            if !batch.is_empty() {
                self.fill(&mut batch);
                self.deliver_batch(batch);
            }
        }
    }

    /// Delivers what an earlier run left in the spool, oldest segment first, deleting each
    /// segment once all of it was delivered (or dead-lettered).
    fn replay_spool(&mut self) {
        let Some(dir) = self.config.spool_dir.clone() else {
            return;
        };
        // Consecutive segments are delivered together in full batches: spills are often small
        // (half a channel), and one write per segment would make a slow sink slower still.
        self.counters
            .spool_bytes
            .store(spool::size(&dir), Ordering::Relaxed);
        let segments = spool::pending(&dir);
        let mut group = Vec::new();
        let mut records = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            match spool::read_segment(seg) {
                Ok((r, skipped)) => {
                    if skipped > 0 {
                        self.counters.dropped.fetch_add(skipped, Ordering::Relaxed);
                        crate::report::emit(format_args!(
                            "{skipped} damaged lines skipped in spool segment {}",
                            seg.display()
                        ));
                    }
                    records.extend(r);
                    group.push(seg.clone());
                }
                Err(e) => crate::report::emit(format_args!(
                    "cannot read spool segment {}: {e}",
                    seg.display()
                )),
            }
            let last = i + 1 == segments.len();
            if records.len() >= self.config.batch_size || last {
                if !self.replay_group(std::mem::take(&mut records), &group) {
                    return;
                }
                group.clear();
            }
        }
    }

    /// Delivers the records of the segments in `group`, then deletes them; `false` when the
    /// shutdown deadline came first: the segments stay for the next start (re-delivering the
    /// part that landed is harmless) and their records are not counted twice.
    fn replay_group(&mut self, records: Vec<Row>, group: &[std::path::PathBuf]) -> bool {
        self.counters
            .replayed
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let mut kept = Vec::new();
        for chunk in records.chunks(self.config.batch_size) {
            kept.extend(self.deliver(merge(chunk.to_vec())));
        }
        if kept.is_empty() {
            for seg in group {
                let len = std::fs::metadata(seg).map_or(0, |m| m.len());
                if std::fs::remove_file(seg).is_ok() {
                    let _ = self.counters.spool_bytes.fetch_update(
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                        |v| Some(v.saturating_sub(len)),
                    );
                }
            }
            true
        } else {
            let n: u64 = kept.iter().map(|(_, w)| w).sum();
            self.counters.replayed.fetch_sub(n, Ordering::Relaxed);
            false
        }
    }

    /// The row for a capture, with secret-looking keys scrubbed at any depth of its details.
    fn row(&self, envelope: Envelope) -> Row {
        make_row(envelope, &self.config)
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Flush(ack) => self.flush_acks.push(ack),
            Cmd::Shutdown(deadline, ack) => {
                self.deadline = Some(deadline);
                self.shutdown_ack = Some(ack);
            }
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
            while batch.len() < self.config.batch_size {
                match self.rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if batch.len() >= self.config.batch_size
                || now >= linger_end
                || self.shutdown_ack.is_some()
                || !self.flush_acks.is_empty()
            {
                return;
            }
            let tick = (linger_end - now).min(FILL_TICK);
            match self.ctl.recv_timeout(tick) {
                Ok(cmd) => self.command(cmd),
                // The guard is gone: deliver this batch now rather than spin until the linger ends.
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Delivers everything already queued, batch by batch.
    fn drain_and_deliver(&mut self) {
        loop {
            let mut batch = Vec::new();
            while batch.len() < self.config.batch_size {
                match self.rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                return;
            }
            self.deliver_batch(batch);
        }
    }

    /// Turns the captures into rows (only now, when the batch closes: the per-record work stays
    /// off the cores the app is using while records arrive) and delivers them.
    fn deliver_batch(&mut self, batch: Vec<Envelope>) {
        let rows = batch.into_iter().map(|e| self.row(e)).collect();
        let merged = merge(rows);
        let left = self.deliver(merged);
        if !left.is_empty() && self.deadline.is_some() {
            if let Some(dir) = self.config.spool_dir.clone() {
                let records: Vec<Row> = left.iter().map(|(r, _)| r.clone()).collect();
                let n: u64 = left.iter().map(|(_, w)| w).sum();
                let held = self.counters.spool_bytes.load(Ordering::Relaxed);
                let written = spool::room(held, self.config.spool_max_bytes)
                    .and_then(|()| spool::write_segment(&dir, &records));
                match written {
                    Ok(bytes) => {
                        self.counters
                            .spool_bytes
                            .fetch_add(bytes, Ordering::Relaxed);
                        self.counters.spooled.fetch_add(n, Ordering::Relaxed);
                        return;
                    }
                    // At the bound: said once, not once per batch.
                    Err(e)
                        if e.kind() == std::io::ErrorKind::StorageFull
                            && self.counters.spool_full.swap(true, Ordering::Relaxed) => {}
                    Err(e) => crate::report::emit(format_args!(
                        "cannot write the spool in {}: {e}; using the dead-letter file",
                        dir.display()
                    )),
                }
            }
        }
        if !left.is_empty() {
            // The sink kept failing past the shutdown deadline or the retry budget.
            let why = format!(
                "not delivered before the {}; last error: {}",
                if self.deadline.is_some() {
                    "shutdown deadline"
                } else {
                    "retry budget ran out"
                },
                self.last_error.as_deref().unwrap_or("none")
            );
            for (rec, w) in left {
                self.dead_letter_one(&rec, w, &why);
            }
        }
    }

    /// Writes `batch`, retrying transient failures and splitting rejected batches. Returns what
    /// could not be delivered before the shutdown deadline or within the retry budget.
    fn deliver(&mut self, batch: Vec<Weighted>) -> Vec<Weighted> {
        let mut backoff = Backoff::new(self.config.retry_base, self.config.retry_cap);
        let give_up = self.config.retry_budget.map(|b| Instant::now() + b);
        // One batch may hold both kinds of row: actions are written first, then job runs; a
        // retry writes both again, which the idempotent writes make harmless.
        let mut actions: Vec<ActionRecord> = Vec::new();
        let mut jobs: Vec<JobExecution> = Vec::new();
        for (r, _) in &batch {
            match r {
                Row::Action(a) => actions.push(a.clone()),
                Row::Job(j) => jobs.push((**j).clone()),
            }
        }
        loop {
            let (result, spilled, commands) = {
                // While the sink works on this batch (maybe for seconds), keep the channel
                // draining to the spool, so the app is never held by a slow or hanging database,
                // and watch for commands: a shutdown's deadline also bounds this write.
                let (sink, rx, ctl, config, counters) = (
                    &mut self.sink,
                    &self.rx,
                    &self.ctl,
                    &self.config,
                    &self.counters,
                );
                let mut deadline = self.deadline;
                self.rt.block_on(async {
                    let write = async {
                        if !actions.is_empty() {
                            sink.write(&actions).await?;
                        }
                        if !jobs.is_empty() {
                            sink.write_jobs(&jobs).await?;
                        }
                        Ok(())
                    };
                    tokio::pin!(write);
                    let mut spilled = 0;
                    let mut commands = Vec::new();
                    loop {
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            let late = SinkError::new(FailureKind::Transient, LATE);
                            break (Err(late), spilled, commands);
                        }
                        tokio::select! {
                            r = &mut write => break (r, spilled, commands),
                            _ = tokio::time::sleep(SPILL_CHECK) => {
                                spilled += spill(rx, config, counters);
                                while let Ok(cmd) = ctl.try_recv() {
                                    if let Cmd::Shutdown(d, _) = &cmd {
                                        deadline = Some(*d);
                                    }
                                    commands.push(cmd);
                                }
                            }
                        }
                    }
                })
            };
            for cmd in commands {
                self.command(cmd);
            }
            self.spilled |= spilled > 0;
            match result {
                Ok(()) => {
                    let n: u64 = batch.iter().map(|(_, w)| w).sum();
                    self.counters.delivered.fetch_add(n, Ordering::Relaxed);
                    self.healthy();
                    return Vec::new();
                }
                Err(e) if e.kind == FailureKind::Rejected => {
                    self.healthy();
                    if batch.len() == 1 {
                        let (rec, w) = batch.into_iter().next().expect("one record");
                        self.dead_letter_one(&rec, w, &e.message);
                        return Vec::new();
                    }
                    let mut left = batch;
                    let right = left.split_off(left.len() / 2);
                    let mut rest = self.deliver(left);
                    rest.extend(self.deliver(right));
                    return rest;
                }
                Err(e) => {
                    self.counters.retried.fetch_add(1, Ordering::Relaxed);
                    self.failing(&e);
                    // A server's Retry-After is honoured, within the backoff cap.
                    let wait = backoff
                        .next_wait()
                        .max(e.retry_after.unwrap_or_default().min(self.config.retry_cap));
                    let until = match (self.deadline, give_up) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    if until.is_some_and(|t| Instant::now() + wait >= t) {
                        return batch;
                    }
                    // Sleep, but wake for commands (a shutdown sets the deadline), and keep the
                    // channel draining to the spool meanwhile.
                    let end = Instant::now() + wait;
                    loop {
                        let left = end.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        if let Ok(cmd) = self.ctl.recv_timeout(left.min(SPILL_CHECK)) {
                            self.command(cmd);
                            break;
                        }
                        self.spilled |= spill(&self.rx, &self.config, &self.counters) > 0;
                    }
                }
            }
        }
    }

    fn dead_letter_one(&mut self, rec: &Row, weight: u64, why: &str) {
        match self
            .dead_letter
            .write(rec, self.sink.name(), why, self.clock.now())
        {
            Ok(_) => {
                self.counters
                    .dead_lettered
                    .fetch_add(weight, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.dropped.fetch_add(weight, Ordering::Relaxed);
                // At its bound the dead-letter file has said so once already.
                if !super::dead_letter::is_at_bound(&e) {
                    crate::report::emit(format_args!(
                        "record {} lost: {why}; and the dead-letter file failed: {e}",
                        rec.id()
                    ));
                }
            }
        }
    }

    fn failing(&mut self, e: &SinkError) {
        // Keep the sink's own reason for the dead letters, not our deadline's.
        if e.message != LATE {
            self.last_error = Some(e.message.clone());
        }
        if self.outage.is_none() {
            self.outage = Some(Instant::now());
            crate::report::emit(format_args!(
                "WARNING: cannot deliver action records to {}: {}; retrying with backoff, records are kept",
                self.sink.name(),
                e.message
            ));
        }
    }

    fn healthy(&mut self) {
        if let Some(since) = self.outage.take() {
            crate::report::emit(format_args!(
                "delivering action records to {} again after {:.1}s",
                self.sink.name(),
                since.elapsed().as_secs_f64()
            ));
        }
    }
}

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
