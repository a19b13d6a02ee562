//! Span close lines, opt-in on the line outputs (as tracing-subscriber's `FmtSpan::CLOSE`): a
//! span's timings kept in its extensions from creation to close ([`on_new_span`],
//! [`on_enter`], [`on_exit`]), and at its close one event made of them ([`with_close_event`])
//! that the layer hands to its own `on_event`. A close line therefore goes through exactly
//! what an event line goes through — capture, redaction, size caps, the span's fields and its
//! parents', the output's own layout — and the layers need no second way to write a line.
//!
//! The event: the span's level, its target as the logger, the message `close <span name>`,
//! and the fields [`FIELDS`]: wall time since creation, time entered, time not entered, in
//! milliseconds with microsecond resolution. It is a child of the closing span, so the span's
//! fields (and its parents') follow as an event inside it would see them.
//!
//! Invariants:
//! - Busy is the time the span was entered on at least one thread, idle the rest of its life:
//!   `busy_ms + idle_ms = elapsed_ms` whatever the threads (an async task entered and exited on
//!   each poll, on any worker; a span entered on two threads at once counts once).
//! - One layer keeps a span's timings: the first one with close lines on to be told of the
//!   span. Every layer with close lines reads them. Layers told of one span are told of the same
//!   entries and exits, so one count serves them all, and two such layers never count twice.
//! - A close event's callsite is made once per span callsite and kept for the life of the
//!   process. Span callsites are static, so their number is bounded by the program. The
//!   layers' caches keyed by callsite then serve close lines as they serve events.
//! - Times come from the layer's [`Clock`] (as an action's duration does). A clock that steps
//!   back shortens a span's times, never makes them negative.
//! - The layers call in here behind their setting only, and nothing here is inlined into their
//!   hooks: with close lines off, a hook keeps its shape and pays the test of one `bool`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use tracing::field::{FieldSet, Value};
use tracing::span::Id;
use tracing::{Event, Metadata, Subscriber};
use tracing_core::callsite::Callsite;
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::spans::FlatId;
use crate::clock::Clock;

/// The close event's fields, in order: the message, then the span's times in milliseconds.
pub(crate) const FIELDS: [&str; 4] = ["message", "elapsed_ms", "busy_ms", "idle_ms"];

/// A span's timings, in nanoseconds of the layer's clock.
struct Timings {
    /// The layer that keeps them (see the module docs).
    owner: FlatId,
    created: i64,
    /// When the span was last entered with no thread inside it.
    since: i64,
    /// Threads inside the span now (entries not yet exited).
    entered: u32,
    /// Time entered on some thread, up to the last exit that left it with none.
    busy: u64,
}

fn nanos(clock: &dyn Clock) -> i64 {
    let (secs, nanos) = clock.unix_now();
    secs.saturating_mul(1_000_000_000)
        .saturating_add(i64::from(nanos))
}

/// Nanoseconds from `from` to `to`, zero if the clock went back.
fn between(from: i64, to: i64) -> u64 {
    u64::try_from(to.saturating_sub(from)).unwrap_or(0)
}

/// Starts the timings of the new span `id`, unless another layer keeps them already.
#[inline(never)]
pub(crate) fn on_new_span<S>(id: &Id, ctx: &Context<'_, S>, layer: FlatId, clock: &dyn Clock)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let mut ext = span.extensions_mut();
    if ext.get_mut::<Timings>().is_none() {
        let now = nanos(clock);
        ext.insert(Timings {
            owner: layer,
            created: now,
            since: now,
            entered: 0,
            busy: 0,
        });
    }
}

/// Notes an entry into `id`, if `layer` keeps its timings.
#[inline(never)]
pub(crate) fn on_enter<S>(id: &Id, ctx: &Context<'_, S>, layer: FlatId, clock: &dyn Clock)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    kept(id, ctx, layer, |t| {
        if t.entered == 0 {
            t.since = nanos(clock);
        }
        t.entered = t.entered.saturating_add(1);
    });
}

