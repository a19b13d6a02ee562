//! Trace context in the stores and on the read side: the `trace_id` / `span_id` columns
//! written and read back through SQLite, PostgreSQL and Supabase (the PostgREST double); the
//! migration run twice; a store made before the columns still written to and read (a
//! `trace_id=` filter refused with a clear error); the dashboard's link to a trace viewer only
//! with a template, escaped whatever the store holds; `actionlog tail --trace`.
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "supabase",
    feature = "query",
    feature = "web"
))]

use crate::common;

use std::path::Path;
use std::time::Duration;

use actionlog::query::{Entity, Error, Filter, Options, PageQuery, Store, Target};
use actionlog::sink::{Sink, SqliteSink, SupabaseSink};
use actionlog::{ActionRecord, JobExecution};
use common::pg::TestDb;
use common::postgrest::Double;
use uuid::Uuid;

const KEY: &str = "trace-key";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";
const OTHER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// One runtime for the whole module: a PostgreSQL store's connection lives on the runtime it
/// was opened on.
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    });
    &RT
}

fn write(sink: &mut dyn Sink, batch: &[ActionRecord]) {
    rt().block_on(sink.write(&batch.to_vec().into())).unwrap();
}

fn write_jobs(sink: &mut dyn Sink, batch: &[JobExecution]) {
    rt().block_on(sink.write_jobs(&batch.to_vec().into()))
        .unwrap();
}

fn traced(status: &str, trace: &str, span: &str) -> ActionRecord {
    let mut r = ActionRecord::blank(Uuid::now_v7(), "checkout");
    r.status = status.into();
    r.trace_id = Some(trace.into());
    r.span_id = Some(span.into());
    r
}

/// An action initiated inside a trace, completed by a record without ids (which must keep
/// them); another action of another trace; an action outside any trace; a job run.
struct Written {
    kept: Uuid,
    other: Uuid,
    plain: Uuid,
    run: Uuid,
}

fn write_fixture(sink: &mut dyn Sink) -> Written {
    let first = traced("initiated", TRACE, SPAN);
    write(sink, std::slice::from_ref(&first));
    let mut done = first.clone();
    done.status = "completed".into();
    done.first_write = false;
    done.trace_id = None;
    done.span_id = None;
    done.result_message = Some("ok".into());
    let other = traced("failed", OTHER_TRACE, "b7ad6b7169203331");
    let plain = ActionRecord::blank(Uuid::now_v7(), "plain");
    write(sink, &[done, other.clone(), plain.clone()]);
    let mut run = JobExecution::new(Uuid::now_v7(), "sync", "success", chrono::Utc::now());
    run.trace_id = Some(TRACE.into());
    run.span_id = Some("53995c3f42cd8ad8".into());
    write_jobs(sink, std::slice::from_ref(&run));
    Written {
        kept: first.id,
        other: other.id,
        plain: plain.id,
        run: run.id,
    }
}

