//! The load paths: binary COPY (straight into the table, or through the staging table and one
//! upsert) and the UNNEST upsert, plus job runs. Values are NUL-cleaned on the way (PostgreSQL
//! refuses NUL in `text` and `jsonb`), borrowing where nothing needed cleaning.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql, Type};
use tokio_postgres::{Client, Statement, Transaction};
use uuid::Uuid;

use super::LoadStrategy;
use super::trail::{Covered, Trail};
use crate::rows::{ActionRecord, JobExecution, duration_millis, stored_duration};
use crate::sink::{
    COLUMNS, TRACE_COLUMNS, clean_map, clean_text, columns, upsert_guard, upsert_set,
};

/// One batch of job runs, ignoring runs already stored (a run is written once, at its end).
const INSERT_JOBS: &str = "INSERT INTO job_executions \
    (id, job_id, status, started_at, completed_at, duration_seconds, error_message, logs, metadata) \
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], \
    $5::timestamptz[], $6::float8[], $7::text[], $8::text[], $9::jsonb[]) \
    ON CONFLICT (id) DO NOTHING";

/// [`INSERT_JOBS`] with the trace context columns, for a store that has them.
const INSERT_JOBS_TRACE: &str = "INSERT INTO job_executions \
    (id, job_id, status, started_at, completed_at, duration_seconds, error_message, logs, metadata, \
    trace_id, span_id) \
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], \
    $5::timestamptz[], $6::float8[], $7::text[], $8::text[], $9::jsonb[], $10::text[], $11::text[]) \
    ON CONFLICT (id) DO NOTHING";

/// The staging table (session-local).
pub(super) const STAGE: &str = "pg_temp.actionlog_stage";

/// The PostgreSQL type of each of [`COLUMNS`] and [`TRACE_COLUMNS`] as loaded (the job run id
/// stays text until the final cast, so a malformed one is rejected row by row, not at load
/// time). The staging table always has the trace columns; the upsert reads them only when the
/// table has them too.
pub(super) const STAGE_TYPES: [Type; 16] = [
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::JSONB,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::FLOAT8,
    Type::TEXT,
    Type::TEXT,
];

/// One record's values in [`COLUMNS`] order, NUL-cleaned, borrowing where nothing needed cleaning.
struct Row<'a> {
    texts: [Option<Cow<'a, str>>; 12],
    details: Json<Cow<'a, Map<String, Value>>>,
}

impl<'a> Row<'a> {
    fn new(r: &'a ActionRecord) -> Self {
        let t = |s: Option<&'a str>| s.map(clean_text);
        let details = clean_map(&r.action_details);
        Row {
            texts: [
                t(Some(&r.action_type)),
                t(r.user_id.as_deref()),
                t(r.job_id.as_deref()),
                t(r.job_execution_id.as_deref()),
                t(Some(&r.status)),
                t(r.result_message.as_deref()),
                t(r.error_message.as_deref()),
                t(r.source.as_deref()),
                t(r.ip_address.as_deref()),
                t(r.user_agent.as_deref()),
                t(r.trace_id.as_deref()),
                t(r.span_id.as_deref()),
            ],
            details: Json(details),
        }
    }
}

/// The table's own column types, for binary COPY straight into it (the migration's types: a
/// table made by hand with others takes the staged path, see [`drift`]).
pub(super) const TABLE_TYPES: [Type; 16] = [
    Type::UUID,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::TIMESTAMPTZ,
    Type::JSONB,
    Type::VARCHAR,
    Type::UUID,
    Type::VARCHAR,
    Type::TEXT,
    Type::TEXT,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::TEXT,
    Type::NUMERIC,
    Type::TEXT,
    Type::TEXT,
];

/// The largest magnitude `DECIMAL(10,3)` holds.
const NUMERIC3_MAX: f64 = 9_999_999.999;

