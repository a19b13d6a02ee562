//! Trace context: the W3C trace id and span id of a span, so that a line, an action row and a
//! job run can be found again in the team's trace viewer.
//!
//! Where a span's ids come from, first match wins:
//! 1. with the cargo feature `opentelemetry`, the OpenTelemetry context tracing-opentelemetry
//!    keeps for the span (the ids of the exported span);
//! 2. a W3C `traceparent` value recorded on the span (a field of that name, as a service copies
//!    it from an HTTP header): the span continues that trace, its sampled flag kept;
//! 3. otherwise the trace of the parent span, or, for a root span, a trace of its own.
//!
//! A span always gets a span id of its own. The context is decided once per span, whichever
//! layers see it ([`on_new_span`] inserts it into the span's extensions only if absent), and
//! read back with [`of_span`]. Events outside every span carry none.
//!
//! The OpenTelemetry context is read when it is first asked for (the first line inside the
//! span, an action), not at the span's creation: the OpenTelemetry layer may come after ours in
//! the subscriber, and an application sets a span's remote parent (`set_parent`) after making
//! it. Reading it starts the OpenTelemetry span, as entering it does. When it cannot be read,
//! the span keeps the ids of sources 2 and 3, and this is reported once on stderr: when the
//! subscriber is built, if it has no layer of the tracing-opentelemetry version this build
//! reads (none installed, or the application's is another version, whose data this build
//! cannot see); else at the first span the layer left out.
//!
//! Ids are random (a thread-local generator: no lock and no system call per span) and never
//! all zero, which W3C reserves for "invalid".

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The name of the field whose W3C `traceparent` value continues a trace.
pub(crate) const TRACEPARENT: &str = "traceparent";

/// The W3C trace context of one span: its trace's id and its own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceContext {
    /// The trace's id, 16 bytes, never all zero.
    pub(crate) trace_id: [u8; 16],
    /// The span's own id, 8 bytes, never all zero.
    pub(crate) span_id: [u8; 8],
    /// The W3C sampled flag (`01` in `traceparent`'s flags).
    pub(crate) sampled: bool,
}

impl TraceContext {
    /// A new trace: fresh trace and span ids, sampled.
    pub(crate) fn new_root() -> Self {
        TraceContext {
            trace_id: new_trace_id(),
            span_id: new_span_id(),
            sampled: true,
        }
    }

    /// A new span of this context's trace: the same trace id and sampled flag, a fresh span id.
    pub(crate) fn child(&self) -> Self {
        TraceContext {
            span_id: new_span_id(),
            ..*self
        }
    }

    /// The trace id as 32 lowercase hex digits (the rows' `trace_id` column).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn trace_hex(&self) -> String {
        hex_string(&self.trace_id)
    }

    /// The span id as 16 lowercase hex digits (the rows' `span_id` column).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn span_hex(&self) -> String {
        hex_string(&self.span_id)
    }
}

/// A fresh trace id: random, never all zero.
pub(crate) fn new_trace_id() -> [u8; 16] {
    fastrand::u128(1..).to_be_bytes()
}

