//! A span's fields rendered to JSON once ([`SpanFieldSets`], kept in the span's extensions):
//! at creation, then on each `Span::record`, one set per rendering settings in use, so an event
//! never re-visits its parents' fields and two layers with different redaction each read their
//! own rendering whatever their order (as tracing-subscriber keys `FormattedFields<N>` by
//! formatter).

use std::ops::Range;

use tracing::Subscriber;
use tracing::field::Field;
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::callsite::{self, Callsite};
use super::{CaptureSettings, SettingsKey, Val, ValHandler, Visitor};
use crate::format::json;
use crate::redact::REDACTED;

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

/// Renders the new span's fields for `render`, unless a layer with the same settings did.
pub(crate) fn on_new_span<S>(
    attrs: &Attributes<'_>,
    id: &Id,
    ctx: &Context<'_, S>,
    render: &CaptureSettings,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let key = render.key();
    let mut ext = span.extensions_mut();
    let sets = ext.get_mut::<SpanFieldSets>();
    if sets.as_ref().is_some_and(|s| s.get(render).is_some()) {
        return;
    }
    let n = attrs.metadata().fields().len();
    let mut fields = SpanFields {
        // About 24 bytes per field rendered (a key and a short value).
        bytes: Vec::with_capacity(24 * n),
        at: Vec::with_capacity(n),
        stale: 0,
    };
    let cs = callsite::get(attrs.metadata(), &render.redaction, false);
    attrs.record(&mut Visitor(SpanFieldsWriter {
        fields: &mut fields,
        render,
        callsite: &cs,
    }));
    match sets {
        Some(sets) => sets.more.push((key, fields)),
        None => ext.insert(SpanFieldSets {
            first: (key, fields),
            more: Vec::new(),
        }),
    }
}

/// Applies `Span::record` to `render`'s rendering. Idempotent, so layers sharing settings may
/// all call it.
pub(crate) fn on_record<S>(
    id: &Id,
    values: &Record<'_>,
    ctx: &Context<'_, S>,
    render: &CaptureSettings,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let key = render.key();
    let mut ext = span.extensions_mut();
    if ext.get_mut::<SpanFieldSets>().is_none() {
        ext.insert(SpanFieldSets {
            first: (key, SpanFields::default()),
            more: Vec::new(),
        });
    }
    let sets = ext.get_mut::<SpanFieldSets>().expect("inserted above");
    let cs = callsite::get(span.metadata(), &render.redaction, false);
    values.record(&mut Visitor(SpanFieldsWriter {
        fields: sets.entry(key),
        render,
        callsite: &cs,
    }));
    drop(ext);
    // Every flattening that holds this span's fields is stale now.
    super::flat::fields_changed();
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
}
