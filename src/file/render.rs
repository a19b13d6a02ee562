//! The writer's side of [`super::record`]: a captured record laid out as the day file's JSON
//! line (`format::file`'s shape), with the escaping, the redaction of values (URL passwords),
//! the record cap and the span fields done here instead of on the emitting thread. The
//! pieces of the line and their order are `format::file`'s; the golden tests (`golden`) hold
//! the lines representative events give.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use tracing::Metadata;

use super::record::Decoded;
use crate::clock::Timezone;
use crate::fields::callsite::{Callsite, Role};
use crate::fields::spans::Flat;
use crate::fields::values::Value;
use crate::fields::{CaptureSettings, is_error_field};
use crate::format::file::{self as layout, LineStart};
use crate::format::{self, json};
use crate::redact::{KeyHasher, REDACTED, Redaction};

/// Renders records into lines; one per writer (its caches are the writer's).
pub(crate) struct LineRenderer {
    render: CaptureSettings,
    tz: Timezone,
    /// The message when it is not one piece of text as captured.
    message: Vec<u8>,
    /// Names of the metadata entries written so far for the current line (only kept when a
    /// name could repeat: see [`Site::distinct`]).
    names: Vec<&'static str>,
    /// The callsites' decisions (keys, roles, logger), the writer's own: those of the
    /// callers' threads are thread-local. Indexes into `sites`, so a line borrows its site
    /// (mutably, for the message cache) instead of cloning an `Arc` per line.
    index: HashMap<(usize, bool), usize, BuildHasherDefault<KeyHasher>>,
    sites: Vec<Site>,
    /// The last one looked up (runs of one callsite are the common case).
    last: Option<(usize, bool, usize)>,
    /// The last line's callsite, `log` flag and flattening, with its site and whether the
    /// callsite and the flattening share a name: a run of one callsite in one span decides
    /// both with a compare each.
    hot: Option<Hot>,
    /// The second last stamped, as the line's first bytes.
    second: Option<LineStart>,
}

/// See [`LineRenderer::hot`].
struct Hot {
    meta: usize,
    is_log: bool,
    /// Kept, so its address is never reused while it is compared against.
    flat: Option<Arc<Flat>>,
    site: usize,
    shared: bool,
}

/// One field of a callsite as the writer lays it out.
struct Field {
    name: &'static str,
    /// `,"name":`: every entry is written with its leading comma, and the first one's comma
    /// becomes the metadata's `{` at the end of the line (one copy per entry, no "first?"
    /// test). Kept inline and padded when it fits (almost every key), so appending it is a
    /// fixed-size copy and a truncation, with no pointer to follow nor `memcpy` call.
    short: [u8; json::SHORT],
    /// Bytes of the fragment.
    frag_len: usize,
    /// The fragment when it is longer than [`json::SHORT`] (else empty).
    long: Box<[u8]>,
    role: Role,
    /// The message, or a `log` record's bookkeeping: not an entry of the metadata.
    skip: bool,
}

impl Field {
    /// Appends the fragment.
    #[inline(always)]
    fn put(&self, out: &mut Vec<u8>) {
        if self.frag_len <= json::SHORT {
            json::put_padded(out, &self.short, self.frag_len);
        } else {
            out.extend_from_slice(&self.long);
        }
    }
}

/// Messages longer than this are not kept in a site's cache (they are rarely literal, and a
/// cache per callsite must stay small).
const MAX_CACHED_MESSAGE: usize = 256;

/// A callsite's decisions and the fixed parts of its lines.
struct Site {
    fields: Vec<Field>,
    /// Whether every field has its own name (then an event's entries need no duplicate test).
    distinct: bool,
    /// Whether a visible field reports an error: its text is the message of a line without one.
    error_field: bool,
    /// `","level":"INFO","message":"`.
    level: Box<[u8]>,
    /// `,"logger":"target"` (empty for `log` records, whose logger is their own).
    logger: Box<[u8]>,
    /// The last message kept, raw as captured.
    message: Vec<u8>,
    /// Whether `head` holds `message` (not yet for a new site).
    cached: bool,
    /// `level`, that message scrubbed and escaped, `"`, and `logger`: a callsite's message is
    /// usually a literal, the same bytes on every line, so it is scrubbed and escaped once and
    /// the line's whole head copied at once.
    head: Vec<u8>,
    /// The scrubbed message's length before escaping (what the record cap counts).
    message_len: usize,
}

