//! Span tracking for the line layers, in one place: what a layer needs so that each event
//! finds the fields of the spans it is in.
//!
//! - [`SpanTracking`]: the span hooks a line layer (file, console, a job run's logs) embeds and
//!   calls from each of its hooks of the same name, one method per hook, so no layer can
//!   forget one and lose span fields.
//! - A span's own fields, rendered to JSON once ([`SpanFieldSets`], kept in the span's
//!   extensions): at creation, then on each `Span::record`, one set per capture settings in
//!   use, so an event never re-visits its parents' fields and two layers with different
//!   redaction each read their own rendering whatever their order (as tracing-subscriber keys
//!   `FormattedFields<N>` by formatter).
//! - A span's fields together with every enclosing span's, flattened once per span and layer
//!   ([`Flat`]) and kept in the span's extensions, so an event reads its spans' fields from its
//!   own span alone instead of walking the scope and re-adding each parent's fields.
//! - Which span an event on this thread is in, kept per thread and layer from the layer's own
//!   `on_enter` / `on_exit`, so a contextual event finds its span's flattening without asking
//!   the registry. The registry's answer costs two lookups in its slab and the span's
//!   extensions lock (atomic read-modify-writes on shared cache lines per event); this costs a
//!   thread-local read.
//!
//! Invariants:
//! - A [`Flat`] holds exactly what a walk of the scope would add, in the same order: the
//!   span's own fields (declaration order), then each ancestor's fields from the innermost
//!   outwards, a name already present skipped (innermost wins).
//! - It is kept per layer ([`FlatId`]), not per settings: two layers with the same settings
//!   but different per-layer filters see different ancestors.
//! - `Span::record` on any span makes every flattening stale ([`fields_changed`] bumps one
//!   process-wide epoch after the span's own fields changed); a stale one is rebuilt on its
//!   next use, so an event after a `record` always sees the recorded value. Recording is rare
//!   next to events; a program that records on every event pays a rebuild per event: a walk
//!   of the span's scope plus one allocation.
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
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::Field;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::callsite::{self, Callsite};
use super::close;
use super::{CaptureSettings, SettingsKey, Val, ValHandler, Visitor};
use crate::clock::Clock;
use crate::format::file::{self as file_layout, TraceKeys};
use crate::format::json;
use crate::redact::REDACTED;
use crate::trace::{self, TraceContext};

/// The span hooks of a line layer (the file, the console, a job run's logs), in one piece the
/// layer embeds and calls from each of its hooks of the same name: the span's fields rendered
/// under the layer's settings ([`SpanFieldSets`]), the layer's stack of entered spans ,
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
    /// The subscriber the layer is in, for the spans' trace context.
    registration: trace::Registration,
}

impl SpanTracking {
    pub(crate) fn new(settings: CaptureSettings, close_lines: bool) -> Self {
        SpanTracking {
            settings,
            close_lines,
            id: FlatId::new(),
            registration: trace::Registration::default(),
        }
    }

    /// The layer's `on_register_dispatch`: the subscriber it is in (see
    /// [`trace::Registration`]).
    pub(crate) fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
        self.registration.on_register_dispatch(dispatch);
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
        if let Some(span) = ctx.span(id) {
            trace::on_new_span(attrs, &span, &self.registration);
            record_span_fields(&span, &self.settings, true, |v| attrs.record(v));
        }
        if self.close_lines {
            close::on_new_span(id, ctx, self.id, clock);
        }
    }

    /// The layer's `on_record`: the span's rendered fields take the new values (and a
    /// recorded `traceparent` its trace).
    pub(crate) fn on_record<S>(&self, id: &Id, values: &Record<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if let Some(span) = ctx.span(id) {
            trace::on_record(values, &span);
            record_span_fields(&span, &self.settings, false, |v| values.record(v));
        }
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

/// The span hooks of a line layer, each handed to the layer's [`SpanTracking`] field
/// `$spans` with its clock field `$clock`, and `on_close` to the layer's own `on_event` (span
/// close lines): one line in the layer's `impl Layer<S>` (whose subscriber parameter must be
/// named `S`), so a layer cannot forget a hook. A layer with more to do in a hook (the job
/// layer) calls the [`SpanTracking`] methods from its own hooks instead.
macro_rules! line_layer_span_hooks {
    ($spans:ident, $clock:ident) => {
        fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
            self.$spans.on_register_dispatch(dispatch);
        }

        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            id: &tracing::span::Id,
            ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.$spans.on_new_span(attrs, id, &ctx, &*self.$clock);
        }

        fn on_record(
            &self,
            id: &tracing::span::Id,
            values: &tracing::span::Record<'_>,
            ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.$spans.on_record(id, values, &ctx);
        }

        fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
            self.$spans.on_enter(id, &ctx, &*self.$clock);
        }

        fn on_exit(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
            self.$spans.on_exit(id, &ctx, &*self.$clock);
        }

        fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
            self.$spans.on_close(&id, &ctx, &*self.$clock, |event| {
                self.on_event(event, ctx.clone())
            });
        }
    };
}
pub(crate) use line_layer_span_hooks;

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
                .map(|span| with_flat(&span, layer, render, Arc::clone));
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
    Some(with_flat(&span, layer, render, Arc::clone))
}

