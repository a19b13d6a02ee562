//! The dashboard for tests: `actionlog::web::serve` on 127.0.0.1 port 0 in a thread of its
//! own (a tokio runtime per server), over a store and a log directory.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use actionlog::query::{Options, Store, Target};
use actionlog::web::Dashboard;

/// Starts a dashboard over `target` (log directory `log_dir`) and returns its address; it
/// runs until the test process ends. `tune` adjusts the dashboard (token, caps).
pub fn start(
    target: Target,
    log_dir: &Path,
    token: Option<&str>,
    tune: impl FnOnce(Dashboard) -> Dashboard + Send + 'static,
) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let log_dir = log_dir.to_path_buf();
    let token = token.map(str::to_owned);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let store = Store::open(&target, &Options::default()).await.unwrap();
            let d = tune(
                Dashboard::new(store)
                    .log_dir(log_dir)
                    .poll_interval(Duration::from_millis(50)),
            );
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            actionlog::web::serve(d, addr, token, Vec::new(), |a| tx.send(a).unwrap())
                .await
                .unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the dashboard did not start")
}
