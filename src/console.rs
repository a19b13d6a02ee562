//! The console output: [`ConsoleLayer`] writes the coloured console line for every event, whole,
//! with one `write` call, so lines from several threads never interleave.
//!
//! Console lines are written on the caller's thread, like `tracing_subscriber::fmt`: a terminal
//! is meant to show what happens as it happens. Turn the console off in services whose stderr
//! is slow or unread; the day files carry everything.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::clock::{Clock, SystemClock, Timezone};
use crate::fields::event;
use crate::fields::spans::{SpanTracking, line_layer_span_hooks};
use crate::format;
use crate::limits::Limits;
use crate::redact::Redaction;

/// Which standard stream the console output goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stream {
    /// Standard error (the default: keeps stdout free for the program's own output).
    #[default]
    Stderr,
    /// Standard output.
    Stdout,
}

/// Whether console lines are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMode {
    /// Colour when the stream is a terminal and `NO_COLOR` is unset or empty; `CLICOLOR_FORCE`
    /// (set and not `0`) forces colour on.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// A [`Layer`] printing the console line:
/// `2025-11-03T14:30:45 INFO     [data_collection_page] Start Collection button clicked {"us_congress": true}`.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// let console = actionlog::ConsoleLayer::new(actionlog::Stream::Stderr)
///     .color(actionlog::ColorMode::Never);
/// let subscriber = tracing_subscriber::registry().with(console);
/// tracing::subscriber::with_default(subscriber, || tracing::info!(lookback_days = 30, "hello"));
/// ```
pub struct ConsoleLayer {
    writer: BoxMakeWriter,
    stream: Option<Stream>,
    color: ColorMode,
    /// The resolved colour decision.
    colored: bool,
    clock: Arc<dyn Clock>,
    tz: Timezone,
    /// Redaction, caps, span fields and span close lines
    /// ([`ConsoleLayer::span_close_lines`]).
    spans: SpanTracking,
    /// Whether a line inside a span shows its short trace id ([`ConsoleLayer::trace_ids`]).
    trace_ids: bool,
}

impl std::fmt::Debug for ConsoleLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleLayer")
            .field("stream", &self.stream)
            .field("colored", &self.colored)
            .field("timezone", &self.tz)
            .finish_non_exhaustive()
    }
}

