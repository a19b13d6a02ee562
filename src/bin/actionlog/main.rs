//! `actionlog`: look at what actionlog recorded — the day files, actions, job runs, the jobs'
//! state, the statistics and the pipeline's own health — without writing anything; and
//! `prune`, the one command that writes: old rows deleted by the retention ages.
//!
//! Exit codes: 0 done; 1 `jobs --exit-status` found a job overdue or at `failed_max_retries`,
//! `alert --once --exit-status` found something firing, or a query (or a prune's batch)
//! failed; 2 bad input (unknown column, operator, time, a bad rule file, a bad age) or an
//! unusable store (a missing file, missing tables, an unreachable database, a rejected key,
//! rollups a prune would change).
//!
//! For tests only: `ACTIONLOG_NOW` (RFC 3339) replaces the clock that relative times
//! (`--since 1d`) count back from, and the clock `alert` evaluates its rules at.

mod alert;
mod prune;

mod columns;
mod fit;
mod output;
mod short_id;
mod tail;
mod terminal;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use actionlog::query::{self, Entity, Filter, Options, PageQuery, Store, Target};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use columns::Pick;
use output::{Format, Out};
use short_id::Ends;

/// Look at what actionlog recorded: day files, actions, job runs and their statistics.
///
/// The store is the one the library writes to: `--db PATH`, else `ACTIONLOG_DATABASE_URL`
/// or `DATABASE_URL` (PostgreSQL), else `SUPABASE_URL` with `SUPABASE_SERVICE_ROLE_KEY` or `SUPABASE_KEY`,
/// else `<log-dir>/actions.db`. Nothing is ever written to it, except by `prune`.
///
/// Filters: `column=value`, `column!=value`, `column~substring`, `details.KEY=value`
/// (runs: `metadata.KEY=value`); times: `30m`, `6h`, `1d`, `2w`, `2026-11-03`, RFC 3339.
///
/// Tables are as wide as the terminal (`COLUMNS` overrides it; 80 when neither says): long
/// values are cut with `…`, rows never wrap. `actions`, `runs` and `jobs` show a compact set
/// of columns, `--wide` every column, `--columns a,b,c` the named ones. JSON and CSV keep
/// every column and whole values unless `--columns` is given.
#[derive(Debug, Parser)]
#[command(name = "actionlog", version)]
struct Cli {
    /// The SQLite store to read (default: <log-dir>/actions.db, unless ACTIONLOG_DATABASE_URL,
    /// DATABASE_URL or SUPABASE_URL is set).
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// The log directory: day files, spool and dead letters.
    #[arg(long, global = true, default_value = "logs", value_name = "DIR")]
    log_dir: PathBuf,
    /// Output format (default: table on a terminal, JSON lines otherwise).
    #[arg(long, global = true, value_enum)]
    format: Option<Format>,
    /// Statement timeout, in seconds.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS")]
    timeout: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The day files as console lines; `-f` follows `latest.log` across midnight.
    Tail(TailArgs),
    /// Action records, newest first.
    ///
    /// The table shows time (UTC, to the second), id (the UUID's last 8 hex digits, which
    /// `id=` and `job_execution_id=` accept too), type, status, user, job, duration and
    /// message (the error, else the result), long values cut to fit the terminal.
    Actions(PageArgs),
    /// Job executions, newest first; `--logs RUN_ID` prints one run's captured lines.
    ///
    /// The table shows started (UTC, to the second), id (the UUID's last 8 hex digits, which
    /// `id=` and `--logs` accept too), job, status, duration, error and metadata, long values
    /// cut to fit the terminal.
    Runs(RunsArgs),
    /// `scheduled_jobs_status` and `job_execution_summary`.
    ///
    /// The tables show job, status, schedule, last and next run, consecutive failures and the
    /// last error; then job, runs, ok, failed, cancelled, success rate, mean duration and last
    /// run.
    Jobs(JobsArgs),
    /// The analytics: actions by type and status, user activity, failed actions,
    /// per-job success rate, p50/p95 durations.
    Stats(StatsArgs),
    /// The pipeline's own health: day files, spool segments, dead letters, newest rows.
    Status,
    /// Watch the store and notify: jobs at failed_max_retries or overdue, failure rates,
    /// dead letters, a growing spool, no new action or run (the dead man's switch).
    ///
    /// Each pass evaluates the rules (the six defaults, tuned or added to by `--rules
    /// FILE`), prints the notifications it made, and sends them to the rule file's notifiers
    /// (webhook, Slack, command); incidents and undelivered notifications are kept in the
    /// state file across restarts. Without `--once` it runs a pass every `--interval`.
    Alert(alert::AlertArgs),
    /// Check the store against its signed digests and the digest files: every modified,
    /// deleted, inserted or reordered row and every missing, broken or wrongly signed digest
    /// is named. Exit 0 when nothing was changed, 1 when something was, 2 when it cannot tell.
    Verify(verify::VerifyArgs),
    /// Make a signing key for the audit trail (FILE, owner-only) and its public key (FILE.pub,
    /// also printed): the writers sign with the first, `verify` needs only the second.
    Keygen(verify::KeygenArgs),
    /// Delete actions and job runs older than an age, and empty old runs' captured logs.
    ///
    /// Rows go in batches of --batch-size, oldest first, each batch its own short
    /// transaction, so the application keeps writing meanwhile. The daily and hourly rollups
    /// are kept: `stats` and the dashboard still count the pruned days. Ages are 90d, 12h,
    /// 30m, 2w; without the flags, ACTIONLOG_RETENTION and ACTIONLOG_RUN_LOG_RETENTION. Prints
    /// what went (with --dry-run, what would go).
    Prune(prune::PruneArgs),
    /// The dashboard: overview, actions, jobs, runs, live tail and exports, in a browser.
    #[cfg(feature = "web")]
    Serve(ServeArgs),
}

