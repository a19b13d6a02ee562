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
                && !v.trim_start_matches(['=', '~']).is_empty() =>
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

/// An absolute time as the URL carries it.
pub(crate) fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
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

    #[test]
    fn ranges_are_capped() {
        let v = parse(Entity::Actions, Some("since=2025-01-01"), now(), None).unwrap();
        assert!(bounded_range(&v.filter, now()).is_err());
        let v = parse(Entity::Actions, None, now(), Some("1d")).unwrap();
        assert!(bounded_range(&v.filter, now()).is_ok());
    }
}
