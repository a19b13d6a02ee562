//! A panic inside a sink, caught: [`CatchPanic`] runs every poll of a write under
//! `catch_unwind`, and [`panicked`] turns the payload into a failed write, so delivery keeps the
//! batch (see [`super::delivery`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::sink::{FailureKind, SinkError};

/// A panic inside the sink, as a transient failure: a sink that panics once (a bug on one
/// code path, an unexpected reply) usually writes on the next attempt, and one that always
/// panics is an outage like a refused connection — the batch waits, spills, and is counted.
pub(super) fn panicked(payload: &(dyn std::any::Any + Send)) -> SinkError {
    SinkError::new(
        FailureKind::Transient,
        format!("the sink panicked: {}", crate::report::panic_text(payload)),
    )
}

/// A future whose polls run under `catch_unwind`, ending with the panic's payload if one
/// panics (`futures::FutureExt::catch_unwind`, without the dependency).
pub(super) struct CatchPanic<F>(pub(super) F);

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        // The sink is not used again after a panic except through a fresh `write` call, which
        // a sink must survive after any failed one: unwind safety is the sink's own contract.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Pin::new(&mut *inner).poll(cx)
        })) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}
