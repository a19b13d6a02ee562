//! A small politician-trading-tracker back end exercising ten action triggers,
//! with job runs, their captured logs and `scheduled_jobs` kept current by actionlog.
//!
//! ```text
//! cargo run --example tracker                 # the scripted demo (about 15 s)
//! cargo run --example tracker -- collect      # one trigger; also: backfill, add-interval ID SECS,
//!                                             # add-cron ID EXPR, run-now ID, pause ID, resume ID,
//!                                             # remove ID, serve SECS (recovery + scheduler)
//! ```
//!
//! | # | Trigger                   | action_type              | source          |
//! |---|---------------------------|--------------------------|-----------------|
//! | 1 | Start Collection          | `data_collection_start`  | `ui_button`     |
//! | 2 | Backfill Missing Tickers  | `ticker_backfill`        | `ui_button`     |
//! | 3 | Add Interval Job          | `add_interval_job`       | `ui_button`     |
//! | 4 | Add Cron Job              | `add_cron_job`           | `ui_button`     |
//! | 5 | Run Now                   | `run_job_now`            | `ui_button`     |
//! | 6 | Pause                     | `pause_job`              | `ui_button`     |
//! | 7 | Resume                    | `resume_job`             | `ui_button`     |
//! | 8 | Remove                    | `remove_job`             | `ui_button`     |
//! | 9 | Scheduled Job Execution   | `job_execution`          | `scheduled_job` |
//! |10 | Job Recovery on Startup   | `job_recovery`           | `recovery`      |
//!
//! Every job run is a `job_execution` span (so a `job_executions` row with its log lines) that
//! is also an action (`job_execution`, with the source of whoever started it). The scheduler is
//! tokio-cron-scheduler. Collection and backfill are simulated (no network) and fail now and
//! then, like the real feeds do.
//!
//! Storage: with `DATABASE_URL` (feature `postgres`) everything goes to PostgreSQL; else with
//! `SUPABASE_URL` and `SUPABASE_SERVICE_ROLE_KEY` or `SUPABASE_KEY` (feature `supabase`)
//! everything goes to Supabase, the tracker's own job definitions through the same REST API;
//! otherwise the embedded SQLite file `logs/actions.db` holds the action rows, the job runs and
//! the job definitions (`scheduled_jobs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio_cron_scheduler::{Job, JobScheduler};
use tracing::{Instrument, error, info, info_span, warn};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A job definition, as the tracker keeps it in `scheduled_jobs`.
#[derive(Debug, Clone)]
struct JobDef {
    job_id: String,
    schedule_type: String,
    schedule_value: String,
    enabled: bool,
    auto_retry_on_startup: bool,
    next_scheduled_run: Option<DateTime<Utc>>,
}

/// Where the tracker keeps its job definitions: the same database as the audit trail.
enum Store {
    Sqlite(Mutex<rusqlite::Connection>),
    #[cfg(feature = "postgres")]
    Postgres(tokio_postgres::Client),
    #[cfg(feature = "supabase")]
    Supabase(supabase::Rest),
}

/// The job definitions through Supabase's REST API (PostgREST), as a Supabase app keeps them.
#[cfg(feature = "supabase")]
mod supabase {
    use super::{BoxError, JobDef, ts};
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    pub struct Rest {
        client: reqwest::Client,
        base: String,
        key: String,
    }

    impl Rest {
        /// `SUPABASE_URL` and `SUPABASE_SERVICE_ROLE_KEY` (else `SUPABASE_KEY`), as actionlog
        /// reads them.
        pub fn from_env() -> Option<Rest> {
            let base = std::env::var("SUPABASE_URL").ok()?;
            let key = std::env::var("SUPABASE_SERVICE_ROLE_KEY")
                .ok()
                .filter(|k| !k.trim().is_empty())
                .or_else(|| std::env::var("SUPABASE_KEY").ok())?;
            Some(Rest {
                client: reqwest::Client::new(),
                base: base.trim_end_matches('/').to_owned(),
                key,
            })
        }

