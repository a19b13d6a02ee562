//! Rows/s through the Supabase sink against the PostgREST contract double (the same loopback
//! server the tests use, which writes into the real PostgreSQL), at batch sizes 100 and 500, and
//! the PostgreSQL sink into the same database in the same run for scale. The double is a plain
//! threaded HTTP/1.1 server plus `json_populate_recordset`, not PostgREST: the figures bound the
//! sink's own overhead (JSON encoding, HTTP) rather than predict a real Supabase project's speed.
//!
//! Run: `cargo bench --features supabase,postgres --bench supabase_sink`

#[cfg(all(feature = "supabase", feature = "postgres"))]
#[path = "../tests/it/common/postgrest.rs"]
mod postgrest;

#[cfg(all(feature = "supabase", feature = "postgres"))]
fn main() {
    use std::time::{Duration, Instant};

    use actionlog::ActionRecord;
    use actionlog::sink::{PostgresSink, Sink, SupabaseSink};
    use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};

    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let url = std::env::var("ACTIONLOG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let schema = format!("al_sbbench_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("bench database reachable");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        c
    });
    let pg = PostgresSink::new(&url).unwrap().schema(&schema).unwrap();
    rt.block_on(client.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema}; {}",
        pg.migration_sql()
    )))
    .unwrap();
    let double = postgrest::Double::start(&url, &schema, "bench-key");
    let mut sinks: [Box<dyn Sink>; 2] = [
        Box::new(SupabaseSink::new(&double.url, "bench-key").unwrap()),
        Box::new(PostgresSink::new(&url).unwrap().schema(&schema).unwrap()),
    ];
    let names = ["supabase_sink", "postgres_sink"];
    let records = |n: usize| -> Vec<ActionRecord> {
        (0..n)
            .map(|i| {
                let mut r = ActionRecord::blank(uuid::Uuid::now_v7(), "data_collection_start");
                r.status = "completed".into();
                r.user_id = Some(format!("user{}", i % 50));
                r.source = Some("ui_button".into());
                r.action_details.insert("lookback_days".into(), 30.into());
                r
            })
            .collect()
    };

    let mut c = Criterion::default().configure_from_args();
    for size in [100usize, 500] {
        let mut g = c.benchmark_group(format!("supabase_rows/batch_{size}"));
        g.sample_size(10).measurement_time(Duration::from_secs(4));
        g.throughput(Throughput::Elements(size as u64));
        for (i, name) in names.iter().enumerate() {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_batched(
                    || records(size),
                    |batch| rt.block_on(sinks[i].write(&batch.into())).unwrap(),
                    BatchSize::PerIteration,
                )
            });
        }
        g.finish();
    }
    c.final_summary();

    println!("\n## Summary: rows/s, interleaved, 20 000 rows per sink per batch size\n");
    println!("| batch | Supabase sink (contract double) | PostgreSQL sink | ratio |");
    println!("|---|---|---|---|");
    for size in [100usize, 500] {
        let mut spent = [Duration::ZERO; 2];
        for _ in 0..20_000 / size {
            for (i, sink) in sinks.iter_mut().enumerate() {
                let batch = records(size);
                let t = Instant::now();
                rt.block_on(sink.write(&batch.into())).unwrap();
                spent[i] += t.elapsed();
            }
        }
        let rate = |d: Duration| 20_000.0 / d.as_secs_f64();
        println!(
            "| {size} | {:.1} k | {:.1} k | {:.0} % |",
            rate(spent[0]) / 1e3,
            rate(spent[1]) / 1e3,
            100.0 * rate(spent[0]) / rate(spent[1])
        );
    }
    drop(double);
    let _ = rt.block_on(client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")));
}

#[cfg(not(all(feature = "supabase", feature = "postgres")))]
fn main() {
    eprintln!("supabase_sink needs --features supabase,postgres");
}
