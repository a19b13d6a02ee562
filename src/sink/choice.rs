//! Which store `init()` delivers to when no sink is given: PostgreSQL when a database URL is
//! configured or `DATABASE_URL` is set (feature `postgres`), else Supabase when `SUPABASE_URL`
//! is set (feature `supabase`), else the SQLite file under the log directory (feature `sqlite`).

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

impl Choice<'_> {
    /// Opens the chosen sink; `None` when no store feature is compiled in.
    pub(crate) fn open(self) -> Result<Option<Box<dyn Sink>>, Error> {
        super::validate_table_name(self.table)?;
        #[cfg(feature = "postgres")]
        {
            let url = self.database_url.clone().or_else(|| {
                std::env::var("DATABASE_URL")
                    .ok()
                    .filter(|u| !u.trim().is_empty())
            });
            if let Some(url) = url {
                let sink = super::postgres::PostgresSink::new(&url)?
                    .table(self.table)?
                    .migrate(self.migrate)
                    .scheduled_jobs(self.scheduled_jobs);
                return Ok(Some(Box::new(sink)));
            }
        }
        #[cfg(feature = "supabase")]
        if std::env::var("SUPABASE_URL").is_ok_and(|u| !u.trim().is_empty()) {
            let sink = super::supabase::SupabaseSink::from_env()?
                .table(self.table)?
                .scheduled_jobs(self.scheduled_jobs);
            return Ok(Some(Box::new(sink)));
        }
        #[cfg(feature = "sqlite")]
        {
            let sink = super::sqlite::SqliteSink::open_table(&self.sqlite_path, self.table)?
                .scheduled_jobs(self.scheduled_jobs);
            return Ok(Some(Box::new(sink)));
        }
        #[allow(unreachable_code)]
        Ok(None)
    }
}
