//! The span extensions our layers share, in one place:
//! - [`SpanFieldSets`]: a span's fields rendered to JSON once (at creation, then on each
//!   `Span::record`), one set per rendering settings in use, so an event never re-visits its
//!   parents' fields and two layers with different redaction each read their own rendering
//!   whatever their order (as tracing-subscriber keys `FormattedFields<N>` by formatter);
//! - [`RunId`]: a job run's id, made by whichever layer asks first so they all agree.

use chrono::{DateTime, Utc};
use tracing::Subscriber;
use tracing::field::Field;
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use uuid::Uuid;

use super::{Render, RenderKey, Val, ValHandler, Visitor, new_id};
use crate::format::json;
use crate::redact::REDACTED;

/// The span name that marks a job execution.
pub const SPAN_NAME: &str = "job_execution";

/// A span's fields under one rendering, each value pre-rendered as JSON, in declaration order;
/// a later `Span::record` of the same name replaces the value in place, so keys never repeat.
#[derive(Default, Debug)]
pub(crate) struct SpanFields {
    fields: Vec<(&'static str, Box<[u8]>)>,
    /// Each name quoted and escaped as a JSON key, by position (escaped once per span, not
    /// per event).
    keys: Vec<Box<[u8]>>,
}

impl SpanFields {
    /// `(name, quoted key, value)` of each field.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &[u8], &[u8])> {
        self.fields
            .iter()
            .zip(&self.keys)
            .map(|((k, v), q)| (*k, &q[..], &v[..]))
    }
}

struct SpanFieldsWriter<'a> {
    fields: &'a mut SpanFields,
    render: &'a Render,
}

impl ValHandler for SpanFieldsWriter<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let mut out = Vec::new();
        if self.render.redaction.hides_field(field.name()) {
            json::write_str(&mut out, REDACTED);
        } else {
            v.write_json(&mut out, &self.render.limits);
            self.render.redaction.scrub_tail(&mut out, 0);
        }
        let out = out.into_boxed_slice();
        match self
            .fields
            .fields
            .iter_mut()
            .find(|(k, _)| *k == field.name())
        {
            Some(slot) => slot.1 = out,
            None => {
                let mut key = Vec::with_capacity(field.name().len() + 2);
                json::write_str(&mut key, field.name());
                self.fields.keys.push(key.into_boxed_slice());
                self.fields.fields.push((field.name(), out));
            }
        }
    }
}

/// Every rendering of one span's fields that some layer asked for (usually exactly one).
#[derive(Default)]
pub(crate) struct SpanFieldSets(Vec<(RenderKey, SpanFields)>);

impl SpanFieldSets {
    /// The fields as rendered with `render`'s settings.
    pub(crate) fn get(&self, render: &Render) -> Option<&SpanFields> {
        let key = render.key();
        self.0.iter().find(|(k, _)| *k == key).map(|(_, f)| f)
    }
}

/// Renders the new span's fields for `render`, unless a layer with the same settings did.
pub(crate) fn on_new_span<S>(attrs: &Attributes<'_>, id: &Id, ctx: &Context<'_, S>, render: &Render)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let key = render.key();
    let mut ext = span.extensions_mut();
    if ext.get_mut::<SpanFieldSets>().is_none() {
        ext.insert(SpanFieldSets::default());
    }
    let sets = ext.get_mut::<SpanFieldSets>().expect("inserted above");
    if sets.0.iter().any(|(k, _)| *k == key) {
        return;
    }
    let mut fields = SpanFields::default();
    attrs.record(&mut Visitor(SpanFieldsWriter {
        fields: &mut fields,
        render,
    }));
    sets.0.push((key, fields));
}

/// Applies `Span::record` to `render`'s rendering. Idempotent, so layers sharing settings may
/// all call it.
pub(crate) fn on_record<S>(id: &Id, values: &Record<'_>, ctx: &Context<'_, S>, render: &Render)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let key = render.key();
    let mut ext = span.extensions_mut();
    if ext.get_mut::<SpanFieldSets>().is_none() {
        ext.insert(SpanFieldSets::default());
    }
    let sets = ext.get_mut::<SpanFieldSets>().expect("inserted above");
    let at = match sets.0.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            sets.0.push((key, SpanFields::default()));
            sets.0.len() - 1
        }
    };
    values.record(&mut Visitor(SpanFieldsWriter {
        fields: &mut sets.0[at].1,
        render,
    }));
    drop(ext);
    // Every flattening that holds this span's fields is stale now.
    super::flat::fields_changed();
}

/// Whether a span with this metadata is a job execution.
pub(crate) fn is_job_span(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && meta.name() == SPAN_NAME && meta.fields().field("job_id").is_some()
}

/// The run id of a job span, kept in its extensions; made by whichever of our layers asks
/// first, so the action layer and the job layer agree whatever their order.
#[derive(Clone, Copy)]
pub(crate) struct RunId(pub(crate) Uuid);

/// The run id of `span`, creating it if the span is a job span without one yet: the span's own
/// `job_execution_id` field when it holds a UUID, else a new UUID v7 for `now`.
pub(crate) fn run_id<S>(
    span: &SpanRef<'_, S>,
    now: DateTime<Utc>,
    explicit: Option<&str>,
) -> Option<Uuid>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !is_job_span(span.metadata()) {
        return None;
    }
    if let Some(id) = span.extensions().get::<RunId>() {
        return Some(id.0);
    }
    let id = explicit
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| new_id(now));
    span.extensions_mut().insert(RunId(id));
    Some(id)
}
