//! The real PostgreSQL for tests: `ACTIONLOG_TEST_DATABASE_URL` (default
//! `postgres://root@127.0.0.1:5432/test`), one fresh schema per test, dropped afterwards.
//! Under `CI=true` an unreachable server fails the test; elsewhere the test is skipped loudly.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::{Client, NoTls, Row};

pub struct TestDb {
    pub url: String,
    pub schema: String,
    rt: tokio::runtime::Runtime,
    client: Client,
}

pub fn base_url() -> String {
    std::env::var("ACTIONLOG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    /// A fresh schema named after the test, or `None` (skip) when no server is reachable
    /// outside CI.
    pub fn new(test: &str) -> Option<TestDb> {
        let url = base_url();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let connected = rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = match connected {
            Ok(c) => c,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true and the test database {url} is unreachable: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED {test}: test database {url} unreachable: {e}");
                return None;
            }
        };
        let schema = format!(
            "al_{}_{}_{}",
            test,
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let db = TestDb {
            url,
            schema,
            rt,
            client,
        };
        db.exec(&format!(
            "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
            db.schema
        ));
        Some(db)
    }

    pub fn exec(&self, sql: &str) {
        self.rt
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// Runs `sql` with this test's schema on the search path.
    pub fn query(&self, sql: &str) -> Vec<Row> {
        self.exec(&format!("SET search_path TO {}", self.schema));
        self.rt
            .block_on(self.client.query(sql, &[]))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }

    pub fn count(&self, filter: &str) -> i64 {
        self.query(&format!("SELECT count(*) FROM action_logs {filter}"))[0].get(0)
    }

    /// Fails the test if any id appears in more than one row (the primary key should make that
    /// impossible; this checks the table really has one).
    pub fn assert_no_duplicate_ids(&self) {
        let row = &self.query("SELECT count(*), count(DISTINCT id) FROM action_logs")[0];
        let (all, distinct): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(all, distinct, "duplicate ids in action_logs");
    }

    /// A sink writing into this schema, migrating it.
    pub fn sink(&self) -> actionlog::sink::PostgresSink {
        self.sink_at(&self.url)
    }

    /// A sink for `url` (e.g. through a proxy) writing into this schema, migrating it.
    pub fn sink_at(&self, url: &str) -> actionlog::sink::PostgresSink {
        actionlog::sink::PostgresSink::new(url)
            .unwrap()
            .schema(&self.schema)
            .unwrap()
            .migrate(true)
            .connect_timeout(std::time::Duration::from_secs(2))
    }

    /// Runs `sql` verbatim through psql with this schema on the search path; returns stdout
    /// (unaligned, tuples only, `|`-separated).
    pub fn psql(&self, sql: &str) -> String {
        let out = std::process::Command::new("psql")
            .arg(&self.url)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGOPTIONS", format!("-c search_path={}", self.schema))
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Like [`Self::psql`], one string per row: records are NUL-separated (`psql -0`), so
    /// values holding newlines (captured logs) stay in their row.
    pub fn psql_rows(&self, sql: &str) -> Vec<String> {
        let out = std::process::Command::new("psql")
            .arg(&self.url)
            .args(["-X", "-A", "-t", "-0", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGOPTIONS", format!("-c search_path={}", self.schema))
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .map(|r| r.trim_end_matches('\n').to_owned())
            .filter(|r| !r.is_empty())
            .collect()
    }

    pub fn psql_file(&self, path: &str) {
        let out = std::process::Command::new("psql")
            .arg(&self.url)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", path])
            .env("PGOPTIONS", format!("-c search_path={}", self.schema))
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql -f {path} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl TestDb {
    /// Runs the repository's `migrations/` files, in order, in this schema.
    pub fn migrate(&self, files: &[&str]) {
        for m in files {
            self.psql_file(&format!("{}/migrations/{m}", env!("CARGO_MANIFEST_DIR")));
        }
    }

    /// The read side's target for this schema (its `search_path` in the URL).
    #[cfg(feature = "query")]
    pub fn query_target(&self) -> actionlog::query::Target {
        actionlog::query::Target::Postgres(format!(
            "{}?options=-c%20search_path%3D{}",
            self.url, self.schema
        ))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = self.rt.block_on(
            self.client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)),
        );
    }
}
