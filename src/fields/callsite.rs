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
    /// redacts the message by name; decided here once).
    pub(crate) message_hidden: bool,
    /// Whether the callsite declares `action_type` (an action event, for the action layer).
    pub(crate) action_type: bool,
    /// Whether the callsite declares a field that reports an error ([`super::ERROR_FIELDS`]).
    pub(crate) error_field: bool,
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
            action_type: meta.fields().field("action_type").is_some(),
            error_field: meta
                .fields()
                .iter()
                .any(|f| super::is_error_field(f.name())),
        }
    }

    /// The field at `index`, if it is `name` (a field of another callsite never matches).
    #[inline]
    pub(crate) fn field(&self, index: usize, name: &'static str) -> Option<&FieldInfo> {
        self.fields
            .get(index)
            .filter(|f| std::ptr::eq(f.name, name) || f.name == name)
    }

    /// Whether `redaction` (the list this callsite was decided under) hides `field`: read off
    /// the callsite for its own fields, decided by name for another callsite's.
    #[inline]
    pub(crate) fn hides(&self, field: &tracing::field::Field, redaction: &Redaction) -> bool {
        match self.field(field.index(), field.name()).map(|f| f.role) {
            Some(Role::Hidden) => true,
            Some(Role::Plain) => false,
            Some(Role::Message) => self.message_hidden,
            _ => redaction.hides_field(field.name()),
        }
    }
}

type Key = (usize, u64, bool);
type Map = HashMap<Key, Rc<Callsite>, BuildHasherDefault<KeyHasher>>;

/// Entries kept per thread before the cache starts over (callsites are few; redaction lists
/// made again and again, as tests do, would otherwise grow it without end).
const MAX_ENTRIES: usize = 4096;

/// The map, and in front of it the last two entries used: an event goes through the file and
/// the action layer (two redaction lists, so two keys per callsite), and a loop emitting one
/// callsite then finds both with a compare each instead of hashing.
#[derive(Default)]
struct Cache {
    recent: [Option<(Key, Rc<Callsite>)>; 2],
    /// Which of `recent` the next miss replaces.
    next: usize,
    map: Map,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
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
    crate::per_thread::with(&CACHE, |c| {
        if let Some((_, hit)) = c.recent.iter().flatten().find(|(k, _)| *k == key) {
            return hit.clone();
        }
        let found = match c.map.get(&key) {
            Some(hit) => hit.clone(),
            None => {
                if c.map.len() >= MAX_ENTRIES {
                    c.map.clear();
                }
                let made = Rc::new(Callsite::new(meta, redaction, is_log));
                c.map.insert(key, made.clone());
                made
            }
        };
        // An entry is never stale: a key's metadata is `'static` and a redaction list's
        // id is never reused, so the same key always decides the same.
        let slot = c.next;
        c.recent[slot] = Some((key, found.clone()));
        c.next = slot ^ 1;
        found
    })
    // During thread teardown: decide without the cache.
    .unwrap_or_else(|| Rc::new(Callsite::new(meta, redaction, is_log)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_entries_give_what_the_map_holds() {
        struct Cs;
        impl tracing::Callsite for Cs {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                &META
            }
        }
        static CALLSITE: Cs = Cs;
        static META: Metadata<'static> = tracing::metadata! {
            name: "probe",
            target: "probe",
            level: tracing::Level::INFO,
            fields: &["password", "n"],
            callsite: &CALLSITE,
            kind: tracing::metadata::Kind::EVENT,
        };
        let (a, b, c) = (
            Redaction::default(),
            Redaction::none(),
            Redaction::default(),
        );
        let first = [get(&META, &a, false), get(&META, &b, false)];
        // Three keys in turn: every lookup goes through a replaced recent entry or the map.
        for _ in 0..3 {
            for (r, want) in [(&a, Some(&first[0])), (&b, Some(&first[1])), (&c, None)] {
                let got = get(&META, r, false);
                if let Some(want) = want {
                    assert!(Rc::ptr_eq(&got, want));
                }
                let hidden = got.fields[0].role == Role::Hidden;
                assert_eq!(hidden, r.hides("password"));
            }
        }
    }
}
