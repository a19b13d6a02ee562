//! The filter grammar shared by the command line and (later) the dashboard's URL:
//! `column=value`, `column!=value`, `column~substring` over the columns of a table, and
//! `details.KEY=value` (`metadata.KEY` for runs) into its JSON column; `since` / `until` as
//! `1d`, `6h`, `30m`, `2w`, a date `2026-11-03` (midnight UTC) or an RFC 3339 time.
//!
//! Parsing checks every column and operator against a fixed list, so what reaches a store is
//! a known column name and a value that is always bound as a parameter, never spliced into SQL.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::Error;

/// Which table a filter applies to: its filterable columns and its JSON column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// `action_logs`, newest `action_timestamp` first.
    Actions,
    /// `job_executions`, newest `started_at` first.
    Runs,
}

impl Entity {
    /// The columns `column=value` accepts (the table's text and id columns).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Entity::Actions => &[
                "id",
                "action_type",
                "user_id",
                "job_id",
                "job_execution_id",
                "status",
                "result_message",
                "error_message",
                "source",
                "ip_address",
                "user_agent",
                "trace_id",
                "span_id",
            ],
            Entity::Runs => &[
                "id",
                "job_id",
                "status",
                "error_message",
                "logs",
                "trace_id",
                "span_id",
            ],
        }
    }

    /// The columns `text~VALUE` searches: the messages and the JSON column (actions), the
    /// error, the captured logs and the JSON column (runs).
    pub fn text_columns(self) -> &'static [&'static str] {
        match self {
            Entity::Actions => &["result_message", "error_message", "action_details"],
            Entity::Runs => &["error_message", "logs", "metadata"],
        }
    }

    /// The JSON column `details.KEY` / `metadata.KEY` reads.
    pub fn json_column(self) -> &'static str {
        match self {
            Entity::Actions => "action_details",
            Entity::Runs => "metadata",
        }
    }

    /// The prefix naming a key of the JSON column in the grammar.
    pub fn json_prefix(self) -> &'static str {
        match self {
            Entity::Actions => "details.",
            Entity::Runs => "metadata.",
        }
    }

    /// The table read.
    pub fn table(self) -> &'static str {
        match self {
            Entity::Actions => "action_logs",
            Entity::Runs => "job_executions",
        }
    }

    /// The time column that orders rows and that `since` / `until` bound.
    pub fn time_column(self) -> &'static str {
        match self {
            Entity::Actions => "action_timestamp",
            Entity::Runs => "started_at",
        }
    }

    /// The trace context columns (`migrations/0006_trace_context.sql`), which a store made
    /// before them lacks.
    pub const TRACE_COLUMNS: [&'static str; 2] = ["trace_id", "span_id"];

    /// Columns holding UUIDs (compared as text).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn is_uuid(self, column: &str) -> bool {
        matches!(column, "id" | "job_execution_id")
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal; rows where the column is NULL match too.
    Ne,
    /// `~`: contains the substring (case-sensitive).
    Contains,
}

/// What a condition compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// One of [`Entity::columns`].
    Column(&'static str),
    /// A top-level key of the JSON column (ASCII letters, digits, `_`).
    Json(String),
    /// `text~VALUE`: any of [`Entity::text_columns`] (the JSON column as its text) contains
    /// the value; the dashboard's search box. Only `~` applies.
    Text,
}

/// One `field op value` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    /// The column or JSON key.
    pub field: Field,
    /// The comparison.
    pub op: Op,
    /// The value, bound as a parameter.
    pub value: String,
}

