//! A loopback TCP proxy the test owns, to cut and restore the path to PostgreSQL without
//! touching the shared server. While disabled it accepts and immediately closes connections
//! (the client sees a reset/EOF) and cuts every connection it was carrying.
//!
//! [`Proxy::cut_after_next_commit`] arms a one-shot fault for "the server committed but the
//! client never saw the reply": the next PostgreSQL simple-query `COMMIT` message going to the
//! server is forwarded, and the first bytes the server sends back on that connection (its answer,
//! which it sends only once the commit is done) are thrown away; the proxy then disables itself
//! and cuts every connection, so the client sees a reset instead of its `COMMIT`'s reply. The
//! proxy must be able to read the protocol: connect through it with `sslmode=disable`
//! ([`Proxy::plain_url`]).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The frontend message tokio-postgres sends for `Transaction::commit`: a simple query
/// (`Q`, length 11 including itself) of `COMMIT\0`.
const COMMIT_MSG: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";

pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    enabled: AtomicBool,
    stop: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
    /// Armed by [`Proxy::cut_after_next_commit`].
    cut_armed: AtomicBool,
    /// Commit replies swallowed so far.
    cuts: AtomicU64,
}

impl Proxy {
    pub fn start(upstream: SocketAddr, enabled: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            enabled: AtomicBool::new(enabled),
            stop: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
            cut_armed: AtomicBool::new(false),
            cuts: AtomicU64::new(0),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                if !s.enabled.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                {
                    let mut live = s.live.lock().unwrap();
                    live.push(client.try_clone().unwrap());
                    live.push(server.try_clone().unwrap());
                }
                // Set once this connection's COMMIT went to the server while armed.
                let commit_sent = Arc::new(AtomicBool::new(false));
                to_server(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    s.clone(),
                    commit_sent.clone(),
                );
                to_client(server, client, s.clone(), commit_sent);
            }
        });
        Proxy { addr, shared }
    }

    /// Turns the path on or off; off also cuts every open connection.
    pub fn set_enabled(&self, on: bool) {
        self.shared.set_enabled(on);
    }

    /// Arms the one-shot "commit done, reply lost" fault (see the module doc).
    pub fn cut_after_next_commit(&self) {
        self.shared.cut_armed.store(true, Ordering::SeqCst);
    }

    /// How many commit replies the proxy has swallowed.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// [`Proxy::url`] with TLS switched off (`sslmode=disable`), for the faults that read the
    /// protocol.
    pub fn plain_url(&self, url: &str) -> String {
        let u = self.url(url);
        let sep = if u.contains('?') { '&' } else { '?' };
        format!("{u}{sep}sslmode=disable")
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (auth_host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let user = auth_host
            .rsplit_once('@')
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{}/{path}", self.addr)
    }
}

impl Shared {
    fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::SeqCst);
        if !on {
            for s in self.live.lock().unwrap().drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Client to server: forwards everything; while armed, watches for the `COMMIT` message and
/// marks the connection before forwarding it (so the reply cannot overtake the mark).
fn to_server(
    mut from: TcpStream,
    mut to: TcpStream,
    shared: Arc<Shared>,
    commit_sent: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        // The last bytes of the previous read, in case the message straddles two reads.
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if shared.cut_armed.load(Ordering::SeqCst) {
                let mut window = std::mem::take(&mut tail);
                window.extend_from_slice(&buf[..n]);
                if window.windows(COMMIT_MSG.len()).any(|w| w == COMMIT_MSG)
                    && shared.cut_armed.swap(false, Ordering::SeqCst)
                {
                    commit_sent.store(true, Ordering::SeqCst);
                }
                tail = window[window.len().saturating_sub(COMMIT_MSG.len() - 1)..].to_vec();
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// Server to client: forwards everything, except that the first reply after a marked `COMMIT`
/// is swallowed and every connection cut (the proxy disables itself first, so the client's
/// reconnection attempts fail until the test turns it back on).
fn to_client(
    mut from: TcpStream,
    mut to: TcpStream,
    shared: Arc<Shared>,
    commit_sent: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if commit_sent.load(Ordering::SeqCst) {
                shared.set_enabled(false);
                shared.cuts.fetch_add(1, Ordering::SeqCst);
                break;
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.set_enabled(false);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The socket address of a `postgres://…@host:port/…` URL.
pub fn upstream_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let host_port = rest.split('/').next().unwrap();
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    use std::net::ToSocketAddrs;
    host_port.to_socket_addrs().unwrap().next().unwrap()
}