        async fn send(
            &self,
            method: reqwest::Method,
            path_and_query: &str,
            body: Option<Value>,
            prefer: &str,
        ) -> Result<Vec<u8>, BoxError> {
            let mut req = self
                .client
                .request(method, format!("{}/rest/v1/{path_and_query}", self.base))
                .header("apikey", &self.key)
                .header("Authorization", format!("Bearer {}", self.key));
            if let Some(b) = body {
                req = req
                    .header("Content-Type", "application/json")
                    .header("Prefer", prefer)
                    .body(serde_json::to_vec(&b)?);
            }
            let resp = req.send().await?;
            let status = resp.status();
            let bytes = resp.bytes().await?.to_vec();
            if !status.is_success() {
                return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)).into());
            }
            Ok(bytes)
        }

        pub async fn upsert(
            &self,
            def: &JobDef,
            name: &str,
            function: &str,
        ) -> Result<(), BoxError> {
            let row = json!([{
                "job_id": def.job_id, "job_name": name, "job_function": function,
                "schedule_type": def.schedule_type, "schedule_value": def.schedule_value,
                "enabled": true, "next_scheduled_run": def.next_scheduled_run.map(ts),
            }]);
            let cols = "job_id,job_name,job_function,schedule_type,schedule_value,enabled,next_scheduled_run";
            self.send(
                reqwest::Method::POST,
                &format!("scheduled_jobs?on_conflict=job_id&columns={cols}"),
                Some(row),
                "return=minimal,resolution=merge-duplicates",
            )
            .await?;
            Ok(())
        }

        pub async fn set_enabled(
            &self,
            job_id: &str,
            on: bool,
            next: Option<DateTime<Utc>>,
        ) -> Result<u64, BoxError> {
            let mut set = json!({ "enabled": on });
            if let Some(t) = next {
                set["next_scheduled_run"] = Value::String(ts(t));
            }
            self.send(
                reqwest::Method::PATCH,
                &format!("scheduled_jobs?job_id=eq.{job_id}"),
                Some(set),
                "return=minimal",
            )
            .await?;
            Ok(1)
        }

        pub async fn remove(&self, job_id: &str) -> Result<u64, BoxError> {
            self.send(
                reqwest::Method::DELETE,
                &format!("scheduled_jobs?job_id=eq.{job_id}"),
                None,
                "",
            )
            .await?;
            Ok(1)
        }

        pub async fn jobs(&self) -> Result<Vec<JobDef>, BoxError> {
            let bytes = self
                .send(
                    reqwest::Method::GET,
                    "scheduled_jobs?select=job_id,schedule_type,schedule_value,enabled,auto_retry_on_startup,next_scheduled_run&order=job_id",
                    None,
                    "",
                )
                .await?;
            let rows: Vec<Value> = serde_json::from_slice(&bytes)?;
            Ok(rows
                .iter()
                .map(|r| JobDef {
                    job_id: r["job_id"].as_str().unwrap_or_default().to_owned(),
                    schedule_type: r["schedule_type"].as_str().unwrap_or_default().to_owned(),
                    schedule_value: r["schedule_value"].as_str().unwrap_or_default().to_owned(),
                    enabled: r["enabled"].as_bool().unwrap_or(false),
                    auto_retry_on_startup: r["auto_retry_on_startup"].as_bool().unwrap_or(false),
                    next_scheduled_run: r["next_scheduled_run"]
                        .as_str()
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .map(|t| t.with_timezone(&Utc)),
                })
                .collect())
        }
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Store {
    async fn open() -> Result<Store, BoxError> {
        #[cfg(feature = "postgres")]
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            // The same idempotent migrations actionlog applies with `migrate(true)`.
            let sql = actionlog::sink::PostgresSink::new(&url)?.migration_sql();
            client
                .batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock(7265786); {sql} COMMIT;"
                ))
                .await?;
            return Ok(Store::Postgres(client));
        }
        #[cfg(feature = "supabase")]
        if let Some(rest) = supabase::Rest::from_env() {
            // The tables come from migrations/0001 and 0002, run in the Supabase SQL editor.
            return Ok(Store::Supabase(rest));
        }
        // The file actionlog's SQLite sink created in `init` (0640, tables included); opened
        // through the sink first in case `init` used another store.
        actionlog::sink::SqliteSink::open("logs/actions.db")?;
        let conn = rusqlite::Connection::open("logs/actions.db")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(Store::Sqlite(Mutex::new(conn)))
    }

    async fn upsert(&self, def: &JobDef, name: &str, function: &str) -> Result<(), BoxError> {
        match self {
            Store::Sqlite(c) => {
                c.lock().unwrap().execute(
                    "INSERT INTO scheduled_jobs (job_id, job_name, job_function, schedule_type,
                       schedule_value, enabled, next_scheduled_run)
                     VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)
                     ON CONFLICT (job_id) DO UPDATE SET job_name = ?2, job_function = ?3,
                       schedule_type = ?4, schedule_value = ?5, enabled = 1,
                       next_scheduled_run = ?6",
                    rusqlite::params![
                        def.job_id,
                        name,
                        function,
                        def.schedule_type,
                        def.schedule_value,
                        def.next_scheduled_run.map(ts)
                    ],
                )?;
            }
            #[cfg(feature = "supabase")]
            Store::Supabase(r) => r.upsert(def, name, function).await?,
            #[cfg(feature = "postgres")]
            Store::Postgres(c) => {
                c.execute(
                    "INSERT INTO scheduled_jobs (job_id, job_name, job_function, schedule_type,
                       schedule_value, enabled, next_scheduled_run)
                     VALUES ($1, $2, $3, $4, $5, true, $6)
                     ON CONFLICT (job_id) DO UPDATE SET job_name = $2, job_function = $3,
                       schedule_type = $4, schedule_value = $5, enabled = true,
                       next_scheduled_run = $6",
                    &[
                        &def.job_id,
                        &name,
                        &function,
                        &def.schedule_type,
                        &def.schedule_value,
                        &def.next_scheduled_run,
                    ],
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn set_enabled(
        &self,
        job_id: &str,
        on: bool,
        next: Option<DateTime<Utc>>,
    ) -> Result<u64, BoxError> {
        Ok(match self {
            Store::Sqlite(c) => c.lock().unwrap().execute(
                "UPDATE scheduled_jobs SET enabled = ?2,
                   next_scheduled_run = COALESCE(?3, next_scheduled_run) WHERE job_id = ?1",
                rusqlite::params![job_id, on, next.map(ts)],
            )? as u64,
            #[cfg(feature = "supabase")]
            Store::Supabase(r) => r.set_enabled(job_id, on, next).await?,
            #[cfg(feature = "postgres")]
            Store::Postgres(c) => {
                c.execute(
                    "UPDATE scheduled_jobs SET enabled = $2,
                       next_scheduled_run = COALESCE($3, next_scheduled_run) WHERE job_id = $1",
                    &[&job_id, &on, &next],
                )
                .await?
            }
        })
    }

    async fn remove(&self, job_id: &str) -> Result<u64, BoxError> {
        Ok(match self {
            Store::Sqlite(c) => c
                .lock()
                .unwrap()
                .execute("DELETE FROM scheduled_jobs WHERE job_id = ?1", [job_id])?
                as u64,
            #[cfg(feature = "supabase")]
            Store::Supabase(r) => r.remove(job_id).await?,
            #[cfg(feature = "postgres")]
            Store::Postgres(c) => {
                c.execute("DELETE FROM scheduled_jobs WHERE job_id = $1", &[&job_id])
                    .await?
            }
        })
    }

    async fn jobs(&self) -> Result<Vec<JobDef>, BoxError> {
        match self {
            Store::Sqlite(c) => {
                let c = c.lock().unwrap();
                let mut stmt = c.prepare(
                    "SELECT job_id, schedule_type, schedule_value, enabled, auto_retry_on_startup,
                       next_scheduled_run FROM scheduled_jobs ORDER BY job_id",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok(JobDef {
                        job_id: r.get(0)?,
                        schedule_type: r.get(1)?,
                        schedule_value: r.get(2)?,
                        enabled: r.get(3)?,
                        auto_retry_on_startup: r.get(4)?,
                        next_scheduled_run: r
                            .get::<_, Option<String>>(5)?
                            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                            .map(|t| t.with_timezone(&Utc)),
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
            #[cfg(feature = "supabase")]
            Store::Supabase(r) => r.jobs().await,
            #[cfg(feature = "postgres")]
            Store::Postgres(c) => Ok(c
                .query(
                    "SELECT job_id, schedule_type, schedule_value, enabled, auto_retry_on_startup,
                       next_scheduled_run FROM scheduled_jobs ORDER BY job_id",
                    &[],
                )
                .await?
                .iter()
                .map(|r| JobDef {
                    job_id: r.get(0),
                    schedule_type: r.get(1),
                    schedule_value: r.get(2),
                    enabled: r.get(3),
                    auto_retry_on_startup: r.get(4),
                    next_scheduled_run: r.get(5),
                })
                .collect()),
        }
    }
}

/// Feed calls so far, for `TRACKER_FAIL_EVERY`.
static FEED_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The simulated work: what a feed does, failing now and then (one call in five at random;
/// with `TRACKER_FAIL_EVERY=N` also every Nth call, so that a run surely has failures to
/// look at, as the tests need).
async fn collect_disclosures(source: &str) -> Result<usize, BoxError> {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(20..80))).await;
    let call = FEED_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let every: Option<usize> = std::env::var("TRACKER_FAIL_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0);
    if every.is_some_and(|n| call % n == 0) || fastrand::u8(..100) < 20 {
        return Err(format!("{source} feed timed out after 30s").into());
    }
    let n = fastrand::usize(5..60);
    info!(source, records = n, "fetched disclosures");
    Ok(n)
}

async fn backfill_tickers() -> Result<usize, BoxError> {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(10..50))).await;
    let missing = fastrand::usize(0..20);
    for i in 0..missing.min(3) {
        info!(disclosure = i, ticker = "NVDA", "ticker resolved");
    }
    if fastrand::u8(..100) < 15 {
        error!(
            error = "ticker service returned HTTP 503",
            "backfill stopped"
        );
        return Err("ticker service returned HTTP 503".into());
    }
    Ok(missing)
}