/// A parsed filter: conditions (all must hold) and a time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The table it applies to.
    pub entity: Entity,
    /// Conditions, ANDed.
    pub conds: Vec<Cond>,
    /// Rows at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Rows before this time.
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    /// No conditions, no time range.
    pub fn new(entity: Entity) -> Self {
        Filter {
            entity,
            conds: Vec::new(),
            since: None,
            until: None,
        }
    }

    /// Whether a condition reads a trace context column ([`Entity::TRACE_COLUMNS`]).
    pub fn uses_trace_columns(&self) -> bool {
        self.conds
            .iter()
            .any(|c| matches!(c.field, Field::Column(col) if Entity::TRACE_COLUMNS.contains(&col)))
    }

    /// Parses `column=value`, `column!=value`, `column~substring` or `details.KEY=value` and
    /// adds it.
    ///
    /// ```
    /// use actionlog::query::{Entity, Filter, Op};
    /// let mut f = Filter::new(Entity::Actions);
    /// f.push("status!=failed")?;
    /// f.push("details.lookback_days=30")?;
    /// assert_eq!(f.conds[0].op, Op::Ne);
    /// assert!(f.push("colour=red").is_err());
    /// # Ok::<(), actionlog::query::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::BadFilter`] naming the valid columns and operators.
    pub fn push(&mut self, expr: &str) -> Result<&mut Self, Error> {
        let cond = parse_cond(self.entity, expr)?;
        self.conds.push(cond);
        Ok(self)
    }

    /// Parses a URL query string with the same grammar: `&`-separated, `%XX` and `+` decoded;
    /// `since=`, `until=` set the range, `limit=` and `before=` are left to the caller (they
    /// are returned), every other item is a condition (`status!=failed` arrives as key
    /// `status!`, value `failed`, and is read as the expression it spells).
    ///
    /// ```
    /// use actionlog::query::{Entity, Filter};
    /// let now = "2026-11-03T12:00:00Z".parse().unwrap();
    /// let (f, rest) = Filter::from_query_string(Entity::Actions, "status=failed&since=1d&limit=5", now)?;
    /// assert_eq!(f.conds.len(), 1);
    /// assert_eq!(rest, vec![("limit".to_owned(), "5".to_owned())]);
    /// # Ok::<(), actionlog::query::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::BadFilter`] for an unknown column, operator or time.
    pub fn from_query_string(
        entity: Entity,
        query: &str,
        now: DateTime<Utc>,
    ) -> Result<(Filter, Vec<(String, String)>), Error> {
        let mut f = Filter::new(entity);
        let mut rest = Vec::new();
        for item in query.split('&').filter(|s| !s.is_empty()) {
            let item = percent_decode(item);
            match item.split_once('=') {
                Some(("since", v)) => f.since = Some(parse_time(v, now)?),
                Some(("until", v)) => f.until = Some(parse_time(v, now)?),
                Some((k @ ("limit" | "before"), v)) => rest.push((k.to_owned(), v.to_owned())),
                _ => {
                    f.push(&item)?;
                }
            }
        }
        Ok((f, rest))
    }
}

fn bad(entity: Entity, what: String) -> Error {
    Error::BadFilter(format!(
        "{what}; valid columns: {}, {}KEY; operators: = != ~ (e.g. status=failed, \
         error_message~timeout, {}KEY=value)",
        entity.columns().join(", "),
        entity.json_prefix(),
        entity.json_prefix(),
    ))
}

fn parse_cond(entity: Entity, expr: &str) -> Result<Cond, Error> {
    // The first operator character decides: a value may itself hold `=`, `!` or `~`.
    let Some(pos) = expr.find(['=', '~', '!']) else {
        return Err(bad(entity, format!("{expr:?} has no operator")));
    };
    let (name, rest) = expr.split_at(pos);
    let (op, value) = if let Some(v) = rest.strip_prefix("!=") {
        (Op::Ne, v)
    } else if let Some(v) = rest.strip_prefix('=') {
        (Op::Eq, v)
    } else if let Some(v) = rest.strip_prefix('~') {
        (Op::Contains, v)
    } else {
        return Err(bad(entity, format!("unknown operator in {expr:?}")));
    };
    let name = name.trim();
    let field = if name == "text" {
        if op != Op::Contains {
            return Err(bad(
                entity,
                format!("{expr:?}: text takes only ~ (text~VALUE)"),
            ));
        }
        Field::Text
    } else if let Some(key) = name.strip_prefix(entity.json_prefix()) {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad(
                entity,
                format!("{name:?}: a key is ASCII letters, digits and _"),
            ));
        }
        Field::Json(key.to_owned())
    } else if let Some(c) = entity.columns().iter().find(|c| **c == name) {
        Field::Column(c)
    } else {
        return Err(bad(entity, format!("unknown column {name:?}")));
    };
    // The stores hold the ids in lowercase, as W3C writes them; a viewer may show them in
    // uppercase, and an id pasted from it must still match.
    let value = match field {
        Field::Column(c) if Entity::TRACE_COLUMNS.contains(&c) => value.to_ascii_lowercase(),
        _ => value.to_owned(),
    };
    Ok(Cond { field, op, value })
}