#[cfg(feature = "web")]
#[derive(Debug, Args)]
struct ServeArgs {
    /// Where to listen. Anything but a loopback address needs a token.
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    bind: std::net::SocketAddr,
    /// A file holding the token the dashboard asks for (else ACTIONLOG_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Another Host name to answer (e.g. the machine's name, with its port); others get 403.
    #[arg(long, value_name = "HOST[:PORT]")]
    allow_host: Vec<String>,
    /// Mark the session cookie Secure on every sign-in (behind an HTTPS proxy that does not
    /// send X-Forwarded-Proto).
    #[arg(long)]
    secure_cookie: bool,
    /// Link the trace ids on the action and run pages to a trace viewer: an http(s) URL
    /// template holding {trace_id} (and optionally {span_id}), e.g.
    /// 'https://viewer.example/trace/{trace_id}'. Without it the ids are shown unlinked.
    #[arg(long, value_name = "TEMPLATE")]
    trace_url: Option<String>,
}

#[derive(Debug, Args)]
struct TailArgs {
    /// Keep printing lines as they are written.
    #[arg(short, long)]
    follow: bool,
    /// How many past lines to print first (default 20; with --trace, every line of the trace).
    #[arg(short = 'n', long)]
    lines: Option<usize>,
    /// Only this level and above (TRACE, DEBUG, INFO, WARN, ERROR).
    #[arg(long, value_name = "L")]
    level: Option<String>,
    /// Only this logger (target) and its children.
    #[arg(long, value_name = "T")]
    logger: Option<String>,
    /// Only lines containing this text.
    #[arg(long, value_name = "S")]
    grep: Option<String>,
    /// Only the lines of this trace (their `trace_id`, 32 hex digits), across day files and
    /// their parts.
    #[arg(long, value_name = "ID")]
    trace: Option<String>,
    /// Print the JSON lines as they are in the files.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct PageArgs {
    /// Conditions, all of which must hold: status=failed, error_message~timeout, …
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
    #[command(flatten)]
    page: PageWindow,
    #[command(flatten)]
    show: ShowArgs,
}

/// Which rows of the filtered set a page holds: a time range, a size and where it starts.
#[derive(Debug, Args)]
struct PageWindow {
    /// Only rows at or after this time (a run: started at or after).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only rows before this time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Rows per page (at most 10000).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Start after this row: the cursor printed (on stderr) under the previous page.
    #[arg(long, value_name = "CURSOR")]
    before: Option<String>,
}

impl PageWindow {
    /// The page of `entity` rows matching every one of `exprs`; bad input is refused here,
    /// before the store is touched.
    fn query(&self, entity: Entity, exprs: &[String]) -> Result<PageQuery, Fail> {
        Ok(PageQuery {
            filter: filter(entity, exprs, self.since.as_deref(), self.until.as_deref())?,
            limit: self.limit,
            before: self.before.as_deref().map(str::parse).transpose()?,
        })
    }
}