/// One run of a job: a `job_execution` span (the `job_executions` row) that is also the
/// `job_execution` action, with the source of whoever started it. Prints one `RUN` line.
async fn execute(job_id: String, source: &'static str, next: Option<DateTime<Utc>>) {
    let span = info_span!(
        "job_execution",
        job_id = %job_id,
        action_type = "job_execution",
        source,
        next_scheduled_run = tracing::field::Empty,
    );
    if let Some(t) = next {
        span.record("next_scheduled_run", ts(t));
    }
    let id = job_id.clone();
    let outcome = actionlog::job::try_run(span, async move {
        info!(job_id = %id, "job started");
        let n = match id.as_str() {
            "ticker_backfill" => backfill_tickers().await?,
            _ => collect_disclosures("us_congress").await?,
        };
        info!(records = n, "job finished");
        Ok::<_, BoxError>(n)
    })
    .await;
    println!(
        "RUN {job_id} {source} {}",
        if outcome.is_ok() { "ok" } else { "err" }
    );
}

/// The app: job definitions in the store, the scheduler running the enabled ones.
struct Tracker {
    store: Arc<Store>,
    sched: JobScheduler,
    handles: Mutex<HashMap<String, uuid::Uuid>>,
    /// Open while the app runs: each scheduled run holds it for reading, and `stop` closes it
    /// for writing, which waits for the runs in flight (the scheduler's shutdown does not) and
    /// turns away a tick that fired just before the shutdown, so no run outlives the app.
    gate: Arc<tokio::sync::RwLock<bool>>,
}