/// A fresh span id: random, never all zero.
pub(crate) fn new_span_id() -> [u8; 8] {
    fastrand::u64(1..).to_be_bytes()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lowercase hex.
pub(crate) fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(2 * bytes.len());
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

#[cfg_attr(not(test), allow(dead_code))]
fn hex_string(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(2 * bytes.len());
    write_hex(&mut out, bytes);
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Reads lowercase hex into `out` (exactly `2 * out.len()` digits); uppercase is refused, as
/// W3C requires lowercase.
fn read_hex(s: &[u8], out: &mut [u8]) -> Option<()> {
    if s.len() != 2 * out.len() {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    for (i, o) in out.iter_mut().enumerate() {
        *o = (digit(s[2 * i])? << 4) | digit(s[2 * i + 1])?;
    }
    Some(())
}

/// The remote parent a W3C `traceparent` value names: its trace id, its span id (the caller's
/// span, the parent of ours) and its sampled flag. Version `00` only (its exact length; a
/// later version's longer value is not guessed at), lowercase hex, ids not all zero.
pub(crate) fn parse_traceparent(value: &str) -> Option<TraceContext> {
    let v = value.trim().as_bytes();
    // 00-<32 hex>-<16 hex>-<2 hex>
    if v.len() != 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    if &v[0..2] != b"00" {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    let mut flags = [0u8; 1];
    read_hex(&v[3..35], &mut trace_id)?;
    read_hex(&v[36..52], &mut span_id)?;
    read_hex(&v[53..55], &mut flags)?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(TraceContext {
        trace_id,
        span_id,
        sampled: flags[0] & 1 == 1,
    })
}

/// What a span's extensions hold: its context as decided when it was created (or since
/// changed by a recorded `traceparent`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanTrace {
    pub(crate) ctx: TraceContext,
    /// Whether the trace came from a `traceparent` field of this span (it then outranks the
    /// parent's trace, which OpenTelemetry may give).
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) from_traceparent: bool,
}

/// Finds a valid `traceparent` among recorded values.
#[derive(Default)]
struct FindTraceparent(Option<TraceContext>);

impl Visit for FindTraceparent {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == TRACEPARENT {
            self.0 = parse_traceparent(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == TRACEPARENT {
            // `traceparent = %header` arrives as `Display` through `Debug`.
            self.0 = parse_traceparent(&format!("{value:?}"));
        }
    }
}

/// Whether a span's callsite declares a `traceparent` field (most do not: no visit then).
fn has_traceparent(meta: &tracing::Metadata<'_>) -> bool {
    meta.fields().field(TRACEPARENT).is_some()
}

/// What a layer knows of the subscriber it is in, for reading a span's OpenTelemetry context
/// (tracing-opentelemetry answers through the subscriber's dispatch). Empty without the
/// `opentelemetry` feature.
#[derive(Debug, Default)]
pub(crate) struct Registration {
    #[cfg(feature = "opentelemetry")]
    dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
}

impl Registration {
    /// The layer's `on_register_dispatch`: keeps (a weak handle on) the subscriber's dispatch.
    /// With the `opentelemetry` feature, also checks that the subscriber has a
    /// tracing-opentelemetry layer this build can read, and reports it now if not.
    pub(crate) fn on_register_dispatch(&self, _dispatch: &tracing::Dispatch) {
        #[cfg(feature = "opentelemetry")]
        {
            let _ = self.dispatch.set(_dispatch.downgrade());
            otel::check_subscriber(_dispatch);
        }
    }
}

/// Decides the context of the new span `span` (with attributes `attrs`) and keeps it in its
/// extensions, unless some layer did already: a valid `traceparent` field continues that
/// trace; else the parent span's trace; else a trace of its own. `reg`: the deciding layer's
/// [`Registration`], kept with the span for reading its OpenTelemetry context later.
pub(crate) fn on_new_span<S>(attrs: &Attributes<'_>, span: &SpanRef<'_, S>, _reg: &Registration)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if span.extensions().get::<SpanTrace>().is_some() {
        return;
    }
    let remote = if has_traceparent(attrs.metadata()) {
        let mut find = FindTraceparent::default();
        attrs.record(&mut find);
        find.0
    } else {
        None
    };
    let trace = match remote {
        Some(remote) => SpanTrace {
            ctx: remote.child(),
            from_traceparent: true,
        },
        None => decide_from_parent(span),
    };
    let mut ext = span.extensions_mut();
    if ext.get_mut::<SpanTrace>().is_none() {
        ext.insert(trace);
        #[cfg(feature = "opentelemetry")]
        if let Some(d) = _reg.dispatch.get() {
            ext.insert(otel::OtelDispatch(d.clone()));
        }
    }
}

/// The context of a span with no `traceparent` of its own: its parent's trace, or a new one.
fn decide_from_parent<S>(span: &SpanRef<'_, S>) -> SpanTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let ctx = match span.parent().and_then(|p| stored(&p)) {
        Some(parent) => parent.ctx.child(),
        None => TraceContext::new_root(),
    };
    SpanTrace {
        ctx,
        from_traceparent: false,
    }
}

/// A `Span::record` on `span`: a valid `traceparent` among `values` makes the span continue
/// that trace from now on (its span id kept).
pub(crate) fn on_record<S>(values: &Record<'_>, span: &SpanRef<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(field) = span.metadata().fields().field(TRACEPARENT) else {
        return;
    };
    if !values.contains(&field) {
        return;
    }
    let mut find = FindTraceparent::default();
    values.record(&mut find);
    let Some(remote) = find.0 else { return };
    let mut ext = span.extensions_mut();
    let span_id = ext
        .get_mut::<SpanTrace>()
        .map_or_else(new_span_id, |t| t.ctx.span_id);
    let trace = SpanTrace {
        ctx: TraceContext { span_id, ..remote },
        from_traceparent: true,
    };
    match ext.get_mut::<SpanTrace>() {
        Some(t) => *t = trace,
        None => ext.insert(trace),
    }
}

