//! The writer's side of [`super::record`]: a captured record laid out as the day file's JSON
//! line (`format::file`'s shape), with the escaping, the redaction of values (URL passwords),
//! the record cap and the span fields done here instead of on the emitting thread. The bytes
//! are exactly those the caller used to write: each step is the same operation on the same
//! input (the raw text the caller formatted, cut at the field cap), only later and elsewhere.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use tracing::Metadata;

use super::record::{Decoded, Value};
use crate::clock::{self, SecondStamp, Timezone};
use crate::fields::Render;
use crate::fields::callsite::{Callsite, Role};
use crate::fields::flat::Flat;
use crate::format::{self, json};
use crate::limits;
use crate::redact::{KeyHasher, REDACTED, Redaction};

/// Renders records into lines; one per writer (its caches are the writer's).
pub(crate) struct Renderer {
    render: Render,
    tz: Timezone,
    /// The message when it is not one piece of text as captured.
    message: Vec<u8>,
    /// Names of the metadata entries written so far for the current line.
    names: Vec<&'static str>,
    /// The callsite and span flattening last checked for a name they share, and whether they
    /// do (the `Arc` keeps the flattening, so its address is never reused meanwhile).
    shared: Option<(usize, Arc<Flat>, bool)>,
    /// The callsites' decisions (keys, roles, logger), the writer's own: those of the
    /// callers' threads are thread-local.
    callsites: HashMap<(usize, bool), Arc<Site>, BuildHasherDefault<KeyHasher>>,
    /// The last one looked up (runs of one callsite are the common case).
    last: Option<(usize, bool, Arc<Site>)>,
    /// The second last stamped.
    second: Option<SecondStamp>,
}

/// A callsite's decisions and the fixed parts of its lines.
struct Site {
    cs: Callsite,
    /// `","level":"INFO","message":"`.
    level: Box<[u8]>,
    /// `","logger":"target","metadata":{` (a `log` record's logger is its own).
    logger: Box<[u8]>,
}

impl Site {
    fn new(meta: &'static Metadata<'static>, redaction: &Redaction, is_log: bool) -> Self {
        let cs = Callsite::new(meta, redaction, is_log);
        let mut level = b"\",\"level\":\"".to_vec();
        level.extend_from_slice(format::level_name(meta.level()).as_bytes());
        level.extend_from_slice(b"\",\"message\":\"");
        let mut logger = b"\",\"logger\":".to_vec();
        logger.extend_from_slice(&cs.logger);
        logger.extend_from_slice(b",\"metadata\":{");
        Site {
            cs,
            level: level.into_boxed_slice(),
            logger: logger.into_boxed_slice(),
        }
    }
}

/// Callsites kept before the writer's cache starts over (as `fields::callsite`'s).
const MAX_CALLSITES: usize = 4096;

impl Renderer {
    pub(crate) fn new(render: Render, tz: Timezone) -> Self {
        Renderer {
            render,
            tz,
            message: Vec::new(),
            names: Vec::new(),
            shared: None,
            callsites: HashMap::default(),
            last: None,
            second: None,
        }
    }

    /// The callsite's cached decisions (keys, roles, logger), remembered for the last one.
    fn site(&mut self, meta: &'static Metadata<'static>, is_log: bool) -> Arc<Site> {
        let key = meta as *const Metadata<'static> as usize;
        if let Some((k, l, cs)) = &self.last {
            if *k == key && *l == is_log {
                return cs.clone();
            }
        }
        if self.callsites.len() >= MAX_CALLSITES {
            self.callsites.clear();
        }
        let redaction = &self.render.redaction;
        let cs = self
            .callsites
            .entry((key, is_log))
            .or_insert_with(|| Arc::new(Site::new(meta, redaction, is_log)))
            .clone();
        self.last = Some((key, is_log, cs.clone()));
        cs
    }

