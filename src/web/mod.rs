//! The dashboard (cargo feature `web`): server-rendered pages over [`crate::query`] — overview,
//! actions, jobs, runs, a live tail, exports, and (with `alert`) the alert watcher's firing
//! alerts and rules from its state file — as an axum [`Router`] an application can
//! mount, and [`serve`] for the standalone `actionlog serve`.
//!
//! Guarantees:
//! - **Read-only.** Every page reads through a [`Store`], which opens SQLite read-only and runs
//!   PostgreSQL in read-only transactions; the router answers `GET` and `HEAD` only (anything
//!   else is 405), so there is nothing to forge a request for.
//! - **Escaped.** Every value from the store (details, user agents, error messages, run logs)
//!   is written as HTML text by maud; the live page adds rows with `textContent`. The
//!   Content-Security-Policy allows scripts and styles from the dashboard's own `/assets/`
//!   only (no inline script, no CDN), so injected markup could not run even if it got through.
//! - **Bounded.** Pages hold at most [`MAX_PAGE`] rows, aggregates cover at most
//!   [`MAX_RANGE_DAYS`] days, exports at most [`crate::query::MAX_ROWS`] rows, streamed a page
//!   at a time, at most [`Dashboard::max_exports`] of them and [`Dashboard::max_streams`] live
//!   streams at once; [`serve`] closes connections that send no request head in time or stop
//!   reading, and holds at most [`Dashboard::max_connections`].
//! - **Local by default.** [`router`] answers only requests whose `Host` is a loopback name
//!   (DNS rebinding gets 403); [`serve`] binds 127.0.0.1 and refuses any other address
//!   without a token. The token is checked in constant time and never kept in a cookie:
//!   signing in opens a session (a random value kept in memory, ending after
//!   [`Dashboard::session_lifetime`], at sign-out or at restart) which an `HttpOnly`,
//!   `SameSite=Strict` cookie carries.
//! - **Shown as stored, nothing hidden.** Control characters, bidirectional controls and
//!   invisible format characters in stored text are written as visible `\u{…}` escapes.
//!
//! Every list works with JavaScript off: filters are GET forms, pagination and histogram zoom
//! are links. The one script (`assets/app.js`, ours) only drives the live page.

mod assets;
mod base;
mod daylines;
mod db;
mod deadline;
mod html;
mod live;
mod pages;
pub(crate) mod params;
mod security;
mod serve;
mod session;
mod trace_link;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;

use crate::query::{Options, Store};

pub use serve::{ServeError, serve};
pub use trace_link::TraceUrl;

/// The most rows one page shows.
pub const MAX_PAGE: usize = 500;
/// The longest time range an aggregate (overview, job statistics) covers.
pub const MAX_RANGE_DAYS: i64 = 93;

/// The dashboard's settings; [`Dashboard::router`] builds the router. Mount it at the root of
/// an application, on a port of its own, or nested under a prefix: its links, forms, assets,
/// event streams, redirects and cookie follow the path it was reached by.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use actionlog::query::{Options, Store, Target};
/// let store = Store::open(&Target::Sqlite("logs/actions.db".into()), &Options::default()).await?;
/// let app = axum::Router::new().nest("/logs", actionlog::web::Dashboard::new(store).log_dir("logs").router());
/// # let _ = app; Ok(()) }
/// ```
#[must_use]
pub struct Dashboard {
    store: Store,
    log_dir: PathBuf,
    hosts: Vec<String>,
    token: Option<String>,
    session_lifetime: Duration,
    secure_cookie: bool,
    max_streams: usize,
    max_exports: usize,
    poll: Duration,
    opts: Options,
    server: serve::Limits,
    trace_url: Option<TraceUrl>,
    #[cfg(feature = "alert")]
    alert_state: Option<PathBuf>,
}

impl Dashboard {
    /// Over `store`, with the log directory `logs`, loopback hosts only, no token.
    pub fn new(store: Store) -> Self {
        Dashboard {
            store,
            log_dir: PathBuf::from("logs"),
            hosts: Vec::new(),
            token: None,
            session_lifetime: Duration::from_secs(12 * 3600),
            secure_cookie: false,
            max_streams: 16,
            max_exports: 2,
            poll: Duration::from_millis(500),
            opts: Options::default(),
            server: serve::Limits::default(),
            trace_url: None,
            #[cfg(feature = "alert")]
            alert_state: None,
        }
    }

    /// The alert watcher's state file, whose firing alerts the overview shows and whose
    /// rules `/alerts` lists (default `<log_dir>/alert-state.json`, where `actionlog alert`
    /// keeps it). Read only, never through a link, within a bound.
    #[cfg(feature = "alert")]
    pub fn alert_state(mut self, path: impl Into<PathBuf>) -> Self {
        self.alert_state = Some(path.into());
        self
    }

    /// The bounds a SQLite store is re-opened with when its file changes state (default
    /// [`Options::default`]; pass the ones the store was opened with).
    pub fn options(mut self, opts: Options) -> Self {
        self.opts = opts;
        self
    }