impl Site {
    fn new(meta: &'static Metadata<'static>, redaction: &Redaction, is_log: bool) -> Self {
        let cs = Callsite::new(meta, redaction, is_log);
        let level = layout::head(format::level_name(meta.level()));
        let logger = if is_log {
            Vec::new()
        } else {
            layout::logger_key(&cs.logger)
        };
        let fields = cs
            .fields
            .iter()
            .map(|f| {
                let frag = layout::entry_key(&f.key);
                let frag_len = frag.len();
                let mut short = [0; json::SHORT];
                let long = if frag_len <= json::SHORT {
                    short[..frag_len].copy_from_slice(&frag);
                    Box::default()
                } else {
                    frag.into_boxed_slice()
                };
                Field {
                    name: f.name,
                    short,
                    frag_len,
                    long,
                    role: f.role,
                    skip: matches!(f.role, Role::Message | Role::LogBookkeeping),
                }
            })
            .collect();
        Site {
            error_field: cs.error_field,
            fields,
            distinct: cs.distinct,
            level: level.into_boxed_slice(),
            logger: logger.into_boxed_slice(),
            message: Vec::new(),
            cached: false,
            head: Vec::new(),
            message_len: 0,
        }
    }

    /// Appends `level`, the message `raw` scrubbed and escaped, its closing quote and
    /// `logger`; returns the scrubbed message's length.
    fn write_head(&self, out: &mut Vec<u8>, raw: &[u8], redaction: &Redaction) -> usize {
        out.extend_from_slice(&self.level);
        let scrubbed;
        let mut message = raw;
        if redaction.scrubs(message) {
            let mut s = String::from_utf8_lossy(message).into_owned();
            redaction.scrub_text(&mut s);
            scrubbed = s;
            message = scrubbed.as_bytes();
        }
        json::write_utf8_body(out, message);
        out.push(b'"');
        out.extend_from_slice(&self.logger);
        message.len()
    }

    /// Appends the head of a line whose message is `raw` (from the cache when it is the last
    /// one's); returns the scrubbed message's length.
    fn head(&mut self, out: &mut Vec<u8>, raw: &[u8], redaction: &Redaction) -> usize {
        if !self.cached || self.message != raw {
            if raw.len() > MAX_CACHED_MESSAGE {
                return self.write_head(out, raw, redaction);
            }
            let mut head = std::mem::take(&mut self.head);
            head.clear();
            self.message_len = self.write_head(&mut head, raw, redaction);
            self.head = head;
            self.message.clear();
            self.message.extend_from_slice(raw);
            self.cached = true;
        }
        out.extend_from_slice(&self.head);
        self.message_len
    }
}

/// Callsites kept before the writer's cache starts over (as `fields::callsite`'s).
const MAX_CALLSITES: usize = 4096;

impl LineRenderer {
    pub(crate) fn new(render: CaptureSettings, tz: Timezone) -> Self {
        LineRenderer {
            render,
            tz,
            message: Vec::new(),
            names: Vec::new(),
            index: HashMap::default(),
            sites: Vec::new(),
            last: None,
            hot: None,
            second: None,
        }
    }

    /// The index of the callsite's cached decisions, remembered for the last one.
    fn site(&mut self, meta: &'static Metadata<'static>, is_log: bool) -> usize {
        let key = meta as *const Metadata<'static> as usize;
        if let Some((k, l, i)) = self.last {
            if k == key && l == is_log {
                return i;
            }
        }
        if self.index.len() >= MAX_CALLSITES {
            self.index.clear();
            self.sites.clear();
            self.hot = None;
        }
        let i = match self.index.get(&(key, is_log)) {
            Some(&i) => i,
            None => {
                self.sites
                    .push(Site::new(meta, &self.render.redaction, is_log));
                let i = self.sites.len() - 1;
                self.index.insert((key, is_log), i);
                i
            }
        };
        self.last = Some((key, is_log, i));
        i
    }