/// A span's fields under one rendering, each value pre-rendered as JSON, in the order they
/// were first recorded; a later `Span::record` of the same name replaces the value, so keys
/// never repeat.
///
/// Every quoted key and rendered value lies in one buffer: a span costs two allocations here
/// whatever its number of fields, rather than a boxed key and a boxed value per field (and
/// their frees) on the app's thread.
#[derive(Default, Debug)]
pub(crate) struct SpanFields {
    bytes: Vec<u8>,
    /// Per field: its name, and where its quoted key and its value lie in `bytes`.
    at: Vec<(&'static str, Range<usize>, Range<usize>)>,
    /// Bytes of `bytes` no field points at any more (values replaced by `Span::record`).
    stale: usize,
}

impl SpanFields {
    /// `(name, quoted key, value)` of each field.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &[u8], &[u8])> {
        self.at
            .iter()
            .map(|(n, k, v)| (*n, &self.bytes[k.clone()], &self.bytes[v.clone()]))
    }

    /// Rebuilds `bytes` from the live keys and values once the replaced values outweigh
    /// them, so a span recorded again and again keeps a bounded buffer.
    fn compact_if_stale(&mut self) {
        if self.stale <= self.bytes.len() / 2 {
            return;
        }
        let mut bytes = Vec::with_capacity(self.bytes.len() - self.stale);
        for (_, k, v) in &mut self.at {
            let key = bytes.len();
            bytes.extend_from_slice(&self.bytes[k.clone()]);
            let value = bytes.len();
            bytes.extend_from_slice(&self.bytes[v.clone()]);
            *k = key..value;
            *v = value..bytes.len();
        }
        self.bytes = bytes;
        self.stale = 0;
    }
}

struct SpanFieldsWriter<'a> {
    fields: &'a mut SpanFields,
    render: &'a CaptureSettings,
    /// The span's callsite under `render`'s redaction: each field's quoted key and whether it
    /// is hidden, decided once per callsite rather than looked up per field.
    callsite: &'a Callsite,
}

impl ValHandler for SpanFieldsWriter<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let f = &mut *self.fields;
        let info = self.callsite.field(field.index(), field.name());
        let existing = f.at.iter().position(|(n, _, _)| *n == field.name());
        let key = f.bytes.len();
        if existing.is_none() {
            match info {
                Some(i) => f.bytes.extend_from_slice(&i.key),
                None => json::write_str(&mut f.bytes, field.name()),
            }
        }
        let value = f.bytes.len();
        if self.callsite.hides(field, &self.render.redaction) {
            json::write_str(&mut f.bytes, REDACTED);
        } else {
            v.write_json(&mut f.bytes, &self.render.limits);
            self.render.redaction.scrub_tail(&mut f.bytes, value);
        }
        let end = f.bytes.len();
        match existing {
            Some(i) => {
                let old = std::mem::replace(&mut f.at[i].2, value..end);
                f.stale += old.len();
                f.compact_if_stale();
            }
            None => f.at.push((field.name(), key..value, value..end)),
        }
    }
}

/// Every rendering of one span's fields that some layer asked for (usually exactly one, kept
/// inline: no allocation for the list).
pub(crate) struct SpanFieldSets {
    first: (SettingsKey, SpanFields),
    more: Vec<(SettingsKey, SpanFields)>,
}

impl SpanFieldSets {
    /// The fields as rendered with `render`'s settings.
    pub(crate) fn get(&self, render: &CaptureSettings) -> Option<&SpanFields> {
        let key = render.key();
        std::iter::once(&self.first)
            .chain(&self.more)
            .find(|(k, _)| *k == key)
            .map(|(_, f)| f)
    }

    /// The rendering under `key`, made empty if there is none yet.
    fn entry(&mut self, key: SettingsKey) -> &mut SpanFields {
        if self.first.0 == key {
            return &mut self.first.1;
        }
        let at = match self.more.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.more.push((key, SpanFields::default()));
                self.more.len() - 1
            }
        };
        &mut self.more[at].1
    }
}

