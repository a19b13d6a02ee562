//! Store calls off the async threads: the SQLite backend answers on the calling thread, so
//! every call runs on tokio's blocking pool (PostgreSQL's futures are driven there too, by the
//! runtime's handle, which keeps one code path for every store).

use std::future::Future;
use std::sync::Arc;

use super::App;
use crate::query::Error;

/// Runs `f(app)` on the blocking pool and returns its result.
pub(crate) async fn call<T, F, Fut>(app: &Arc<App>, f: F) -> Result<T, Error>
where
    F: FnOnce(Arc<App>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Error>>,
    T: Send + 'static,
{
    let app = Arc::clone(app);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(f(app)))
        .await
        .unwrap_or_else(|e| {
            Err(Error::Query {
                target: "dashboard".into(),
                reason: format!("query task failed: {e}"),
            })
        })
}