    /// Appends the line of `rec` (of callsite `meta`, inside spans whose fields are `flat`).
    pub(crate) fn line(
        &mut self,
        out: &mut Vec<u8>,
        meta: &'static Metadata<'static>,
        flat: Option<&Arc<Flat>>,
        rec: &Decoded<'_>,
    ) {
        let is_log = rec.log_target.is_some();
        let trace = flat.and_then(|f| f.trace_keys());
        let flat = flat.filter(|f| f.len() > 0);
        let key = meta as *const Metadata<'static> as usize;
        let (i, shared) = match &self.hot {
            Some(h)
                if h.meta == key
                    && h.is_log == is_log
                    && match (&h.flat, flat) {
                        (None, None) => true,
                        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                        _ => false,
                    } =>
            {
                (h.site, h.shared)
            }
            _ => {
                let i = self.site(meta, is_log);
                let shared = flat.is_some_and(|f| shares_a_name(meta, f));
                self.hot = Some(Hot {
                    meta: key,
                    is_log,
                    flat: flat.cloned(),
                    site: i,
                    shared,
                });
                (i, shared)
            }
        };
        let site = &mut self.sites[i];
        let redaction = &self.render.redaction;

        // The message: usually one piece of text, used as captured; else assembled (also when
        // there is none but an error field to stand in for it).
        let raw = match rec.message {
            Some(m) if !m.is_empty() || !site.error_field => m,
            _ => {
                assemble_message(&mut self.message, rec, site);
                &self.message
            }
        };

        layout::write_start(&mut self.second, rec.now, self.tz, out);
        let message_len = site.head(out, raw, redaction);
        if let Some(t) = rec.log_target {
            layout::write_raw_logger_key(out, t);
        }
        layout::write_metadata_key(out, trace);

        // The metadata's entries, each with its leading comma from `start` on.
        let start = out.len();
        if site.distinct && !shared {
            // No name can repeat: the event's fields, then the spans' (none shares a name).
            for (i, v) in rec.values() {
                let Some(f) = site.fields.get(i) else {
                    continue;
                };
                if f.skip {
                    continue;
                }
                f.put(out);
                write_entry_value(out, v, redaction);
            }
            if let Some(flat) = flat {
                out.push(b',');
                out.extend_from_slice(flat.joined());
            }
        } else {
            // The event's own fields, in visit order, a repeated name skipped (the first
            // wins).
            self.names.clear();
            for (i, v) in rec.values() {
                let Some(f) = site.fields.get(i) else {
                    continue;
                };
                if f.skip || (!site.distinct && self.names.contains(&f.name)) {
                    continue;
                }
                self.names.push(f.name);
                f.put(out);
                write_entry_value(out, v, redaction);
            }
            // Then the spans' fields (innermost first, flattened once per span), those whose
            // name the event already has skipped.
            if let Some(flat) = flat {
                if !shared {
                    out.push(b',');
                    out.extend_from_slice(flat.joined());
                } else {
                    for (k, name) in flat.names().enumerate() {
                        if self.names.contains(&name) {
                            continue;
                        }
                        out.push(b',');
                        out.extend_from_slice(flat.entry(k));
                    }
                }
            }
        }

        layout::close_metadata(
            out,
            start,
            message_len,
            self.render.limits.max_record_bytes(),
        );
    }
}

/// Appends a metadata entry's value (after its key): a text scrubbed of URL passwords.
#[inline(always)]
fn write_entry_value(out: &mut Vec<u8>, v: Value<'_>, redaction: &Redaction) {
    match v {
        Value::Hidden => json::write_str(out, REDACTED),
        Value::U64(x) => json::write_u64(out, x),
        Value::I64(x) => json::write_i64(out, x),
        Value::F64(x) => json::write_f64_inlined(out, x),
        Value::Text(t) => {
            let from = out.len();
            out.push(b'"');
            let colon = json::write_utf8_body_colon(out, t);
            out.push(b'"');
            // Escaping writes no `:`, so text without one cannot hold the `://` the scrubbing
            // looks for in `out[from..]`: skipping it then changes nothing.
            if colon {
                redaction.scrub_tail(out, from);
            }
        }
        other => write_value(out, other),
    }
}

/// The message from its pieces: text as it is, a number or boolean as its JSON text.
///
/// An event without a message (`#[instrument(err)]` emits only `error = %e`) takes the text of
/// its error field instead, so that its line says what happened; the field stays in the
/// metadata too.
fn assemble_message(message: &mut Vec<u8>, rec: &Decoded<'_>, site: &Site) {
    message.clear();
    for (i, v) in rec.values() {
        if site.fields.get(i).map(|f| f.role) != Some(Role::Message) {
            continue;
        }
        match v {
            Value::Text(t) => message.extend_from_slice(t),
            other => write_value(message, other),
        }
    }
    if message.is_empty() {
        let error = rec
            .values()
            .find_map(|(i, v)| match (site.fields.get(i), v) {
                (Some(f), Value::Text(t)) if f.role == Role::Plain && is_error_field(f.name) => {
                    Some(t)
                }
                _ => None,
            });
        if let Some(t) = error {
            message.extend_from_slice(t);
        }
    }
}

/// Whether some field of the callsite is named like an entry of `flat` (the renderer keeps
/// the answer for a run of one callsite in one span, see [`LineRenderer::hot`]).
fn shares_a_name(meta: &'static Metadata<'static>, flat: &Flat) -> bool {
    let fields = meta.fields();
    flat.names().any(|n| fields.iter().any(|f| f.name() == n))
}

/// A number or boolean as JSON, as `fields::Val::write_json` writes it.
fn write_value(out: &mut Vec<u8>, v: Value<'_>) {
    match v {
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::I64(x) => json::write_i64(out, x),
        Value::U64(x) => json::write_u64(out, x),
        Value::I128(x) => json::write_int(out, x),
        Value::U128(x) => json::write_int(out, x),
        Value::F64(x) => json::write_f64(out, x),
        Value::Text(t) => {
            out.push(b'"');
            json::write_utf8_body(out, t);
            out.push(b'"');
        }
        Value::Hidden => json::write_str(out, REDACTED),
    }
}
