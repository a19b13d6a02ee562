//! Which span an event on this thread is in, kept per thread and layer from the layer's own
//! `on_enter` / `on_exit`, together with that span's flattened fields ([`Flat`]), so a
//! contextual event finds its spans' fields without asking the registry. The registry's answer
//! costs two lookups in its slab and the span's extensions lock (by tracing-subscriber's code,
//! four atomic read-modify-writes on shared cache lines per event); this costs a thread-local
//! read. The file, console and job layers all find their events' spans this way.
//!
//! Invariants:
//! - The stack mirrors the registry's span stack as this layer sees it: a layer behind a
//!   per-layer filter is told of the spans its filter enables only, which is also what
//!   `Context::event_span` would answer for it. A span entered again while already on the
//!   stack is marked a duplicate and is not the current span, as in the registry; an exit
//!   removes the last entry of its span.
//! - A kept flattening is used only while it is fresh ([`Flat::is_fresh`]); a stale one is
//!   rebuilt from the span's extensions, which also brings the span's own copy up to date.
//! - A layer learns of a span's entry only if it was in the subscriber when the span was
//!   entered: a layer swapped in by `reload` while spans are entered sees those spans from
//!   their next entry on. Events with an explicit parent do not use the stack.

use std::cell::RefCell;
use std::sync::Arc;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::CaptureSettings;
use super::flat::{self, Flat, FlatId};
use super::{close, span};
use crate::clock::Clock;

/// The span hooks of a line layer (the file, the console, a job run's logs), in one piece the
/// layer embeds and calls from each of its hooks of the same name: the span's fields rendered
/// under the layer's settings ([`span`]), the layer's stack of entered spans (this module),
/// and, when the layer writes span close lines, the spans' timings ([`close`]). An event then
/// finds its spans' fields with [`SpanTracking::with_event_flat`]. A layer that skipped a hook
/// would silently lose span fields; here each hook is one call.
#[derive(Debug)]
pub(crate) struct SpanTracking {
    /// The layer's redaction and size caps, for span and event fields alike.
    pub(crate) settings: CaptureSettings,
    /// Whether a span's close makes a line (its timings are kept meanwhile).
    pub(crate) close_lines: bool,
    /// The layer's flattenings of span fields and its stack of entered spans.
    id: FlatId,
}

impl SpanTracking {
    pub(crate) fn new(settings: CaptureSettings, close_lines: bool) -> Self {
        SpanTracking {
            settings,
            close_lines,
            id: FlatId::new(),
        }
    }

    /// The layer's `on_new_span`: renders the span's fields, starts its timings.
    pub(crate) fn on_new_span<S>(
        &self,
        attrs: &Attributes<'_>,
        id: &Id,
        ctx: &Context<'_, S>,
        clock: &dyn Clock,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        span::on_new_span(attrs, id, ctx, &self.settings);
        if self.close_lines {
            close::on_new_span(id, ctx, self.id, clock);
        }
    }

    /// The layer's `on_record`: the span's rendered fields take the new values.
    pub(crate) fn on_record<S>(&self, id: &Id, values: &Record<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        span::on_record(id, values, ctx, &self.settings);
    }

    /// The layer's `on_enter`: the span goes on this thread's stack.
    pub(crate) fn on_enter<S>(&self, id: &Id, ctx: &Context<'_, S>, clock: &dyn Clock)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        enter(self.id, id);
        if self.close_lines {
            close::on_enter(id, ctx, self.id, clock);
        }
    }

    /// The layer's `on_exit`: the span leaves this thread's stack.
    pub(crate) fn on_exit<S>(&self, id: &Id, ctx: &Context<'_, S>, clock: &dyn Clock)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        exit(self.id, id);
        if self.close_lines {
            close::on_exit(id, ctx, self.id, clock);
        }
    }

    /// The layer's `on_close`: with span close lines on, hands the span's close event to
    /// `on_event`, the layer's own event path (see [`close`]).
    pub(crate) fn on_close<S>(
        &self,
        id: &Id,
        ctx: &Context<'_, S>,
        clock: &dyn Clock,
        on_event: impl FnOnce(&Event<'_>),
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if self.close_lines {
            close::with_close_event(id, ctx, clock, on_event);
        }
    }

    /// Calls `f` with the flattened fields of the span `event` is in, `None` outside any span.
    #[inline]
    pub(crate) fn with_event_flat<S, R>(
        &self,
        event: &Event<'_>,
        ctx: &Context<'_, S>,
        f: impl FnOnce(Option<&Arc<Flat>>) -> R,
    ) -> R
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        with_event_flat(event, ctx, self.id, &self.settings, f)
    }
}

struct Entered {
    id: u64,
    duplicate: bool,
    /// The span's flattening for this layer, once an event needed it.
    flat: Option<Arc<Flat>>,
}