impl ConsoleLayer {
    /// Writes to `stream`, colour decided by [`ColorMode::Auto`].
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// let console = actionlog::ConsoleLayer::new(actionlog::Stream::Stderr)
    ///     .color(actionlog::ColorMode::Never);
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(console), || {
    ///     tracing::info!(lookback_days = 30, "collection started");
    /// });
    /// ```
    pub fn new(stream: Stream) -> Self {
        let writer = match stream {
            Stream::Stderr => BoxMakeWriter::new(std::io::stderr),
            Stream::Stdout => BoxMakeWriter::new(std::io::stdout),
        };
        Self::from_parts(writer, Some(stream))
    }

    /// Writes to any [`MakeWriter`] (a test buffer, a file); not a terminal, so
    /// [`ColorMode::Auto`] colours only under `CLICOLOR_FORCE`.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// let console = actionlog::ConsoleLayer::with_writer(std::io::stdout);
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(console), || {
    ///     tracing::warn!("disk almost full");
    /// });
    /// ```
    pub fn with_writer<W>(writer: W) -> Self
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        Self::from_parts(BoxMakeWriter::new(writer), None)
    }

    /// The defaults around `writer`; `stream` is the terminal it writes to, if any, which
    /// [`ColorMode::Auto`] asks whether to colour.
    fn from_parts(writer: BoxMakeWriter, stream: Option<Stream>) -> Self {
        let mut layer = ConsoleLayer {
            writer,
            stream,
            color: ColorMode::Auto,
            colored: false,
            clock: Arc::new(SystemClock),
            tz: Timezone::default(),
            spans: SpanTracking::new(Default::default(), false),
            trace_ids: false,
        };
        layer.resolve_color();
        layer
    }

    /// Which field names are redacted (default [`Redaction::default`]).
    #[must_use]
    pub fn redaction(mut self, r: Redaction) -> Self {
        self.spans.settings.redaction = r;
        self
    }

    /// Size caps on values and events (default [`Limits::default`]).
    #[must_use]
    pub fn limits(mut self, l: Limits) -> Self {
        self.spans.settings.limits = l;
        self
    }

    /// Sets the colour mode.
    #[must_use]
    pub fn color(mut self, mode: ColorMode) -> Self {
        self.color = mode;
        self.resolve_color();
        self
    }

    /// The zone of the printed timestamps (default: local time).
    #[must_use]
    pub fn timezone(mut self, tz: Timezone) -> Self {
        self.tz = tz;
        self
    }

    /// The clock for timestamps (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The first 8 hex digits of the trace id after the logger, on the lines of events inside
    /// a span (default off): `… INFO     [app] [4bf92f35] order paid {…}`. Enough to follow one
    /// request among its neighbours and to find its trace; the day files carry the whole id.
    #[must_use]
    pub fn trace_ids(mut self, on: bool) -> Self {
        self.trace_ids = on;
        self
    }

    /// One line when a span closes (default off): the line
    /// [`FileLayerBuilder::span_close_lines`](crate::FileLayerBuilder::span_close_lines)
    /// describes, in the console's layout:
    /// `… INFO     [app] close request {"elapsed_ms": 8.0, "busy_ms": 3.0, "idle_ms": 5.0, "method": "GET"}`.
    #[must_use]
    pub fn span_close_lines(mut self, on: bool) -> Self {
        self.spans.close_lines = on;
        self
    }

    pub(crate) fn clock_arc(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn resolve_color(&mut self) {
        self.colored = match self.color {
            ColorMode::Always => true,
            ColorMode::Never => false,
            ColorMode::Auto => {
                let tty = match self.stream {
                    Some(Stream::Stderr) => std::io::stderr().is_terminal(),
                    Some(Stream::Stdout) => std::io::stdout().is_terminal(),
                    None => false,
                };
                format::console::auto_color(
                    tty,
                    std::env::var("NO_COLOR").ok().as_deref(),
                    std::env::var("CLICOLOR_FORCE").ok().as_deref(),
                )
            }
        };
    }
}

impl<S> Layer<S> for ConsoleLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    line_layer_span_hooks!(spans, clock);

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let stamp = crate::format::time::stamp_unix(self.clock.unix_now(), self.tz);
        let seps = format::console::SEPS;
        event::capture(event, &ctx, &self.spans, seps, |s, logger| {
            format::console::write_line(
                &mut s.line,
                &stamp,
                event.metadata().level(),
                self.colored,
                &s.message,
                logger,
                s.trace.as_ref().filter(|_| self.trace_ids),
                &s.meta,
            );
            // Console output is best effort: a closed or full stderr must not hurt the app.
            let _ = self
                .writer
                .make_writer_for(event.metadata())
                .write_all(&s.line);
        });
    }
}

/// The console line as a property: whatever an event holds, one line that no terminal acts on.
#[cfg(test)]
mod line_properties {
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;
    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::dynamic::arbitrary::event;
    use crate::props::config;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    proptest! {
        #![proptest_config(config(384))]

        /// Any event is one console line holding no character a terminal acts on (no C0 but
        /// its newline, no ESC, DEL or C1 control, no line or paragraph separator) but the
        /// level's colour, its logger shown escaped (384 cases).
        #[test]
        fn any_event_is_one_line_no_terminal_acts_on(ev in event(), color in any::<bool>()) {
            let buf = Buf::default();
            let layer = ConsoleLayer::with_writer(buf.clone())
                .color(if color { ColorMode::Always } else { ColorMode::Never })
                .timezone(Timezone::Utc)
                .clock(crate::ManualClock::at("2025-11-03T14:30:45Z".parse().unwrap()));
            let subscriber = tracing_subscriber::registry().with(layer);
            prop_assert!(tracing::subscriber::with_default(subscriber, || ev.emit()));
            let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
            prop_assert!(out.ends_with('\n') && out.matches('\n').count() == 1, "{:?}", out);
            // The level's colour is ours: the only escapes, around the level name.
            let name = crate::format::level_name(&ev.level);
            let mut line = out.trim_end_matches('\n').to_owned();
            if color {
                let style = crate::format::console::level_style(&ev.level);
                let coloured = format!("{}{name}{}", style.prefix(), style.suffix());
                prop_assert_eq!(line.get(20..20 + coloured.len()), Some(coloured.as_str()));
                line.replace_range(20..20 + coloured.len(), name);
            }
            prop_assert!(line.starts_with(&format!("2025-11-03T14:30:45 {name} ")), "{:?}", line);
            let bad = line
                .chars()
                .find(|&c| c.is_control() || c == '\u{2028}' || c == '\u{2029}');
            prop_assert_eq!(bad, None, "{:?}", line);
            prop_assert!(line.contains(&format!("[{}] ", escaped(&ev.target))), "{:?}", line);
        }
    }

    /// `s` as the console shows free text.
    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        crate::format::console::write_text(&mut out, s);
        String::from_utf8(out).unwrap()
    }
}