/// The ids stored for `id` in `table`, through the read side (every store alike).
fn read_ids(store: &Store, entity: Entity, id: Uuid) -> (Option<String>, Option<String>) {
    let mut filter = Filter::new(entity);
    filter.push(&format!("id={id}")).unwrap();
    let q = PageQuery {
        filter,
        limit: 1,
        before: None,
    };
    let page = match entity {
        Entity::Actions => rt().block_on(store.actions(&q)),
        Entity::Runs => rt().block_on(store.runs(&q)),
    }
    .unwrap();
    assert_eq!(page.rows.rows.len(), 1, "{id} not found");
    let s = |c: &str| {
        page.rows
            .get(0, c)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    (s("trace_id"), s("span_id"))
}

fn ids_of_trace(store: &Store, entity: Entity, expr: &str) -> Result<Vec<String>, Error> {
    let mut filter = Filter::new(entity);
    filter.push(expr)?;
    let page = rt().block_on(store.actions(&PageQuery {
        filter,
        limit: 50,
        before: None,
    }))?;
    Ok((0..page.rows.rows.len())
        .map(|i| page.rows.get(i, "id").unwrap().as_str().unwrap().to_owned())
        .collect())
}

/// Everything the read side must show of the fixture, whatever the store.
fn assert_fixture_reads_back(store: &Store, w: &Written, name: &str) {
    assert_eq!(
        read_ids(store, Entity::Actions, w.kept),
        (Some(TRACE.into()), Some(SPAN.into())),
        "{name}: a final record without ids kept the stored ones"
    );
    assert_eq!(
        read_ids(store, Entity::Actions, w.other).0.as_deref(),
        Some(OTHER_TRACE),
        "{name}"
    );
    assert_eq!(
        read_ids(store, Entity::Actions, w.plain),
        (None, None),
        "{name}"
    );
    assert_eq!(
        read_ids(store, Entity::Runs, w.run),
        (Some(TRACE.into()), Some("53995c3f42cd8ad8".into())),
        "{name}"
    );
    assert_eq!(
        ids_of_trace(store, Entity::Actions, &format!("trace_id={TRACE}")).unwrap(),
        vec![w.kept.to_string()],
        "{name}: trace_id= filter"
    );
    assert_eq!(
        ids_of_trace(store, Entity::Actions, &format!("span_id={SPAN}")).unwrap(),
        vec![w.kept.to_string()],
        "{name}: span_id= filter"
    );
}

#[test]
fn ids_are_written_and_read_back_through_every_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actions.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    let w = write_fixture(&mut sink);
    drop(sink);
    let store = rt()
        .block_on(Store::open(&Target::Sqlite(path), &Options::default()))
        .unwrap();
    assert_fixture_reads_back(&store, &w, "sqlite");

    let Some(db) = TestDb::new("trace_pg") else {
        return;
    };
    let w = write_fixture(&mut db.sink());
    let store = rt()
        .block_on(Store::open(&db.query_target(), &Options::default()))
        .unwrap();
    assert_fixture_reads_back(&store, &w, "postgres");

    let db = TestDb::new("trace_sb").unwrap();
    db.migrate(&[
        "0001_action_logs.sql",
        "0002_jobs.sql",
        "0006_trace_context.sql",
    ]);
    let double = Double::start(&db.url, &db.schema, KEY);
    let mut sink = SupabaseSink::new(&double.url, KEY)
        .unwrap()
        .timeout(Duration::from_secs(5))
        .unwrap();
    let w = write_fixture(&mut sink);
    assert!(double.violations().is_empty(), "{:?}", double.violations());
    let rest = Target::Supabase {
        url: double.url.clone(),
        key: KEY.into(),
    };
    let store = rt()
        .block_on(Store::open(&rest, &Options::default()))
        .unwrap();
    assert_fixture_reads_back(&store, &w, "supabase");
}

#[test]
fn the_migration_runs_twice_and_the_sink_applies_it() {
    let Some(db) = TestDb::new("trace_migrate") else {
        return;
    };
    let files = [
        "0001_action_logs.sql",
        "0002_jobs.sql",
        "0003_query.sql",
        "0004_rollups.sql",
        "0005_hourly_rollups.sql",
        "0006_trace_context.sql",
    ];
    db.migrate(&files);
    db.migrate(&files);
    let cols = db.psql_rows(
        "SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_schema = current_schema() AND column_name IN ('trace_id', 'span_id') \
         ORDER BY 1",
    );
    assert_eq!(
        cols,
        [
            "action_logs.span_id text",
            "action_logs.trace_id text",
            "job_executions.span_id text",
            "job_executions.trace_id text"
        ]
    );
    let index = db.psql(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
         AND indexname = 'idx_action_logs_trace_id'",
    );
    assert!(index.contains("WHERE (trace_id IS NOT NULL)"), "{index}");
    // The sink's own migration over the same schema, twice (two connections), then a write.
    let w = write_fixture(&mut db.sink());
    let store = rt()
        .block_on(Store::open(&db.query_target(), &Options::default()))
        .unwrap();
    assert_fixture_reads_back(&store, &w, "postgres, migrated by hand and by the sink");
    let w2 = write_fixture(&mut db.sink());
    assert_eq!(
        read_ids(&store, Entity::Actions, w2.kept).0.as_deref(),
        Some(TRACE)
    );
    // A replay of a record with the same ids changes nothing, not even updated_at; one
    // without ids neither.
    let r = traced("failed", OTHER_TRACE, "b7ad6b7169203331");
    write(&mut db.sink(), std::slice::from_ref(&r));
    let updated = || {
        db.psql(&format!(
            "SELECT updated_at FROM action_logs WHERE id = '{}'",
            r.id
        ))
    };
    let before = updated();
    let mut again = r.clone();
    again.first_write = false;
    write(&mut db.sink(), std::slice::from_ref(&again));
    again.trace_id = None;
    again.span_id = None;
    write(&mut db.sink(), std::slice::from_ref(&again));
    let after = updated();
    assert_eq!(
        read_ids(&store, Entity::Actions, r.id).0.as_deref(),
        Some(OTHER_TRACE)
    );
    // The UNNEST load path carries the ids too.
    let u = traced("completed", TRACE, "1111222233334444");
    let mut unnest = db
        .sink()
        .load_strategy(actionlog::sink::postgres::LoadStrategy::Unnest);
    write(&mut unnest, std::slice::from_ref(&u));
    assert_eq!(
        read_ids(&store, Entity::Actions, u.id),
        (Some(TRACE.into()), Some("1111222233334444".into()))
    );
    assert_eq!(before, after);
}