    /// The log directory: day files (run and live pages), spool and dead letters (health).
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = dir.into();
        self
    }

    /// The `Host` values (`name` or `name:port`, compared case-insensitively) the dashboard
    /// answers; others get 403. Default: `localhost`, `127.0.0.1` and `[::1]` on any port.
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = String>) -> Self {
        self.hosts = hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        self
    }

    /// Requires this token: as `Authorization: Bearer …` (scripts), or in the sign-in form
    /// (or once as `?token=…`), which opens a session: the browser then holds a random
    /// session value in an `HttpOnly`, `SameSite=Strict` cookie scoped to the dashboard's
    /// path, never the token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How long a session lasts from sign-in, whatever it does meanwhile (default 12 hours).
    /// Sign-out ends it sooner, and a restart ends them all; at most 64 are live at once
    /// (one more ends the one that would end first).
    pub fn session_lifetime(mut self, d: Duration) -> Self {
        self.session_lifetime = d.max(Duration::from_secs(1));
        self
    }

    /// Marks the session cookie `Secure` on every sign-in (default: only when the request
    /// says it came over TLS, by its URI or a proxy's `X-Forwarded-Proto: https` or
    /// `Forwarded: proto=https`). Set it when the dashboard is only reached over HTTPS.
    pub fn secure_cookie(mut self, on: bool) -> Self {
        self.secure_cookie = on;
        self
    }

    /// The most live streams open at once (default 16); more get 503.
    pub fn max_streams(mut self, n: usize) -> Self {
        self.max_streams = n.max(1);
        self
    }

    /// The most exports being sent at once (default 2): each holds one page of rows while
    /// its client reads; more get 503 with `Retry-After`.
    pub fn max_exports(mut self, n: usize) -> Self {
        self.max_exports = n.max(1);
        self
    }

    /// How long [`serve`] waits for a request's head, from the connection's opening or the
    /// end of the previous response (default 10 s): a silent, trickling or idle kept-alive
    /// connection is closed then. An application serving [`Dashboard::router`] itself sets
    /// its own server's.
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.server.header_read = d.max(Duration::from_millis(1));
        self
    }

    /// How long [`serve`] lets a response wait on a client that reads nothing (default
    /// 30 s): a connection whose writes make no progress that long is closed, and the
    /// export or live stream it held ends.
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.server.write = d.max(Duration::from_millis(1));
        self
    }

    /// The most connections [`serve`] holds open at once (default 256); more wait in the
    /// listen backlog until one closes.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.server.connections = n.max(1);
        self
    }

    /// How often the live stream looks for new rows and lines (default 500 ms).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every.max(Duration::from_millis(10));
        self
    }

    /// Links the trace ids on the action and run pages to a trace viewer (default: the ids
    /// are shown without a link).
    pub fn trace_url(mut self, template: TraceUrl) -> Self {
        self.trace_url = Some(template);
        self
    }

    /// The router: pages, assets and exports, behind the security layer.
    pub fn router(self) -> Router {
        let app = Arc::new(App {
            streams: Arc::new(tokio::sync::Semaphore::new(self.max_streams)),
            exports: Arc::new(tokio::sync::Semaphore::new(self.max_exports)),
            source: db::Source::new(self.store, self.opts),
            #[cfg(feature = "alert")]
            alert_state: self
                .alert_state
                .unwrap_or_else(|| self.log_dir.join("alert-state.json")),
            log_dir: self.log_dir,
            poll: self.poll,
            trace_url: self.trace_url,
        });
        let access = Arc::new(security::Access::new(
            self.hosts,
            self.token,
            self.session_lifetime,
            self.secure_cookie,
        ));
        Router::new()
            .route("/", get(pages::overview::page))
            .route("/actions", get(pages::actions::list))
            .route("/actions/{id}", get(pages::actions::detail))
            .route("/jobs", get(pages::jobs::page))
            .route("/alerts", get(pages::alerts::page))
            .route("/runs", get(pages::runs::list))
            .route("/runs/{id}", get(pages::runs::detail))
            .route("/live", get(live::page))
            .route("/live/events", get(live::events))
            .route("/export/actions.csv", get(pages::export::csv))
            .route("/export/actions.ndjson", get(pages::export::ndjson))
            .route("/api/histogram.json", get(pages::api::histogram))
            .route("/assets/{name}", get(assets::serve))
            .fallback(pages::not_found)
            .with_state(app)
            .layer(axum::middleware::from_fn_with_state(
                access,
                security::check,
            ))
            // Outermost: the security layer's redirect and cookie need the prefix too.
            .layer(axum::middleware::from_fn(base::scope))
    }
}

/// The router over `store` with the defaults of [`Dashboard::new`].
pub fn router(store: Store) -> Router {
    Dashboard::new(store).router()
}

/// What every handler shares.
pub(crate) struct App {
    pub source: db::Source,
    pub log_dir: PathBuf,
    /// The alert watcher's state file.
    #[cfg(feature = "alert")]
    pub alert_state: PathBuf,
    /// Permits for open live streams.
    pub streams: Arc<tokio::sync::Semaphore>,
    /// Permits for exports being sent.
    pub exports: Arc<tokio::sync::Semaphore>,
    pub poll: Duration,
    /// The trace viewer the ids link to, if any.
    pub trace_url: Option<TraceUrl>,
}
