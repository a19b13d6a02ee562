//! The writer's rendering against the caller's rendering it replaced, byte for byte, over
//! tricky inputs: a test layer renders each event both ways (`fields::event` with the file's
//! separators and `format::file::write_line_with`, as `FileLayer::on_event` did; and
//! `record::capture` then `render::Renderer::line`, as the layer and writer do now), and checks
//! the spans' flattened fields against a walk of the scope, as the old capture did it, and the
//! span the layer's own stack finds an event in (`fields::current`) against the registry's.

use std::sync::{Arc, Mutex};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use super::record;
use super::render::Renderer;
use crate::clock::{self, Timezone};
use crate::fields::flat::{self, FlatId};
use crate::fields::span::{self, SpanFieldSets};
use crate::fields::{Render, current, event};
use crate::format::{self, file::Logger};
use crate::limits::Limits;
use crate::redact::Redaction;

type Entries = Vec<(&'static str, Vec<u8>, Vec<u8>)>;
/// (old line, new line, walked span entries, flattened span entries, the span fields found
/// through the layer's stack and through the registry) of one event.
type Seen = (
    String,
    String,
    Entries,
    Entries,
    (Option<Entries>, Option<Entries>),
);

fn entries(f: &flat::Flat) -> Entries {
    f.iter()
        .map(|(n, k, v)| (n, k.to_vec(), v.to_vec()))
        .collect()
}

struct Both {
    render: Render,
    flat_id: FlatId,
    renderer: Mutex<Renderer>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

const NOW: (i64, u32) = (1_764_547_199, 999_999_999);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Both {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        span::on_new_span(attrs, id, &ctx, &self.render);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        span::on_record(id, values, &ctx, &self.render);
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        current::enter(self.flat_id, id);
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        current::exit(self.flat_id, id);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let ours = current::with_event_flat(event, &ctx, self.flat_id, &self.render, |f| {
            f.map(|f| entries(f))
        });
        let theirs = ctx
            .event_span(event)
            .map(|s| flat::with_flat(&s, self.flat_id, &self.render, |f| entries(f)));
        let stamp = clock::stamp_unix(NOW, Timezone::Utc);
        let level = format::level_name(event.metadata().level());
        let old = event::render(
            event,
            &ctx,
            &self.render,
            self.flat_id,
            format::file::SEPS,
            |s, logger| {
                let logger = match &s.logger_json {
                    Some(cs) => Logger::Json(&cs.logger),
                    None => Logger::Raw(logger),
                };
                let mut out = Vec::new();
                format::file::write_line_with(&mut out, &stamp, level, &s.message, logger, &s.meta);
                out
            },
        );
        let mut buf = Vec::new();
        record::capture(&mut buf, event, NOW, &self.render);
        let rec = record::decode(&buf).unwrap();
        let mut new = Vec::new();
        let (mut walked, mut flattened) = (Entries::new(), Entries::new());
        let mut renderer = self.renderer.lock().unwrap();
        match ctx.event_span(event) {
            Some(span) => {
                flat::with_flat(&span, self.flat_id, &self.render, |f| {
                    renderer.line(&mut new, event.metadata(), Some(f), &rec);
                    flattened = entries(f);
                });
                for s in span.scope() {
                    let ext = s.extensions();
                    let Some(own) = ext.get::<SpanFieldSets>().and_then(|x| x.get(&self.render))
                    else {
                        continue;
                    };
                    for (n, k, v) in own.iter() {
                        if !walked.iter().any(|e| e.0 == n) {
                            walked.push((n, k.to_vec(), v.to_vec()));
                        }
                    }
                }
            }
            None => renderer.line(&mut new, event.metadata(), None, &rec),
        }
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        self.seen
            .lock()
            .unwrap()
            .push((text(old), text(new), walked, flattened, (ours, theirs)));
    }
}

/// Runs `f` under a registry with the test layer and returns what it saw.
fn check(render: Render, f: impl FnOnce()) -> usize {
    check_filtered(render, false, f)
}

/// [`check`], the test layer behind a per-layer filter that disables spans named `skipped`
/// if `filtered`.
fn check_filtered(render: Render, filtered: bool, f: impl FnOnce()) -> usize {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let layer = Both {
        render: render.clone(),
        flat_id: FlatId::new(),
        renderer: Mutex::new(Renderer::new(render, Timezone::Utc)),
        seen: seen.clone(),
    };
    let filter = tracing_subscriber::filter::filter_fn(move |m| {
        !(filtered && m.is_span() && m.name() == "skipped")
    });
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter));
    tracing::subscriber::with_default(subscriber, f);
    let seen = seen.lock().unwrap();
    for (old, new, walked, flattened, (ours, theirs)) in seen.iter() {
        assert_eq!(old, new);
        assert_eq!(walked, flattened, "{old}");
        assert_eq!(ours, theirs, "{old}");
        // And it is one valid JSON line.
        serde_json::from_str::<serde_json::Value>(new.trim_end()).unwrap();
    }
    seen.len()
}

struct Dbg(&'static str);

impl std::fmt::Debug for Dbg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)?;
        f.write_str(" & more")
    }
}

const TRICKY: [&str; 10] = [
    "plain",
    "quote \" backslash \\ tab \t newline \n cr \r",
    "\u{1b}[2J\u{7f}\u{9b}\u{85} controls",
    "line\u{2028}para\u{2029} é £ € … ✓ 🦀",
    "postgres://app:s3cret@db:5432/prod",
    "two postgres://u:x@h and redis://:pw@r:6379 end",
    "postgres://u:p\nx@h (an escape inside the authority)",
    "https://example.com/?mail=a@b",
    "",
    "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé cut mid-char",
];

