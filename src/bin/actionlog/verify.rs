//! `actionlog verify`: the store checked against its signed digests and the digest files, every
//! finding on a line of its own; exit 0 when nothing was changed, 1 when something was, 2 when
//! it cannot verify. `actionlog keygen`: a new signing key and its public key.

use std::io::Write;
use std::path::{Path, PathBuf};

use actionlog::audit::{self, PublicKey, Severity, SigningKey, VerifyOptions};
use actionlog::query::{self, Options, Store, Target};
use clap::Args;

use crate::{Fail, pipe, terminal};

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The public key the digests are signed with: a PEM file, or the key itself (PEM or 64 hex
    /// digits). Default: the public half of ACTIONLOG_AUDIT_KEY or ACTIONLOG_AUDIT_KEY_FILE.
    #[arg(long, env = "ACTIONLOG_AUDIT_PUBLIC_KEY", value_name = "FILE|KEY")]
    public_key: Option<String>,
    /// Only digests made from this time on, and the rows they cover or that came after: 30m,
    /// 6h, 1d, 2w, 2026-11-03, RFC 3339.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// A directory of digest files to compare with the store (repeat for several writers).
    /// Default: <log-dir>/digests when it exists.
    #[arg(long = "digests", value_name = "DIR")]
    digests: Vec<PathBuf>,
    /// Do not compare with digest files.
    #[arg(long, conflicts_with = "digests")]
    no_files: bool,
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the new signing key (PKCS#8 PEM, owner-only); its public key goes to
    /// FILE.pub and to standard output. An existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

fn public_key(a: &VerifyArgs) -> Result<PublicKey, Fail> {
    let bad = |e: audit::KeyError| Fail(2, e.to_string());
    match &a.public_key {
        Some(k) => {
            let t = k.trim();
            if t.starts_with("-----BEGIN")
                || (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                PublicKey::from_text(t, "--public-key").map_err(bad)
            } else {
                PublicKey::from_file(t).map_err(bad)
            }
        }
        None => match SigningKey::from_env().map_err(bad)? {
            Some(k) => Ok(k.public()),
            None => Err(Fail(
                2,
                "no public key: give --public-key FILE (or set ACTIONLOG_AUDIT_PUBLIC_KEY)".into(),
            )),
        },
    }
}

pub(crate) fn run(
    a: &VerifyArgs,
    target: Target,
    opts: Options,
    log_dir: &Path,
) -> Result<u8, Fail> {
    let key = public_key(a)?;
    let now = crate::now();
    let since = a
        .since
        .as_deref()
        .map(|s| query::parse_time(s, now))
        .transpose()?;
    let digest_dirs = if a.no_files {
        Vec::new()
    } else if a.digests.is_empty() {
        let d = audit::digest_dir(log_dir);
        if d.is_dir() { vec![d] } else { Vec::new() }
    } else {
        a.digests.clone()
    };
    let files_checked = !digest_dirs.is_empty();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let store = Store::open(&target, &opts).await?;
        let o = VerifyOptions {
            key,
            since,
            digest_dirs,
            now,
        };
        query::verify_trail(&store, &o).await.map_err(|e| match e {
            query::VerifyError::Store(e) => Fail::from(e),
            other => Fail(2, other.to_string()),
        })
    })?;
    let mut w = std::io::stdout().lock();
    for f in &report.findings {
        let mark = match f.severity() {
            Severity::Problem => "PROBLEM",
            Severity::Warning => "warning",
        };
        writeln!(w, "{mark} {}", terminal::escape_controls(&f.to_string())).map_err(pipe)?;
    }
    let problems = report
        .findings
        .iter()
        .filter(|f| f.severity() == Severity::Problem)
        .count();
    writeln!(
        w,
        "{}: {} rows read, {} as signed, {} open (not covered until final), {} pruned; {} digests of {} writer(s); digest files {}",
        if problems == 0 { "clean" } else { "CHANGED" },
        report.rows,
        report.verified,
        report.open,
        report.pruned,
        report.digests,
        report.writers.len(),
        if files_checked { "compared" } else { "not compared" },
    )
    .map_err(pipe)?;
    Ok(u8::from(problems > 0))
}

pub(crate) fn keygen(a: &KeygenArgs) -> Result<u8, Fail> {
    let key = SigningKey::generate().map_err(|e| Fail(1, e.to_string()))?;
    let pem = key.to_pem().map_err(|e| Fail(1, e.to_string()))?;
    let public = key.public().to_pem().map_err(|e| Fail(1, e.to_string()))?;
    let mut pub_path = a.out.clone().into_os_string();
    pub_path.push(".pub");
    write_new(&a.out, pem.as_bytes(), 0o600)?;
    write_new(Path::new(&pub_path), public.as_bytes(), 0o644)?;
    let mut w = std::io::stdout().lock();
    write!(w, "{public}").map_err(pipe)?;
    Ok(0)
}

/// Creates `path` (never over an existing file or a link) with `mode` on Unix.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Fail> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = o
        .open(path)
        .map_err(|e| Fail(2, format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes)
        .map_err(|e| Fail(1, format!("cannot write {}: {e}", path.display())))
}