/// One layer's stack on one thread.
struct Stack {
    layer: FlatId,
    entries: Vec<Entered>,
}

thread_local! {
    static STACKS: RefCell<Vec<Stack>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with `layer`'s stack on this thread, `None` if it has none (no span entered
/// since the stacks were last pruned); `make` makes one for the layer if it had none. Stacks
/// left empty are dropped when another layer makes its own, so a thread that outlives many
/// layers (tests making subscriber after subscriber) does not search through theirs on every
/// event. `None` back if the stacks cannot be borrowed (thread teardown, re-entry).
fn with_stack<R>(
    layer: FlatId,
    make: bool,
    f: impl FnOnce(Option<&mut Vec<Entered>>) -> R,
) -> Option<R> {
    crate::per_thread::with(&STACKS, |s| {
        let i = match s.iter().position(|st| st.layer == layer) {
            Some(i) => i,
            None if make => {
                s.retain(|st| !st.entries.is_empty());
                s.push(Stack {
                    layer,
                    entries: Vec::new(),
                });
                s.len() - 1
            }
            None => return f(None),
        };
        f(Some(&mut s[i].entries))
    })
}

/// Notes that this thread entered span `id` (the layer's `on_enter`).
pub(crate) fn enter(layer: FlatId, id: &Id) {
    let id = id.into_u64();
    with_stack(layer, true, |st| {
        let Some(st) = st else { return };
        let duplicate = st.iter().any(|e| e.id == id);
        st.push(Entered {
            id,
            duplicate,
            flat: None,
        });
    });
}

/// Notes that this thread left span `id` (the layer's `on_exit`).
pub(crate) fn exit(layer: FlatId, id: &Id) {
    let id = id.into_u64();
    with_stack(layer, false, |st| {
        let Some(st) = st else { return };
        if let Some(i) = st.iter().rposition(|e| e.id == id) {
            st.remove(i);
        }
    });
}

/// Whether this thread is known to be outside every span `layer` was told of (false when
/// that cannot be known: during thread teardown, or re-entered).
pub(crate) fn outside_spans(layer: FlatId) -> bool {
    with_stack(layer, false, |st| st.is_none_or(|st| st.is_empty())).unwrap_or(false)
}

/// Calls `f` with the flattened fields of the span `event` is in (for layer `layer`), or with
/// `None` outside any span.
pub(crate) fn with_event_flat<S, R>(
    event: &Event<'_>,
    ctx: &Context<'_, S>,
    layer: FlatId,
    render: &CaptureSettings,
    f: impl FnOnce(Option<&Arc<Flat>>) -> R,
) -> R
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !event.is_contextual() {
        return f(from_registry(event, ctx, layer, render).as_ref());
    }
    // The current span's kept flattening, refreshed first if missing or stale. `f` runs with
    // the stack borrowed: an event it emits (none does today) would take the registry's way.
    let mut f = Some(f);
    let done = with_stack(layer, false, |st| {
        let call = f.take().expect("called once");
        let Some(top) = st.and_then(|st| st.iter_mut().rev().find(|e| !e.duplicate)) else {
            return call(None);
        };
        if !top.flat.as_ref().is_some_and(|fl| fl.is_fresh()) {
            top.flat = ctx
                .span(&Id::from_u64(top.id))
                .map(|span| flat::with_flat(&span, layer, render, Arc::clone));
        }
        call(top.flat.as_ref())
    });
    match (done, f) {
        (Some(r), _) => r,
        // During thread teardown, or re-entered while the stack is borrowed: ask the registry.
        (None, f) => {
            let f = f.expect("not called: the stack was not borrowed");
            f(from_registry(event, ctx, layer, render).as_ref())
        }
    }
}

/// The flattening of the span the registry says `event` is in. A reference of its own: `f`
/// may wait for room in the file channel, and must not hold the span's extensions meanwhile.
fn from_registry<S>(
    event: &Event<'_>,
    ctx: &Context<'_, S>,
    layer: FlatId,
    render: &CaptureSettings,
) -> Option<Arc<Flat>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = ctx.event_span(event)?;
    Some(flat::with_flat(&span, layer, render, Arc::clone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_no_stack_for_layers_with_no_span_entered() {
        let id = Id::from_u64(7);
        for _ in 0..100 {
            let layer = FlatId::new();
            enter(layer, &id);
            assert!(!outside_spans(layer));
            exit(layer, &id);
            assert!(outside_spans(layer));
        }
        // The last layer's (empty) stack at most: the others were dropped as new ones came.
        assert!(STACKS.with(|s| s.borrow().len()) <= 1);
        let (a, b) = (FlatId::new(), FlatId::new());
        enter(a, &id);
        enter(b, &Id::from_u64(8));
        // A stack still in use is kept when another layer makes its own.
        assert!(!outside_spans(a) && !outside_spans(b));
    }
}
