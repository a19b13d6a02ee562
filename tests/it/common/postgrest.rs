//! A PostgREST contract double, built from PostgREST's documentation of bulk upserts
//! (`POST /rest/v1/{table}?on_conflict=id&columns=…`, `Prefer: return=minimal,
//! resolution=merge-duplicates` or `resolution=ignore-duplicates`, JSON array of objects with
//! identical keys, error bodies `{code, message, details, hint}`), of function calls
//! (`POST /rest/v1/rpc/{function}` with a JSON object whose keys are the named arguments) and
//! Supabase's API-key headers. PostgREST itself cannot be
//! installed on these machines; this loopback HTTP/1.1 server enforces that contract and then
//! performs the upsert in the real PostgreSQL, so tests check rows in the database.
//!
//! Reads (`GET` on tables and views with PostgREST's filters, ordering and logic trees, and
//! `GET /rest/v1/rpc/{function}` for the read side's aggregates) are in `postgrest_get.rs`;
//! `PATCH` and `DELETE` take the same filters, and `Prefer: return=representation`.
//!
//! Faults can be queued; each request takes the next one: a status code (with a PostgREST
//! error body), 429 with `Retry-After`, a slow answer (the insert commits after the delay), a
//! connection reset after the commit (no answer at all).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "postgrest_get.rs"]
mod get;

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and a PostgREST-style error body, without touching the database.
    Status(u16),
    /// 429 with `Retry-After: n` seconds.
    RetryAfter(u64),
    /// Wait this long, then do the insert and answer normally.
    Slow(Duration),
    /// Do the insert, commit, then drop the connection without answering.
    ResetAfterCommit,
}

struct Shared {
    key: String,
    db_url: String,
    schema: String,
    faults: Mutex<VecDeque<Fault>>,
    /// When each request arrived, in order.
    arrivals: Mutex<Vec<Instant>>,
    violations: Mutex<Vec<String>>,
    stop: AtomicBool,
    requests: AtomicUsize,
    /// PostgREST's `db-max-rows`: the most rows a GET answers (0: no cap).
    max_rows: AtomicUsize,
}

pub struct Double {
    pub url: String,
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
}

impl Double {
    /// Serves `schema` of the database at `db_url`, accepting only `key`.
    pub fn start(db_url: &str, schema: &str, key: &str) -> Double {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            key: key.to_owned(),
            db_url: db_url.to_owned(),
            schema: schema.to_owned(),
            faults: Mutex::new(VecDeque::new()),
            arrivals: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
            max_rows: AtomicUsize::new(0),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                // The double is not the system under test: its own database traffic must not
                // reach whatever subscriber the test installed.
                std::thread::spawn(move || {
                    tracing::subscriber::with_default(
                        tracing::subscriber::NoSubscriber::default(),
                        || serve(conn, &s),
                    )
                });
            }
        });
        Double {
            url: format!("http://{addr}"),
            shared,
            addr,
        }
    }

    pub fn push(&self, f: Fault) {
        self.shared.faults.lock().unwrap().push_back(f);
    }

    /// Caps every GET's answer at `n` rows, as PostgREST's `db-max-rows` does (silently,
    /// whatever `limit` asked).
    pub fn max_rows(&self, n: usize) {
        self.shared.max_rows.store(n, Ordering::SeqCst);
    }

    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn arrivals(&self) -> Vec<Instant> {
        self.shared.arrivals.lock().unwrap().clone()
    }

    /// Contract violations seen (requests that a real PostgREST would also have refused).
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

fn respond(w: &mut TcpStream, status: u16, extra: &[(&str, String)], body: &Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("content-type: application/json\r\n");
    }
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(body.as_bytes());
}

fn err_body(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message, "details": null, "hint": null})
}

