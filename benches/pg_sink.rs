//! The PostgreSQL sink against the fastest raw loads into the same table, same run:
//! binary `COPY … FROM STDIN` and a plain `INSERT … SELECT FROM UNNEST` (no upsert), at batch
//! sizes 100, 500 and 2000, into `action_logs` with the five indexes. Each iteration writes
//! one batch of fresh rows (new ids); the sink does its idempotent upsert.
//!
//! Needs the test database (`ACTIONLOG_TEST_DATABASE_URL`, default
//! `postgres://root@127.0.0.1:5432/test`); works in its own schema, dropped at the end.
//!
//! Run: `cargo bench --features postgres --bench pg_sink`; with `ACTIONLOG_BENCH_NO_ROLLUPS=1`
//! the schema is made with `PostgresSink::rollups(false)` (no rollup triggers, no read-side
//! indexes), to show what they cost a write.
#![cfg_attr(not(feature = "postgres"), allow(unused))]

#[cfg(feature = "postgres")]
mod bench {
    use std::time::{Duration, Instant};

    use actionlog::ActionRecord;
    use actionlog::sink::postgres::LoadStrategy;
    use actionlog::sink::{PostgresSink, Sink};
    use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
    use futures_util::pin_mut;
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::{ToSql, Type};
    use tokio_postgres::{Client, NoTls};

    pub struct Env {
        rt: tokio::runtime::Runtime,
        client: Client,
        url: String,
        schema: String,
    }

    impl Env {
        pub fn new() -> Env {
            let url = std::env::var("ACTIONLOG_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let client = rt.block_on(async {
                let (c, conn) = tokio_postgres::connect(&url, NoTls)
                    .await
                    .expect("bench database reachable");
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                c
            });
            let schema = format!("al_bench_{}", std::process::id());
            let env = Env {
                rt,
                client,
                url,
                schema,
            };
            env.exec(&format!(
                "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}; SET search_path TO {0};",
                env.schema
            ));
            let rollups = std::env::var_os("ACTIONLOG_BENCH_NO_ROLLUPS").is_none();
            if !rollups {
                eprintln!("without the rollups of migrations/0004");
            }
            env.exec(&env.sink().rollups(rollups).migration_sql());
            env
        }

        fn exec(&self, sql: &str) {
            self.rt.block_on(self.client.batch_execute(sql)).unwrap();
        }

        fn sink(&self) -> PostgresSink {
            PostgresSink::new(&self.url)
                .unwrap()
                .schema(&self.schema)
                .unwrap()
        }

        /// The sink with each load strategy: staged COPY (default), UNNEST.
        fn sinks(&self) -> [PostgresSink; 2] {
            [self.sink(), self.sink().load_strategy(LoadStrategy::Unnest)]
        }

