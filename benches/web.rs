//! The dashboard's pages over HTTP on the store of `benches/query.rs` (1 000 000 actions,
//! 100 000 runs, built by its generator): the overview over its default range (1 hour), 1 day
//! and 7 days (every row), the first actions page, and page 1 000 (keyset: `before=` the cursor
//! that 999 pages of 50 end at). Each request goes through the whole router (security layer,
//! store call on the blocking pool, HTML rendering) from a plain HTTP client on loopback.
//! Before them (`*_parts`): each store call of the overview alone, with and without rollups.
//!
//! Run: `cargo bench --all-features --bench web`

#[path = "../tests/it/common/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "query.rs"]
mod query;

use std::net::SocketAddr;
use std::time::Duration;

use actionlog::query::{Bucket, Entity, Filter, Options, PageQuery, Store, Target, parse_time};
use criterion::Criterion;

fn opts() -> Options {
    Options {
        statement_timeout: Duration::from_secs(120),
        ..Options::default()
    }
}

/// A dashboard over `target` in a thread of its own; its address.
fn start(target: Target) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let store = Store::open(&target, &opts()).await.unwrap();
            let d = actionlog::web::Dashboard::new(store).log_dir("target/bench-web-logs");
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            actionlog::web::serve(d, addr, None, Vec::new(), |a| tx.send(a).unwrap())
                .await
                .unwrap();
        });
    });
    rx.recv().unwrap()
}

/// The `before=` of page 1 000 (50 rows a page), found through the query API.
fn page_1000(target: &Target) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(target, &opts()).await.unwrap();
        let mut q = PageQuery {
            filter: Filter::new(Entity::Actions),
            limit: 50,
            before: None,
        };
        for _ in 0..999 {
            q.before = store.actions(&q).await.unwrap().next;
        }
        q.before.unwrap().to_string()
    })
}

fn pages(c: &mut Criterion, name: &str, target: Target) {
    let cursor = page_1000(&target);
    let a = start(target);
    let get = |path: &str| {
        let r = http::get(a, path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.body.len()
    };
    let deep = format!("/actions?limit=50&before={cursor}");
    let mut g = c.benchmark_group(name);
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("overview_default_1h", |b| b.iter(|| get("/")));
    g.bench_function("actions_page_1", |b| b.iter(|| get("/actions")));
    g.bench_function("actions_page_1000", |b| b.iter(|| get(&deep)));
    g.bench_function("overview_1d", |b| b.iter(|| get("/?since=1d")));
    g.bench_function("overview_7d", |b| b.iter(|| get("/?since=7d")));
    g.finish();
}

/// What each store call of the overview costs alone (through the query API, no HTTP), over
/// 1 day and 7 days, with the rollups and with full scans (`Options::use_rollups` off: what a
/// store without them does).
fn parts(c: &mut Criterion, name: &str, target: &Target) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group(format!("{name}_parts"));
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    let scan = Options {
        use_rollups: false,
        ..opts()
    };
    for (mode, o) in [("rollups", opts()), ("scan", scan)] {
        let s = rt.block_on(Store::open(target, &o)).unwrap();
        for range in ["1d", "7d"] {
            // As the overview asks: `[now - range, now)`, at most 60 bars.
            let now = chrono::Utc::now();
            let mut f = Filter::new(Entity::Actions);
            f.since = Some(parse_time(range, now).unwrap());
            f.until = Some(now);
            let b = Bucket::fit(now - f.since.unwrap(), 60);
            let recent = PageQuery {
                filter: f.clone(),
                limit: 20,
                before: None,
            };
            let id = |part: &str| format!("{range}_{mode}_{part}");
            g.bench_function(id("stats"), |x| {
                x.iter(|| rt.block_on(s.stats(&f)).unwrap())
            });
            g.bench_function(id("histogram"), |x| {
                x.iter(|| rt.block_on(s.histogram(&f, b)).unwrap())
            });
            g.bench_function(id("failure_groups"), |x| {
                x.iter(|| rt.block_on(s.failure_groups(&f)).unwrap())
            });
            g.bench_function(id("newest"), |x| {
                x.iter(|| rt.block_on(s.newest()).unwrap())
            });
            g.bench_function(id("recent_20"), |x| {
                x.iter(|| rt.block_on(s.actions(&recent)).unwrap())
            });
        }
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let sqlite = Target::Sqlite(query::sqlite_store());
    parts(&mut c, "web_sqlite", &sqlite);
    pages(&mut c, "web_sqlite", sqlite);
    let base = std::env::var("ACTIONLOG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let schema = &query::bench_schema();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(tokio_postgres::connect(&base, tokio_postgres::NoTls)) {
        Ok((client, conn)) => {
            rt.spawn(async move {
                let _ = conn.await;
            });
            query::pg_store(&rt, &client, schema);
            let url = format!("{base}?options=-c%20search_path%3D{schema}");
            let pg = Target::Postgres(url);
            parts(&mut c, "web_postgres", &pg);
            pages(&mut c, "web_postgres", pg);
        }
        Err(e) => eprintln!("SKIPPED postgres: {base} unreachable: {e}"),
    }
    c.final_summary();
}