    /// Appends the line of `rec` (of callsite `meta`, inside spans whose fields are `flat`).
    pub(crate) fn line(
        &mut self,
        out: &mut Vec<u8>,
        meta: &'static Metadata<'static>,
        flat: Option<&Arc<Flat>>,
        rec: &Decoded<'_>,
    ) {
        let stamp = clock::stamp_cached(&mut self.second, rec.now, self.tz);
        let site = self.site(meta, rec.log_target.is_some());
        let cs = &site.cs;

        // The message: usually one piece of text, used as captured; else assembled.
        let single = match rec.message {
            Some(m) => Some(m),
            None => {
                self.assemble_message(rec, cs);
                None
            }
        };
        let scrubbed;
        let mut message = single.unwrap_or(&self.message);
        if self.render.redaction.scrubs(message) {
            let mut s = String::from_utf8_lossy(message).into_owned();
            self.render.redaction.scrub_text(&mut s);
            scrubbed = s;
            message = scrubbed.as_bytes();
        }

        let logger_len = rec.log_target.map_or(site.logger.len(), |t| t.len());
        out.reserve(96 + message.len() + logger_len + rec.values_len() * 2);
        out.extend_from_slice(b"{\"timestamp\":\"");
        stamp.write_rfc3339(out);
        out.extend_from_slice(&site.level);
        json::write_utf8_body(out, message);
        let message_len = message.len();
        match rec.log_target {
            Some(t) => {
                out.extend_from_slice(b"\",\"logger\":\"");
                json::write_utf8_body(out, t);
                out.extend_from_slice(b"\",\"metadata\":{");
            }
            None => out.extend_from_slice(&site.logger),
        }

        // The event's own fields, in visit order, a repeated name skipped (the first wins).
        let start = out.len();
        self.names.clear();
        for (i, v) in rec.values() {
            let Some(info) = cs.fields.get(i) else {
                continue;
            };
            if matches!(info.role, Role::Message | Role::LogBookkeeping) {
                continue;
            }
            if !cs.distinct && self.names.contains(&info.name) {
                continue;
            }
            self.names.push(info.name);
            if out.len() > start {
                out.push(b',');
            }
            out.extend_from_slice(&info.key);
            out.push(b':');
            match v {
                Value::Hidden => json::write_str(out, REDACTED),
                Value::Text(t) => {
                    let from = out.len();
                    out.push(b'"');
                    json::write_utf8_body(out, t);
                    out.push(b'"');
                    self.render.redaction.scrub_tail(out, from);
                }
                other => write_value(out, other),
            }
        }

        // Then the spans' fields (innermost first, flattened once per span), those whose name
        // the event already has skipped.
        if let Some(flat) = flat.filter(|f| f.len() > 0) {
            if !self.shares_a_name(meta, flat) {
                if out.len() > start {
                    out.push(b',');
                }
                out.extend_from_slice(flat.joined());
            } else {
                for (k, name) in flat.names().enumerate() {
                    if self.names.contains(&name) {
                        continue;
                    }
                    if out.len() > start {
                        out.push(b',');
                    }
                    out.extend_from_slice(flat.entry(k));
                }
            }
        }

        // One event's fields together stay within the record cap; the message is capped on
        // its own.
        let meta_len = out.len() - start;
        if meta_len + message_len > self.render.limits.max_record_bytes() {
            out.truncate(start);
            let text = format!("{} of fields", limits::marker(meta_len));
            json::write_str(out, "_truncated");
            out.push(b':');
            json::write_str(out, &text);
        }
        out.extend_from_slice(b"}}\n");
    }

    /// The message from its pieces, as the caller used to build it: text as it is, a number
    /// or boolean as its JSON text.
    fn assemble_message(&mut self, rec: &Decoded<'_>, cs: &Callsite) {
        self.message.clear();
        for (i, v) in rec.values() {
            if cs.fields.get(i).map(|f| f.role) != Some(Role::Message) {
                continue;
            }
            match v {
                Value::Text(t) => self.message.extend_from_slice(t),
                other => write_value(&mut self.message, other),
            }
        }
    }

    /// Whether some field of the callsite is named like an entry of `flat` (remembered for
    /// the last pair: events of one callsite in one span follow each other).
    fn shares_a_name(&mut self, meta: &'static Metadata<'static>, flat: &Arc<Flat>) -> bool {
        let key = meta as *const Metadata<'static> as usize;
        if let Some((m, f, shared)) = &self.shared {
            if *m == key && Arc::ptr_eq(f, flat) {
                return *shared;
            }
        }
        let fields = meta.fields();
        let shared = flat.names().any(|n| fields.iter().any(|f| f.name() == n));
        self.shared = Some((key, flat.clone(), shared));
        shared
    }
}

/// A number or boolean as JSON, as `fields::Val::write_json` writes it.
fn write_value(out: &mut Vec<u8>, v: Value<'_>) {
    match v {
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::I64(x) => json::write_int(out, x),
        Value::U64(x) => json::write_int(out, x),
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
