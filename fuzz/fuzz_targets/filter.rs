//! The filter grammar, as the command line and the dashboard's URL read it: any text is a
//! condition or an error, a condition reads the same written back, a time is within the years
//! 0000 to 9999, and a dashboard view's canonical query string reads back as the same view.
#![no_main]

use actionlog::fuzzing::dashboard_query;
use actionlog::query::{Cond, Entity, Field, Filter, Op, parse_time};
use libfuzzer_sys::fuzz_target;

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

fuzz_target!(|input: (bool, &str)| {
    let (runs, text) = input;
    let entity = if runs { Entity::Runs } else { Entity::Actions };
    let now = "2026-11-03T12:00:00Z".parse().unwrap();

    let mut f = Filter::new(entity);
    if f.push(text).is_ok() {
        let c = f.conds[0].clone();
        assert!(text.ends_with(&c.value));
        let mut again = Filter::new(entity);
        again.push(&written(entity, &c)).unwrap();
        assert_eq!(again.conds[0], c);
    }

    if let Ok(t) = parse_time(text, now) {
        let year = t.format("%Y").to_string();
        assert!(year.len() == 4 && !year.starts_with(['+', '-']), "{t}");
    }

    let _ = Filter::from_query_string(entity, text, now);

    if let Ok((view, canonical)) = dashboard_query(entity, text) {
        let (again, canonical_again) = dashboard_query(entity, &canonical)
            .unwrap_or_else(|e| panic!("{canonical:?} from {text:?}: {e}"));
        assert_eq!(again, view, "{canonical:?} from {text:?}");
        assert_eq!(canonical_again, canonical);
    }
});
