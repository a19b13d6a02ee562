//! The stacks `file_throughput` compares, each built into a fresh directory: actionlog's file
//! layer, the tracing peer (tracing-subscriber's JSON layer through tracing-appender's
//! `non_blocking`), slog-json behind slog-async (`OverflowStrategy::Block`, lossless), and a
//! no-op layer that only visits the fields and walks the span scope (the floor of a `tracing`
//! layer). With the `otlp` feature, actionlog with its lines shipped to a loopback OTLP
//! receiver ([`otlp_receiver`], a process of its own), without and with the day files.

#[cfg(feature = "otlp")]
pub mod otlp_receiver;

use std::path::Path;

use tracing::Dispatch;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stack {
    Actionlog,
    /// actionlog with redaction switched off, to price the default deny-list.
    ActionlogNoRedaction,
    /// The tracing peer as configured by default (lossy).
    Peer,
    /// The tracing peer with `lossy(false)`, for a like-for-like nothing-lost comparison.
    PeerBlocking,
    /// slog-json behind slog-async, `OverflowStrategy::Block` (lossless), into a `BufWriter`.
    Slog,
    /// A layer that visits the fields and walks the span scope, and writes nothing.
    Noop,
    /// actionlog with no day files, its lines shipped to a loopback OTLP receiver
    /// (`ship_lines` with the OTLP sink: protobuf, no compression, the pipeline's defaults).
    #[cfg(feature = "otlp")]
    ActionlogShipped,
    /// actionlog's day files, and the same lines shipped as [`Stack::ActionlogShipped`] ships.
    #[cfg(feature = "otlp")]
    ActionlogFilesShipped,
}

pub const ALL: &[Stack] = &[
    Stack::Actionlog,
    Stack::ActionlogNoRedaction,
    Stack::Peer,
    Stack::PeerBlocking,
    Stack::Slog,
    Stack::Noop,
    #[cfg(feature = "otlp")]
    Stack::ActionlogShipped,
    #[cfg(feature = "otlp")]
    Stack::ActionlogFilesShipped,
];

/// The shipped stacks, when the `otlp` feature is on (else none).
pub const SHIPPED: &[Stack] = &[
    #[cfg(feature = "otlp")]
    Stack::ActionlogShipped,
    #[cfg(feature = "otlp")]
    Stack::ActionlogFilesShipped,
];

/// What stopping a stack returns: the lines a receiver counted, for a stack that ships them
/// (the day files are counted on disk).
pub type Finish = Box<dyn FnOnce() -> Option<u64>>;

/// An emitter: a `tracing` dispatcher or a slog logger.
pub enum Emitter {
    Tracing(Dispatch),
    Slog(slog::Logger),
}