/// Parses `1d`, `6h`, `30m`, `45s`, `2w` (that long before `now`), `2026-11-03` (midnight UTC)
/// or an RFC 3339 time, in the years 0000 to 9999 (RFC 3339's, and the stores' text order):
/// further out, a day or a range added to it would leave the times the program can hold.
///
/// ```
/// let now = "2026-11-03T12:00:00Z".parse().unwrap();
/// let t = actionlog::query::parse_time("6h", now)?;
/// assert_eq!(t.to_rfc3339(), "2026-11-03T06:00:00+00:00");
/// # Ok::<(), actionlog::query::Error>(())
/// ```
///
/// # Errors
/// [`Error::BadFilter`] saying which forms are accepted.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
    let s = s.trim();
    let t = parse_any_time(s, now).filter(|t| (0..=9999).contains(&t.year()));
    t.ok_or_else(|| {
        Error::BadFilter(format!(
            "bad time {s:?}: use 30m, 6h, 1d, 2w, a date 2026-11-03 or an RFC 3339 time \
             (years 0000 to 9999)"
        ))
    })
}

/// [`parse_time`] in any year chrono holds.
fn parse_any_time(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(unit) = s.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        if let Ok(n) = s[..s.len() - 1].parse::<i64>() {
            let d = match unit {
                's' => Duration::try_seconds(n),
                'm' => Duration::try_minutes(n),
                'h' => Duration::try_hours(n),
                'd' => Duration::try_days(n),
                'w' => Duration::try_weeks(n),
                _ => None,
            };
            return d.filter(|_| n >= 0).and_then(|d| now.checked_sub_signed(d));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `%XX` escapes and `+` (a space) of a URL query item.
pub(crate) fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            // Two hex digits exactly (`from_str_radix` alone would take `%+1` as 0x01).
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
                i += 3;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Generators of the grammar's values, for the property tests here and in the dashboard's URL
/// parameters.
#[cfg(test)]
pub(crate) mod arbitrary {
    use super::*;
    use crate::props::hostile_text;
    use proptest::prelude::*;

    /// A condition the grammar can express: a column, a JSON key or `text~`, with any value
    /// (in lowercase on the trace id columns, which compare in lowercase).
    pub(crate) fn cond(entity: Entity) -> impl Strategy<Value = Cond> {
        let op = prop::sample::select(vec![Op::Eq, Op::Ne, Op::Contains]);
        prop_oneof![
            (prop::sample::select(entity.columns()), op.clone())
                .prop_map(|(c, op)| (Field::Column(c), op)),
            ("[A-Za-z0-9_]{1,12}", op).prop_map(|(k, op)| (Field::Json(k), op)),
            Just((Field::Text, Op::Contains)),
        ]
        .prop_flat_map(|(field, op)| {
            hostile_text(12).prop_map(move |value| Cond {
                value: match field {
                    Field::Column(c) if Entity::TRACE_COLUMNS.contains(&c) => {
                        value.to_ascii_lowercase()
                    }
                    _ => value,
                },
                field: field.clone(),
                op,
            })
        })
    }

    /// Any instant of years 0000 to 9999, to the nanosecond.
    pub(crate) fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        let first = "0000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let last = "9999-12-31T23:59:59Z".parse::<DateTime<Utc>>().unwrap();
        (first.timestamp()..=last.timestamp(), 0u32..1_000_000_000)
            .prop_map(|(s, ns)| DateTime::from_timestamp(s, ns).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-03T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn percent_decoding_takes_two_hex_digits_only() {
        assert_eq!(percent_decode("a%41+b%2f%"), "aA b/%");
        assert_eq!(percent_decode("%+1%4"), "% 1%4");
        assert_eq!(percent_decode("%e2%82%ac"), "\u{20ac}");
    }

    #[test]
    fn operators_and_values_with_operator_characters() {
        let mut f = Filter::new(Entity::Actions);
        f.push("error_message~a=b").unwrap();
        f.push("user_id!=x!=y").unwrap();
        assert_eq!(f.conds[0].op, Op::Contains);
        assert_eq!(f.conds[0].value, "a=b");
        assert_eq!(f.conds[1].op, Op::Ne);
        assert_eq!(f.conds[1].value, "x!=y");
    }

    #[test]
    fn trace_ids_are_compared_in_lowercase_other_values_as_given() {
        let mut f = Filter::new(Entity::Runs);
        f.push("trace_id=4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        f.push("span_id!=00F067AA0BA902B7").unwrap();
        f.push("error_message~Boom").unwrap();
        let values: Vec<&str> = f.conds.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(
            values,
            [
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "00f067aa0ba902b7",
                "Boom"
            ]
        );
    }

    #[test]
    fn unknown_column_lists_the_valid_ones() {
        let e = Filter::new(Entity::Actions).push("colour=red").unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("action_type") && m.contains("details.KEY"),
            "{m}"
        );
        assert!(Filter::new(Entity::Actions).push("status").is_err());
        assert!(Filter::new(Entity::Actions).push("status!x").is_err());
        assert!(Filter::new(Entity::Actions).push("details.a b=1").is_err());
        assert!(Filter::new(Entity::Runs).push("logs~boom").is_ok());
        assert!(Filter::new(Entity::Actions).push("text~boom").is_ok());
        assert!(Filter::new(Entity::Actions).push("text=boom").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time("1d", now()).unwrap(),
            "2026-11-02T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_time("2026-11-03", now()).unwrap(),
            "2026-11-03T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(parse_time("yesterday", now()).is_err());
        assert!(parse_time("-1d", now()).is_err());
        // Past the years 0000 to 9999 a day before or after would not exist: the dashboard's
        // range arithmetic panicked on `until=-262143-01-01`.
        for far in [
            "-262143-01-01",
            "+262142-12-31",
            "-0001-12-31",
            "10000-01-01",
            "700000w",
        ] {
            assert!(parse_time(far, now()).is_err(), "{far}");
        }
        assert!(parse_time("0000-01-01", now()).is_ok());
        assert!(parse_time("9999-12-31T23:59:59.999999999Z", now()).is_ok());
    }

    #[test]
    fn query_string_uses_the_same_grammar() {
        let (f, _) = Filter::from_query_string(
            Entity::Actions,
            "status%21=failed&error_message~time+out&until=2026-11-03",
            now(),
        )
        .unwrap();
        assert_eq!(f.conds[0].op, Op::Ne);
        assert_eq!(f.conds[1].value, "time out");
        assert!(f.until.is_some());
    }

    mod properties {
        use super::super::arbitrary::{cond, instant};
        use super::super::*;
        use crate::props::{config, hostile_text};
        use chrono::SecondsFormat;
        use proptest::prelude::*;

        fn entity() -> impl Strategy<Value = Entity> {
            prop::sample::select(vec![Entity::Actions, Entity::Runs])
        }

        fn written(entity: Entity, c: &Cond) -> String {
            let name = match &c.field {
                Field::Column(col) => (*col).to_owned(),
                Field::Json(k) => format!("{}{k}", entity.json_prefix()),
                Field::Text => "text".to_owned(),
            };
            let op = match c.op {
                Op::Eq => "=",
                Op::Ne => "!=",
                Op::Contains => "~",
            };
            format!("{name}{op}{}", c.value)
        }

        fn now() -> DateTime<Utc> {
            "2026-11-03T12:00:00Z".parse().unwrap()
        }

        proptest! {
            #![proptest_config(config(512))]

            /// A condition written in the grammar, its name padded with spaces, parses to
            /// itself whatever its value holds (`=`, `!`, `~`, controls, …) (512 cases).
            #[test]
            fn written_conditions_parse_to_themselves(
                (entity, c) in entity().prop_flat_map(|e| (Just(e), cond(e))),
                pad in prop::sample::select(vec!["", " ", "\t "]),
            ) {
                let mut f = Filter::new(entity);
                f.push(&format!("{pad}{}", written(entity, &c)))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&f.conds, &vec![c]);
            }

            /// Any text is an error or a condition on a known column or a well-formed key whose
            /// value is the text's tail, and which reads the same written back (512 cases).
            #[test]
            fn any_expression_is_an_error_or_a_known_condition(
                entity in entity(),
                expr in prop_oneof![
                    hostile_text(16),
                    (prop::sample::select(vec!["status", "details.", "metadata.", "text", "logs", " id"]), hostile_text(8))
                        .prop_map(|(a, b)| format!("{a}{b}")),
                ],
            ) {
                let mut f = Filter::new(entity);
                if f.push(&expr).is_ok() {
                    let c = f.conds[0].clone();
                    prop_assert!(expr.ends_with(&c.value));
                    match &c.field {
                        Field::Column(col) => prop_assert!(entity.columns().contains(col)),
                        Field::Json(k) => prop_assert!(
                            !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        ),
                        Field::Text => prop_assert_eq!(c.op, Op::Contains),
                    }
                    let mut again = Filter::new(entity);
                    again.push(&written(entity, &c)).unwrap();
                    prop_assert_eq!(&again.conds[0], &c);
                }
            }

            /// Times: any text is an error or a time; a relative time is that long before now,
            /// a date its midnight, an RFC 3339 time itself, in any offset (512 cases).
            #[test]
            fn times_parse_to_what_they_say(
                junk in hostile_text(12),
                n in 0i64..100_000,
                unit in prop::sample::select(vec!['s', 'm', 'h', 'd', 'w']),
                t in instant(),
                offset in -86_399i32..86_400,
            ) {
                let _ = parse_time(&junk, now());
                let seconds = match unit {
                    's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86_400, _ => 7 * 86_400,
                };
                prop_assert_eq!(
                    parse_time(&format!("{n}{unit}"), now()).ok(),
                    now().checked_sub_signed(Duration::seconds(n * seconds))
                );
                prop_assert_eq!(
                    parse_time(&t.date_naive().format("%Y-%m-%d").to_string(), now()).unwrap(),
                    t.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc()
                );
                let zone = chrono::FixedOffset::east_opt(offset).unwrap();
                let written = t.with_timezone(&zone).to_rfc3339_opts(SecondsFormat::AutoSi, false);
                // RFC 3339 offsets are whole minutes; chrono writes seconds it cannot drop.
                if offset % 60 == 0 {
                    prop_assert_eq!(parse_time(&written, now()).unwrap(), t, "{}", written);
                }
            }

            /// A URL query string of any bytes is a filter or an error, never a panic; text
            /// without `%` or `+` decodes to itself (512 cases).
            #[test]
            fn any_query_string_is_a_filter_or_an_error(entity in entity(), q in hostile_text(24)) {
                let _ = Filter::from_query_string(entity, &q, now());
                let plain: String = q.chars().filter(|c| !matches!(c, '%' | '+')).collect();
                prop_assert_eq!(percent_decode(&plain), plain);
            }
        }
    }
}
