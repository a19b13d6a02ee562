//! The connection string: libpq's `sslmode` / `sslrootcert` taken out (tokio-postgres does
//! not know `verify-ca` / `verify-full`), and the form messages may show, never the password.

/// The URL's user, hosts, ports and database, never its password.
pub(crate) fn describe(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .iter()
        .map(host_text)
        .collect::<Vec<_>>()
        .join(",");
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}

/// A host as the URL named it: a name or address, or a socket directory (tokio-postgres has
/// that variant on Unix only).
fn host_text(h: &tokio_postgres::config::Host) -> String {
    match h {
        tokio_postgres::config::Host::Tcp(s) => s.clone(),
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    }
}

/// The URL with every `@` but the one ending its user-info percent-encoded, so that no part
/// is read as another: tokio-postgres ends the user-info at the *first* `@` of the whole
/// string, so
/// - a password holding an unescaped `@` (`postgres://w:p@ss@db/prod`) would make `ss@db` the
///   host — and put part of the password into every message that names the host;
/// - an `@` in the path or the query (`postgres://db/prod?application_name=svc@web`) would
///   make `db/prod?application_name=svc` the user and `web` the host.
///
/// As libpq reads it, the user-info ends at the last `@` before the path or query (the rule
/// [`crate::redact`] scrubs by); past that an `@` is data (tokio-postgres decodes `%40` in
/// the database name and parameter values). Key/value strings (`host=h password=p`) are
/// returned unchanged.
pub(super) fn escape_userinfo_at(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let start = scheme_end + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |p| start + p);
    // Where the path or the query starts (a `#` ends the user-info's search, as the redaction
    // reads it, but the `@` of a password holding one is still the user-info's).
    let data = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |p| start + p);
    let userinfo_end = url[start..end].rfind('@').map(|p| start + p);
    let mut out = String::with_capacity(url.len());
    for (i, c) in url.char_indices() {
        if c == '@' && Some(i) != userinfo_end && (i < end || i >= data) {
            out.push_str("%40");
        } else {
            out.push(c);
        }
    }
    out
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
            "postgres://h/db?x=a%40b"
        );
    }

    /// An `@` past the host is data: tokio-postgres alone took everything before it for the
    /// user and connected to the host after it.
    #[test]
    fn an_at_in_the_query_or_path_stays_there() {
        let c = parse("postgres://a/?application_name=postgres://app:s3cret@db:5432/prod")
            .ok()
            .unwrap()
            .config;
        assert_eq!(c.get_user(), None);
        assert_eq!(
            c.get_hosts(),
            [tokio_postgres::config::Host::Tcp("a".into())]
        );
        assert_eq!(
            c.get_application_name(),
            Some("postgres://app:s3cret@db:5432/prod")
        );
        let c = parse("postgres://u:p@ss@h/my@db").ok().unwrap().config;
        assert_eq!(c.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(c.get_dbname(), Some("my@db"));
        // A `#` in the password keeps its `@` the user-info's.
        let c = parse("postgres://u:p#w@h/db").ok().unwrap().config;
        assert_eq!(c.get_password(), Some(&b"p#w"[..]));
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

    mod properties {
        use super::super::*;
        use crate::props::{config, hostile_char, hostile_text};
        use proptest::prelude::*;

        /// Percent-encodes all but letters, digits and `keep`.
        fn enc(s: &str, keep: &[char]) -> String {
            let mut out = String::new();
            for c in s.chars() {
                if c.is_ascii_alphanumeric() || keep.contains(&c) {
                    out.push(c);
                } else {
                    let mut b = [0; 4];
                    for byte in c.encode_utf8(&mut b).bytes() {
                        out.push_str(&format!("%{byte:02X}"));
                    }
                }
            }
            out
        }

        /// A connection URL as its parts and as written: what a user pastes, with `@` and `:`
        /// unescaped in the password and in parameter values, the rest percent-encoded.
        #[derive(Debug, Clone)]
        struct Url {
            user: Option<String>,
            password: Option<String>,
            hosts: Vec<(String, Option<u16>)>,
            db: Option<String>,
            app: Option<String>,
            sslmode: Option<&'static str>,
            root_cert: Option<String>,
        }

        impl Url {
            fn written(&self) -> String {
                let mut s = "postgres://".to_owned();
                if let Some(u) = &self.user {
                    s.push_str(&enc(u, &['-', '_', '.']));
                    if let Some(p) = &self.password {
                        s.push(':');
                        s.push_str(&enc(p, &['@', ':', '-']));
                    }
                    s.push('@');
                }
                let hosts: Vec<String> = self
                    .hosts
                    .iter()
                    .map(|(h, port)| match port {
                        Some(p) => format!("{h}:{p}"),
                        None => h.clone(),
                    })
                    .collect();
                s.push_str(&hosts.join(","));
                if let Some(db) = &self.db {
                    s.push('/');
                    s.push_str(&enc(db, &['-', '_', '.']));
                }
                let mut params = Vec::new();
                if let Some(a) = &self.app {
                    params.push(format!(
                        "application_name={}",
                        enc(a, &['@', ':', '/', '-'])
                    ));
                }
                if let Some(m) = self.sslmode {
                    params.push(format!("sslmode={m}"));
                }
                if let Some(c) = &self.root_cert {
                    params.push(format!("sslrootcert={c}"));
                }
                if !params.is_empty() {
                    s.push(if self.db.is_some() { '?' } else { '/' });
                    if self.db.is_none() {
                        s.push('?');
                    }
                    s.push_str(&params.join("&"));
                }
                s
            }
        }

        fn url() -> impl Strategy<Value = Url> {
            let text = || hostile_text(10).prop_filter("a value", |s| !s.is_empty());
            let password = prop::collection::vec(
                prop_oneof![2 => prop::sample::select(vec!['@', ':', '%', '/']), 3 => hostile_char()],
                1..12,
            )
            .prop_map(|v| format!("pw{}", v.into_iter().collect::<String>()));
            let host = prop_oneof![
                "[a-z][a-z0-9-]{0,10}(\\.[a-z0-9-]{1,6}){0,2}",
                Just("[::1]".to_owned()),
                Just("127.0.0.1".to_owned()),
            ];
            (
                prop::option::of((text(), prop::option::of(password))),
                prop::collection::vec((host, prop::option::of(1u16..)), 1..3),
                prop::option::of(text()),
                prop::option::of(text()),
                prop::option::of(prop::sample::select(vec![
                    "disable",
                    "allow",
                    "prefer",
                    "require",
                    "verify-ca",
                    "verify-full",
                ])),
                prop::option::of("/[a-z]{1,8}/ca\\.pem"),
            )
                .prop_map(|(creds, hosts, db, app, sslmode, root_cert)| Url {
                    user: creds.as_ref().map(|c| c.0.clone()),
                    password: creds.and_then(|c| c.1),
                    hosts,
                    db,
                    app,
                    sslmode,
                    root_cert,
                })
        }

        proptest! {
            #![proptest_config(config(512))]

            /// Every part of a URL as users write it reads back as written: an `@` or `:` in
            /// the password or in a parameter value moves no part into another (512 cases).
            #[test]
            fn urls_read_back_as_written(u in url()) {
                let written = u.written();
                let c = match parse(&written) {
                    Ok(c) => c,
                    Err(UrlError::NoTls) if cfg!(not(feature = "postgres-tls")) => return Ok(()),
                    Err(UrlError::Bad(e)) => return Err(TestCaseError::fail(format!("{written}: {e}"))),
                    Err(UrlError::NoTls) => return Err(TestCaseError::fail("NoTls")),
                };
                let cfg = &c.config;
                prop_assert_eq!(cfg.get_user(), u.user.as_deref(), "{}", written);
                prop_assert_eq!(cfg.get_password(), u.password.as_deref().map(str::as_bytes), "{}", written);
                let hosts: Vec<String> = cfg.get_hosts().iter().map(host_text).collect();
                let want: Vec<String> = u.hosts.iter().map(|h| h.0.trim_matches(['[', ']']).to_owned()).collect();
                prop_assert_eq!(hosts, want, "{}", written);
                let ports: Vec<u16> = u.hosts.iter().map(|h| h.1.unwrap_or(5432)).collect();
                prop_assert_eq!(cfg.get_ports(), &ports[..], "{}", written);
                prop_assert_eq!(cfg.get_dbname(), u.db.as_deref(), "{}", written);
                prop_assert_eq!(cfg.get_application_name(), u.app.as_deref(), "{}", written);
                prop_assert_eq!(c.sslmode.as_str(), u.sslmode.unwrap_or("prefer"));
                prop_assert_eq!(c.root_cert, u.root_cert);
                // What messages show of it holds no password.
                if let Some(p) = &u.password {
                    prop_assert!(!describe(cfg).contains(p.as_str()), "{}", written);
                }
            }

            /// Any text is a connection string or a refusal, never a panic, and a refusal does
            /// not repeat the text (which would hold the password) (512 cases).
            #[test]
            fn any_text_is_parsed_or_refused(
                prefix in prop::sample::select(vec!["", "postgres://", "postgresql://u:", "host="]),
                rest in hostile_text(24),
            ) {
                let s = format!("{prefix}pwSECRET{rest}");
                if let Err(UrlError::Bad(e)) = parse(&s) {
                    prop_assert!(!e.contains("pwSECRET"), "{}", e);
                }
            }
        }
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
