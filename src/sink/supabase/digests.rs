//! The signed digests (`audit_digests`, `migrations/0007_audit.sql`) through PostgREST.
//!
//! PostgREST has no transaction across requests, so a digest is its own request, sent after
//! the rows it covers were delivered: `POST /rest/v1/audit_digests?on_conflict=writer,seq`
//! with `Prefer: return=representation,resolution=ignore-duplicates` (PostgREST's
//! `INSERT … ON CONFLICT DO NOTHING RETURNING`). The answer holds the row when it was stored
//! now and nothing when its key was there already; then one `GET` of the stored text tells a
//! retry (the same text) from a fork (another).

// The sinks' digest step calls these; until it does, only the tests do.
#![allow(dead_code)]

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::SupabaseSink;
use crate::rows::{DIGEST_KINDS, DigestInsert, DigestRow};
use crate::sink::http::percent_encode;
use crate::sink::{FailureKind, SinkError};

/// The table, as 404s name it.
const TABLE: &str = "audit_digests";
const MIGRATION_0007: &str = "migrations/0007_audit.sql";

impl SupabaseSink {
    /// The request storing `d` unless its `(writer, seq)` is there already (see the module's
    /// documentation); `made_at` as RFC 3339 UTC with microseconds.
    pub(crate) fn digest_request(&self, d: &DigestRow) -> reqwest::RequestBuilder {
        debug_assert!(DIGEST_KINDS.contains(&d.kind), "unknown kind {}", d.kind);
        let body = json!([{
            "writer": d.writer,
            "seq": d.seq,
            "made_at": d.made_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "kind": d.kind,
            "digest": d.digest,
        }]);
        self.client
            .post(format!(
                "{}/rest/v1/{TABLE}?on_conflict=writer,seq&columns=writer,seq,made_at,kind,digest",
                self.base
            ))
            .header(
                "Prefer",
                "return=representation,resolution=ignore-duplicates",
            )
            .body(body.to_string())
    }

    /// Stores `d` ([`Self::digest_request`]) and says what the store found: see
    /// [`DigestInsert`]. Failures are mapped as the row writes' are (a missing table is a
    /// configuration error naming `migrations/0007_audit.sql`).
    pub(crate) async fn insert_digest(&self, d: &DigestRow) -> Result<DigestInsert, SinkError> {
        let answer = self.json(self.digest_request(d)).await?;
        if answer.as_array().is_some_and(|rows| !rows.is_empty()) {
            return Ok(DigestInsert::Inserted);
        }
        let query = format!(
            "select=digest&writer=eq.{}&seq=eq.{}",
            percent_encode(&d.writer),
            d.seq
        );
        match self.digests(&query).await?.first() {
            Some((_, stored)) => Ok(DigestInsert::existing(&d.digest, stored.clone())),
            // Neither stored now nor there: deleted in between. Sending it again decides.
            None => Err(SinkError::new(
                FailureKind::Transient,
                format!(
                    "{}: digest {} of {:?} was neither stored nor found; it is sent again",
                    self.base, d.seq, d.writer
                ),
            )),
        }
    }

    /// The newest digest of `writer`'s chain, `(seq, digest)`, or `None` if it has none.
    pub(crate) async fn last_digest(
        &self,
        writer: &str,
    ) -> Result<Option<(i64, String)>, SinkError> {
        let query = format!(
            "select=seq,digest&writer=eq.{}&order=seq.desc&limit=1",
            percent_encode(writer)
        );
        Ok(self.digests(&query).await?.into_iter().next())
    }

    /// `GET /rest/v1/audit_digests?{query}`: the rows' `(seq, digest)` (`seq` 0 when not
    /// selected).
    async fn digests(&self, query: &str) -> Result<Vec<(i64, String)>, SinkError> {
        let url = format!("{}/rest/v1/{TABLE}?{query}", self.base);
        let answer = self.json(self.client.get(url)).await?;
        let bad = || {
            SinkError::new(
                FailureKind::Transient,
                format!(
                    "{} answered a read of {TABLE} with rows it does not hold",
                    self.base
                ),
            )
        };
        let rows = answer.as_array().ok_or_else(bad)?;
        rows.iter()
            .map(|r| {
                let seq = r
                    .get("seq")
                    .map_or(Some(0), Value::as_i64)
                    .ok_or_else(bad)?;
                let digest = r.get("digest").and_then(Value::as_str).ok_or_else(bad)?;
                Ok((seq, digest.to_owned()))
            })
            .collect()
    }

