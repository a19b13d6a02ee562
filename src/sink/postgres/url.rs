//! The connection string: libpq's `sslmode` / `sslrootcert` taken out (tokio-postgres does
//! not know `verify-ca` / `verify-full`), and the form messages may show, never the password.

/// The URL's user, hosts, ports and database, never its password.
pub(super) fn describe(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
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
