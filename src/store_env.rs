//! Which database the environment names, read the same way by the write side (the default
//! sink) and the read side (`actionlog::query`, the `actionlog` command), so the two never
//! disagree about where action records are.
//!
//! `ACTIONLOG_DATABASE_URL` comes first: `DATABASE_URL` is often the application's own
//! database (sqlx reads it at build and run time), and a service that wants its audit trail
//! elsewhere, or not in PostgreSQL at all, says so without renaming its own variable.

/// The variables naming the PostgreSQL store, in the order they are read.
pub(crate) const DATABASE_URL_VARS: [&str; 2] = ["ACTIONLOG_DATABASE_URL", "DATABASE_URL"];

/// A database URL and the variable it came from.
#[cfg_attr(not(any(feature = "postgres", feature = "query")), allow(dead_code))]
pub(crate) struct DatabaseUrl {
    /// Named in the start line: only the write side's PostgreSQL sink says where it wrote.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) var: &'static str,
    pub(crate) url: String,
}

/// The first of [`DATABASE_URL_VARS`] that is set and not blank.
#[cfg_attr(not(any(feature = "postgres", feature = "query")), allow(dead_code))]
pub(crate) fn database_url() -> Option<DatabaseUrl> {
    DATABASE_URL_VARS.iter().find_map(|&var| {
        let url = std::env::var(var).ok().filter(|u| !u.trim().is_empty())?;
        Some(DatabaseUrl { var, url })
    })
}
