//! Verifying a store's audit trail ([`crate::audit`]): its digests and digest files checked as
//! chains, then every row read back and compared, through [`crate::audit::Check`].

use std::path::PathBuf;

use super::{Error, Store};
use crate::audit::{Check, Report, VerifyOptions};

/// Rows read per query while verifying.
const PAGE: usize = 10_000;

/// Verifies `store` against its digests and the digest files (see [`Check`]).
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use actionlog::audit::{PublicKey, VerifyOptions};
/// use actionlog::query::{verify_trail, Options, Store, Target};
/// let store = Store::open(&Target::Sqlite("logs/actions.db".into()), &Options::default()).await?;
/// let key = PublicKey::from_file("audit.pub.pem")?;
/// let report = verify_trail(&store, &VerifyOptions {
///     key,
///     since: None,
///     digest_dirs: vec!["logs/digests".into()],
///     now: chrono::Utc::now(),
/// })
/// .await?;
/// for finding in &report.findings {
///     println!("{finding}");
/// }
/// assert!(report.is_clean());
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`VerifyError`]: the store cannot be read, or a digest directory cannot.
pub async fn verify_trail(store: &Store, opts: &VerifyOptions) -> Result<Report, VerifyError> {
    let mut check = Check::new(opts.key.clone(), opts.since, opts.now);
    match store.digests(opts.since).await? {
        Some(lines) => {
            for l in &lines {
                check.store_digest(l);
            }
        }
        None => return Err(VerifyError::NoDigestTable(store.target())),
    }
    for dir in &opts.digest_dirs {
        check.expect_files();
        let mut files = crate::audit::chain::day_files(dir).map_err(|e| VerifyError::Files {
            dir: dir.clone(),
            source: e,
        })?;
        if files.is_empty() && !dir.is_dir() {
            return Err(VerifyError::Files {
                dir: dir.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            });
        }
        files.sort();
        for path in files {
            let text = read_text(&path).map_err(|e| VerifyError::Files {
                dir: path.clone(),
                source: e,
            })?;
            check.file_digests(path, &text);
        }
    }
    let from = check.chains();
    let mut after = None;
    loop {
        let page = store.scan_actions(from, after, PAGE).await?;
        for r in &page {
            check.action(r);
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some((last.action_timestamp, last.id)),
            _ => break,
        }
    }
    let mut after = None;
    loop {
        let page = store.scan_runs(from, after, PAGE).await?;
        for r in &page {
            check.run(&r.run, r.logs_null);
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some((last.run.started_at, last.run.id)),
            _ => break,
        }
    }
    Ok(check.finish())
}

/// A digest file's text; a link or anything not a regular file in its place is refused.
fn read_text(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut s = String::new();
    crate::fs::open_read(path)?.read_to_string(&mut s)?;
    Ok(s)
}

/// Why [`verify_trail`] could not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The store cannot be read.
    #[error(transparent)]
    Store(#[from] Error),
    /// The store has no `audit_digests` table: nothing was ever signed there.
    #[error("{0} has no audit_digests table: no writer has kept digests there")]
    NoDigestTable(String),
    /// A digest directory or file cannot be read.
    #[error("cannot read the digest files in {dir}: {source}")]
    Files {
        /// The directory or file.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