/// A store made before the trace columns: written without the ids (not dead-lettered, not
/// failed), read without them, and a `trace_id=` filter refused with a message saying why.
#[test]
fn a_store_without_the_columns_keeps_working() {
    // SQLite: an older store, as the read side finds it (the sink would add the columns).
    let dir = tempfile::tempdir().unwrap();
    let path = common::cli::sqlite_store(
        dir.path(),
        &format!(
            "INSERT INTO action_logs (id, action_type, status) VALUES ('{}', 'old', 'completed');
             DROP INDEX idx_action_logs_trace_id;
             ALTER TABLE action_logs DROP COLUMN trace_id;
             ALTER TABLE action_logs DROP COLUMN span_id;
             ALTER TABLE job_executions DROP COLUMN trace_id;
             ALTER TABLE job_executions DROP COLUMN span_id;",
            common::cli::id(1)
        ),
    );
    let store = rt()
        .block_on(Store::open(&Target::Sqlite(path), &Options::default()))
        .unwrap();
    assert_older_store(&store, 1, "sqlite");

    let Some(db) = TestDb::new("trace_old_pg") else {
        return;
    };
    db.migrate(&["0001_action_logs.sql", "0002_jobs.sql"]);
    let mut sink = actionlog::sink::PostgresSink::new(&db.url)
        .unwrap()
        .schema(&db.schema)
        .unwrap()
        .migrate(false);
    write(&mut sink, &[traced("completed", TRACE, SPAN)]);
    let mut unnest = actionlog::sink::PostgresSink::new(&db.url)
        .unwrap()
        .schema(&db.schema)
        .unwrap()
        .load_strategy(actionlog::sink::postgres::LoadStrategy::Unnest);
    write(&mut unnest, &[traced("completed", TRACE, SPAN)]);
    write(
        &mut sink,
        &[
            traced("initiated", TRACE, SPAN),
            ActionRecord::blank(Uuid::now_v7(), "x"),
        ],
    );
    let mut run = JobExecution::new(Uuid::now_v7(), "sync", "success", chrono::Utc::now());
    run.trace_id = Some(TRACE.into());
    write_jobs(&mut sink, &[run]);
    assert_eq!(db.count(""), 4);
    let store = rt()
        .block_on(Store::open(&db.query_target(), &Options::default()))
        .unwrap();
    assert_older_store(&store, 4, "postgres");

    let db = TestDb::new("trace_old_sb").unwrap();
    db.migrate(&["0001_action_logs.sql", "0002_jobs.sql"]);
    let double = Double::start(&db.url, &db.schema, KEY);
    let mut sink = SupabaseSink::new(&double.url, KEY)
        .unwrap()
        .timeout(Duration::from_secs(5))
        .unwrap();
    write(&mut sink, &[traced("completed", TRACE, SPAN)]);
    write(&mut sink, &[traced("completed", TRACE, SPAN)]);
    let mut run = JobExecution::new(Uuid::now_v7(), "sync", "success", chrono::Utc::now());
    run.trace_id = Some(TRACE.into());
    write_jobs(&mut sink, &[run]);
    assert!(double.violations().is_empty(), "{:?}", double.violations());
    assert_eq!(db.count(""), 2);
    let rest = Target::Supabase {
        url: double.url.clone(),
        key: KEY.into(),
    };
    let store = rt()
        .block_on(Store::open(&rest, &Options::default()))
        .unwrap();
    assert_older_store(&store, 2, "supabase");
}

fn assert_older_store(store: &Store, rows: usize, name: &str) {
    let page = rt()
        .block_on(store.actions(&PageQuery {
            filter: Filter::new(Entity::Actions),
            limit: 50,
            before: None,
        }))
        .unwrap();
    assert_eq!(page.rows.rows.len(), rows, "{name}");
    assert!(
        !page.rows.columns.iter().any(|c| c == "trace_id"),
        "{name}: {:?}",
        page.rows.columns
    );
    let err = ids_of_trace(store, Entity::Actions, &format!("trace_id={TRACE}")).unwrap_err();
    assert!(
        matches!(err, Error::BadFilter(_)) && err.to_string().contains("no trace_id/span_id"),
        "{name}: {err}"
    );
    assert!(err.to_string().contains("0006_trace_context.sql"), "{err}");
    let runs = rt()
        .block_on(store.runs(&PageQuery {
            filter: Filter::new(Entity::Runs),
            limit: 5,
            before: None,
        }))
        .unwrap();
    assert!(!runs.rows.columns.iter().any(|c| c == "span_id"), "{name}");
}