fn serve(conn: TcpStream, s: &Shared) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&s.db_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        c.batch_execute(&format!("SET search_path TO {}", s.schema))
            .await
            .unwrap();
        c
    });
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(req) = read_request(&mut r) {
        s.requests.fetch_add(1, Ordering::SeqCst);
        s.arrivals.lock().unwrap().push(Instant::now());
        let fault = s.faults.lock().unwrap().pop_front();
        match &fault {
            Some(Fault::Status(code)) => {
                let body = match code {
                    401 => {
                        json!({"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."})
                    }
                    404 => err_body("PGRST205", "Could not find the table in the schema cache"),
                    _ => err_body("PGRST000", "injected failure"),
                };
                respond(&mut w, *code, &[], &body);
                continue;
            }
            Some(Fault::RetryAfter(secs)) => {
                respond(
                    &mut w,
                    429,
                    &[("retry-after", secs.to_string())],
                    &err_body("", "Too Many Requests"),
                );
                continue;
            }
            Some(Fault::Slow(d)) => std::thread::sleep(*d),
            _ => {}
        }
        let (status, body) = handle(&req, s, &rt, &client);
        if matches!(fault, Some(Fault::ResetAfterCommit)) {
            let _ = w.shutdown(Shutdown::Both);
            return;
        }
        let extra = content_range(&req, status, &body, &rt, &client);
        respond(&mut w, status, &extra, &body);
    }
}

/// `Content-Range: 0-{last}/{count}` (`*/{count}` without rows) for a GET on a table with
/// `Prefer: count=exact`, as PostgREST answers it.
fn content_range(
    req: &Request,
    status: u16,
    body: &Value,
    rt: &tokio::runtime::Runtime,
    client: &tokio_postgres::Client,
) -> Vec<(&'static str, String)> {
    let counted = req.method == "GET"
        && (200..300).contains(&status)
        && req
            .header("prefer")
            .is_some_and(|p| p.contains("count=exact"));
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let Some(table) = path
        .strip_prefix("/rest/v1/")
        .filter(|p| !p.starts_with("rpc/"))
    else {
        return Vec::new();
    };
    if !counted {
        return Vec::new();
    }
    let Some(total) = get::count(table, query, rt, client, percent_decode) else {
        return Vec::new();
    };
    let shown = body.as_array().map_or(0, Vec::len);
    let range = if shown == 0 {
        "*".to_owned()
    } else {
        format!("0-{}", shown - 1)
    };
    vec![("content-range", format!("{range}/{total}"))]
}