/// Renders a span's fields under `settings` into its [`SpanFieldSets`]: those of a new span
/// (`new`: `record` records its attributes), unless a layer with the same settings did
/// already; or those a `Span::record` gives (`record` records them), which is idempotent, so
/// layers sharing settings may all call it.
fn record_span_fields<S>(
    span: &SpanRef<'_, S>,
    settings: &CaptureSettings,
    new: bool,
    record: impl FnOnce(&mut dyn tracing::field::Visit),
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let key = settings.key();
    let mut ext = span.extensions_mut();
    match ext.get_mut::<SpanFieldSets>() {
        Some(sets) if new && sets.get(settings).is_some() => return,
        Some(_) => {}
        None => ext.insert(SpanFieldSets {
            first: (key, SpanFields::default()),
            more: Vec::new(),
        }),
    }
    let sets = ext.get_mut::<SpanFieldSets>().expect("inserted above");
    let fields = sets.entry(key);
    let meta = span.metadata();
    if new {
        // About 24 bytes per field rendered (a key and a short value).
        let n = meta.fields().len();
        fields.bytes.reserve(24 * n);
        fields.at.reserve(n);
    }
    let cs = callsite::get(meta, &settings.redaction, false);
    record(&mut Visitor(SpanFieldsWriter {
        fields,
        render: settings,
        callsite: &cs,
    }));
    drop(ext);
    if !new {
        // Every flattening that holds this span's fields is stale now.
        fields_changed();
    }
}

static EPOCH: AtomicU64 = AtomicU64::new(0);
static NEXT_LAYER: AtomicU64 = AtomicU64::new(1);

/// Marks every flattening stale; called after a span's own fields changed.
pub(crate) fn fields_changed() {
    EPOCH.fetch_add(1, Ordering::Release);
}

/// Tells layers' flattenings apart (each layer instance takes its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlatId(u64);

impl FlatId {
    pub(crate) fn new() -> Self {
        FlatId(NEXT_LAYER.fetch_add(1, Ordering::Relaxed))
    }
}

/// One entry: `joined[start..end]` is `"key":value`, the key ending at `key_end`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    name: &'static str,
    start: u32,
    key_end: u32,
    end: u32,
}

/// The fields of a span and its ancestors, each value already rendered (redacted, capped,
/// escaped) as JSON.
#[derive(Debug, Default)]
pub(crate) struct Flat {
    epoch: u64,
    /// The span's trace context, which every line inside it carries: kept with its fields so
    /// that an event hands over nothing more than the flattening it already does.
    trace: Option<TraceContext>,
    /// That context as the file line shows it, rendered once per span.
    trace_keys: Option<TraceKeys>,
    entries: Vec<Entry>,
    /// Every entry as `"key":value`, joined by `,` (the file's separators).
    joined: Vec<u8>,
}

impl Flat {
    /// `(name, quoted key, value)` of each entry, innermost span first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &[u8], &[u8])> {
        self.entries.iter().map(|e| {
            let (s, k, end) = (e.start as usize, e.key_end as usize, e.end as usize);
            (e.name, &self.joined[s..k], &self.joined[k + 1..end])
        })
    }

    /// The names, in entry order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.name)
    }

    /// Every entry as `"key":value` joined by `,`, without braces (empty when there are none).
    pub(crate) fn joined(&self) -> &[u8] {
        &self.joined
    }

    /// The entry `"key":value` of `name`'s position `i` (from [`Flat::names`]).
    pub(crate) fn entry(&self, i: usize) -> &[u8] {
        let e = &self.entries[i];
        &self.joined[e.start as usize..e.end as usize]
    }

    /// Whether no span's fields changed since this was built (see [`fields_changed`]).
    pub(crate) fn is_fresh(&self) -> bool {
        self.epoch == EPOCH.load(Ordering::Acquire)
    }

    /// The trace context of the span (see [`crate::trace`]).
    pub(crate) fn trace(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// The trace context as the file line shows it.
    pub(crate) fn trace_keys(&self) -> Option<&TraceKeys> {
        self.trace_keys.as_ref()
    }

    /// Bytes of the joined entries.
    pub(crate) fn len(&self) -> usize {
        self.joined.len()
    }

    fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    fn push(&mut self, name: &'static str, key: &[u8], value: &[u8]) {
        if !self.joined.is_empty() {
            self.joined.push(b',');
        }
        let start = self.joined.len() as u32;
        self.joined.extend_from_slice(key);
        let key_end = self.joined.len() as u32;
        self.joined.push(b':');
        self.joined.extend_from_slice(value);
        self.entries.push(Entry {
            name,
            start,
            key_end,
            end: self.joined.len() as u32,
        });
    }
}

/// Each layer's flattening of one span.
#[derive(Default)]
struct Flats(Vec<(FlatId, Arc<Flat>)>);

