//! [`Builder::init`]: what is process-wide, beside [`Builder::build`] which is not — the layers
//! installed as the global subscriber, the `log` crate bridged in, the panic hook, the signal
//! handlers and the exit function.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Layer, SubscriberExt};

use crate::builder::Builder;
use crate::error::Error;
use crate::guard::Guard;

/// Set once our subscriber is the global one. Our own flag, not
/// `tracing::dispatcher::has_been_set()`: that is also true while any scoped dispatcher
/// (`with_default`) exists, which is no reason to refuse. Another crate's global subscriber
/// shows as `set_global_default` failing in [`install`].
static INSTALLED: AtomicBool = AtomicBool::new(false);

impl Builder {
    /// [`Self::build`], then installs the layers as the process's global subscriber, with the
    /// `log` crate bridged in and (unless turned off) the panic hook. Returns the guard to keep
    /// alive until the end of `main`.
    ///
    /// ```no_run
    /// fn main() -> Result<(), actionlog::Error> {
    ///     let _guard = actionlog::builder()
    ///         .log_dir("/var/log/tracker")
    ///         .filter("info,tracker=debug")
    ///         .init()?;
    ///     tracing::info!("started");
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    /// [`Error::AlreadyInitialized`] when a global subscriber exists (a second `init`); the
    /// errors of [`Self::build`].
    pub fn init(mut self) -> Result<Guard, Error> {
        refuse_second()?;
        self.announce_store = true;
        let max_level = self.env_filter()?.max_level_hint();
        let (panic_hook, signals) = (self.panic_hook, self.signals);
        let (layer, guard) = self.build::<Registry>()?;
        install(layer, guard, max_level, panic_hook, signals)
    }
}

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
