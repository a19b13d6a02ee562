//! Store calls off the async threads, on a store that follows the file.
//!
//! The SQLite backend answers on the calling thread, so every call runs on tokio's blocking
//! pool (PostgreSQL's futures are driven there too, by the runtime's handle: one code path for
//! every store).
//!
//! A SQLite store opened while no writer had the file open reads it `immutable=1` (see
//! `query/sqlite.rs`), which is right for a command that reads once, but a dashboard lives on:
//! a writer that starts later, or a checkpoint into the main file, would go unseen. So before
//! each call the file's state — whether a `-wal` file exists, the main file's length and
//! modification time — is compared with the state at open, and the store is opened anew when
//! it changed (an open is a few file operations and one schema query).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::App;
use crate::query::{Error, Options, Store, Target};

/// What the closures get: the current store and the log directory.
pub(crate) struct Ctx {
    pub store: Arc<Store>,
    pub log_dir: PathBuf,
}

type Stamp = (bool, u64, Option<SystemTime>);

fn stamp(db: &Path) -> Option<Stamp> {
    let md = std::fs::metadata(db).ok()?;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    Some((Path::new(&wal).exists(), md.len(), md.modified().ok()))
}

/// The store, re-opened when its SQLite file changed state.
pub(crate) struct Source {
    current: Mutex<(Arc<Store>, Option<Stamp>)>,
    opts: Options,
    /// The SQLite file, when the store is one.
    sqlite: Option<PathBuf>,
}

impl Source {
    pub fn new(store: Store, opts: Options) -> Self {
        #[cfg(feature = "sqlite")]
        let sqlite = matches!(store, Store::Sqlite(_)).then(|| PathBuf::from(store.target()));
        #[cfg(not(feature = "sqlite"))]
        let sqlite = None;
        let st = sqlite.as_deref().and_then(stamp);
        Source {
            current: Mutex::new((Arc::new(store), st)),
            opts,
            sqlite,
        }
    }

    /// The store to use now (called on a blocking thread: a re-open touches the file).
    async fn get(&self) -> Arc<Store> {
        let lock = || self.current.lock().unwrap_or_else(|p| p.into_inner());
        let Some(path) = &self.sqlite else {
            return Arc::clone(&lock().0);
        };
        let now = stamp(path);
        if now != lock().1 {
            // A failed re-open keeps the old store: its answers are at worst stale. Two
            // callers may both re-open; the later one wins, both are current.
            if let Ok(s) = Store::open(&Target::Sqlite(path.clone()), &self.opts).await {
                *lock() = (Arc::new(s), now);
            }
        }
        Arc::clone(&lock().0)
    }
}

/// Runs `f` with the current store on the blocking pool and returns its result.
pub(crate) async fn call<T, F, Fut>(app: &Arc<App>, f: F) -> Result<T, Error>
where
    F: FnOnce(Ctx) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Error>>,
    T: Send + 'static,
{
    let app = Arc::clone(app);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            let ctx = Ctx {
                store: app.source.get().await,
                log_dir: app.log_dir.clone(),
            };
            f(ctx).await
        })
    })
    .await
    .unwrap_or_else(|e| {
        Err(Error::Query {
            target: "dashboard".into(),
            reason: format!("query task failed: {e}"),
        })
    })
}
