//! What `init` does beyond `build`: the layers installed as the process's global subscriber,
//! the `log` crate bridged in, the panic hook, the signal handlers and the exit function.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Layer, SubscriberExt};

use crate::error::Error;
use crate::guard::Guard;

/// Set once our subscriber is the global one. Our own flag, not
/// `tracing::dispatcher::has_been_set()`: that is also true while any scoped dispatcher
/// (`with_default`) exists, which is no reason to refuse. Another crate's global subscriber
/// shows as `set_global_default` failing in [`install`].
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// [`Error::AlreadyInitialized`] after a successful `init`, before anything is built.
pub(crate) fn refuse_second() -> Result<(), Error> {
    if INSTALLED.load(Ordering::Acquire) {
        return Err(Error::AlreadyInitialized);
    }
    Ok(())
}

/// Installs `layer` globally and the rest; on failure `guard` is dropped here, so its threads
/// stop and nothing stays behind.
pub(crate) fn install(
    layer: impl Layer<Registry> + Send + Sync + 'static,
    guard: Guard,
    max_level: Option<LevelFilter>,
    panic_hook: bool,
    signals: bool,
) -> Result<Guard, Error> {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .map_err(|_| Error::AlreadyInitialized)?;
    INSTALLED.store(true, Ordering::Release);
    // Route `log` records into tracing. If the app installed another `log` logger first,
    // its records stay with that logger: not an error for us.
    let log_level = match max_level {
        Some(l) => tracing_log::AsLog::as_log(&l),
        None => tracing_log::log::LevelFilter::Trace,
    };
    let _ = tracing_log::LogTracer::builder()
        .with_max_level(log_level)
        .init();
    if panic_hook {
        crate::panic_hook::install(guard.flushers());
    }
    if signals {
        crate::signals::install(guard.stoppers(), guard.flush_deadline());
    }
    crate::at_exit::install(guard.stoppers(), guard.flush_deadline());
    Ok(guard)
}
