//! Events and spans whose callsites are made at run time, for the property tests and the fuzz
//! targets: any target, level and field names, which `tracing`'s macros take only as literals.
//!
//! `tracing` holds a callsite as `'static`, and the layers cache what they decide per callsite
//! by its metadata's address, so a callsite made here is kept for the life of the process (one
//! per distinct shape: kind, level, target and names) and its memory is never reused. At most
//! [`MAX_CALLSITES`] are made; past that, a new shape is refused.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use tracing::callsite::{Callsite, Identifier};
use tracing::field::{Field, FieldSet, Value, ValueSet};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Span};

/// The most callsites made in one process.
pub const MAX_CALLSITES: usize = 100_000;

/// The most fields of one event or span (longer lists are cut).
pub const MAX_FIELDS: usize = 32;

/// One field's value, recorded the way `tracing` records that kind of value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A `&str` (`record_str`).
    Str(String),
    /// Through `Display` (`%value`): formatted when captured.
    Display(String),
    /// Through `Debug` (`?value`), written in these pieces, so a size cap can fall between
    /// them or inside one.
    Debug(Vec<String>),
    /// `record_i64`.
    I64(i64),
    /// `record_u64`.
    U64(u64),
    /// `record_i128`.
    I128(i128),
    /// `record_u128`.
    U128(u128),
    /// `record_f64`.
    F64(f64),
    /// `record_bool`.
    Bool(bool),
}

impl FieldValue {
    /// The text a text value holds (its pieces joined), `None` for a number or a boolean.
    pub fn text(&self) -> Option<String> {
        match self {
            FieldValue::Str(s) | FieldValue::Display(s) => Some(s.clone()),
            FieldValue::Debug(pieces) => Some(pieces.concat()),
            _ => None,
        }
    }
}

/// An event with its enclosing spans, all with callsites made at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct DynEvent {
    /// The target (the line's `logger`).
    pub target: String,
    /// The level.
    pub level: Level,
    /// The event's fields in order (a field named `message` is its message).
    pub fields: Vec<(String, FieldValue)>,
    /// The enclosing spans' fields, outermost first.
    pub spans: Vec<Vec<(String, FieldValue)>>,
}

impl DynEvent {
    /// Enters the spans and emits the event to the current subscriber; false (nothing
    /// emitted) once [`MAX_CALLSITES`] callsites exist and one more would be needed.
    pub fn emit(&self) -> bool {
        self.emit_in(&self.spans)
    }

    fn emit_in(&self, spans: &[Vec<(String, FieldValue)>]) -> bool {
        match spans.split_first() {
            Some((outer, inner)) => {
                let Some(meta) = callsite(Kind::SPAN, self.level, &self.target, outer) else {
                    return false;
                };
                let span = with_value_set(meta, outer, |values| Span::new(meta, values));
                span.in_scope(|| self.emit_in(inner))
            }
            None => {
                let Some(meta) = callsite(Kind::EVENT, self.level, &self.target, &self.fields)
                else {
                    return false;
                };
                with_value_set(meta, &self.fields, |values| Event::dispatch(meta, values));
                true
            }
        }
    }
}

/// A callsite of its own, made once per shape.
struct Made(OnceLock<Metadata<'static>>);

impl Callsite for Made {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        self.0.get().expect("set as it is made")
    }
}

type Shape = (bool, usize, String, Vec<String>);

/// The metadata of the callsite of this shape, made on first use.
fn callsite(
    kind: Kind,
    level: Level,
    target: &str,
    fields: &[(String, FieldValue)],
) -> Option<&'static Metadata<'static>> {
    static MADE: OnceLock<Mutex<HashMap<Shape, &'static Metadata<'static>>>> = OnceLock::new();
    let names: Vec<String> = fields
        .iter()
        .take(MAX_FIELDS)
        .map(|(n, _)| n.clone())
        .collect();
    let levels = [
        Level::TRACE,
        Level::DEBUG,
        Level::INFO,
        Level::WARN,
        Level::ERROR,
    ];
    let level_index = levels.iter().position(|l| *l == level).unwrap_or(0);
    let shape = (kind.is_span(), level_index, target.to_owned(), names);
    let mut made = MADE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(meta) = made.get(&shape) {
        return Some(meta);
    }
    if made.len() >= MAX_CALLSITES {
        return None;
    }
    let cs: &'static Made = Box::leak(Box::new(Made(OnceLock::new())));
    let names: Vec<&'static str> = shape
        .3
        .iter()
        .map(|n| &*Box::leak(n.clone().into_boxed_str()))
        .collect();
    let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
    let target: &'static str = Box::leak(target.to_owned().into_boxed_str());
    let name = if kind.is_span() { "span" } else { "event" };
    let meta = Metadata::new(
        name,
        target,
        level,
        Some(file!()),
        Some(line!()),
        Some(module_path!()),
        FieldSet::new(names, Identifier(cs)),
        kind,
    );
    let meta: &'static Metadata<'static> = cs.0.get_or_init(|| meta);
    made.insert(shape, meta);
    Some(meta)
}

/// `Debug` written in pieces.
struct Pieces<'a>(&'a [String]);

impl fmt::Debug for Pieces<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|p| f.write_str(p))
    }
}

