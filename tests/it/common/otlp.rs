//! A loopback OTLP/HTTP receiver the test owns. It stands in for an OpenTelemetry Collector,
//! which cannot run here, and enforces the protocol with the official definitions: every
//! request body is decoded with `opentelemetry-proto`'s messages (prost for
//! `application/x-protobuf`, their serde form — the OTLP/JSON mapping — for
//! `application/json`), after gunzip when `Content-Encoding: gzip`; the method, the path and
//! the `Content-Type` are checked; and it answers as the OTLP/HTTP specification says: 200
//! with an `ExportLogsServiceResponse` in the request's encoding, an error status with a
//! `google.rpc.Status` body, `Retry-After` on the retryable ones. A request it cannot accept
//! is answered 400 (or 415) and listed in [`Receiver::violations`].
//!
//! Faults can be queued; each request takes the next one: a status (with `Retry-After` if
//! given), a partial success, a connection reset before any answer, a slow answer, an answer
//! held until released. Or the receiver can be down for a while ([`Receiver::set_down`],
//! [`Receiver::set_down_with`]): every request takes the same fault until it is up again.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

/// The path a receiver serves, as the collector's `otlp` receiver does.
pub const LOGS_PATH: &str = "/v1/logs";

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with a `google.rpc.Status` body (and `Retry-After: <value>` if
    /// given), taking none of the records.
    Status(u16, Option<String>),
    /// Take the request, refuse its last `n` records and answer 200 with a partial success
    /// saying so (without saying which).
    PartialSuccess(i64, String),
    /// Answer 200 with a partial success that refuses nothing but carries this message.
    Warning(String),
    /// Read the request, then reset the connection without answering (nothing taken).
    Reset,
    /// Take the records, answer 200 only after this long.
    Slow(Duration),
    /// Take the records, answer 200 only once [`Receiver::release`] is called.
    Held,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Every header (names lowercase).
    pub headers: Vec<(String, String)>,
    pub gzip: bool,
    pub json: bool,
    /// The body, gunzipped: protobuf or JSON text.
    pub raw: Vec<u8>,
    pub request: ExportLogsServiceRequest,
    /// The status answered (0 for a reset).
    pub status: u16,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every log record of the request with its scope's name, in order.
    pub fn scoped_records(&self) -> Vec<(String, LogRecord)> {
        self.request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| {
                let name = s.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                s.log_records.iter().map(move |r| (name.clone(), r.clone()))
            })
            .collect()
    }

    /// Every log record of the request, in order.
    pub fn records(&self) -> Vec<LogRecord> {
        self.request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| s.log_records.clone())
            .collect()
    }
}