/// An action whose stored ids are hostile text, as any writer of the table could store.
fn hostile_store(dir: &Path) -> (Target, String) {
    let id = common::cli::id(7);
    let path = common::cli::sqlite_store(
        dir,
        &format!(
            "INSERT INTO action_logs (id, action_type, status, trace_id, span_id)
             VALUES ('{id}', 'pay', 'completed', '\"><script>alert(1)</script>', 'x'' onmouseover=''alert(2)');
             INSERT INTO action_logs (id, action_type, status, trace_id, span_id)
             VALUES ('{}', 'pay', 'completed', '{TRACE}', '{SPAN}');",
            common::cli::id(8)
        ),
    );
    (Target::Sqlite(path), id)
}

#[test]
fn the_dashboard_links_to_the_viewer_only_when_asked_and_escapes_the_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (target, hostile) = hostile_store(dir.path());
    let logs = dir.path().join("logs");
    let plain = common::web::start(target.clone(), &logs, None, |d| d);
    let page = common::web::ok(plain, &format!("/actions/{}", common::cli::id(8)));
    assert!(page.contains(TRACE) && page.contains(SPAN), "{page}");
    assert!(!page.contains("viewer.example"), "{page}");
    assert!(
        page.contains(&format!("/actions?trace_id={TRACE}")),
        "{page}"
    );

    let template =
        actionlog::web::TraceUrl::parse("https://viewer.example/trace/{trace_id}?span={span_id}")
            .unwrap();
    let linked = common::web::start(target, &logs, None, move |d| d.trace_url(template));
    let page = common::web::ok(linked, &format!("/actions/{}", common::cli::id(8)));
    let hrefs = common::web::attrs(&page, "href");
    assert!(
        hrefs.contains(&format!("https://viewer.example/trace/{TRACE}?span={SPAN}")),
        "{hrefs:?}"
    );
    let page = common::web::ok(linked, &format!("/actions/{hostile}"));
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        common::web::attrs(&page, "onmouseover").is_empty(),
        "{page}"
    );
    let viewer: Vec<String> = common::web::attrs(&page, "href")
        .into_iter()
        .filter(|h| h.starts_with("https://viewer.example/"))
        .collect();
    assert_eq!(
        viewer,
        [
            "https://viewer.example/trace/%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E?span=x%27%20onmouseover%3D%27alert%282%29"
        ]
    );
    // The text shown is escaped too.
    assert!(
        page.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
}

#[test]
fn serve_refuses_a_template_that_is_not_http() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "javascript:alert(1)//{trace_id}",
        "https://viewer.example/trace",
    ] {
        let out = common::cli::run(
            dir.path(),
            &["serve", "--bind", "127.0.0.1:0", "--trace-url", bad],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--trace-url"), "{err}");
    }
}

fn line(day: &str, message: &str, trace: Option<&str>) -> String {
    let ids = trace
        .map(|t| format!(r#""trace_id":"{t}","span_id":"{SPAN}","#))
        .unwrap_or_default();
    format!(
        r#"{{"timestamp":"{day}T10:00:00.000000+00:00","level":"INFO","message":"{message}","logger":"shop",{ids}"metadata":{{}}}}"#
    ) + "\n"
}

#[test]
fn tail_trace_prints_one_traces_lines_across_days_and_parts() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let files = [
        (
            "2026-11-03.log",
            vec![
                line("2026-11-03", "a1", Some(TRACE)),
                line("2026-11-03", "plain", None),
                // Another trace's line that mentions this trace's id in its message.
                line("2026-11-03", TRACE, Some(OTHER_TRACE)),
            ],
        ),
        (
            "2026-11-03.1.log",
            vec![line("2026-11-03", "a2", Some(TRACE))],
        ),
        (
            "2026-11-04.log",
            vec![
                line("2026-11-04", "b", Some(OTHER_TRACE)),
                line("2026-11-04", "a3", Some(TRACE)),
            ],
        ),
    ];
    for (name, lines) in &files {
        std::fs::write(logs.join(name), lines.concat()).unwrap();
    }
    let tail = |args: &[&str]| {
        let mut all = vec!["--log-dir", "logs", "tail"];
        all.extend_from_slice(args);
        let out = common::cli::run(dir.path(), &all, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let messages = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["message"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(
        messages(&tail(&["--trace", TRACE, "--json"])),
        ["a1", "a2", "a3"]
    );
    // Capitals as a viewer may show them; -n still bounds it.
    assert_eq!(
        messages(&tail(&[
            "--trace",
            &TRACE.to_ascii_uppercase(),
            "--json",
            "-n",
            "1"
        ])),
        ["a3"]
    );
    let console = tail(&["--trace", OTHER_TRACE]);
    assert_eq!(console.lines().count(), 2, "{console}");
    assert!(
        console.lines().last().unwrap().contains("[shop] b"),
        "{console}"
    );
    // Without the option every line shows, with the key or without.
    assert_eq!(tail(&["--json"]).lines().count(), 6);
    let out = common::cli::run(
        dir.path(),
        &["--log-dir", "logs", "tail", "--trace", "nope"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}