/// When `def` runs next after now: interval jobs every N seconds, cron jobs by their pattern.
fn next_run(def: &JobDef) -> Option<DateTime<Utc>> {
    match interval_of(def) {
        Some(d) => Some(Utc::now() + chrono::Duration::from_std(d).unwrap_or_default()),
        None => def
            .schedule_value
            .parse::<croner::Cron>()
            .ok()?
            .find_next_occurrence(&Utc::now(), false)
            .ok(),
    }
}

fn interval_of(def: &JobDef) -> Option<Duration> {
    (def.schedule_type == "interval")
        .then(|| def.schedule_value.parse().ok().map(Duration::from_secs))
        .flatten()
}

impl Tracker {
    /// Starts the app: Job Recovery on Startup (trigger 10) first, then the scheduler.
    async fn start(store: Arc<Store>) -> Result<Tracker, BoxError> {
        let sched = JobScheduler::new().await?;
        let app = Tracker {
            store,
            sched,
            handles: Mutex::new(HashMap::new()),
            gate: Arc::new(tokio::sync::RwLock::new(true)),
        };
        let now = Utc::now();
        for def in app.store.jobs().await? {
            let missed = def.next_scheduled_run.is_some_and(|t| t <= now);
            if def.enabled && def.auto_retry_on_startup && missed {
                let span = info_span!(
                    "recover",
                    action_type = "job_recovery",
                    source = "recovery",
                    job_id = %def.job_id,
                    missed_run = %ts(def.next_scheduled_run.unwrap_or(now)),
                );
                async {
                    warn!("run missed while the app was down; running it once now");
                    execute(def.job_id.clone(), "recovery", next_run(&def)).await;
                }
                .instrument(span)
                .await;
            }
            if def.enabled {
                app.schedule(&def).await?;
            }
        }
        app.sched.start().await?;
        Ok(app)
    }