struct Shared {
    path: String,
    faults: Mutex<VecDeque<Fault>>,
    /// While set, every request takes this fault (the queued ones wait): a 503 as by a
    /// collector whose exporters are backed up, or a reset as by one that is gone.
    down: Mutex<Option<Fault>>,
    /// Whether [`Fault::Held`] answers were released.
    released: (Mutex<bool>, std::sync::Condvar),
    /// Records of this action type make their request invalid (400).
    refused_action_type: Mutex<Option<String>>,
    received: Mutex<Vec<Received>>,
    /// Records the receiver kept (2xx, less those a partial success refused).
    accepted: Mutex<Vec<LogRecord>>,
    violations: Mutex<Vec<String>>,
    stop: AtomicBool,
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>`: the base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it.
    pub base: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// A receiver at [`LOGS_PATH`].
    pub fn start() -> Receiver {
        Self::start_at(LOGS_PATH)
    }

    /// A receiver whose logs endpoint is `path`.
    pub fn start_at(path: &str) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            faults: Mutex::new(VecDeque::new()),
            down: Mutex::new(None),
            released: (Mutex::new(false), std::sync::Condvar::new()),
            refused_action_type: Mutex::new(None),
            received: Mutex::new(Vec::new()),
            accepted: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        Receiver {
            base: format!("http://{addr}"),
            addr,
            shared,
        }
    }

    /// The logs endpoint, `<base><path>`.
    pub fn endpoint(&self) -> String {
        format!("{}{}", self.base, self.shared.path)
    }

    /// From now on, a request holding a record with `actionlog.action_type` = `action_type`
    /// is invalid as a whole (400, nothing taken), as a collector refuses a malformed record.
    pub fn refuse_action_type(&self, action_type: &str) {
        *self.shared.refused_action_type.lock().unwrap() = Some(action_type.to_owned());
    }

    /// Down (every request answered 503 without `Retry-After`, nothing taken) or up again.
    pub fn set_down(&self, down: bool) {
        *self.shared.down.lock().unwrap() = down.then_some(Fault::Status(503, None));
    }

    /// Down, every request taking `f` (a reset, say), until `set_down(false)`.
    pub fn set_down_with(&self, f: Fault) {
        *self.shared.down.lock().unwrap() = Some(f);
    }

    /// Answers every request held by [`Fault::Held`], now and from now on.
    pub fn release(&self) {
        let (released, cv) = &self.shared.released;
        *released.lock().unwrap() = true;
        cv.notify_all();
    }

    pub fn push(&self, f: Fault) {
        self.shared.faults.lock().unwrap().push_back(f);
    }

    /// Every request so far, answered or not, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The records the receiver kept, in arrival order.
    pub fn accepted(&self) -> Vec<LogRecord> {
        self.shared.accepted.lock().unwrap().clone()
    }

    /// Requests a collector would have refused as malformed.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.release();
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer (not among opentelemetry-proto's
/// messages; its definition is `google/rpc/status.proto`'s first two fields).
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn respond(w: &mut TcpStream, status: u16, json: bool, extra: &[(&str, String)], body: &[u8]) {
    let ct = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(body);
}

fn respond_status(w: &mut TcpStream, code: u16, json: bool, extra: &[(&str, String)], msg: &str) {
    // gRPC code 3 (INVALID_ARGUMENT), 8 (RESOURCE_EXHAUSTED) or 14 (UNAVAILABLE), as the
    // collector maps them.
    let grpc = match code {
        429 => 8,
        502..=504 => 14,
        _ => 3,
    };
    let body = if json {
        serde_json::to_vec(&serde_json::json!({"code": grpc, "message": msg})).unwrap()
    } else {
        Status {
            code: grpc,
            message: msg.to_owned(),
        }
        .encode_to_vec()
    };
    respond(w, code, json, extra, &body);
}

fn respond_ok(w: &mut TcpStream, json: bool, partial: Option<ExportLogsPartialSuccess>) {
    let answer = ExportLogsServiceResponse {
        partial_success: partial,
    };
    let body = if json {
        serde_json::to_vec(&answer).unwrap()
    } else {
        answer.encode_to_vec()
    };
    respond(w, 200, json, &[], &body);
}

/// Drops the connection with a TCP reset (linger 0), as a crashed or overloaded server would.
fn reset(conn: TcpStream) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket descriptor and a properly sized `linger` value.
        unsafe {
            libc::setsockopt(
                conn.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
    drop(conn);
}

fn serve(conn: TcpStream, s: &Shared) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(req) = read_request(&mut r) {
        let json = req
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/json"));
        let (status, decoded) = match decode(&req, &s.path) {
            Ok(d) => (200, d),
            Err((status, why)) => {
                s.violations.lock().unwrap().push(why.clone());
                respond_status(&mut w, status, json, &[], &why);
                continue;
            }
        };
        let (gzip, raw, request) = decoded;
        let mut received = Received {
            path: req.path.clone(),
            headers: req.headers.clone(),
            gzip,
            json,
            raw,
            request,
            status,
            at: Instant::now(),
        };
        let records = received.records();
        let refused = s.refused_action_type.lock().unwrap().clone();
        if refused.is_some_and(|t| {
            records
                .iter()
                .any(|r| str_attr(&r.attributes, "actionlog.action_type") == Some(t.as_str()))
        }) {
            received.status = 400;
            s.received.lock().unwrap().push(received);
            respond_status(
                &mut w,
                400,
                json,
                &[],
                "invalid record: refused action type",
            );
            continue;
        }
        let down = s.down.lock().unwrap().clone();
        let fault = down.or_else(|| s.faults.lock().unwrap().pop_front());
        match fault {
            None => {
                s.accepted.lock().unwrap().extend(records);
                s.received.lock().unwrap().push(received);
                respond_ok(&mut w, json, None);
            }
            Some(Fault::Status(code, retry_after)) => {
                received.status = code;
                s.received.lock().unwrap().push(received);
                let extra: Vec<(&str, String)> = retry_after
                    .into_iter()
                    .map(|v| ("retry-after", v))
                    .collect();
                respond_status(&mut w, code, json, &extra, "injected failure");
            }
            Some(Fault::PartialSuccess(n, message)) => {
                let keep = records.len().saturating_sub(n as usize);
                s.accepted
                    .lock()
                    .unwrap()
                    .extend(records.into_iter().take(keep));
                s.received.lock().unwrap().push(received);
                let partial = ExportLogsPartialSuccess {
                    rejected_log_records: n,
                    error_message: message,
                };
                respond_ok(&mut w, json, Some(partial));
            }
            Some(Fault::Warning(message)) => {
                s.accepted.lock().unwrap().extend(records);
                s.received.lock().unwrap().push(received);
                let partial = ExportLogsPartialSuccess {
                    rejected_log_records: 0,
                    error_message: message,
                };
                respond_ok(&mut w, json, Some(partial));
            }
            Some(Fault::Reset) => {
                received.status = 0;
                s.received.lock().unwrap().push(received);
                drop(w);
                reset(r.into_inner());
                return;
            }
            Some(Fault::Held) => {
                s.accepted.lock().unwrap().extend(records);
                s.received.lock().unwrap().push(received);
                let (released, cv) = &s.released;
                let mut r = released.lock().unwrap();
                while !*r {
                    r = cv.wait(r).unwrap();
                }
                drop(r);
                respond_ok(&mut w, json, None);
            }
            Some(Fault::Slow(d)) => {
                s.accepted.lock().unwrap().extend(records);
                s.received.lock().unwrap().push(received);
                std::thread::sleep(d);
                respond_ok(&mut w, json, None);
            }
        }
    }
}

/// The request checked and decoded: (gzipped, raw body, message), or the status and reason
/// to refuse it with.
fn decode(
    req: &Request,
    path: &str,
) -> Result<(bool, Vec<u8>, ExportLogsServiceRequest), (u16, String)> {
    if req.method != "POST" {
        return Err((405, format!("method {}", req.method)));
    }
    if req.path != path {
        return Err((404, format!("path {}", req.path)));
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let gzip = match header("content-encoding") {
        None => false,
        Some("gzip") => true,
        Some(other) => return Err((415, format!("content-encoding {other}"))),
    };
    let raw = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&req.body[..])
            .read_to_end(&mut out)
            .map_err(|e| (400, format!("gzip body: {e}")))?;
        out
    } else {
        req.body.clone()
    };
    let request = match header("content-type") {
        Some("application/x-protobuf") => ExportLogsServiceRequest::decode(&raw[..])
            .map_err(|e| (400, format!("protobuf body: {e}")))?,
        Some("application/json") => {
            serde_json::from_slice(&raw).map_err(|e| (400, format!("OTLP/JSON body: {e}")))?
        }
        other => return Err((415, format!("content-type {other:?}"))),
    };
    if request.resource_logs.is_empty() {
        return Err((400, "no resource_logs".into()));
    }
    Ok((gzip, raw, request))
}

/// The string attribute `key` of a record (or a resource's attribute list).
pub fn attr<'a>(
    attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a opentelemetry_proto::tonic::common::v1::any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// The string value of attribute `key`.
pub fn str_attr<'a>(
    attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a str> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    match attr(attrs, key)? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}