/// Notes an exit from `id`, if `layer` keeps its timings.
#[inline(never)]
pub(crate) fn on_exit<S>(id: &Id, ctx: &Context<'_, S>, layer: FlatId, clock: &dyn Clock)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    kept(id, ctx, layer, |t| {
        if t.entered == 0 {
            return;
        }
        t.entered -= 1;
        if t.entered == 0 {
            t.busy = t.busy.saturating_add(between(t.since, nanos(clock)));
        }
    });
}

/// Calls `f` with the timings of `id` if `layer` keeps them.
fn kept<S>(id: &Id, ctx: &Context<'_, S>, layer: FlatId, f: impl FnOnce(&mut Timings))
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let mut ext = span.extensions_mut();
    if let Some(t) = ext.get_mut::<Timings>().filter(|t| t.owner == layer) {
        f(t);
    }
}

/// `close <span name>`, the close event's message.
struct CloseMessage(&'static str);

impl fmt::Display for CloseMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "close {}", self.0)
    }
}

/// Calls `f` with the close event of span `id` (closing now, see the module docs), if its
/// timings were kept; nothing otherwise (a span its layers' filter disabled, or one made
/// before the layer was there).
#[inline(never)]
pub(crate) fn with_close_event<S>(
    id: &Id,
    ctx: &Context<'_, S>,
    clock: &dyn Clock,
    f: impl FnOnce(&Event<'_>),
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let (span_meta, elapsed, busy) = {
        let ext = span.extensions();
        let Some(t) = ext.get::<Timings>() else {
            return;
        };
        let now = nanos(clock);
        let mut busy = t.busy;
        if t.entered > 0 {
            busy = busy.saturating_add(between(t.since, now));
        }
        (span.metadata(), between(t.created, now), busy)
    };
    // The layer looks the span up again for its fields: nothing of it is held meanwhile.
    drop(span);
    // Cut to microseconds before the split, so that busy + idle is elapsed exactly.
    let elapsed_us = elapsed / 1_000;
    let busy_us = (busy / 1_000).min(elapsed_us);
    let ms = |us: u64| us as f64 / 1_000.0;
    let (elapsed_ms, busy_ms, idle_ms) = (ms(elapsed_us), ms(busy_us), ms(elapsed_us - busy_us));
    let message = tracing::field::display(CloseMessage(span_meta.name()));

    let meta = close_callsite(span_meta);
    let fields = meta.fields();
    let mut names = fields.iter();
    let mut next = || names.next().expect("a close event has four fields");
    let (m, e, b, i) = (next(), next(), next(), next());
    let values: [(&tracing::field::Field, Option<&dyn Value>); 4] = [
        (&m, Some(&message)),
        (&e, Some(&elapsed_ms)),
        (&b, Some(&busy_ms)),
        (&i, Some(&idle_ms)),
    ];
    let values = fields.value_set(&values);
    f(&Event::new_child_of(id.clone(), meta, &values));
}

/// The callsite of a span's close events (never registered with `tracing`: its events are
/// handed to the layers' `on_event` directly, not dispatched).
struct CloseCallsite {
    meta: OnceLock<Metadata<'static>>,
}

impl Callsite for CloseCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        self.meta.get().expect("set when the callsite is made")
    }
}

/// The close events' metadata for spans of callsite `span`: its name, level, target and
/// location, and the fields [`FIELDS`]; made on the first close, then kept.
fn close_callsite(span: &'static Metadata<'static>) -> &'static Metadata<'static> {
    type Made = HashMap<usize, &'static Metadata<'static>>;
    static MADE: OnceLock<Mutex<Made>> = OnceLock::new();
    let key = span as *const Metadata<'static> as usize;
    let mut made = MADE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    made.entry(key).or_insert_with(|| {
        let cs: &'static CloseCallsite = Box::leak(Box::new(CloseCallsite {
            meta: OnceLock::new(),
        }));
        let meta = Metadata::new(
            span.name(),
            span.target(),
            *span.level(),
            span.file(),
            span.line(),
            span.module_path(),
            FieldSet::new(&FIELDS, tracing_core::identify_callsite!(cs)),
            Kind::EVENT,
        );
        cs.meta.get_or_init(|| meta)
    })
}