/// The contract for one request; `(status, body)`.
fn handle(
    req: &Request,
    s: &Shared,
    rt: &tokio::runtime::Runtime,
    client: &tokio_postgres::Client,
) -> (u16, Value) {
    let violation = |what: String| {
        s.violations.lock().unwrap().push(what.clone());
        (400, err_body("PGRST100", &what))
    };
    if !["POST", "GET", "PATCH", "DELETE"].contains(&req.method.as_str()) {
        return violation(format!("method {}", req.method));
    }
    // Supabase's gateway: the key in both headers.
    let bearer = format!("Bearer {}", s.key);
    if req.header("apikey") != Some(s.key.as_str())
        || req.header("authorization") != Some(bearer.as_str())
    {
        return (
            401,
            json!({"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}),
        );
    }
    let has_body = matches!(req.method.as_str(), "POST" | "PATCH");
    if has_body
        && !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    {
        return violation("content-type must be application/json".into());
    }
    let prefer = req.header("prefer").unwrap_or("");
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    if req.method == "GET" {
        let Some(path) = path.strip_prefix("/rest/v1/") else {
            return violation(format!("path {path}"));
        };
        let max_rows = match s.max_rows.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n as u64),
        };
        return get::get(path, query, rt, client, percent_decode, max_rows);
    }
    if req.method != "POST" {
        let Some(table) = path.strip_prefix("/rest/v1/") else {
            return violation(format!("path {path}"));
        };
        return rest(&req.method, table, query, req, rt, client);
    }
    if let Some(function) = path.strip_prefix("/rest/v1/rpc/") {
        return rpc(function, req, rt, client);
    }
    let ignore = prefer.contains("resolution=ignore-duplicates");
    // `return=representation` answers the rows inserted (none for a duplicate ignored).
    let representation = prefer.contains("return=representation");
    if !(prefer.contains("return=minimal") || representation)
        || !(ignore || prefer.contains("resolution=merge-duplicates"))
    {
        return violation(format!(
            "Prefer must ask for return=minimal or return=representation, and resolution=merge-duplicates or ignore-duplicates, got {prefer:?}"
        ));
    }
    let Some(table) = path.strip_prefix("/rest/v1/") else {
        return violation(format!("path {path}"));
    };
    let params: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    let param = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    // actionlog's own tables are keyed by id; other tables (an app's own, like the tracker's
    // scheduled_jobs) may name another unique column.
    let Some(conflict) = param("on_conflict") else {
        return violation("on_conflict= is required for an upsert".into());
    };
    if ["action_logs", "job_executions"].contains(&table) && conflict != "id" {
        return violation("on_conflict=id is required for an upsert keyed by id".into());
    }
    let Some(columns) = param("columns") else {
        return violation("columns= is required".into());
    };
    let columns: Vec<&str> = columns.split(',').collect();
    let exists: bool = rt
        .block_on(client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]))
        .unwrap()
        .get(0);
    if !exists {
        return (
            404,
            err_body(
                "PGRST205",
                &format!("Could not find the table 'public.{table}' in the schema cache"),
            ),
        );
    }
    // Every column named must be the table's (a store without the trace columns answers
    // what PostgREST does).
    for c in &columns {
        let known: bool = rt
            .block_on(client.query_one(
                "SELECT COUNT(*) > 0 FROM pg_attribute WHERE attrelid = to_regclass($1) \
                 AND attname = $2 AND attnum > 0 AND NOT attisdropped",
                &[&table, c],
            ))
            .unwrap()
            .get(0);
        if !known {
            return (
                400,
                err_body(
                    "PGRST204",
                    &format!("Could not find the '{c}' column of '{table}' in the schema cache"),
                ),
            );
        }
    }
    let Ok(Value::Array(rows)) = serde_json::from_slice::<Value>(&req.body) else {
        return (400, err_body("PGRST102", "Empty or invalid json"));
    };
    let mut keys: Option<Vec<&String>> = None;
    for row in &rows {
        let Value::Object(m) = row else {
            return (400, err_body("PGRST102", "All object keys must match"));
        };
        let mut k: Vec<&String> = m.keys().collect();
        k.sort();
        match &keys {
            None => keys = Some(k),
            Some(first) if *first != k => {
                return (400, err_body("PGRST102", "All object keys must match"));
            }
            _ => {}
        }
        // A row the test marked for rejection: what a CHECK constraint would say.
        if m.get("action_details").and_then(|d| d.get("reject")) == Some(&Value::Bool(true)) {
            return (
                400,
                err_body(
                    "23514",
                    "new row for relation violates check constraint \"reject_marked\"",
                ),
            );
        }
    }
    for k in keys.unwrap_or_default() {
        if !columns.contains(&k.as_str()) {
            return (
                400,
                err_body(
                    "PGRST204",
                    &format!("Could not find the '{k}' column of '{table}' in the schema cache"),
                ),
            );
        }
    }
    // merge-duplicates: INSERT … ON CONFLICT (id) DO UPDATE SET every given column.
    let cols = columns.join(", ");
    let set = columns
        .iter()
        .filter(|c| **c != conflict)
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let on_conflict = if ignore {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {set}")
    };
    let sql = format!(
        "INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table}, $1::text::json) \
         ON CONFLICT ({conflict}) {on_conflict}"
    );
    let body = String::from_utf8_lossy(&req.body).into_owned();
    if representation {
        let sql = format!(
            "WITH ins AS ({sql} RETURNING *) SELECT COALESCE(json_agg(ins), '[]')::text FROM ins"
        );
        return match rt.block_on(client.query_one(&sql, &[&body])) {
            Ok(row) => (
                201,
                serde_json::from_str(row.get::<_, &str>(0)).unwrap_or(Value::Null),
            ),
            Err(e) => answer(Err(e)),
        };
    }
    answer(rt.block_on(client.execute(&sql, &[&body])).map(|_| ()))
}

