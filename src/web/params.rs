//! A page's URL query: the filter grammar of [`Filter::from_query_string`] plus the
//! dashboard's own keys (`q` search, `f` extra expressions, `limit`, `before`), with the
//! empty fields a GET form sends dropped; and the canonical query string of a filter, so
//! every link, the pagination and the exports carry exactly the view's filter.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::{MAX_PAGE, MAX_RANGE_DAYS};
use crate::query::{Cond, Cursor, Entity, Error, Field, Filter, Op, PageQuery};

/// A parsed view.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub filter: Filter,
    pub limit: usize,
    pub before: Option<Cursor>,
}

impl View {
    pub fn page_query(&self) -> PageQuery {
        PageQuery {
            filter: self.filter.clone(),
            limit: self.limit,
            before: self.before.clone(),
        }
    }
}

/// `%XX` and `+` decoding of one query item: the filter grammar's own decoder, so the URL and
/// the command line read a value the same way.
pub(crate) use crate::query::percent_decode as decode;

/// Percent-encodes everything but unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a page's query. `default_since` applies when the URL gives no `since`.
pub(crate) fn parse(
    entity: Entity,
    query: Option<&str>,
    now: DateTime<Utc>,
    default_since: Option<&str>,
) -> Result<View, Error> {
    let mut grammar: Vec<String> = Vec::new();
    let mut limit = 50;
    let mut before = None;
    let mut has_since = false;
    for item in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let item = decode(item);
        // `status!=failed` arrives as key `status!`: the first operator character splits.
        let (k, v) = match item.find(['=', '~']) {
            Some(p) => (&item[..p], &item[p..]),
            None => (item.as_str(), ""),
        };
        let value = v.strip_prefix('=').unwrap_or(v);
        match k {
            "limit" if !value.is_empty() => {
                limit = value
                    .parse::<usize>()
                    .map_err(|_| Error::BadFilter(format!("bad limit {value:?}")))?
                    .clamp(1, MAX_PAGE);
            }
            "before" if !value.is_empty() => before = Some(value.parse()?),
            "q" if !value.is_empty() => grammar.push(format!("text~{value}")),
            "f" if !value.is_empty() => grammar.push(value.to_owned()),
            "since" | "until" if !value.is_empty() => {
                has_since |= k == "since";
                grammar.push(item.clone());
            }
            "limit" | "before" | "q" | "f" | "since" | "until" => {}
            // A form field left empty means "any", not "equal to the empty string".
            _ if (entity.columns().contains(&k.trim_end_matches('!'))
                || k.starts_with(entity.json_prefix())
                || k == "text")
                // Past the one operator character: `status==` compares with `=`.
                && v.get(1..).is_some_and(|value| !value.is_empty()) =>
            {
                grammar.push(item.clone());
            }
            // Keys of other pages (a run page's `q` is read there): not a filter.
            _ => {}
        }
    }
    if !has_since {
        if let Some(s) = default_since {
            grammar.push(format!("since={s}"));
        }
    }
    let mut filter = Filter::new(entity);
    for g in &grammar {
        match g.split_once('=') {
            Some(("since", v)) => filter.since = Some(crate::query::parse_time(v, now)?),
            Some(("until", v)) => filter.until = Some(crate::query::parse_time(v, now)?),
            _ => {
                filter.push(g)?;
            }
        }
    }
    Ok(View {
        filter,
        limit,
        before,
    })
}

/// The range an aggregate covers: the filter's, `until` defaulting to `now`, at most
/// [`MAX_RANGE_DAYS`] long.
pub(crate) fn bounded_range(
    f: &Filter,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let until = f.until.unwrap_or(now);
    let since = f.since.unwrap_or(until - Duration::days(1));
    if since >= until {
        return Err(Error::BadFilter("since must be before until".into()));
    }
    if until - since > Duration::days(MAX_RANGE_DAYS) {
        return Err(Error::BadFilter(format!(
            "a range of at most {MAX_RANGE_DAYS} days, please (since/until)"
        )));
    }
    Ok((since, until))
}