/// The context kept in `span`'s extensions, if one was decided.
fn stored<S>(span: &SpanRef<'_, S>) -> Option<SpanTrace>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span.extensions().get::<SpanTrace>().copied()
}

/// The trace context of `span`: its own span id and the trace id of its trace (see the
/// module docs for where they come from). A span no layer decided a context for yet (every
/// line layer does at its creation) gets one now, from its parent's.
pub(crate) fn of_span<S>(span: &SpanRef<'_, S>) -> Option<TraceContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    #[cfg(feature = "opentelemetry")]
    let ctx = opentelemetry_first(span);
    #[cfg(not(feature = "opentelemetry"))]
    let ctx = own_of_span(span).ctx;
    Some(ctx)
}

/// [`of_span`] with OpenTelemetry's context first; without it, a `traceparent` of the span's
/// own, else its parent's trace as the parent resolves it (which may be OpenTelemetry's).
#[cfg(feature = "opentelemetry")]
fn opentelemetry_first<S>(span: &SpanRef<'_, S>) -> TraceContext
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Some(ctx) = otel::of_span(span) {
        return ctx;
    }
    let own = own_of_span(span);
    if own.from_traceparent {
        return own.ctx;
    }
    match span.parent().and_then(|p| of_span(&p)) {
        Some(parent) => TraceContext {
            span_id: own.ctx.span_id,
            ..parent
        },
        None => own.ctx,
    }
}

/// The context of sources 2 and 3 of `span` (see the module docs), decided now if no layer
/// did at its creation.
fn own_of_span<S>(span: &SpanRef<'_, S>) -> SpanTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    match stored(span) {
        Some(t) => t,
        None => {
            let t = decide_from_parent(span);
            let mut ext = span.extensions_mut();
            match ext.get_mut::<SpanTrace>() {
                Some(kept) => *kept,
                None => {
                    ext.insert(t);
                    t
                }
            }
        }
    }
}