/// `PATCH` (a JSON object: the columns to set) and `DELETE` on the rows a table's filters pick
/// (every filter of `postgrest_get.rs`), as PostgREST documents them: 204 without a body, or
/// with `Prefer: return=representation` 200 and the rows changed (their `select=` columns).
fn rest(
    method: &str,
    table: &str,
    query: &str,
    req: &Request,
    rt: &tokio::runtime::Runtime,
    client: &tokio_postgres::Client,
) -> (u16, Value) {
    let p = match get::parse(table, query, rt, client, percent_decode) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let mut args = p.args();
    let change = if method == "DELETE" {
        format!("DELETE FROM {} WHERE {}", p.table, p.wheres)
    } else {
        let Ok(Value::Object(set)) = serde_json::from_slice::<Value>(&req.body) else {
            return (400, err_body("PGRST102", "Empty or invalid json"));
        };
        let ident = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !set.keys().all(|k| ident(k)) || set.is_empty() {
            return (400, err_body("PGRST102", "bad columns"));
        }
        let cols = set.keys().cloned().collect::<Vec<_>>().join(", ");
        args.push(&body);
        format!(
            "UPDATE {table} SET ({cols}) = (SELECT {cols} FROM json_populate_record(NULL::{table}, ${}::text::json)) WHERE {}",
            args.len(),
            p.wheres
        )
    };
    let representation = req
        .header("prefer")
        .is_some_and(|v| v.contains("return=representation"));
    if representation {
        let sql = format!(
            "WITH t AS ({change} RETURNING {}) SELECT COALESCE(json_agg(t), '[]')::text FROM t",
            p.select
        );
        return match rt.block_on(client.query_one(&sql, &args)) {
            Ok(row) => (
                200,
                serde_json::from_str(&row.get::<_, String>(0)).unwrap_or(Value::Null),
            ),
            Err(e) => answer(Err(e)),
        };
    }
    match answer(rt.block_on(client.execute(&change, &args)).map(|_| ())) {
        (201, _) => (204, Value::Null),
        other => other,
    }
}

/// `%XX` escapes of a query-string value.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && v.is_char_boundary(i + 3) {
            if let Ok(x) = u8::from_str_radix(&v[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `POST /rest/v1/rpc/{function}`: the body's keys are the named arguments, cast to the
/// declared types (arrays from JSON arrays); the result as JSON (nothing for `void`); 404
/// PGRST202 when there is no such function or argument. One statement: one transaction, as
/// PostgREST makes one per call.
fn rpc(
    function: &str,
    req: &Request,
    rt: &tokio::runtime::Runtime,
    client: &tokio_postgres::Client,
) -> (u16, Value) {
    let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(&req.body) else {
        return (400, err_body("PGRST102", "Empty or invalid json"));
    };
    let missing = || {
        (
            404,
            err_body(
                "PGRST202",
                &format!("Could not find the function public.{function} in the schema cache"),
            ),
        )
    };
    if !function
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return missing();
    }
    let row = rt
        .block_on(client.query_opt(
            "SELECT COALESCE(proargnames, '{}')::text[], string_to_array(oidvectortypes(proargtypes), ', '), \
             prorettype::regtype::text FROM pg_proc WHERE proname = $1 \
             AND pronamespace::regnamespace::text = ANY(current_schemas(false)::text[]) LIMIT 1",
            &[&function],
        ))
        .unwrap();
    let Some(row) = row else {
        return missing();
    };
    let names: Vec<String> = row.get(0);
    let types: Vec<String> = row.get::<_, Option<Vec<String>>>(1).unwrap_or_default();
    let returns: String = row.get(2);
    let mut named = Vec::new();
    for (k, v) in &args {
        let Some(i) = names.iter().position(|n| n == k) else {
            return missing();
        };
        let ty = &types[i];
        named.push(if v.is_array() {
            format!("{k} := ARRAY(SELECT json_array_elements_text($1::text::json->'{k}'))::{ty}")
        } else {
            format!("{k} := ($1::text::json->>'{k}')::{ty}")
        });
    }
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let call = format!("{function}({})", named.join(", "));
    if returns == "void" {
        return match answer(
            rt.block_on(client.execute(&format!("SELECT {call}"), &[&body]))
                .map(|_| ()),
        ) {
            (201, v) => (200, v),
            other => other,
        };
    }
    match rt.block_on(client.query_one(&format!("SELECT to_json({call})::text"), &[&body])) {
        Ok(row) => (
            200,
            row.get::<_, Option<String>>(0)
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null),
        ),
        Err(e) => answer(Err(e)),
    }
}

/// PostgREST's answer to a statement's outcome.
fn answer(r: Result<(), tokio_postgres::Error>) -> (u16, Value) {
    match r {
        Ok(()) => (201, Value::Null),
        Err(e) => {
            let db = e.as_db_error();
            let code = db.map(|d| d.code().code().to_owned()).unwrap_or_default();
            let message = db
                .map(|d| d.message().to_owned())
                .unwrap_or_else(|| e.to_string());
            // PostgREST's mapping of SQLSTATEs to HTTP statuses.
            let status = match code.as_str() {
                "23505" | "23503" => 409,
                "42P01" => 404,
                "42501" => 403,
                c if c.starts_with("22") || c.starts_with("23") => 400,
                _ => 500,
            };
            (status, err_body(&code, &message))
        }
    }
}
