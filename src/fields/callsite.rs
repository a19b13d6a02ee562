//! What an event's callsite decides once instead of per event: each field's JSON key, already
//! quoted and escaped, whether the layer's redaction hides it, whether it is the message or the
//! `log` bridge's bookkeeping; and the logger name as a JSON string. Kept per thread, keyed by
//! the `&'static Metadata` pointer and the redaction list, so the hot path pays one lookup per
//! event and no lock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::rc::Rc;

use tracing::Metadata;

use crate::format::json;
use crate::redact::{KeyHasher, Redaction};

/// How the capture treats one field of the callsite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The event's message.
    Message,
    /// A `log.*` field of a `log` record, already folded into the normalized metadata.
    LogBookkeeping,
    /// Hidden by the redaction list: the value is replaced.
    Hidden,
    /// An ordinary field.
    Plain,
}

/// One field of the callsite.
pub(crate) struct FieldInfo {
    pub(crate) name: &'static str,
    /// `"name"`, escaped.
    pub(crate) key: Box<[u8]>,
    pub(crate) role: Role,
}

/// Everything cached for one callsite under one redaction list.
pub(crate) struct Callsite {
    /// By field index.
    pub(crate) fields: Vec<FieldInfo>,
    /// The target as a quoted, escaped JSON string.
    pub(crate) logger: Box<[u8]>,
    /// Whether every field has its own name (then an event's entries need no duplicate test).
    pub(crate) distinct: bool,
    /// Whether the redaction list hides a field named `message` (the action layer's packing
    /// redacts the message by name, as it always did; decided here once).
    pub(crate) message_hidden: bool,
}

impl Callsite {
    /// Decides everything for `meta` under `redaction` (uncached).
    pub(crate) fn new(
        meta: &'static Metadata<'static>,
        redaction: &Redaction,
        is_log: bool,
    ) -> Self {
        let fields = meta
            .fields()
            .iter()
            .map(|f| {
                let name = f.name();
                let role = if name == "message" {
                    Role::Message
                } else if is_log && name.starts_with("log.") {
                    Role::LogBookkeeping
                } else if redaction.hides(name) {
                    Role::Hidden
                } else {
                    Role::Plain
                };
                let mut key = Vec::with_capacity(name.len() + 2);
                json::write_str(&mut key, name);
                FieldInfo {
                    name,
                    key: key.into_boxed_slice(),
                    role,
                }
            })
            .collect::<Vec<FieldInfo>>();
        let distinct = fields
            .iter()
            .enumerate()
            .all(|(i, f)| fields[..i].iter().all(|g| g.name != f.name));
        let mut logger = Vec::new();
        json::write_str(&mut logger, meta.target());
        Callsite {
            fields,
            logger: logger.into_boxed_slice(),
            distinct,
            message_hidden: redaction.hides("message"),
        }
    }

    /// The field at `index`, if it is `name` (a field of another callsite never matches).
    #[inline]
    pub(crate) fn field(&self, index: usize, name: &'static str) -> Option<&FieldInfo> {
        self.fields
            .get(index)
            .filter(|f| std::ptr::eq(f.name, name) || f.name == name)
    }
}

type Map = HashMap<(usize, u64, bool), Rc<Callsite>, BuildHasherDefault<KeyHasher>>;

/// Entries kept per thread before the cache starts over (callsites are few; redaction lists
/// made again and again, as tests do, would otherwise grow it without end).
const MAX_ENTRIES: usize = 4096;

thread_local! {
    static CACHE: RefCell<Map> = RefCell::new(Map::default());
}

/// The cached decisions for `meta` under `redaction` (built on first use on this thread).
pub(crate) fn get(
    meta: &'static Metadata<'static>,
    redaction: &Redaction,
    is_log: bool,
) -> Rc<Callsite> {
    let key = (
        meta as *const Metadata<'static> as usize,
        redaction.id(),
        is_log,
    );
    CACHE
        .try_with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            if let Some(hit) = c.get(&key) {
                return Some(hit.clone());
            }
            if c.len() >= MAX_ENTRIES {
                c.clear();
            }
            let made = Rc::new(Callsite::new(meta, redaction, is_log));
            c.insert(key, made.clone());
            Some(made)
        })
        .ok()
        .flatten()
        // During thread teardown: decide without the cache.
        .unwrap_or_else(|| Rc::new(Callsite::new(meta, redaction, is_log)))
}