/// An absolute time as the URL and the forms carry it: to the nanosecond when it has them, so
/// a link or a submitted form names exactly the view's range (UTC, so its first 19 characters
/// are always the second, as the buckets' names are read).
pub(crate) fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A condition's name and operator in the grammar: `status=`, `details.k!=`, `text~`.
fn lhs(e: Entity, c: &Cond) -> (String, &'static str) {
    let name = match &c.field {
        Field::Column(col) => (*col).to_owned(),
        Field::Json(k) => format!("{}{k}", e.json_prefix()),
        Field::Text => "text".to_owned(),
    };
    let op = match c.op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Contains => "~",
    };
    (name, op)
}

/// A condition written back in the grammar (`error_message~time out`), as a form shows it.
pub(crate) fn expr(e: Entity, c: &Cond) -> String {
    let (name, op) = lhs(e, c);
    format!("{name}{op}{}", c.value)
}

/// The canonical query string of `f` (conditions in order, then the range as absolute
/// times), without a leading `?`.
pub(crate) fn query_string(f: &Filter) -> String {
    let mut items: Vec<String> = Vec::new();
    for c in &f.conds {
        if c.value.is_empty() {
            // `status=` alone is an empty form field, which means "any": an empty value goes
            // as an expression of the grammar, which `f=` keeps whole.
            items.push(format!("f={}", encode(&expr(f.entity, c))));
            continue;
        }
        let (name, op) = lhs(f.entity, c);
        let op = op.replace('!', "%21");
        items.push(format!("{}{op}{}", encode(&name), encode(&c.value)));
    }
    if let Some(t) = &f.since {
        items.push(format!("since={}", encode(&time(t))));
    }
    if let Some(t) = &f.until {
        items.push(format!("until={}", encode(&time(t))));
    }
    items.join("&")
}