    /// Sends `request`; its 2xx answer's JSON.
    async fn json(&self, request: reqwest::RequestBuilder) -> Result<Value, SinkError> {
        let response = self.exchange(request, TABLE, MIGRATION_0007).await?;
        let text = response
            .text()
            .await
            .map_err(|e| crate::sink::http::transport_error(e, &self.base, self.timeout))?;
        serde_json::from_str(&text).map_err(|_| {
            SinkError::new(
                FailureKind::Transient,
                format!("{} answered a request on {TABLE} without JSON", self.base),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::collections::VecDeque;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// What a request carried: method, target, `Prefer`, body.
    type Seen = (String, String, Option<String>, String);

    /// A loopback server answering each request with the next of `answers` (status, body) and
    /// keeping what it was sent.
    fn stub(answers: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let kept = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (seen, answers) = (kept.clone(), answers.clone());
                std::thread::spawn(move || {
                    let mut w = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or("").to_owned();
                        let target = parts.next().unwrap_or("").to_owned();
                        let (mut len, mut prefer) = (0, None);
                        loop {
                            let mut h = String::new();
                            r.read_line(&mut h).unwrap();
                            let Some((k, v)) = h.trim_end().split_once(':') else {
                                break;
                            };
                            match k.to_ascii_lowercase().as_str() {
                                "content-length" => len = v.trim().parse().unwrap(),
                                "prefer" => prefer = Some(v.trim().to_owned()),
                                _ => {}
                            }
                        }
                        let mut body = vec![0; len];
                        r.read_exact(&mut body).unwrap();
                        let body = String::from_utf8(body).unwrap();
                        seen.lock().unwrap().push((method, target, prefer, body));
                        let (status, text) = answers.lock().unwrap().pop_front().unwrap();
                        let _ = write!(
                            w,
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
                            text.len()
                        );
                    }
                });
            }
        });
        (url, seen)
    }

    fn row(seq: i64, digest: &str) -> DigestRow {
        DigestRow {
            writer: "web 1/a".into(),
            seq,
            made_at: Utc.timestamp_opt(1_767_225_600, 123_456_789).unwrap(),
            kind: "idle",
            digest: digest.into(),
        }
    }

    #[tokio::test]
    async fn insert_retry_fork_and_newest() {
        let (url, seen) = stub(vec![
            (201, r#"[{"writer":"web 1/a","seq":3}]"#),
            (201, "[]"),
            (200, r#"[{"digest":"{\"d\":3}"}]"#),
            (201, "[]"),
            (200, r#"[{"digest":"{\"d\":3}"}]"#),
            (200, r#"[{"seq":3,"digest":"{\"d\":3}"}]"#),
            (200, "[]"),
            (
                404,
                r#"{"code":"PGRST205","message":"Could not find the table"}"#,
            ),
        ]);
        let sink = SupabaseSink::new(&url, "KEY").unwrap();
        let ours = row(3, "{\"d\":3}");
        assert_eq!(
            sink.insert_digest(&ours).await.unwrap(),
            DigestInsert::Inserted
        );
        assert_eq!(
            sink.insert_digest(&ours).await.unwrap(),
            DigestInsert::AlreadyStored
        );
        assert_eq!(
            sink.insert_digest(&row(3, "{\"d\":\"other\"}"))
                .await
                .unwrap(),
            DigestInsert::Fork {
                stored: "{\"d\":3}".into()
            }
        );
        assert_eq!(
            sink.last_digest("web 1/a").await.unwrap(),
            Some((3, "{\"d\":3}".into()))
        );
        assert_eq!(sink.last_digest("nobody").await.unwrap(), None);
        let e = sink.last_digest("x").await.unwrap_err();
        assert_eq!(e.kind, FailureKind::Config);
        assert!(e.message.contains("migrations/0007_audit.sql"), "{e:?}");

        let seen = seen.lock().unwrap();
        let (method, target, prefer, body) = &seen[0];
        assert_eq!(method, "POST");
        assert_eq!(
            target,
            "/rest/v1/audit_digests?on_conflict=writer,seq&columns=writer,seq,made_at,kind,digest"
        );
        assert_eq!(
            prefer.as_deref(),
            Some("return=representation,resolution=ignore-duplicates")
        );
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            body,
            json!([{"writer": "web 1/a", "seq": 3, "made_at": "2026-01-01T00:00:00.123456Z",
                    "kind": "idle", "digest": "{\"d\":3}"}])
        );
        assert_eq!(seen[2].0, "GET");
        assert_eq!(
            seen[2].1,
            "/rest/v1/audit_digests?select=digest&writer=eq.web%201%2Fa&seq=eq.3"
        );
        assert_eq!(
            seen[5].1,
            "/rest/v1/audit_digests?select=seq,digest&writer=eq.web%201%2Fa&order=seq.desc&limit=1"
        );
    }
}
