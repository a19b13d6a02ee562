//! The loopback OTLP/HTTP receiver the shipped stacks send their lines to, standing in for a
//! collector: a process of its own (this bench binary again, in receiver mode), as a
//! collector is, so its CPU and memory are not counted as the measured process's — though on
//! this machine it shares the cores, as a collector on the same host would.
//!
//! It answers every `POST` 200 with an empty `ExportLogsServiceResponse` once it has counted
//! the request's log records, by walking the protobuf down to them (resource logs, scope
//! logs, log records) rather than decoding every field: the tests decode every request with
//! the official definitions; here the receiver must cost as little as it can. It prints its
//! URL on stdout when it listens, and the records it counted when its stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that makes the bench binary a receiver.
pub const RECEIVER_ENV: &str = "ACTIONLOG_BENCH_OTLP_RECEIVER";

/// Receiver mode: listens on a loopback port, prints its logs URL, counts records until stdin
/// closes, then prints the count.
pub fn serve_stdio() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("http://{}/v1/logs", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    let records = Arc::new(AtomicU64::new(0));
    let count = records.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || serve(conn, &count));
        }
    });
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    println!("{}", records.load(Ordering::SeqCst));
}

/// A receiver process started by the measured one.
pub struct Remote {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<std::process::ChildStdout>,
    /// Its logs endpoint.
    pub url: String,
}

impl Remote {
    pub fn start() -> Remote {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(RECEIVER_ENV, "1")
            .env_remove("ACTIONLOG_BENCH_CHILD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut url = String::new();
        out.read_line(&mut url).unwrap();
        Remote {
            child,
            stdin,
            out,
            url: url.trim().to_owned(),
        }
    }

    /// The records it counted; it ends.
    pub fn finish(mut self) -> u64 {
        drop(self.stdin.take());
        let mut count = String::new();
        self.out.read_line(&mut count).unwrap();
        self.child.wait().unwrap();
        count.trim().parse().unwrap()
    }
}

/// One keep-alive connection: each request's records counted, then answered.
fn serve(conn: TcpStream, count: &AtomicU64) {
    conn.set_nodelay(true).unwrap();
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            }
        }
        body.resize(len, 0);
        r.read_exact(&mut body).unwrap();
        count.fetch_add(log_records(&body), Ordering::SeqCst);
        out.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        )
        .unwrap();
    }
}

/// The log records of an `ExportLogsServiceRequest`: its `resource_logs` (1), their
/// `scope_logs` (2), their `log_records` (2).
fn log_records(req: &[u8]) -> u64 {
    let mut n = 0;
    for rl in fields(req, 1) {
        for sl in fields(rl, 2) {
            n += fields(sl, 2).count() as u64;
        }
    }
    n
}

/// The length-delimited fields numbered `want` of a message.
fn fields(mut buf: &[u8], want: u64) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        while !buf.is_empty() {
            let key = varint(&mut buf);
            let value: &[u8] = match key & 7 {
                0 => {
                    varint(&mut buf);
                    &[]
                }
                1 => skip(&mut buf, 8),
                2 => {
                    let len = varint(&mut buf) as usize;
                    skip(&mut buf, len)
                }
                5 => skip(&mut buf, 4),
                _ => panic!("not a protobuf message"),
            };
            if key >> 3 == want && key & 7 == 2 {
                return Some(value);
            }
        }
        None
    })
}

fn varint(buf: &mut &[u8]) -> u64 {
    let mut v = 0;
    for shift in (0..64).step_by(7) {
        let b = buf[0];
        *buf = &buf[1..];
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
    }
    v
}

fn skip<'a>(buf: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (taken, rest) = buf.split_at(n);
    *buf = rest;
    taken
}