/// A value borrowed in the form `tracing` records.
enum Held<'a> {
    Str(&'a str),
    Display(tracing::field::DisplayValue<&'a str>),
    Debug(tracing::field::DebugValue<Pieces<'a>>),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
}

impl<'a> Held<'a> {
    fn of(v: &'a FieldValue) -> Self {
        match v {
            FieldValue::Str(s) => Held::Str(s),
            FieldValue::Display(s) => Held::Display(tracing::field::display(s.as_str())),
            FieldValue::Debug(p) => Held::Debug(tracing::field::debug(Pieces(p))),
            FieldValue::I64(x) => Held::I64(*x),
            FieldValue::U64(x) => Held::U64(*x),
            FieldValue::I128(x) => Held::I128(*x),
            FieldValue::U128(x) => Held::U128(*x),
            FieldValue::F64(x) => Held::F64(*x),
            FieldValue::Bool(x) => Held::Bool(*x),
        }
    }

    fn value(&self) -> &dyn Value {
        match self {
            Held::Str(s) => s,
            Held::Display(d) => d,
            Held::Debug(d) => d,
            Held::I64(x) => x,
            Held::U64(x) => x,
            Held::I128(x) => x,
            Held::U128(x) => x,
            Held::F64(x) => x,
            Held::Bool(x) => x,
        }
    }
}

/// The values of `fields` as the value set of `meta` (whose fields they name, in order).
fn with_value_set<R>(
    meta: &'static Metadata<'static>,
    fields: &[(String, FieldValue)],
    f: impl FnOnce(&ValueSet<'_>) -> R,
) -> R {
    let held: Vec<Held<'_>> = fields
        .iter()
        .take(MAX_FIELDS)
        .map(|(_, v)| Held::of(v))
        .collect();
    let keys: Vec<Field> = meta.fields().iter().collect();
    let Some(last) = keys.last() else {
        return f(&meta.fields().value_set(&[]));
    };
    // A value set is an array of a fixed length: the places past the fields hold no value.
    let values: [(&Field, Option<&dyn Value>); MAX_FIELDS] =
        std::array::from_fn(|i| (keys.get(i).unwrap_or(last), held.get(i).map(Held::value)));
    f(&meta.fields().value_set(&values))
}

/// Generators of [`DynEvent`]s for the property tests: hostile targets, names and values.
#[cfg(test)]
pub(crate) mod arbitrary {
    use super::*;
    use crate::props::{hostile_text, text_near};
    use proptest::prelude::*;

    /// A field name: plain, hostile, or one that means something (an error field, a secret,
    /// the `log` bridge's prefix, quotes and dots). Never `message`, which [`event`] places.
    pub(crate) fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-z_]{1,8}",
            2 => hostile_text(6),
            2 => prop::sample::select(vec![
                "error", "exception.message", "password", "db_url", "token_id", "a.b", "x\"y",
                "k\\", "log.target", "", " ", "metadata", "_truncated",
            ])
            .prop_map(str::to_owned),
        ]
        .prop_filter("message is placed by `event`", |n| n != "message")
    }

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => any::<f64>(),
            1 => prop::sample::select(vec![
                f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, f64::MIN_POSITIVE,
                5e-324, f64::MAX, f64::MIN, 1e15, 1e-4, 0.1, 12.25, 123456789.0001,
            ]),
            1 => (-1_000_000i64..1_000_000, 0u32..5).prop_map(|(m, k)| m as f64 / 10f64.powi(k as i32)),
        ]
    }

    pub(crate) fn value() -> impl Strategy<Value = FieldValue> {
        prop_oneof![
            4 => hostile_text(16).prop_map(FieldValue::Str),
            2 => hostile_text(16).prop_map(FieldValue::Display),
            2 => prop::collection::vec(hostile_text(6), 0..5).prop_map(FieldValue::Debug),
            1 => text_near(40..=400).prop_map(FieldValue::Str),
            1 => prop::collection::vec(text_near(20..=120), 1..4).prop_map(FieldValue::Debug),
            1 => any::<i64>().prop_map(FieldValue::I64),
            1 => any::<u64>().prop_map(FieldValue::U64),
            1 => any::<i128>().prop_map(FieldValue::I128),
            1 => any::<u128>().prop_map(FieldValue::U128),
            2 => float().prop_map(FieldValue::F64),
            1 => any::<bool>().prop_map(FieldValue::Bool),
        ]
    }

    fn fields(max: usize) -> impl Strategy<Value = Vec<(String, FieldValue)>> {
        prop::collection::vec((name(), value()), 0..max)
    }

    /// A span's fields, each name once (a span keeps one value per name).
    fn span_fields() -> impl Strategy<Value = Vec<(String, FieldValue)>> {
        fields(5).prop_map(|mut v| {
            let mut seen = std::collections::HashSet::new();
            v.retain(|(n, _)| seen.insert(n.clone()));
            v
        })
    }

    pub(crate) fn level() -> impl Strategy<Value = Level> {
        prop::sample::select(vec![
            Level::TRACE,
            Level::DEBUG,
            Level::INFO,
            Level::WARN,
            Level::ERROR,
        ])
    }

    /// An event: a target, a level, perhaps a message (its first field, as `tracing`'s
    /// macros place it), up to 8 more fields, inside up to 3 spans.
    pub(crate) fn event() -> impl Strategy<Value = DynEvent> {
        (
            prop_oneof!["[a-z_:]{1,16}", hostile_text(8)],
            level(),
            prop::option::of(prop_oneof![
                3 => hostile_text(16),
                1 => text_near(40..=400),
            ]),
            fields(9),
            prop::collection::vec(span_fields(), 0..4),
        )
            .prop_map(|(target, level, message, mut fields, spans)| {
                if let Some(m) = message {
                    fields.insert(0, ("message".to_owned(), FieldValue::Display(m)));
                }
                DynEvent {
                    target,
                    level,
                    fields,
                    spans,
                }
            })
    }
}