        pub fn truncate(&self) {
            self.exec("TRUNCATE action_logs");
        }
    }

    impl Drop for Env {
        fn drop(&mut self) {
            let _ = self.rt.block_on(
                self.client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)),
            );
        }
    }

    pub fn records(n: usize) -> Vec<ActionRecord> {
        (0..n)
            .map(|i| {
                let mut r = ActionRecord::blank(uuid::Uuid::now_v7(), "data_collection_start");
                r.status = "completed".into();
                r.user_id = Some(format!("user{}", i % 50));
                r.source = Some("ui_button".into());
                r.job_id = Some("data_collection".into());
                r.request_duration_seconds = Some(0.25);
                r.action_details.insert("lookback_days".into(), 30.into());
                r.action_details
                    .insert("sources".into(), "us_congress".into());
                r
            })
            .collect()
    }

    const COPY_TYPES: [Type; 8] = [
        Type::UUID,
        Type::VARCHAR,
        Type::VARCHAR,
        Type::TIMESTAMPTZ,
        Type::JSONB,
        Type::VARCHAR,
        Type::VARCHAR,
        Type::VARCHAR,
    ];

    async fn copy(client: &Client, batch: &[ActionRecord]) {
        let sink = client
            .copy_in(
                "COPY action_logs (id, action_type, user_id, action_timestamp, action_details, job_id, status, source) FROM STDIN BINARY",
            )
            .await
            .unwrap();
        // The duration column is DECIMAL, whose binary form tokio-postgres cannot encode from
        // f64: COPY skips it, which if anything flatters COPY.
        let writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
        pin_mut!(writer);
        for r in batch {
            let details = serde_json::Value::Object(r.action_details.clone());
            let row: [&(dyn ToSql + Sync); 8] = [
                &r.id,
                &r.action_type,
                &r.user_id,
                &r.action_timestamp,
                &details,
                &r.job_id,
                &r.status,
                &r.source,
            ];
            writer.as_mut().write(&row).await.unwrap();
        }
        writer.finish().await.unwrap();
    }

    async fn unnest(client: &Client, batch: &[ActionRecord]) {
        let ids: Vec<uuid::Uuid> = batch.iter().map(|r| r.id).collect();
        let types: Vec<&str> = batch.iter().map(|r| r.action_type.as_str()).collect();
        let users: Vec<Option<&str>> = batch.iter().map(|r| r.user_id.as_deref()).collect();
        let ts: Vec<chrono::DateTime<chrono::Utc>> =
            batch.iter().map(|r| r.action_timestamp).collect();
        let details: Vec<serde_json::Value> = batch
            .iter()
            .map(|r| serde_json::Value::Object(r.action_details.clone()))
            .collect();
        let jobs: Vec<Option<&str>> = batch.iter().map(|r| r.job_id.as_deref()).collect();
        let status: Vec<&str> = batch.iter().map(|r| r.status.as_str()).collect();
        let source: Vec<Option<&str>> = batch.iter().map(|r| r.source.as_deref()).collect();
        let dur: Vec<Option<f64>> = batch.iter().map(|r| r.request_duration_seconds).collect();
        client
            .execute(
                "INSERT INTO action_logs (id, action_type, user_id, action_timestamp, action_details, job_id, status, source, request_duration_seconds)
                 SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[], $6::text[], $7::text[], $8::text[], $9::float8[])",
                &[&ids, &types, &users, &ts, &details, &jobs, &status, &source, &dur],
            )
            .await
            .unwrap();
    }

    #[derive(Clone, Copy, PartialEq)]
    pub enum Method {
        Sink,
        SinkUnnest,
        Copy,
        Unnest,
    }

    impl Method {
        pub fn name(self) -> &'static str {
            match self {
                Method::Sink => "actionlog_sink_staged_copy",
                Method::SinkUnnest => "actionlog_sink_unnest",
                Method::Copy => "binary_copy",
                Method::Unnest => "raw_unnest_insert",
            }
        }
    }

    /// Writes one batch with `method`, returning the time the write took.
    pub fn write(
        env: &Env,
        sinks: &mut [PostgresSink; 2],
        method: Method,
        batch: &[ActionRecord],
    ) -> Duration {
        let t = Instant::now();
        match method {
            Method::Sink => env
                .rt
                .block_on(sinks[0].write(&batch.to_vec().into()))
                .unwrap(),
            Method::SinkUnnest => env
                .rt
                .block_on(sinks[1].write(&batch.to_vec().into()))
                .unwrap(),
            Method::Copy => env.rt.block_on(copy(&env.client, batch)),
            Method::Unnest => env.rt.block_on(unnest(&env.client, batch)),
        }
        t.elapsed()
    }

    pub fn criterion(c: &mut Criterion, env: &Env) {
        let mut sinks = env.sinks();
        for size in [100usize, 500, 2000] {
            let mut g = c.benchmark_group(format!("pg_rows/batch_{size}"));
            g.sample_size(10).measurement_time(Duration::from_secs(4));
            g.throughput(Throughput::Elements(size as u64));
            for method in [
                Method::Sink,
                Method::SinkUnnest,
                Method::Copy,
                Method::Unnest,
            ] {
                env.truncate();
                g.bench_function(BenchmarkId::from_parameter(method.name()), |b| {
                    b.iter_batched(
                        || records(size),
                        |batch| write(env, &mut sinks, method, &batch),
                        BatchSize::PerIteration,
                    )
                });
            }
            g.finish();
        }
    }

    /// Interleaved rounds so that table growth and machine noise hit every method alike.
    pub fn summary(env: &Env) {
        let mut sinks = env.sinks();
        println!("\n## Summary: rows/s, interleaved rounds, fresh ids each batch\n");
        println!(
            "| batch | sink, staged COPY (default) | sink, UNNEST | binary COPY | raw UNNEST insert | default sink / COPY |"
        );
        println!("|---|---|---|---|---|---|");
        for size in [100usize, 500, 2000] {
            env.truncate();
            let rows_per_method = 40_000usize;
            let mut spent = [Duration::ZERO; 4];
            let methods = [
                Method::Sink,
                Method::SinkUnnest,
                Method::Copy,
                Method::Unnest,
            ];
            for _ in 0..rows_per_method / size {
                for (i, m) in methods.iter().enumerate() {
                    let batch = records(size);
                    spent[i] += write(env, &mut sinks, *m, &batch);
                }
            }
            let rate = |d: Duration| rows_per_method as f64 / d.as_secs_f64();
            println!(
                "| {size} | {:.1} k | {:.1} k | {:.1} k | {:.1} k | {:.0} % |",
                rate(spent[0]) / 1e3,
                rate(spent[1]) / 1e3,
                rate(spent[2]) / 1e3,
                rate(spent[3]) / 1e3,
                100.0 * rate(spent[0]) / rate(spent[2])
            );
        }
        // The other half of an action span's life: its final record updates the row its
        // `initiated` record created in an earlier batch (no COPY can do that; for scale).
        println!(
            "\n| batch | sink, final records updating initiated rows (staged COPY) | sink, same with UNNEST |"
        );
        println!("|---|---|---|");
        for size in [100usize, 500, 2000] {
            env.truncate();
            let mut spent = [Duration::ZERO; 2];
            let rounds = 20_000 / size;
            for _ in 0..rounds {
                for (i, m) in [Method::Sink, Method::SinkUnnest].into_iter().enumerate() {
                    let mut batch = records(size);
                    for r in &mut batch {
                        r.status = "initiated".into();
                    }
                    write(env, &mut sinks, m, &batch);
                    for r in &mut batch {
                        r.status = "completed".into();
                        r.first_write = false;
                        r.result_message = Some("done".into());
                    }
                    spent[i] += write(env, &mut sinks, m, &batch);
                }
            }
            let rate = |d: Duration| (rounds * size) as f64 / d.as_secs_f64();
            println!(
                "| {size} | {:.1} k | {:.1} k |",
                rate(spent[0]) / 1e3,
                rate(spent[1]) / 1e3
            );
        }

        // For scale: one INSERT per row through the same connection.
        env.truncate();
        let n = 2000;
        let batch = records(n);
        let t = Instant::now();
        for r in &batch {
            env.rt
                .block_on(sinks[0].write(&vec![r.clone()].into()))
                .unwrap();
        }
        println!(
            "\none upsert per row (batch size 1): {:.1} k rows/s",
            n as f64 / t.elapsed().as_secs_f64() / 1e3
        );
    }
}

#[cfg(feature = "postgres")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let env = bench::Env::new();
    let mut c = criterion::Criterion::default().configure_from_args();
    bench::criterion(&mut c, &env);
    c.final_summary();
    bench::summary(&env);
}

#[cfg(not(feature = "postgres"))]
fn main() {
    eprintln!("pg_sink needs --features postgres");
}
