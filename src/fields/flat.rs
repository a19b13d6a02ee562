//! A span's fields together with every enclosing span's, flattened once per span and layer
//! ([`Flat`]) and kept in the span's extensions, so an event reads its spans' fields from its
//! own span alone instead of walking the scope and re-adding each parent's fields.
//!
//! Invariants:
//! - A [`Flat`] holds exactly what a walk of the scope would add, in the same order: the
//!   span's own fields (declaration order), then each ancestor's fields from the innermost
//!   outwards, a name already present skipped (innermost wins).
//! - It is kept per layer ([`FlatId`]), not per rendering: two layers with the same settings
//!   but different per-layer filters see different ancestors.
//! - `Span::record` on any span makes every flattening stale ([`fields_changed`] bumps one
//!   process-wide epoch after the span's own fields changed); a stale one is rebuilt on its
//!   next use, so an event after a `record` always sees the recorded value. Recording is rare
//!   next to events; a program that records on every event pays a rebuild per event: a walk
//!   of the span's scope plus one allocation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Subscriber;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::CaptureSettings;
use super::span::SpanFieldSets;

static EPOCH: AtomicU64 = AtomicU64::new(0);
static NEXT_LAYER: AtomicU64 = AtomicU64::new(1);

/// Marks every flattening stale; called after a span's own fields changed.
pub(crate) fn fields_changed() {
    EPOCH.fetch_add(1, Ordering::Release);
}

/// Tells layers' flattenings apart (each layer instance takes its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlatId(u64);

impl FlatId {
    pub(crate) fn new() -> Self {
        FlatId(NEXT_LAYER.fetch_add(1, Ordering::Relaxed))
    }
}

/// One entry: `joined[start..end]` is `"key":value`, the key ending at `key_end`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    name: &'static str,
    start: u32,
    key_end: u32,
    end: u32,
}

/// The fields of a span and its ancestors, each value already rendered (redacted, capped,
/// escaped) as JSON.
#[derive(Debug, Default)]
pub(crate) struct Flat {
    epoch: u64,
    entries: Vec<Entry>,
    /// Every entry as `"key":value`, joined by `,` (the file's separators).
    joined: Vec<u8>,
}

impl Flat {
    /// `(name, quoted key, value)` of each entry, innermost span first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &[u8], &[u8])> {
        self.entries.iter().map(|e| {
            let (s, k, end) = (e.start as usize, e.key_end as usize, e.end as usize);
            (e.name, &self.joined[s..k], &self.joined[k + 1..end])
        })
    }

    /// The names, in entry order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.name)
    }

    /// Every entry as `"key":value` joined by `,`, without braces (empty when there are none).
    pub(crate) fn joined(&self) -> &[u8] {
        &self.joined
    }

    /// The entry `"key":value` of `name`'s position `i` (from [`Flat::names`]).
    pub(crate) fn entry(&self, i: usize) -> &[u8] {
        let e = &self.entries[i];
        &self.joined[e.start as usize..e.end as usize]
    }

    /// Whether no span's fields changed since this was built (see [`fields_changed`]).
    pub(crate) fn is_fresh(&self) -> bool {
        self.epoch == EPOCH.load(Ordering::Acquire)
    }

    /// Bytes of the joined entries.
    pub(crate) fn len(&self) -> usize {
        self.joined.len()
    }

    fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    fn push(&mut self, name: &'static str, key: &[u8], value: &[u8]) {
        if !self.joined.is_empty() {
            self.joined.push(b',');
        }
        let start = self.joined.len() as u32;
        self.joined.extend_from_slice(key);
        let key_end = self.joined.len() as u32;
        self.joined.push(b':');
        self.joined.extend_from_slice(value);
        self.entries.push(Entry {
            name,
            start,
            key_end,
            end: self.joined.len() as u32,
        });
    }
}

/// Each layer's flattening of one span.
#[derive(Default)]
struct Flats(Vec<(FlatId, Arc<Flat>)>);

/// Calls `f` with the flattened fields of `span` for layer `id` rendering with `render`,
/// building (and keeping) them first if they are missing or stale.
pub(crate) fn with_flat<S, R>(
    span: &SpanRef<'_, S>,
    id: FlatId,
    render: &CaptureSettings,
    f: impl FnOnce(&Arc<Flat>) -> R,
) -> R
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let epoch = EPOCH.load(Ordering::Acquire);
    let mut f = Some(f);
    {
        let ext = span.extensions();
        let fresh = ext
            .get::<Flats>()
            .and_then(|x| x.0.iter().find(|(k, _)| *k == id))
            .filter(|(_, flat)| flat.epoch == epoch);
        if let Some((_, flat)) = fresh {
            return (f.take().expect("called once"))(flat);
        }
    }
    let flat = build(span, id, render, epoch);
    let r = (f.take().expect("called once"))(&flat);
    let mut ext = span.extensions_mut();
    if ext.get_mut::<Flats>().is_none() {
        ext.insert(Flats::default());
    }
    let flats = &mut ext.get_mut::<Flats>().expect("inserted above").0;
    match flats.iter_mut().find(|(k, _)| *k == id) {
        Some(slot) => slot.1 = flat,
        None => flats.push((id, flat)),
    }
    r
}

/// The span's own fields, then its parent's flattening without the names already present.
fn build<S>(span: &SpanRef<'_, S>, id: FlatId, render: &CaptureSettings, epoch: u64) -> Arc<Flat>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let parent = span.parent().map(|p| with_flat(&p, id, render, Arc::clone));
    let mut flat = Flat {
        epoch,
        ..Flat::default()
    };
    if let Some(own) = span
        .extensions()
        .get::<SpanFieldSets>()
        .and_then(|s| s.get(render))
    {
        for (name, key, value) in own.iter() {
            flat.push(name, key, value);
        }
    }
    if let Some(p) = parent {
        for (name, key, value) in p.iter() {
            if !flat.has(name) {
                flat.push(name, key, value);
            }
        }
    }
    Arc::new(flat)
}
