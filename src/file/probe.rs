//! The file layer's capture and the writer's rendering of one event, with no hand-off, thread
//! or file between them: a layer that keeps the lines it renders. For the golden-output tests
//! (`golden`) and the fuzz targets (cargo feature `fuzzing`), which run millions of events and
//! read each line back.

use std::sync::{Arc, Mutex};

use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::record;
use super::render::LineRenderer;
use crate::clock::{SystemClock, Timezone};
use crate::fields::CaptureSettings;
use crate::fields::spans::{SpanTracking, line_layer_span_hooks};

/// A layer rendering each event as [`super::FileLayer`] and its writer do, one after the
/// other, every line stamped with one fixed instant (in UTC).
pub(crate) struct Probe {
    spans: SpanTracking,
    /// For the span hooks (no span close lines: unused).
    clock: Arc<SystemClock>,
    now: (i64, u32),
    renderer: Mutex<LineRenderer>,
    lines: Arc<Mutex<Vec<u8>>>,
}

impl Probe {
    /// A probe rendering under `render`, stamping `now`; the lines it renders go to the
    /// buffer returned beside it.
    pub(crate) fn new(render: CaptureSettings, now: (i64, u32)) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let probe = Probe {
            renderer: Mutex::new(LineRenderer::new(render.clone(), Timezone::Utc)),
            spans: SpanTracking::new(render, false),
            clock: Arc::new(SystemClock),
            now,
            lines: lines.clone(),
        };
        (probe, lines)
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Probe {
    line_layer_span_hooks!(spans, clock);

    /// What [`super::FileLayer`]'s `on_event` and the writer do, one after the other.
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        record::with_buffer(|buf| {
            record::capture(buf, event, self.now, &self.spans.settings);
            let Some(rec) = record::decode(buf) else {
                return;
            };
            self.spans.with_event_flat(event, &ctx, |flat| {
                let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
                let mut renderer = self.renderer.lock().unwrap_or_else(|e| e.into_inner());
                renderer.line(&mut lines, event.metadata(), flat, &rec);
            });
        });
    }
}

/// The day-file bytes `ev` is written as under `render` (UTC, at a fixed instant); `None` once
/// no more callsites can be made (see [`crate::dynamic::MAX_CALLSITES`]).
#[cfg(feature = "fuzzing")]
pub(crate) fn lines(ev: &crate::dynamic::DynEvent, render: CaptureSettings) -> Option<Vec<u8>> {
    use tracing_subscriber::prelude::*;
    let (probe, lines) = Probe::new(render, (1_762_180_245, 123_456_000));
    let subscriber = tracing_subscriber::registry().with(probe);
    if !tracing::subscriber::with_default(subscriber, || ev.emit()) {
        return None;
    }
    let out = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
    Some(out)
}
