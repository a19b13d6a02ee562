//! The hot-path price of scrubbing URL passwords from every string value and message: the
//! cost of one event through the console layer writing to `io::sink()` — capture, redaction,
//! formatting, all on the caller's thread, with no channel or writer thread to add noise — with
//! the scrub on (default) and off, for an event without a URL (the common case: one `:` scan
//! per string) and one with a URL carrying a password (the scrub itself).
//!
//! Run: `cargo bench --bench redact_urls`

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn dispatch(scrub: bool) -> Dispatch {
    let layer = actionlog::ConsoleLayer::with_writer(std::io::sink)
        .color(actionlog::ColorMode::Never)
        .timezone(actionlog::Timezone::Utc)
        .redaction(actionlog::Redaction::default().url_passwords(scrub));
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("redact_urls");
    g.measurement_time(Duration::from_secs(4));
    for scrub in [false, true] {
        let d = dispatch(scrub);
        let on = if scrub { "on" } else { "off" };
        tracing::dispatcher::with_default(&d, || {
            g.bench_function(format!("plain_event/scrub_{on}"), |b| {
                b.iter(|| {
                    tracing::info!(
                        seq = 1,
                        user_id = "alice@example.com",
                        ratio = 0.5,
                        "order placed"
                    )
                })
            });
            g.bench_function(format!("url_event/scrub_{on}"), |b| {
                b.iter(|| {
                    tracing::info!(
                        target_db = "postgres://app:s3cret@db.internal:5432/prod",
                        "connecting to postgres://app:s3cret@db.internal:5432/prod"
                    )
                })
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