/// Which columns to show.
#[derive(Debug, Args)]
struct ShowArgs {
    /// Every column (tables: each cut to fit the terminal; for whole values use `--format
    /// json` or `csv`, or a larger `COLUMNS` and `less -S`).
    #[arg(long)]
    wide: bool,
    /// Only these columns, in this order, in every format: names as in the JSON output (an
    /// unknown name is refused with the list of valid ones).
    #[arg(
        long,
        value_name = "A,B,…",
        value_delimiter = ',',
        conflicts_with = "wide"
    )]
    columns: Option<Vec<String>>,
}

impl ShowArgs {
    fn pick(&self) -> Pick {
        Pick::new(self.wide, self.columns.clone())
    }
}

#[derive(Debug, Args)]
struct RunsArgs {
    /// A job id, or filters as for `actions` (job_id=…, status=…, logs~…).
    #[arg(value_name = "JOB|FILTER")]
    args: Vec<String>,
    /// Only failed runs.
    #[arg(long)]
    failed: bool,
    /// Print this run's captured log lines instead.
    #[arg(long, value_name = "RUN_ID")]
    logs: Option<String>,
    #[command(flatten)]
    page: PageWindow,
    #[command(flatten)]
    show: ShowArgs,
}

#[derive(Debug, Args)]
struct JobsArgs {
    /// Only jobs that are overdue or at failed_max_retries.
    #[arg(long)]
    overdue: bool,
    /// Exit 1 when a job is overdue or at failed_max_retries (for cron and monitoring).
    #[arg(long)]
    exit_status: bool,
    #[command(flatten)]
    show: ShowArgs,
}

#[derive(Debug, Args)]
struct StatsArgs {
    /// From this time.
    #[arg(long, default_value = "7d", value_name = "TIME")]
    since: String,
    /// Until this time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
}

/// A failure and its exit code.
pub(crate) struct Fail(u8, String);

impl From<query::Error> for Fail {
    fn from(e: query::Error) -> Self {
        Fail(if e.is_bad_input() { 2 } else { 1 }, e.to_string())
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail(1, e.to_string())
    }
}

pub(crate) fn now() -> DateTime<Utc> {
    std::env::var("ACTIONLOG_NOW")
        .ok()
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, msg)) if code != 0 => {
            eprintln!("actionlog: {}", terminal::escape_controls(&msg));
            ExitCode::from(code)
        }
        // A closed pipe (`| head`) is not a failure.
        Err(_) => ExitCode::SUCCESS,
    }
}

