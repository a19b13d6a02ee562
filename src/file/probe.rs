//! The file layer's capture and the writer's rendering of one event, with no hand-off, thread
//! or file between them: a layer that keeps the line it renders. For the fuzz targets
//! (cargo feature `fuzzing`), which run millions of events and read each line back.

use std::sync::{Arc, Mutex};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use super::record;
use super::render::Renderer;
use crate::clock::Timezone;
use crate::dynamic::DynEvent;
use crate::fields::flat::FlatId;
use crate::fields::{Render, current, span};

/// The instant every probed line is stamped with.
const NOW: (i64, u32) = (1_762_180_245, 123_456_000);

struct Probe {
    render: Render,
    flat_id: FlatId,
    renderer: Mutex<Renderer>,
    lines: Arc<Mutex<Vec<u8>>>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Probe {
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

    /// What [`super::FileLayer`]'s `on_event` and the writer do, one after the other.
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        record::with_buffer(|buf| {
            record::capture(buf, event, NOW, &self.render);
            let Some(rec) = record::decode(buf) else {
                return;
            };
            current::with_event_flat(event, &ctx, self.flat_id, &self.render, |flat| {
                let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
                let mut renderer = self.renderer.lock().unwrap_or_else(|e| e.into_inner());
                renderer.line(&mut lines, event.metadata(), flat, &rec);
            });
        });
    }
}

/// The day-file bytes `ev` is written as under `render` (UTC, at a fixed instant); `None` once
/// no more callsites can be made (see [`crate::dynamic::MAX_CALLSITES`]).
pub(crate) fn lines(ev: &DynEvent, render: Render) -> Option<Vec<u8>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe {
        renderer: Mutex::new(Renderer::new(render.clone(), Timezone::Utc)),
        render,
        flat_id: FlatId::new(),
        lines: lines.clone(),
    };
    let subscriber = tracing_subscriber::registry().with(probe);
    if !tracing::subscriber::with_default(subscriber, || ev.emit()) {
        return None;
    }
    let out = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
    Some(out)
}
