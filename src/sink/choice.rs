//! Which store `init()` delivers to when no sink is given: PostgreSQL when a database URL is
//! configured, or `ACTIONLOG_DATABASE_URL` or `DATABASE_URL` is set (feature `postgres`), else
//! Supabase when `SUPABASE_URL` is set (feature `supabase`), else the SQLite file under the log
//! directory (feature `sqlite`). The choice is said in one line at start ([`describe`]),
//! and so is the absence of any store: records never go nowhere in silence.

use std::path::PathBuf;

use super::Sink;
use crate::error::Error;

/// The settings the default sink is made from.
pub(crate) struct Choice<'a> {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) sqlite_path: PathBuf,
    #[cfg(feature = "postgres")]
    pub(crate) database_url: Option<String>,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) migrate: bool,
    pub(crate) table: &'a str,
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres", feature = "supabase")),
        allow(dead_code)
    )]
    pub(crate) scheduled_jobs: bool,
}

/// The store chosen, and the environment variable that chose it (none for a URL given to the
/// builder, or the SQLite default).
pub(crate) struct Chosen {
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) from: Option<&'static str>,
}

/// `sqlite /srv/app/logs/actions.db table action_logs`, `postgres app@prod table action_logs
/// (from DATABASE_URL)`: kind, database and table, never a password.
pub(crate) fn describe(sink: &dyn Sink, from: Option<&str>) -> String {
    let mut s = format!("{} {}", sink.name(), sink.target());
    if let Some(var) = from {
        s.push_str(&format!(" (from {var})"));
    }
    s.trim_end().to_owned()
}

/// What to say when no store feature can take the records: which variables or features would.
pub(crate) fn no_store_hint() -> String {
    let mut ways = Vec::new();
    if cfg!(feature = "postgres") {
        ways.push("set ACTIONLOG_DATABASE_URL or DATABASE_URL (PostgreSQL)");
    }
    if cfg!(feature = "supabase") {
        ways.push("set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY or SUPABASE_KEY");
    }
    ways.push("enable the `sqlite` feature for the embedded store");
    ways.push("pass a sink with `Builder::sink`");
    ways.join(", or ")
}

impl Choice<'_> {
    /// Opens the chosen sink; `None` when no store feature is compiled in, or none is
    /// configured for the features that are.
    pub(crate) fn open(self) -> Result<Option<Chosen>, Error> {
        super::validate_table_name(self.table)?;
        #[cfg(feature = "postgres")]
        {
            let url = match self.database_url.clone() {
                Some(url) => Some((url, None)),
                None => crate::store_env::database_url().map(|d| (d.url, Some(d.var))),
            };
            if let Some((url, from)) = url {
                let sink = super::postgres::PostgresSink::new(&url)?
                    .table(self.table)?
                    .migrate(self.migrate)
                    .scheduled_jobs(self.scheduled_jobs);
                return Ok(Some(Chosen {
                    sink: Box::new(sink),
                    from,
                }));
            }
        }
        #[cfg(feature = "supabase")]
        if std::env::var("SUPABASE_URL").is_ok_and(|u| !u.trim().is_empty()) {
            let sink = super::supabase::SupabaseSink::from_env()?
                .table(self.table)?
                .scheduled_jobs(self.scheduled_jobs);
            return Ok(Some(Chosen {
                sink: Box::new(sink),
                from: Some("SUPABASE_URL"),
            }));
        }
        #[cfg(feature = "sqlite")]
        {
            let sink = super::sqlite::SqliteSink::open_table(&self.sqlite_path, self.table)?
                .scheduled_jobs(self.scheduled_jobs);
            return Ok(Some(Chosen {
                sink: Box::new(sink),
                from: None,
            }));
        }
        #[allow(unreachable_code)]
        Ok(None)
    }
}
