//! The connection string: libpq's `sslmode` / `sslrootcert` taken out (tokio-postgres does
//! not know `verify-ca` / `verify-full`), and the form messages may show, never the password.

/// The URL's user, hosts, ports and database, never its password.
pub(super) fn describe(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            // A socket directory (tokio-postgres has this variant on Unix only).
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}

/// The URL with every `@` of its user-info but the last percent-encoded, so that a password
/// holding an unescaped `@` (`postgres://w:p@ss@db/prod`) stays the password: tokio-postgres
/// ends the user-info at the *first* `@`, which would make `ss@db` the host — and put part of
/// the password into every message that names the host. The user-info ends at the last `@`
/// before the path or query (the rule [`crate::redact`] scrubs by). Key/value strings
/// (`host=h password=p`) are returned unchanged.
pub(super) fn escape_userinfo_at(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let start = scheme_end + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |p| start + p);
    let Some(last_at) = url[start..end].rfind('@').map(|p| start + p) else {
        return url.to_owned();
    };
    format!(
        "{}{}{}",
        &url[..start],
        url[start..last_at].replace('@', "%40"),
        &url[last_at..]
    )
}

pub(super) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Removes `key` from a connection string, in URL form (`…?a=1&key=v`) or key/value form
/// (`host=h key=v`); returns the rest and the value.
pub(super) fn take_param(url: &str, key: &str) -> (String, Option<String>) {
    let prefix = format!("{key}=");
    let mut value = None;
    let mut keep = |p: &&str| match p.strip_prefix(prefix.as_str()) {
        Some(v) => {
            value = Some(v.to_owned());
            false
        }
        None => true,
    };
    let rest = if url.contains("://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let kept: Vec<&str> = query.split('&').filter(&mut keep).collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        url.split_whitespace()
            .filter(&mut keep)
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_at_in_the_password_stays_in_the_password() {
        let url = escape_userinfo_at("postgres://w:p@ss@db:5433/prod?sslmode=disable");
        assert_eq!(url, "postgres://w:p%40ss@db:5433/prod?sslmode=disable");
        let c: tokio_postgres::Config = url.parse().unwrap();
        assert_eq!(c.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(describe(&c), "postgres://w@db:5433/prod");
        assert_eq!(
            escape_userinfo_at("host=h password=a@b"),
            "host=h password=a@b"
        );
        assert_eq!(
            escape_userinfo_at("postgres://h/db?x=a@b"),
            "postgres://h/db?x=a@b"
        );
    }

    #[test]
    fn take_param_from_both_forms() {
        assert_eq!(
            take_param(
                "postgres://u@h/db?sslmode=verify-full&connect_timeout=3",
                "sslmode"
            ),
            (
                "postgres://u@h/db?connect_timeout=3".to_owned(),
                Some("verify-full".to_owned())
            )
        );
        assert_eq!(
            take_param("postgres://u@h/db?sslmode=require", "sslmode"),
            ("postgres://u@h/db".to_owned(), Some("require".to_owned()))
        );
        assert_eq!(
            take_param("postgres://u@h/db", "sslmode"),
            ("postgres://u@h/db".to_owned(), None)
        );
        assert_eq!(
            take_param("host=h sslrootcert=/ca.pem user=u", "sslrootcert"),
            ("host=h user=u".to_owned(), Some("/ca.pem".to_owned()))
        );
    }
}

/// Why a connection string cannot be used.
#[derive(Debug)]
pub(crate) enum UrlError {
    /// It does not parse, or names an unknown `sslmode` (the reason never repeats the URL).
    Bad(String),
    /// It asks for TLS and this build has no `postgres-tls`.
    NoTls,
}

/// A connection string as used: tokio-postgres' settings, with libpq's `sslmode` (default
/// `prefer`) and `sslrootcert` taken out and kept beside them.
pub(crate) struct ConnString {
    pub config: tokio_postgres::Config,
    pub sslmode: String,
    pub root_cert: Option<String>,
}

/// Parses `url` as libpq would (the sink and the read side both connect with it).
pub(crate) fn parse(url: &str) -> Result<ConnString, UrlError> {
    let url = escape_userinfo_at(url);
    let (url, sslmode) = take_param(&url, "sslmode");
    let (url, root_cert) = take_param(&url, "sslrootcert");
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| UrlError::Bad(e.to_string()))?;
    let sslmode = sslmode.unwrap_or_else(|| "prefer".to_owned());
    config.ssl_mode(match sslmode.as_str() {
        "disable" => tokio_postgres::config::SslMode::Disable,
        "allow" | "prefer" => tokio_postgres::config::SslMode::Prefer,
        "require" | "verify-ca" | "verify-full" => tokio_postgres::config::SslMode::Require,
        other => return Err(UrlError::Bad(format!("unknown sslmode {other:?}"))),
    });
    if cfg!(not(feature = "postgres-tls"))
        && (matches!(sslmode.as_str(), "require" | "verify-ca" | "verify-full")
            || root_cert.is_some())
    {
        return Err(UrlError::NoTls);
    }
    Ok(ConnString {
        config,
        sslmode,
        root_cert,
    })
}

/// How much of the server's certificate `sslmode` checks.
#[cfg(feature = "postgres-tls")]
pub(crate) fn verify(sslmode: &str) -> super::super::tls::Verify {
    use super::super::tls::Verify;
    match sslmode {
        "verify-full" => Verify::Full,
        "verify-ca" => Verify::Ca,
        _ => Verify::None,
    }
}