fn filter(
    entity: Entity,
    exprs: &[String],
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Filter, Fail> {
    let now = now();
    let mut f = Filter::new(entity);
    for e in exprs {
        f.push(e)?;
    }
    f.since = since.map(|s| query::parse_time(s, now)).transpose()?;
    f.until = until.map(|s| query::parse_time(s, now)).transpose()?;
    Ok(f)
}

fn run(cli: Cli) -> Result<u8, Fail> {
    let on_terminal = std::io::stdout().is_terminal();
    let format = cli.format.unwrap_or(if on_terminal {
        Format::Table
    } else {
        Format::Json
    });
    let pick = match &cli.cmd {
        Cmd::Actions(a) => a.show.pick(),
        Cmd::Runs(r) => r.show.pick(),
        Cmd::Jobs(j) => j.show.pick(),
        _ => Pick::Compact,
    };
    let mut out = Out {
        format,
        terminal: on_terminal,
        pick,
        width: if format == Format::Table {
            terminal::width()
        } else {
            0
        },
        w: std::io::stdout().lock(),
    };
    if let Cmd::Keygen(k) = &cli.cmd {
        return verify::keygen(k);
    }
    if let Cmd::Tail(t) = &cli.cmd {
        let level = match &t.level {
            Some(l) => Some(tail::rank(l).ok_or_else(|| {
                Fail(
                    2,
                    format!("unknown level {l:?}: TRACE, DEBUG, INFO, WARN or ERROR"),
                )
            })?),
            None => None,
        };
        let trace = match &t.trace {
            Some(id) => Some(tail::trace_id(id).ok_or_else(|| {
                Fail(
                    2,
                    format!("bad trace id {id:?}: 32 hex digits, as a line's trace_id"),
                )
            })?),
            None => None,
        };
        let lines = match (t.lines, &trace) {
            (Some(n), _) => n,
            (None, Some(_)) => usize::MAX,
            (None, None) => 20,
        };
        let opts = tail::TailOpts {
            follow: t.follow,
            lines,
            trace,
            level,
            logger: t.logger.clone(),
            grep: t.grep.clone(),
            json: t.json,
            color: on_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            poll: Duration::from_millis(100),
        };
        return match tail::run(&cli.log_dir, &opts, &mut out.w) {
            Ok(()) => Ok(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Fail(2, e.to_string())),
            Err(e) => Err(pipe(e)),
        };
    }
    let target = Target::from_env(cli.db.clone(), cli.log_dir.join("actions.db"))?;
    let opts = Options {
        statement_timeout: Duration::from_secs(cli.timeout.max(1)),
        ..Options::default()
    };
    if let Cmd::Alert(a) = &cli.cmd {
        return alert::run(a, target, opts, &cli.log_dir, &mut out);
    }
    if let Cmd::Verify(a) = &cli.cmd {
        return verify::run(a, target, opts, &cli.log_dir);
    }
    if let Cmd::Prune(p) = &cli.cmd {
        return prune::run(p, target, opts, &cli.log_dir, &mut out);
    }
    #[cfg(feature = "web")]
    if let Cmd::Serve(s) = &cli.cmd {
        return serve(s, &target, &opts, &cli.log_dir);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match &cli.cmd {
            Cmd::Tail(_) | Cmd::Alert(_) | Cmd::Verify(_) | Cmd::Keygen(_) | Cmd::Prune(_) => {
                unreachable!()
            }
            #[cfg(feature = "web")]
            Cmd::Serve(_) => unreachable!(),
            Cmd::Actions(a) => {
                let (exprs, ends) = Ends::rewrite(Entity::Actions, &a.filters);
                let q = a.page.query(Entity::Actions, &exprs)?;
                let store = Store::open(&target, &opts).await?;
                let page = store.actions(&q).await?;
                print_page(&mut out, "actions", page, &ends, columns::ACTIONS)
            }
            Cmd::Runs(r) => {
                let mut exprs = Vec::new();
                for a in &r.args {
                    if a.contains(['=', '~']) {
                        exprs.push(a.clone());
                    } else {
                        exprs.push(format!("job_id={a}"));
                    }
                }
                if r.failed {
                    exprs.push("status=failed".into());
                }
                let (exprs, ends) = Ends::rewrite(Entity::Runs, &exprs);
                let q = r.page.query(Entity::Runs, &exprs)?;
                let store = Store::open(&target, &opts).await?;
                if let Some(id) = &r.logs {
                    let id = if short_id::is_short(id) {
                        full_run_id(&store, id).await?
                    } else {
                        id.clone()
                    };
                    return match store.run_logs(&id).await? {
                        Some(logs) => {
                            for l in logs.lines() {
                                out.text(l).map_err(pipe)?;
                            }
                            Ok(0)
                        }
                        None => Err(Fail(2, format!("no run {id:?} in {}", store.target()))),
                    };
                }
                let page = store.runs(&q).await?;
                print_page(&mut out, "runs", page, &ends, columns::RUNS)
            }
            Cmd::Jobs(j) => {
                let store = Store::open(&target, &opts).await?;
                let jobs = store.jobs(j.overdue).await?;
                out.pick
                    .check("jobs", &[&jobs.status, &jobs.summary])
                    .map_err(|e| Fail(2, e))?;
                out.rows(
                    Some("scheduled_jobs_status"),
                    &jobs.status,
                    Some(columns::JOB_STATUS),
                )
                .map_err(pipe)?;
                out.rows(
                    Some("job_execution_summary"),
                    &jobs.summary,
                    Some(columns::JOB_SUMMARY),
                )
                .map_err(pipe)?;
                let bad = (0..jobs.status.rows.len()).any(|i| {
                    jobs.status
                        .get(i, "job_status")
                        .and_then(|v| v.as_str())
                        .is_some_and(|s| s == "overdue" || s == "failed_max_retries")
                });
                Ok(if j.exit_status && bad { 1 } else { 0 })
            }
            Cmd::Stats(s) => {
                let range = filter(Entity::Actions, &[], Some(&s.since), s.until.as_deref())?;
                let store = Store::open(&target, &opts).await?;
                let stats = store.stats(&range).await?;
                for (name, rows) in &stats.sections {
                    out.rows(Some(name), rows, None).map_err(pipe)?;
                }
                Ok(0)
            }
            Cmd::Status => {
                out.rows(Some("files"), &query::files::status(&cli.log_dir), None)
                    .map_err(pipe)?;
                let store = Store::open(&target, &opts).await?;
                let newest = store.newest().await?;
                let now = now();
                let mut rows = newest.clone();
                rows.columns.insert(0, "store".into());
                rows.columns.push("age_seconds".into());
                for r in &mut rows.rows {
                    let age = r[1]
                        .as_str()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| (now - t.with_timezone(&Utc)).num_seconds());
                    r.push(age.map(serde_json::Value::from).unwrap_or_default());
                    r.insert(0, serde_json::Value::from(store.target()));
                }
                out.rows(Some("store"), &rows, None).map_err(pipe)?;
                Ok(0)
            }
        }
    })
}

