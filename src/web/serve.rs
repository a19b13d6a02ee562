//! The standalone server of `actionlog serve`: the safe defaults decided before a socket is
//! opened (a non-loopback address needs a token), the `Host` names the dashboard answers set
//! from the address actually bound.

use std::net::SocketAddr;

use super::Dashboard;

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
    /// The server failed while running.
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `addr` and serves `dashboard` until the process ends; `ready` is told the bound
/// address (the port, when `addr` asked for port 0) before the first request is accepted.
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
    let router = d.router();
    ready(bound);
    axum::serve(listener, router).await?;
    Ok(())
}