fn emit_all() {
    let outer = tracing::info_span!(
        "outer",
        a = "outer-a",
        url = "mysql://root:hunter2@db",
        n = 1
    );
    let _o = outer.enter();
    let inner = tracing::info_span!(
        "inner",
        a = "inner-a",
        token = "hide me",
        empty = tracing::field::Empty
    );
    let _i = inner.enter();
    for s in TRICKY {
        tracing::info!(s, d = ?Dbg(s), e = %s, "message {s}");
        tracing::warn!(a = s, password = s, n = ?s, "{}", s);
        tracing::error!(message = s, x = 1);
        tracing::info!(parent: &outer, s, "explicit parent");
        tracing::info!(parent: None, s, "root");
    }
    tracing::info!(
        i = -5i64,
        u = u64::MAX,
        big = i128::MIN,
        ubig = u128::MAX,
        f = 0.5,
        nan = f64::NAN,
        inf = f64::NEG_INFINITY,
        huge = 1e300,
        tiny = 1.25e-7,
        yes = true,
        "numbers"
    );
    tracing::info!(message = 5u64, other = false);
    tracing::info!(no_message = 1);
    tracing::info!(a = 1, a = 2, "a name twice");
    tracing::info!(message = "first", message = "second");
    // Recorded after a child span was made: the child's events see the new value.
    inner.record("empty", "now set");
    outer.record("n", 2);
    let child = tracing::info_span!("child", n = 3, s = "child");
    child.in_scope(|| tracing::info!(s = "event", "in the child"));
    outer.record("a", "recorded \"a\"");
    child.in_scope(|| tracing::info!("after another record"));
    // A `log` record: its target is owned, its `log.*` fields skipped.
    let record = tracing_log::log::Record::builder()
        .args(format_args!("from log postgres://u:pw@h"))
        .level(tracing_log::log::Level::Warn)
        .target("legacy \"module\"")
        .module_path_static(Some("legacy::module"))
        .file_static(Some("legacy.rs"))
        .line(Some(7))
        .build();
    tracing_log::log::Log::log(&tracing_log::LogTracer::new(), &record);
    // Past the record cap (small limits below).
    let long = "x".repeat(900);
    tracing::info!(a1 = %long, a2 = %long, "over the cap");
    // The writer keeps each callsite's last message escaped: one callsite with the same
    // message twice in a row, then another, then back; one too long to be kept; one scrubbed.
    let scrubbed = "to postgres://u:secret@db \"quoted\" \u{9b}";
    for m in [
        "same", "same", "other", "same", &long, &long, scrubbed, scrubbed, "", "",
    ] {
        tracing::info!(n = 1, "{}", m);
        tracing::info!(message = m);
    }
    for n in [1u64, 1, 2, 2] {
        tracing::info!(message = n, also = "numeric message");
    }
    // Keys whose `,"key":` fragment does not fit the writer's inline 32 bytes, or just fits.
    tracing::info!(
        a_field_name_well_past_thirty_two_bytes = 1,
        exactly_twenty_seven_bytes_ = "x",
        twenty_eight_bytes_long_name = 2.5,
        "long keys"
    );
}

#[test]
fn the_writer_renders_what_the_caller_rendered() {
    for redaction in [Redaction::default(), Redaction::none()] {
        for limits in [Limits::default(), Limits::new(64, 1024)] {
            let render = Render {
                redaction: redaction.clone(),
                limits,
            };
            assert!(check(render, emit_all) > 50);
        }
    }
}

/// Spans entered in the ways the layer's stack must follow as the registry does.
fn stack_cases() {
    let a = tracing::info_span!("a", x = "a");
    let b = tracing::info_span!("b", y = "b");
    let skipped = tracing::info_span!("skipped", z = "skipped");
    let ga = a.enter();
    tracing::info!("in a");
    let gb = b.enter();
    tracing::info!("in b");
    let again = a.enter();
    tracing::info!("a entered again inside b: the registry keeps b current");
    drop(again);
    let gs = skipped.enter();
    tracing::info!("in skipped (disabled for the filtered layer)");
    drop(gs);
    // Out of order: a's guard dropped while b is still entered.
    drop(ga);
    tracing::info!("b, a gone from under it");
    drop(gb);
    tracing::info!("outside any span");
    // Entered and left again and again, as an instrumented future is on each poll.
    for i in 0..3 {
        let _e = b.enter();
        tracing::info!(i, "poll");
    }
    let _a = a.enter();
    // Another thread's stack is its own.
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    std::thread::scope(|s| {
        s.spawn(|| {
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::info!("other thread, no span");
                let _b = b.enter();
                tracing::info!("other thread, in b");
            })
        });
    });
    tracing::info!("back in a");
    // Recorded while not entered, then entered: the kept flattening is stale.
    let _b = b.enter();
    tracing::info!("b before the record");
    b.record("y", "recorded");
    tracing::info!("b after the record");
    tracing::info!(parent: &skipped, "explicit parent");
    tracing::info!(parent: None, "explicit root");
}

#[test]
fn the_layers_stack_finds_the_span_the_registry_finds() {
    for filtered in [false, true] {
        assert_eq!(check_filtered(Render::default(), filtered, stack_cases), 16);
    }
}