/// A duration for the `DECIMAL(10,3)` column, rounded to milliseconds like the column (half
/// away from zero), in NUMERIC's binary form through rust_decimal.
fn numeric3(d: f64) -> Option<Decimal> {
    duration_millis(d).map(|m| Decimal::new(m, 3))
}

/// Can `r` be appended straight into the table? Only first writes whose values the table's
/// binary types can carry as they are; anything else takes the upsert, where PostgreSQL's own
/// casts reject bad values row by row.
fn direct(r: &ActionRecord) -> bool {
    r.first_write
        && r.job_execution_id
            .as_deref()
            .is_none_or(|s| Uuid::parse_str(s).is_ok())
        && r.request_duration_seconds
            .is_none_or(|d| d.is_finite() && d.abs() <= NUMERIC3_MAX)
}

/// Streams `rows` through binary COPY, into the table (`into_table`, with the trace columns
/// when it has them: `trace`) or the staging table (always with them).
async fn copy_rows(
    tx: &Transaction<'_>,
    sql: &str,
    rows: &[&ActionRecord],
    into_table: bool,
    trace: bool,
) -> Result<(), tokio_postgres::Error> {
    let n = if into_table && !trace {
        COLUMNS.len()
    } else {
        COLUMNS.len() + TRACE_COLUMNS.len()
    };
    let types: &[Type] = if into_table {
        &TABLE_TYPES[..n]
    } else {
        &STAGE_TYPES
    };
    let sink = tx.copy_in(sql).await?;
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, types));
    for r in rows {
        let row = Row::new(r);
        let [
            action_type,
            user_id,
            job_id,
            job_execution_id,
            status,
            result_message,
            error_message,
            source,
            ip,
            ua,
            trace_id,
            span_id,
        ] = &row.texts;
        let exec_uuid: Option<Uuid> = r
            .job_execution_id
            .as_deref()
            .and_then(|s| Uuid::parse_str(s).ok());
        let numeric = r.request_duration_seconds.and_then(numeric3);
        let staged_duration = r.request_duration_seconds.map(stored_duration);
        let values: [&(dyn ToSql + Sync); 16] = [
            &r.id,
            action_type,
            user_id,
            &r.action_timestamp,
            &row.details,
            job_id,
            if into_table {
                &exec_uuid
            } else {
                job_execution_id
            },
            status,
            result_message,
            error_message,
            source,
            ip,
            ua,
            if into_table {
                &numeric
            } else {
                &staged_duration
            },
            trace_id,
            span_id,
        ];
        writer.as_mut().write(&values[..n]).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// The default load: first writes are appended with binary COPY straight into the table (as
/// fast as a raw COPY); the rest are COPYed into the staging table and upserted from it, all in
/// one transaction. If a "first write" exists after all (a replay, or a retry after a commit
/// whose reply was lost), the unique violation sends the whole batch down the upsert path.
pub(super) async fn load_copy(
    client: &mut Client,
    insert: &Statement,
    table_copy: &str,
    batch: &[ActionRecord],
    direct_ok: bool,
    trace: bool,
    trail: &mut Trail,
) -> Result<(), tokio_postgres::Error> {
    let stage_copy = format!("COPY {STAGE} FROM STDIN BINARY");
    let (fresh, rest): (Vec<&ActionRecord>, Vec<&ActionRecord>) =
        batch.iter().partition(|r| direct_ok && direct(r));
    if !fresh.is_empty() {
        let tx = client.transaction().await?;
        match copy_rows(&tx, table_copy, &fresh, true, trace).await {
            Ok(()) => {
                if !rest.is_empty() {
                    copy_rows(&tx, &stage_copy, &rest, false, trace).await?;
                    tx.execute(insert, &[]).await?;
                }
                trail.seal(&tx, Covered::Actions(batch, trace)).await?;
                return tx.commit().await;
            }
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => tx.rollback().await?,
            Err(e) => return Err(e),
        }
    }
    let all: Vec<&ActionRecord> = batch.iter().collect();
    let tx = client.transaction().await?;
    copy_rows(&tx, &stage_copy, &all, false, trace).await?;
    tx.execute(insert, &[]).await?;
    trail.seal(&tx, Covered::Actions(batch, trace)).await?;
    tx.commit().await
}

pub(super) async fn load_unnest(
    client: &mut Client,
    insert: &Statement,
    batch: &[ActionRecord],
    trace: bool,
    trail: &mut Trail,
) -> Result<(), tokio_postgres::Error> {
    let rows: Vec<Row<'_>> = batch.iter().map(Row::new).collect();
    let ids: Vec<Uuid> = batch.iter().map(|r| r.id).collect();
    let ts: Vec<DateTime<Utc>> = batch.iter().map(|r| r.action_timestamp).collect();
    let details: Vec<&Json<Cow<'_, Map<String, Value>>>> =
        rows.iter().map(|r| &r.details).collect();
    let col =
        |i: usize| -> Vec<&Option<Cow<'_, str>>> { rows.iter().map(|r| &r.texts[i]).collect() };
    let (action_type, user_id, job_id, job_execution_id, status) =
        (col(0), col(1), col(2), col(3), col(4));
    let (result_message, error_message, source, ip, ua) = (col(5), col(6), col(7), col(8), col(9));
    let (trace_id, span_id) = (col(10), col(11));
    let duration: Vec<Option<f64>> = batch
        .iter()
        .map(|r| r.request_duration_seconds.map(stored_duration))
        .collect();
    let params: [&(dyn ToSql + Sync); 16] = [
        &ids,
        &action_type,
        &user_id,
        &ts,
        &details,
        &job_id,
        &job_execution_id,
        &status,
        &result_message,
        &error_message,
        &source,
        &ip,
        &ua,
        &duration,
        &trace_id,
        &span_id,
    ];
    let n = columns(trace).len();
    if !trail.is_on() {
        return client.execute(insert, &params[..n]).await.map(|_| ());
    }
    // With the trail, the digest goes in the same transaction as the rows.
    let tx = client.transaction().await?;
    tx.execute(insert, &params[..n]).await?;
    trail.seal(&tx, Covered::Actions(batch, trace)).await?;
    tx.commit().await
}

/// The upsert from the staging table or the UNNEST arrays into `t` (with the trace columns
/// when `t` has them: `trace`).
pub(super) fn upsert_sql(t: &str, strategy: LoadStrategy, trace: bool) -> String {
    let columns = columns(trace);
    let cols = columns.join(", ");
    let select = columns
        .iter()
        .map(|c| {
            if *c == "job_execution_id" {
                "u.job_execution_id::uuid".to_owned()
            } else {
                format!("u.{c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let from = match strategy {
        LoadStrategy::Unnest => {
            let params = STAGE_TYPES[..columns.len()]
                .iter()
                .enumerate()
                .map(|(i, ty)| format!("${}::{}[]", i + 1, ty.name()))
                .collect::<Vec<_>>()
                .join(", ");
            format!("UNNEST({params}) AS u({cols})")
        }
        LoadStrategy::StagedCopy => format!("{STAGE} AS u"),
    };
    // `json` has no equality operator: compared as `jsonb`, a hand-made `json` column still
    // takes the upsert (for a `jsonb` column the cast is no cast at all).
    let guard = upsert_guard("t", "EXCLUDED", trace).replace(
        "t.action_details IS DISTINCT FROM EXCLUDED.action_details",
        "t.action_details::jsonb IS DISTINCT FROM EXCLUDED.action_details::jsonb",
    );
    format!(
        "INSERT INTO {t} AS t ({cols}) SELECT {select} FROM {from} \
         ON CONFLICT (id) DO UPDATE SET {} WHERE {guard}",
        upsert_set("t", "EXCLUDED", trace),
    )
}

/// The columns whose type differs from the migration's, as `(column, its type, ours)`: binary
/// COPY cannot write them as they are (`json` for `jsonb`, `double precision` for the
/// `DECIMAL(10,3)` duration), the upsert's assignment casts can.
pub(super) async fn drift(
    client: &Client,
    table: &str,
) -> Result<Vec<(String, String, String)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
             AND NOT a.attisdropped",
            &[&table],
        )
        .await?;
    let mut out = Vec::new();
    for (col, want) in COLUMNS.iter().zip(TABLE_TYPES.iter()) {
        if let Some(r) = rows.iter().find(|r| r.get::<_, String>(0) == *col) {
            let oid: u32 = r.get(1);
            if oid != want.oid() {
                out.push((col.to_string(), r.get(2), want.name().to_owned()));
            }
        }
    }
    Ok(out)
}

/// One batch of job runs in one transaction, and the `scheduled_jobs` refresh when asked.
pub(super) async fn load_jobs(
    client: &mut Client,
    batch: &[JobExecution],
    refresh: bool,
    trace: bool,
    trail: &mut Trail,
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let ids: Vec<Uuid> = batch.iter().map(|j| j.id).collect();
    let job_ids: Vec<Cow<'_, str>> = batch.iter().map(|j| clean_text(&j.job_id)).collect();
    let statuses: Vec<Cow<'_, str>> = batch.iter().map(|j| clean_text(&j.status)).collect();
    let started: Vec<DateTime<Utc>> = batch.iter().map(|j| j.started_at).collect();
    let completed: Vec<Option<DateTime<Utc>>> = batch.iter().map(|j| j.completed_at).collect();
    let durations: Vec<Option<f64>> = batch
        .iter()
        .map(|j| j.duration_seconds.map(stored_duration))
        .collect();
    let errors: Vec<Option<Cow<'_, str>>> = batch
        .iter()
        .map(|j| j.error_message.as_deref().map(clean_text))
        .collect();
    let logs: Vec<Cow<'_, str>> = batch.iter().map(|j| clean_text(&j.logs)).collect();
    let metadata: Vec<Json<Cow<'_, Map<String, Value>>>> =
        batch.iter().map(|j| Json(clean_map(&j.metadata))).collect();
    let text = |f: fn(&JobExecution) -> &Option<String>| -> Vec<Option<Cow<'_, str>>> {
        batch
            .iter()
            .map(|j| f(j).as_deref().map(clean_text))
            .collect()
    };
    let (trace_ids, span_ids) = (text(|j| &j.trace_id), text(|j| &j.span_id));
    let params: [&(dyn ToSql + Sync); 11] = [
        &ids, &job_ids, &statuses, &started, &completed, &durations, &errors, &logs, &metadata,
        &trace_ids, &span_ids,
    ];
    if trace {
        tx.execute(INSERT_JOBS_TRACE, &params).await?;
    } else {
        tx.execute(INSERT_JOBS, &params[..9]).await?;
    }
    if refresh {
        let mut jobs: Vec<&str> = batch.iter().map(|j| j.job_id.as_str()).collect();
        jobs.sort_unstable();
        jobs.dedup();
        tx.execute(
            "SELECT actionlog_refresh_scheduled_jobs($1::text[])",
            &[&jobs],
        )
        .await?;
    }
    trail.seal(&tx, Covered::Runs(batch, trace)).await?;
    tx.commit().await
}

/// Whether `table` has both trace context columns (`migrations/0006_trace_context.sql`).
pub(super) async fn has_trace_columns(
    client: &Client,
    table: &str,
) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT COUNT(*) = 2 FROM pg_attribute WHERE attrelid = to_regclass($1) \
             AND attnum > 0 AND NOT attisdropped AND attname IN ('trace_id', 'span_id')",
            &[&table],
        )
        .await?;
    Ok(row.get(0))
}