/// Calls `f` with the flattened fields of `span` for layer `id` rendering with `render`,
/// building (and keeping) them first if they are missing or stale.
fn with_flat<S, R>(
    span: &SpanRef<'_, S>,
    id: FlatId,
    render: &CaptureSettings,
    f: impl FnOnce(&Arc<Flat>) -> R,
) -> R
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let epoch = EPOCH.load(Ordering::Acquire);
    let mut f = Some(f);
    {
        let ext = span.extensions();
        let fresh = ext
            .get::<Flats>()
            .and_then(|x| x.0.iter().find(|(k, _)| *k == id))
            .filter(|(_, flat)| flat.epoch == epoch);
        if let Some((_, flat)) = fresh {
            return (f.take().expect("called once"))(flat);
        }
    }
    let flat = build(span, id, render, epoch);
    let r = (f.take().expect("called once"))(&flat);
    let mut ext = span.extensions_mut();
    if ext.get_mut::<Flats>().is_none() {
        ext.insert(Flats::default());
    }
    let flats = &mut ext.get_mut::<Flats>().expect("inserted above").0;
    match flats.iter_mut().find(|(k, _)| *k == id) {
        Some(slot) => slot.1 = flat,
        None => flats.push((id, flat)),
    }
    r
}

/// The span's own fields, then its parent's flattening without the names already present.
fn build<S>(span: &SpanRef<'_, S>, id: FlatId, render: &CaptureSettings, epoch: u64) -> Arc<Flat>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let parent = span.parent().map(|p| with_flat(&p, id, render, Arc::clone));
    let trace = trace::of_span(span);
    let mut flat = Flat {
        epoch,
        trace,
        trace_keys: trace.as_ref().map(file_layout::trace_keys),
        ..Flat::default()
    };
    if let Some(own) = span
        .extensions()
        .get::<SpanFieldSets>()
        .and_then(|s| s.get(render))
    {
        for (name, key, value) in own.iter() {
            flat.push(name, key, value);
        }
    }
    if let Some(p) = parent {
        for (name, key, value) in p.iter() {
            if !flat.has(name) {
                flat.push(name, key, value);
            }
        }
    }
    Arc::new(flat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Renders the one span `f` makes, and every `record` on it, through a subscriber that
    /// keeps the rendering.
    fn render_span(f: impl FnOnce()) -> Vec<(String, String, String)> {
        struct Keep(
            Mutex<SpanFields>,
            Mutex<Option<&'static tracing::Metadata<'static>>>,
        );
        impl Subscriber for Keep {
            fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, a: &Attributes<'_>) -> Id {
                let render = CaptureSettings::default();
                *self.1.lock().unwrap() = Some(a.metadata());
                let cs = callsite::get(a.metadata(), &render.redaction, false);
                a.record(&mut Visitor(SpanFieldsWriter {
                    fields: &mut self.0.lock().unwrap(),
                    render: &render,
                    callsite: &cs,
                }));
                Id::from_u64(1)
            }
            fn record(&self, _: &Id, r: &Record<'_>) {
                let render = CaptureSettings::default();
                let meta = self.1.lock().unwrap().expect("the span's");
                let cs = callsite::get(meta, &render.redaction, false);
                r.record(&mut Visitor(SpanFieldsWriter {
                    fields: &mut self.0.lock().unwrap(),
                    render: &render,
                    callsite: &cs,
                }));
            }
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, _: &tracing::Event<'_>) {}
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }
        let keep = Arc::new(Keep(Mutex::default(), Mutex::default()));
        tracing::subscriber::with_default(keep.clone(), f);
        let fields = keep.0.lock().unwrap();
        assert!(
            fields.bytes.len() <= 2 * (fields.bytes.len() - fields.stale).max(1),
            "replaced values are compacted away"
        );
        fields
            .iter()
            .map(|(n, k, v)| {
                let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
                (n.to_owned(), s(k), s(v))
            })
            .collect()
    }

    #[test]
    fn fields_render_once_and_a_record_replaces_in_place() {
        let got = render_span(|| {
            let span = tracing::info_span!(
                "s",
                user = "ana\n",
                n = 1,
                token = "t0ps3cret",
                message = "hi",
                later = tracing::field::Empty
            );
            for i in 0..1_000u64 {
                span.record("n", i);
            }
            span.record("later", "https://u:pw@example.com/x");
        });
        let want = [
            ("user", "\"user\"", "\"ana\\n\""),
            ("n", "\"n\"", "999"),
            ("token", "\"token\"", "\"[REDACTED]\""),
            ("message", "\"message\"", "\"hi\""),
            (
                "later",
                "\"later\"",
                "\"https://u:[REDACTED]@example.com/x\"",
            ),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want);
    }

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