/// Source 1: the OpenTelemetry context tracing-opentelemetry keeps for a span.
#[cfg(feature = "opentelemetry")]
mod otel {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};

    use std::sync::atomic::AtomicUsize;

    use opentelemetry::trace::TraceContextExt;
    use tracing::dispatcher::WeakDispatch;
    use tracing::{Dispatch, Subscriber};
    use tracing_core::callsite::{Callsite, Identifier};
    use tracing_core::field::FieldSet;
    use tracing_core::metadata::Kind;
    use tracing_core::span::Attributes;
    use tracing_core::subscriber::Interest;
    use tracing_core::{Level, Metadata};
    use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};
    use tracing_subscriber::Registry;
    use tracing_subscriber::registry::{LookupSpan, SpanRef};

    use super::TraceContext;

    /// The version of tracing-opentelemetry whose span data this build reads.
    const TRACING_OPENTELEMETRY: &str = "0.34";

    /// The subscriber a span lives in, kept in its extensions by the layer that decided its
    /// context (see [`super::Registration`]).
    pub(super) struct OtelDispatch(pub(super) WeakDispatch);

    thread_local! {
        /// Set while this thread reads a span's OpenTelemetry context: an event emitted from
        /// inside (the OpenTelemetry SDK logging while it starts the span) must not ask again,
        /// as the span's OpenTelemetry data is locked meanwhile.
        static READING: Cell<bool> = const { Cell::new(false) };
    }

    /// Whether the missing OpenTelemetry context was reported (once per process).
    static REPORTED: AtomicBool = AtomicBool::new(false);

    /// The registry last checked by [`check_subscriber`] (its address), so that the layers of
    /// one subscriber, each told of it, check it once.
    static CHECKED: AtomicUsize = AtomicUsize::new(0);

    /// The span [`check_subscriber`] makes in the registry: never seen by any layer.
    struct ProbeCallsite;
    static PROBE_CALLSITE: ProbeCallsite = ProbeCallsite;
    static PROBE: Metadata<'static> = Metadata::new(
        "actionlog opentelemetry check",
        "actionlog",
        Level::TRACE,
        None,
        None,
        None,
        FieldSet::new(&[], Identifier(&PROBE_CALLSITE)),
        Kind::SPAN,
    );

    impl Callsite for ProbeCallsite {
        fn set_interest(&self, _: Interest) {}

        fn metadata(&self) -> &Metadata<'_> {
            &PROBE
        }
    }

    /// Reports now, when the subscriber is built, if it has no layer of the
    /// tracing-opentelemetry version this build reads: without one, every span would silently
    /// keep actionlog's own ids. A layer of another version (the application depends on one
    /// tracing-opentelemetry, actionlog on another) is invisible to this build, which is the
    /// case this is for.
    ///
    /// tracing-opentelemetry answers whether its layer is there only about a live span
    /// (`set_parent` fails with `LayerNotFound`). The span asked about is made in the registry
    /// directly, so no layer ever sees it: no layer records, prints or exports it, and
    /// `set_parent` finds no OpenTelemetry data on it to change. Its slot in the registry is
    /// not given back — closing it through the subscriber would show its close to every layer
    /// — so each subscriber checked keeps one empty span. A subscriber not built on
    /// tracing-subscriber's `Registry` is not checked; the first span without a context is
    /// reported instead.
    pub(super) fn check_subscriber(dispatch: &Dispatch) {
        if REPORTED.load(Ordering::Relaxed) {
            return;
        }
        let Some(registry) = dispatch.downcast_ref::<Registry>() else {
            return;
        };
        let address = std::ptr::from_ref(registry) as usize;
        if CHECKED.swap(address, Ordering::Relaxed) == address {
            return;
        }
        let values = PROBE.fields().value_set(&[]);
        let id = registry.new_span(&Attributes::new_root(&PROBE, &values));
        registry.enter(&id);
        // `Span::current` asks the dispatch, which answers from the registry: a handle on the
        // probe span for tracing-opentelemetry's extension trait, holding a second reference.
        let span = tracing::dispatcher::with_default(dispatch, tracing::Span::current);
        registry.exit(&id);
        let found = !matches!(
            span.set_parent(opentelemetry::Context::new()),
            Err(SetParentError::LayerNotFound)
        );
        // Back to the one reference `new_span` gave, which is kept (see above).
        drop(span);
        if !found && !REPORTED.swap(true, Ordering::Relaxed) {
            crate::report::emit(format_args!(
                "the `opentelemetry` feature is on, but the subscriber has no layer of \
                 tracing-opentelemetry {TRACING_OPENTELEMETRY}, the version this build of \
                 actionlog reads: lines, actions and job runs carry actionlog's own trace ids. \
                 If the application has an OpenTelemetry layer, it comes from another version \
                 of tracing-opentelemetry (`cargo tree -i tracing-opentelemetry` lists them); \
                 use {TRACING_OPENTELEMETRY} for the ids of the exported spans"
            ));
        }
    }

    /// The ids of the OpenTelemetry span tracing-opentelemetry made for `span`, if it made one.
    pub(super) fn of_span<S>(span: &SpanRef<'_, S>) -> Option<TraceContext>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let dispatch = span
            .extensions()
            .get::<OtelDispatch>()
            .and_then(|d| d.0.upgrade());
        let cx = match dispatch {
            Some(d) if !READING.with(|r| r.replace(true)) => {
                // No extensions of the span are held here: tracing-opentelemetry reads them.
                let cx = tracing_opentelemetry::get_otel_context(&span.id(), &d);
                READING.with(|r| r.set(false));
                cx
            }
            Some(_) => return None,
            None => None,
        };
        let found = cx.and_then(|cx| {
            let otel_span = cx.span();
            let sc = otel_span.span_context();
            sc.is_valid().then(|| TraceContext {
                trace_id: sc.trace_id().to_bytes(),
                span_id: sc.span_id().to_bytes(),
                sampled: sc.is_sampled(),
            })
        });
        if found.is_none() && !REPORTED.swap(true, Ordering::Relaxed) {
            crate::report::emit(format_args!(
                "the `opentelemetry` feature is on, but span `{}` has no OpenTelemetry context \
                 from tracing-opentelemetry {TRACING_OPENTELEMETRY}: its layer leaves this span \
                 out, or is not in the subscriber; lines, actions and job runs in such spans \
                 carry actionlog's own trace ids",
                span.name()
            ));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_gives_its_ids_and_flag() {
        let t = parse_traceparent(VALID).unwrap();
        assert_eq!(t.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.span_hex(), "00f067aa0ba902b7");
        assert!(t.sampled);
        let t = parse_traceparent(&VALID.replace("-01", "-00")).unwrap();
        assert!(!t.sampled);
        // Only the sampled bit counts among the flags.
        assert!(
            parse_traceparent(&VALID.replace("-01", "-03"))
                .unwrap()
                .sampled
        );
        assert!(
            !parse_traceparent(&VALID.replace("-01", "-02"))
                .unwrap()
                .sampled
        );
        // Surrounding whitespace, as an HTTP header value may carry.
        assert!(parse_traceparent(&format!(" {VALID}\t")).is_some());
    }

    #[test]
    fn invalid_traceparents_are_refused() {
        let zero_trace = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
        let zero_span = "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01";
        for bad in [
            "",
            zero_trace,
            zero_span,
            // Other versions, and the forbidden ff.
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // Uppercase, non-hex, wrong lengths, wrong separators.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn own_ids_are_non_zero_distinct_and_lowercase_hex() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let t = TraceContext::new_root();
            assert_ne!(t.trace_id, [0; 16]);
            assert_ne!(t.span_id, [0; 8]);
            assert!(seen.insert(t.trace_id));
            let (th, sh) = (t.trace_hex(), t.span_hex());
            assert_eq!((th.len(), sh.len()), (32, 16));
            assert!(th.bytes().chain(sh.bytes()).all(|c| HEX.contains(&c)));
            // Written back, parsed again: the same ids.
            let tp = format!("00-{th}-{sh}-01");
            assert_eq!(parse_traceparent(&tp), Some(t));
            let c = t.child();
            assert_eq!((c.trace_id, c.sampled), (t.trace_id, t.sampled));
            assert_ne!(c.span_id, t.span_id);
        }
    }
}