    /// Hands a job to the scheduler: each tick is a Scheduled Job Execution (trigger 9).
    async fn schedule(&self, def: &JobDef) -> Result<(), BoxError> {
        let (tick_def, gate) = (def.clone(), self.gate.clone());
        let tick = move |_, _| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
            let (def, gate) = (tick_def.clone(), gate.clone());
            Box::pin(async move {
                let open = gate.read().await;
                if *open {
                    execute(def.job_id.clone(), "scheduled_job", next_run(&def)).await;
                }
            })
        };
        let job = match interval_of(def) {
            Some(every) => Job::new_repeated_async(every, tick)?,
            None => Job::new_async(def.schedule_value.as_str(), tick)?,
        };
        let handle = self.sched.add(job).await?;
        self.handles
            .lock()
            .unwrap()
            .insert(def.job_id.clone(), handle);
        Ok(())
    }

    async fn unschedule(&self, job_id: &str) -> Result<(), BoxError> {
        let handle = self.handles.lock().unwrap().remove(job_id);
        if let Some(h) = handle {
            self.sched.remove(&h).await?;
        }
        Ok(())
    }

    /// Trigger 1: Start Collection.
    async fn start_collection(&self, user: &str) {
        let span = info_span!(
            "start_collection",
            action_type = "data_collection_start",
            source = "ui_button",
            user_id = user,
            us_congress = true,
            eu_parliament = false,
            lookback_days = 30,
            result_message = tracing::field::Empty,
        );
        async {
            info!("Start Collection button clicked");
            match collect_disclosures("us_congress").await {
                Ok(n) => {
                    tracing::Span::current()
                        .record("result_message", format!("{n} disclosures collected"));
                }
                Err(e) => error!(error = %e, "collection failed"),
            }
        }
        .instrument(span)
        .await;
    }

    /// Trigger 2: Backfill Missing Tickers.
    async fn backfill(&self, user: &str) {
        let span = info_span!(
            "backfill",
            action_type = "ticker_backfill",
            source = "ui_button",
            user_id = user,
            result_message = tracing::field::Empty,
        );
        async {
            info!("Backfill Missing Tickers button clicked");
            if let Ok(n) = backfill_tickers().await {
                tracing::Span::current().record("result_message", format!("{n} tickers resolved"));
            }
        }
        .instrument(span)
        .await;
    }

    /// Triggers 3 and 4: Add Interval Job / Add Cron Job.
    async fn add_job(&self, user: &str, job_id: &str, kind: &str, value: &str) {
        let action = if kind == "interval" {
            "add_interval_job"
        } else {
            "add_cron_job"
        };
        let span = info_span!(
            "add_job",
            action_type = action,
            source = "ui_button",
            user_id = user,
            job_id,
            schedule_type = kind,
            schedule_value = value
        );
        async {
            let mut def = JobDef {
                job_id: job_id.to_owned(),
                schedule_type: kind.to_owned(),
                schedule_value: value.to_owned(),
                enabled: true,
                auto_retry_on_startup: true,
                next_scheduled_run: None,
            };
            def.next_scheduled_run = next_run(&def);
            let function = format!("tracker::{job_id}");
            let r = match self
                .store
                .upsert(&def, &job_id.replace('_', " "), &function)
                .await
            {
                Ok(()) => self.schedule(&def).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => info!("job added"),
                Err(e) => error!(error = %e, "cannot add the job"),
            }
        }
        .instrument(span)
        .await;
    }

    /// Trigger 5: Run Now.
    async fn run_now(&self, user: &str, job_id: &str) {
        let span = info_span!(
            "run_now",
            action_type = "run_job_now",
            source = "ui_button",
            user_id = user,
            job_id
        );
        async { execute(job_id.to_owned(), "ui_button", None).await }
            .instrument(span)
            .await;
    }

    /// Triggers 6 and 7: Pause / Resume.
    async fn set_paused(&self, user: &str, job_id: &str, paused: bool) {
        let action = if paused { "pause_job" } else { "resume_job" };
        let span = info_span!(
            "pause",
            action_type = action,
            source = "ui_button",
            user_id = user,
            job_id
        );
        async {
            let defs = self.store.jobs().await.unwrap_or_default();
            let Some(def) = defs.into_iter().find(|d| d.job_id == job_id) else {
                error!(error = "no such job", "cannot change the job");
                return;
            };
            let r = if paused {
                match self.store.set_enabled(job_id, false, None).await {
                    Ok(_) => self.unschedule(job_id).await,
                    Err(e) => Err(e),
                }
            } else {
                match self.store.set_enabled(job_id, true, next_run(&def)).await {
                    Ok(_) => self.schedule(&def).await,
                    Err(e) => Err(e),
                }
            };
            match r {
                Ok(()) => info!(paused, "job updated"),
                Err(e) => error!(error = %e, "cannot change the job"),
            }
        }
        .instrument(span)
        .await;
    }

    /// Trigger 8: Remove.
    async fn remove(&self, user: &str, job_id: &str) {
        let span = info_span!(
            "remove",
            action_type = "remove_job",
            source = "ui_button",
            user_id = user,
            job_id
        );
        async {
            let r = match self.unschedule(job_id).await {
                Ok(()) => self.store.remove(job_id).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(n) => info!(removed = n, "job removed"),
                Err(e) => error!(error = %e, "cannot remove the job"),
            }
        }
        .instrument(span)
        .await;
    }

    /// The app goes down: the scheduler stops and the runs in flight finish; definitions stay in
    /// the store.
    async fn stop(mut self) -> Result<(), BoxError> {
        self.sched.shutdown().await?;
        *self.gate.write().await = false;
        Ok(())
    }
}

