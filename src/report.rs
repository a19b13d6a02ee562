//! actionlog's own diagnostics (write failures, drops at shutdown). They go straight to stderr,
//! never through `tracing`: a report about a broken pipeline must not depend on that pipeline,
//! nor feed events back into it.

use std::fmt;
use std::io::Write;

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// Writes one `actionlog: …` line to stderr, ignoring errors (there is nowhere left to report them).
pub(crate) fn emit(args: fmt::Arguments<'_>) {
    let line = format!("actionlog: {args}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
