//! The standalone server of `actionlog serve`: the safe defaults decided before a socket is
//! opened (a non-loopback address needs a token), the `Host` names the dashboard answers set
//! from the address actually bound, and the limits on connections: hyper's HTTP/1 server with
//! a timer, so that a request head must arrive within [`Limits::header_read`] (from the
//! connection's opening, and again after each response: an idle kept-alive connection is
//! closed too), writes that make no progress fail after [`Limits::write`]
//! ([`super::deadline`]), and at most [`Limits::connections`] are served at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

use super::Dashboard;
use super::deadline::WriteDeadline;

/// The limits [`serve`] puts on connections (set on [`Dashboard`]).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// The longest wait for a request's head.
    pub header_read: Duration,
    /// The longest a write may make no progress.
    pub write: Duration,
    /// The most connections served at once.
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read: Duration::from_secs(10),
            write: Duration::from_secs(30),
            connections: 256,
        }
    }
}

/// Why the server did not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback address without a token: anyone who can reach it could read the logs.
    #[error(
        "refusing to listen on {0} without a token: it is not a loopback address (set --token-file or ACTIONLOG_TOKEN, or bind 127.0.0.1)"
    )]
    NeedsToken(SocketAddr),
    /// An empty token (a blank file or variable) would accept anyone.
    #[error("the token is empty")]
    EmptyToken,
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The bound socket could not be inspected.
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `addr` and serves `dashboard` until the process ends; `ready` is told the bound
/// address (the port, when `addr` asked for port 0) before the first request is accepted.
/// Connections are HTTP/1.1 with the limits set by [`Dashboard::header_read_timeout`],
/// [`Dashboard::write_timeout`] and [`Dashboard::max_connections`].
///
/// `Host` must then be the bound address (`127.0.0.1:PORT`, `localhost:PORT` on loopback)
/// or one of `extra_hosts`; on an unspecified address (`0.0.0.0`, `::`) with a token, any
/// `Host` is answered, the token being the guard.
///
/// # Errors
/// [`ServeError::NeedsToken`] before binding, [`ServeError::Bind`], [`ServeError::Io`].
pub async fn serve(
    dashboard: Dashboard,
    addr: SocketAddr,
    token: Option<String>,
    extra_hosts: Vec<String>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let token = token.map(|t| t.trim().to_owned());
    if token.as_deref().is_some_and(str::is_empty) {
        return Err(ServeError::EmptyToken);
    }
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(ServeError::NeedsToken(addr));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener.local_addr()?;
    let mut hosts = extra_hosts;
    if bound.ip().is_unspecified() {
        // Every name is this host's; the token decides (DNS rebinding needs no cookie).
        hosts.push("*".into());
    } else {
        hosts.push(bound.to_string());
        if bound.ip().is_loopback() {
            hosts.push(format!("localhost:{}", bound.port()));
        }
    }
    let mut d = dashboard.allowed_hosts(hosts);
    if let Some(t) = token {
        d = d.token(t);
    }
    let limits = d.server.clone();
    let router = d.router();
    ready(bound);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    loop {
        // A connection past the limit waits in the listen backlog, not in memory.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            unreachable!("the semaphore is never closed");
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // A refused or reset connection is that client's; out of descriptors (or
                // another error of the listener), wait for some to close.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                ) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write));
        let service = TowerToHyperService::new(router.clone());
        let conn = http.serve_connection(io, service);
        tokio::spawn(async move {
            // A connection's errors (a timeout, a reset) end that connection only.
            let _ = conn.await;
            drop(slot);
        });
    }
}