/// The scripted demo: every trigger, an app restart in the middle for the recovery.
async fn demo(store: Arc<Store>) -> Result<(), BoxError> {
    let user = "analyst@example.com";
    println!("== session 1: the app starts (nothing to recover on a fresh store)");
    let app = Tracker::start(store.clone()).await?;
    app.start_collection(user).await;
    app.backfill(user).await;
    app.add_job(user, "data_collection", "interval", "2").await;
    app.add_job(user, "ticker_backfill", "cron", "*/3 * * * * *")
        .await;
    app.add_job(user, "stale_cleanup", "interval", "3600").await;
    println!("== the scheduler runs the jobs for 6 s");
    tokio::time::sleep(Duration::from_secs(6)).await;
    app.run_now(user, "ticker_backfill").await;
    app.set_paused(user, "data_collection", true).await;
    app.set_paused(user, "data_collection", false).await;
    app.remove(user, "stale_cleanup").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("== the app goes down for 3 s: scheduled runs are missed");
    app.stop().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("== session 2: the app starts again and recovers the missed runs");
    let app = Tracker::start(store).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.stop().await?;
    Ok(())
}

/// One trigger from the command line.
async fn command(store: Arc<Store>, args: &[String]) -> Result<(), BoxError> {
    let user = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let arg = |i: usize| args.get(i).cloned().ok_or("missing argument");
    let app = Tracker::start(store).await?;
    match args[0].as_str() {
        "collect" => app.start_collection(&user).await,
        "backfill" => app.backfill(&user).await,
        "add-interval" => app.add_job(&user, &arg(1)?, "interval", &arg(2)?).await,
        "add-cron" => app.add_job(&user, &arg(1)?, "cron", &arg(2)?).await,
        "run-now" => app.run_now(&user, &arg(1)?).await,
        "pause" => app.set_paused(&user, &arg(1)?, true).await,
        "resume" => app.set_paused(&user, &arg(1)?, false).await,
        "remove" => app.remove(&user, &arg(1)?).await,
        "serve" => tokio::time::sleep(Duration::from_secs(arg(1)?.parse()?)).await,
        other => return Err(format!("unknown command {other:?}").into()),
    }
    app.stop().await
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // A database asked for but not built in would otherwise fall back to SQLite unnoticed.
    #[cfg(not(feature = "postgres"))]
    if std::env::var("DATABASE_URL").is_ok() {
        return Err("DATABASE_URL is set: run with `--features postgres`".into());
    }
    #[cfg(not(feature = "supabase"))]
    if std::env::var("SUPABASE_URL").is_ok() {
        return Err("SUPABASE_URL is set: run with `--features supabase`".into());
    }
    let guard = actionlog::builder()
        .filter("info,tokio_cron_scheduler=warn")
        .scheduled_jobs(true)
        .migrate(true)
        .init()?;
    let store = Arc::new(Store::open().await?);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0] == "demo" {
        demo(store).await?;
    } else {
        command(store, &args).await?;
    }
    let done = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(10))).await?;
    let s = done.stats;
    println!(
        "\n{} records delivered ({} dead-lettered, {} dropped, {} spooled).",
        s.actions_delivered, s.actions_dead_lettered, s.actions_dropped, s.actions_spooled
    );
    // The `actionlog` command reads the same store (DATABASE_URL / SUPABASE_URL / logs/actions.db).
    let features = if std::env::var("DATABASE_URL").is_ok() {
        "cli,postgres"
    } else if std::env::var("SUPABASE_URL").is_ok() {
        "cli,supabase"
    } else {
        "cli"
    };
    let cmd = |args: &str| format!("cargo run -q --features {features} --bin actionlog -- {args}");
    println!("Where to look:");
    println!(
        "  logs/latest.log    one JSON object per line (job runs' lines are also in job_executions.logs)"
    );
    println!("  {}", cmd("tail -n 20"));
    println!("  {}", cmd("jobs"));
    println!("  {}", cmd("stats --since 1d"));
    println!("  {}", cmd("actions status=failed"));
    println!("  {}", cmd("runs data_collection --failed"));
    Ok(())
}