/// `f` with its range replaced.
pub(crate) fn with_range(f: &Filter, since: DateTime<Utc>, until: DateTime<Utc>) -> Filter {
    let mut f = f.clone();
    f.since = Some(since);
    f.until = Some(until);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-03T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn empty_form_fields_are_dropped_and_the_grammar_round_trips() {
        let v = parse(
            Entity::Actions,
            Some(
                "status=failed&user_id=&q=time+out&f=error_message%21%3Dx&since=1d&limit=9999&x=1",
            ),
            now(),
            None,
        )
        .unwrap();
        assert_eq!(v.filter.conds.len(), 3);
        assert_eq!(v.limit, MAX_PAGE);
        let q = query_string(&v.filter);
        let back = parse(Entity::Actions, Some(&q), now(), None).unwrap();
        assert_eq!(back.filter, v.filter);
        // An unknown key is the page's own business, an unknown column in `f` is bad input.
        assert!(parse(Entity::Actions, Some("colour=red"), now(), None).is_ok());
        assert!(parse(Entity::Actions, Some("f=colour%3Dred"), now(), None).is_err());
    }

    /// The links of a view with a sub-microsecond time name that time, not the microsecond
    /// before it.
    #[test]
    fn a_range_to_the_nanosecond_reads_back() {
        let mut f = Filter::new(Entity::Actions);
        f.until = Some("1970-01-01T00:00:00.000000001Z".parse().unwrap());
        let q = query_string(&f);
        assert_eq!(q, "until=1970-01-01T00%3A00%3A00.000000001Z");
        assert_eq!(
            parse(Entity::Actions, Some(&q), now(), None)
                .unwrap()
                .filter,
            f
        );
    }

    /// A condition on the empty value (`f=status%3D`, or `id=""` typed into the expression
    /// box) stays in the view's links instead of turning into "any".
    #[test]
    fn an_empty_value_reads_back() {
        let v = parse(Entity::Actions, Some("f=id%3D"), now(), None).unwrap();
        assert_eq!(v.filter.conds.len(), 1);
        let q = query_string(&v.filter);
        assert_eq!(q, "f=id%3D");
        assert_eq!(
            parse(Entity::Actions, Some(&q), now(), None)
                .unwrap()
                .filter,
            v.filter
        );
    }

    /// A value made of operator characters is a value, not an empty field.
    #[test]
    fn a_value_of_operator_characters_is_kept() {
        let v = parse(
            Entity::Actions,
            Some("job_id~%7E&status==&user_id"),
            now(),
            None,
        )
        .unwrap();
        assert_eq!(
            v.filter
                .conds
                .iter()
                .map(|c| c.value.as_str())
                .collect::<Vec<_>>(),
            ["~", "="]
        );
    }

    /// A range at the end of the years a time can name is refused, not a panic.
    #[test]
    fn a_range_at_the_end_of_time_is_an_error() {
        for q in ["until=-262143-01-01", "since=+262142-12-31"] {
            let r = parse(Entity::Actions, Some(q), now(), None)
                .and_then(|v| bounded_range(&v.filter, now()));
            assert!(r.is_err(), "{q}");
        }
    }

    #[test]
    fn ranges_are_capped() {
        let v = parse(Entity::Actions, Some("since=2025-01-01"), now(), None).unwrap();
        assert!(bounded_range(&v.filter, now()).is_err());
        let v = parse(Entity::Actions, None, now(), Some("1d")).unwrap();
        assert!(bounded_range(&v.filter, now()).is_ok());
    }

    mod properties {
        use super::super::*;
        use super::now;
        use crate::props::{config, hostile_text};
        use crate::query::arbitrary::{cond, instant};
        use proptest::prelude::*;

        fn entity() -> impl Strategy<Value = Entity> {
            prop::sample::select(vec![Entity::Actions, Entity::Runs])
        }

        fn filter() -> impl Strategy<Value = Filter> {
            entity().prop_flat_map(|e| {
                (
                    prop::collection::vec(cond(e), 0..4),
                    prop::option::of(instant()),
                    prop::option::of(instant()),
                )
                    .prop_map(move |(conds, since, until)| Filter {
                        entity: e,
                        conds,
                        since,
                        until,
                    })
            })
        }

        /// Query items as a browser or a hostile link sends them: the page's keys, columns,
        /// operators, percent escapes (whole, cut, of invalid UTF-8) and hostile text.
        fn query() -> impl Strategy<Value = String> {
            let key = prop::sample::select(vec![
                "limit",
                "before",
                "q",
                "f",
                "since",
                "until",
                "status",
                "status!",
                "text",
                "details.k",
                "metadata.k",
                "logs",
                "x",
                "",
            ]);
            // The ends of what a date can name (chrono's years -262143 to 262142).
            let edge_time = prop::sample::select(vec![
                "-262143-01-01",
                "+262142-12-31",
                "262142-12-31",
                "-0001-01-01",
                "0000-01-01",
                "9999-12-31T23:59:59.999999999Z",
                "0000-01-01T00:00:00Z",
                "9223372036854775807s",
                "153722867280912930s",
                "106751991167w",
            ]);
            let item = prop_oneof![
                (
                    key,
                    prop::sample::select(vec!["=", "~", "", "=="]),
                    hostile_text(8)
                )
                    .prop_map(|(k, op, v)| format!("{k}{op}{v}")),
                (prop::sample::select(vec!["since=", "until="]), edge_time)
                    .prop_map(|(k, v)| format!("{k}{v}")),
                hostile_text(12),
            ];
            prop::collection::vec(item, 0..6).prop_map(|items| items.join("&"))
        }

        proptest! {
            #![proptest_config(config(512))]

            /// A filter's canonical query string (every link, the pagination and the exports
            /// carry it) reads back as the same filter, whatever its values hold (512 cases).
            #[test]
            fn query_strings_read_back_as_their_filter(f in filter()) {
                let q = query_string(&f);
                let v = parse(f.entity, Some(&q), now(), None)
                    .map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
                prop_assert_eq!(v.filter, f, "{}", q);
            }

            /// Percent-encoding then decoding gives the text back (512 cases).
            #[test]
            fn encoding_round_trips(s in hostile_text(24)) {
                prop_assert_eq!(decode(&encode(&s)), s);
            }

            /// Any query string is a view or an error, never a panic, and so is the range an
            /// aggregate takes from that view (512 cases).
            #[test]
            fn any_query_is_a_view_or_an_error(
                e in entity(),
                q in query(),
                default_since in prop::option::of(prop::sample::select(vec!["1d", "30m"])),
            ) {
                if let Ok(v) = parse(e, Some(&q), now(), default_since) {
                    let _ = bounded_range(&v.filter, now());
                    prop_assert!((1..=MAX_PAGE).contains(&v.limit));
                }
            }
        }
    }
}