/// A write to stdout that failed: a closed pipe (`| head`) ends the command quietly.
pub(crate) fn pipe(e: std::io::Error) -> Fail {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Fail(0, String::new())
    } else {
        Fail(1, e.to_string())
    }
}

/// A page of `answer` as asked: the named columns checked, the rows a short id does not end
/// kept out, the rows printed, and the next page's cursor on stderr.
fn print_page(
    out: &mut Out,
    answer: &str,
    mut page: query::Page,
    ends: &Ends,
    compact: &[columns::Compact],
) -> Result<u8, Fail> {
    out.pick
        .check(answer, &[&page.rows])
        .map_err(|e| Fail(2, e))?;
    ends.keep(&mut page.rows);
    out.rows(None, &page.rows, Some(compact)).map_err(pipe)?;
    if let Some(c) = page.next {
        // Escaped like every value shown: a stored id or time can hold anything.
        eprintln!(
            "next page: --before {}",
            terminal::escape_controls(&c.to_string())
        );
    }
    Ok(0)
}

/// The run whose id ends in the short id `short`: exit 2 when none or several do.
async fn full_run_id(store: &Store, short: &str) -> Result<String, Fail> {
    let (exprs, ends) = Ends::rewrite(Entity::Runs, &[format!("id={short}")]);
    let q = PageQuery {
        filter: filter(Entity::Runs, &exprs, None, None)?,
        limit: 100,
        before: None,
    };
    let mut page = store.runs(&q).await?;
    ends.keep(&mut page.rows);
    let ids: Vec<String> = (0..page.rows.rows.len())
        .filter_map(|i| page.rows.get(i, "id").map(query::export::cell_text))
        .collect();
    match ids.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Fail(2, format!("no run {short:?} in {}", store.target()))),
        many => Err(Fail(
            2,
            format!(
                "{short:?} is the end of {} run ids ({}): give the whole id",
                many.len(),
                many.join(", ")
            ),
        )),
    }
}

/// `serve`: the token from `--token-file` or `ACTIONLOG_TOKEN`, the store opened, then the
/// dashboard until the process is stopped. The bound address is printed on stderr.
#[cfg(feature = "web")]
fn serve(
    s: &ServeArgs,
    target: &Target,
    opts: &Options,
    log_dir: &std::path::Path,
) -> Result<u8, Fail> {
    let trace_url = match &s.trace_url {
        Some(t) => Some(
            actionlog::web::TraceUrl::parse(t).map_err(|e| Fail(2, format!("--trace-url: {e}")))?,
        ),
        None => None,
    };
    let token = match &s.token_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| Fail(2, format!("--token-file {}: {e}", f.display())))?,
        ),
        None => std::env::var("ACTIONLOG_TOKEN").ok(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = Store::open(target, opts).await?;
        let what = store.target();
        let mut dashboard = actionlog::web::Dashboard::new(store)
            .log_dir(log_dir)
            .options(opts.clone())
            .secure_cookie(s.secure_cookie);
        if let Some(t) = trace_url {
            dashboard = dashboard.trace_url(t);
        }
        actionlog::web::serve(dashboard, s.bind, token, s.allow_host.clone(), |addr| {
            eprintln!("actionlog: serving {what} on http://{addr}/");
        })
        .await
        .map_err(|e| {
            let bad_input = matches!(
                e,
                actionlog::web::ServeError::NeedsToken(_) | actionlog::web::ServeError::EmptyToken
            );
            Fail(if bad_input { 2 } else { 1 }, e.to_string())
        })?;
        Ok(0)
    })
}