impl Stack {
    pub fn name(self) -> &'static str {
        match self {
            Stack::Actionlog => "actionlog",
            Stack::ActionlogNoRedaction => "actionlog_no_redaction",
            Stack::Peer => "peer_lossy_default",
            Stack::PeerBlocking => "peer_lossless",
            Stack::Slog => "slog_async_block",
            Stack::Noop => "noop_layer",
            #[cfg(feature = "otlp")]
            Stack::ActionlogShipped => "actionlog_shipped",
            #[cfg(feature = "otlp")]
            Stack::ActionlogFilesShipped => "actionlog_files_shipped",
        }
    }

    /// What the summary says the stack is.
    pub fn label(self) -> &'static str {
        match self {
            #[cfg(feature = "otlp")]
            Stack::ActionlogShipped => {
                "actionlog, lines shipped to a loopback OTLP receiver (no day files)"
            }
            #[cfg(feature = "otlp")]
            Stack::ActionlogFilesShipped => "actionlog, day files + lines shipped",
            Stack::Actionlog => "actionlog, day files only",
            other => other.name(),
        }
    }

    pub fn from_name(s: &str) -> Stack {
        *ALL.iter().find(|k| k.name() == s).expect("a stack name")
    }

    /// An emitter writing into `dir` and the closure that flushes and stops its writer.
    pub fn build(self, dir: &Path) -> (Emitter, Finish) {
        match self {
            Stack::Actionlog | Stack::ActionlogNoRedaction => {
                let redaction = if self == Stack::Actionlog {
                    actionlog::Redaction::default()
                } else {
                    actionlog::Redaction::none()
                };
                let (layer, guard) = actionlog::FileLayer::builder(dir)
                    .timezone(actionlog::Timezone::Utc)
                    .redaction(redaction)
                    .build()
                    .unwrap();
                let d = Dispatch::new(tracing_subscriber::registry().with(layer));
                (
                    Emitter::Tracing(d),
                    Box::new(move || {
                        drop(guard);
                        None
                    }),
                )
            }
            #[cfg(feature = "otlp")]
            Stack::ActionlogShipped | Stack::ActionlogFilesShipped => {
                let receiver = otlp_receiver::Remote::start();
                let sink = actionlog::sink::OtlpSink::builder()
                    .environment(false)
                    .endpoint(receiver.url.as_str())
                    .service_name("bench")
                    .build()
                    .unwrap();
                let (layer, guard) = actionlog::FileLayer::builder(dir)
                    .timezone(actionlog::Timezone::Utc)
                    .day_files(self == Stack::ActionlogFilesShipped)
                    // Stopping waits until every line reached the receiver (or the spool):
                    // a stack must not look fast by leaving lines behind.
                    .flush_deadline(std::time::Duration::from_secs(600))
                    .ship_lines(sink)
                    .build()
                    .unwrap();
                let d = Dispatch::new(tracing_subscriber::registry().with(layer));
                (
                    Emitter::Tracing(d),
                    Box::new(move || {
                        let done = guard.shutdown(std::time::Duration::from_secs(600));
                        assert!(
                            done.complete,
                            "the lines were not all shipped: {:?}",
                            done.stores
                        );
                        Some(receiver.finish())
                    }),
                )
            }
            Stack::Peer | Stack::PeerBlocking => {
                let appender = tracing_appender::rolling::daily(dir, "peer.log");
                let (nb, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .lossy(self == Stack::Peer)
                    .finish(appender);
                let layer = tracing_subscriber::fmt::layer().json().with_writer(nb);
                let d = Dispatch::new(tracing_subscriber::registry().with(layer));
                (
                    Emitter::Tracing(d),
                    Box::new(move || {
                        drop(guard);
                        None
                    }),
                )
            }
            Stack::Slog => {
                use slog::Drain;
                let file = std::fs::File::create(dir.join("slog.log")).unwrap();
                let json = slog_json::Json::new(std::io::BufWriter::new(file))
                    .add_default_keys()
                    .build()
                    .fuse();
                let (drain, guard) = slog_async::Async::new(json)
                    .overflow_strategy(slog_async::OverflowStrategy::Block)
                    .build_with_guard();
                let log = slog::Logger::root(drain.fuse(), slog::o!());
                (
                    Emitter::Slog(log),
                    Box::new(move || {
                        drop(guard);
                        None
                    }),
                )
            }
            Stack::Noop => {
                let d = Dispatch::new(tracing_subscriber::registry().with(NoopLayer));
                (Emitter::Tracing(d), Box::new(|| None))
            }
        }
    }
}

/// Runs `f` on this thread with `e` installed and the workload's span entered (for slog: a
/// child logger carrying the span's two fields), passing the emit function.
pub fn in_span(e: &Emitter, thread: usize, f: impl FnOnce(&dyn Fn(u64))) {
    match e {
        Emitter::Tracing(d) => tracing::dispatcher::with_default(d, || {
            let span = tracing::info_span!("request", thread, source = "bench");
            let _e = span.enter();
            f(&emit)
        }),
        Emitter::Slog(root) => {
            let log = root.new(slog::o!("thread" => thread, "source" => "bench"));
            f(&|i| emit_slog(&log, i))
        }
    }
}

/// The workload: events with three fields and a message, inside a span with two fields.
#[inline(never)]
pub fn emit(i: u64) {
    tracing::info!(
        seq = i,
        user_id = "alice@example.com",
        ratio = 0.5,
        "order placed"
    );
}

#[inline(never)]
fn emit_slog(log: &slog::Logger, i: u64) {
    slog::info!(log, "order placed"; "seq" => i, "user_id" => "alice@example.com", "ratio" => 0.5);
}

struct NoopLayer;

struct Count(usize);

impl Visit for Count {
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {
        self.0 += 1;
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for NoopLayer {
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut c = Count(0);
        event.record(&mut c);
        let spans = ctx.event_scope(event).map_or(0, |s| s.count());
        std::hint::black_box((c.0, spans));
    }
}
