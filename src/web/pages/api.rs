//! `/api/histogram.json`: the overview's chart data as JSON (the same query string as the
//! page: filter and range), for scripts and other tools; the page itself draws it as SVG on
//! the server, so no chart data travels in an inline script.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::query::{Bucket, Entity};
use crate::web::params::{self, bounded_range, with_range};
use crate::web::{App, db, html};

/// `{"since", "until", "bars": [{"bucket", "since", "until", "counts": {status: n}}]}`,
/// non-empty buckets only, oldest first.
pub(crate) async fn histogram(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    let now = Utc::now();
    let range = params::parse(
        Entity::Actions,
        q.as_deref(),
        now,
        Some(super::overview::DEFAULT_RANGE),
    )
    .and_then(|v| Ok((bounded_range(&v.filter, now)?, v.filter)));
    let ((since, until), f) = match range {
        Ok(r) => r,
        Err(e) => return html::error(&e),
    };
    let f = with_range(&f, since, until);
    let b = Bucket::fit(until - since, super::overview::BARS);
    let rows = match db::call(&app, move |c| async move { c.store.histogram(&f, b).await }).await {
        Ok(r) => r,
        Err(e) => return html::error(&e),
    };
    let mut bars: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for i in 0..rows.rows.len() {
        let n = rows.get(i, "count").cloned().unwrap_or_default();
        bars.entry(html::text(rows.get(i, "bucket")))
            .or_default()
            .insert(html::text(rows.get(i, "status")), n);
    }
    let bars: Vec<Value> = bars
        .into_iter()
        .filter_map(|(name, counts)| {
            let (s, e) = b.range(&name)?;
            Some(json!({
                "bucket": name,
                "since": params::time(&s),
                "until": params::time(&e),
                "counts": counts,
            }))
        })
        .collect();
    let body =
        json!({ "since": params::time(&since), "until": params::time(&until), "bars": bars });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
