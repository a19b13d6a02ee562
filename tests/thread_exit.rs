//! Threads that exit lose none of their lines, even a line emitted while the thread's locals
//! are torn down. A binary of its own: the line from a thread-local destructor reaches the
//! layer only through the global dispatcher, and a process has one.

#[path = "it/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::Duration;

use actionlog::{FileLayer, Timezone};
use common::lines_by_file;
use tracing_subscriber::prelude::*;

thread_local! {
    static LAST_WORDS: LastWords = const { LastWords };
}

/// Emits a line from a thread-local destructor, while the thread's locals are torn down.
struct LastWords;

impl Drop for LastWords {
    fn drop(&mut self) {
        tracing::info!(thread = 99u64, seq = 1_000_000u64, "last words");
    }
}

#[test]
fn threads_that_exit_lose_none_of_their_lines() {
    const THREADS: u64 = 16;
    const PER_THREAD: u64 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    // The global dispatcher (this binary's one test sets it), so that the line emitted after the
    // thread's own dispatcher state is gone still reaches the layer.
    tracing::dispatcher::set_global_default(tracing::Dispatch::new(
        tracing_subscriber::registry().with(layer),
    ))
    .unwrap();
    // Threads come and go (each a new slot), none flushes; the last one also logs while its
    // thread-locals are dropped (LAST_WORDS is registered first, so it is dropped last).
    for t in 0..THREADS {
        std::thread::spawn(move || {
            if t == THREADS - 1 {
                LAST_WORDS.with(|_| {});
            }
            for seq in 0..PER_THREAD {
                tracing::info!(thread = t, seq, "event");
            }
        })
        .join()
        .unwrap();
    }
    let stats = guard.shutdown(Duration::from_secs(10)).stats;
    let lines = lines_by_file(dir.path());
    assert_eq!(stats.lines_dropped, 0);
    let mut per: HashMap<u64, Vec<u64>> = HashMap::new();
    for (_, t, seq, _) in lines {
        per.entry(t).or_default().push(seq);
    }
    for t in 0..THREADS {
        assert_eq!(per[&t], (0..PER_THREAD).collect::<Vec<_>>(), "thread {t}");
    }
    assert_eq!(
        per.get(&99),
        Some(&vec![1_000_000]),
        "the line from teardown"
    );
}
