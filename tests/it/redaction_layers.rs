//! Two file layers with different redaction on one registry, composed in both orders: each
//! writes its own rendering of the span's and the event's fields. Span fields are stored per
//! rendering settings, so which layer sees a span first does not decide what the other writes.

use crate::common;

use actionlog::{FileLayer, Redaction, Timezone};
use common::{day_files, json_lines};
use tracing_subscriber::prelude::*;

fn metadata(dir: &std::path::Path) -> serde_json::Value {
    let lines = json_lines(&day_files(dir)[0]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0]["metadata"].clone()
}

#[test]
fn each_layer_writes_its_own_redaction_in_either_order() {
    for strict_first in [true, false] {
        let (strict_dir, open_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (strict, g1) = FileLayer::builder(strict_dir.path())
            .timezone(Timezone::Utc)
            .redaction(Redaction::new(["pin", "password"]))
            .build()
            .unwrap();
        let (open, g2) = FileLayer::builder(open_dir.path())
            .timezone(Timezone::Utc)
            .redaction(Redaction::none())
            .build()
            .unwrap();
        let emit = || {
            let span = tracing::info_span!("checkout", pin = 1234, user_id = "ana");
            let _in = span.enter();
            tracing::Span::current().record("pin", 4321);
            tracing::info!(password = "hunter2", "paid");
        };
        if strict_first {
            let s = tracing_subscriber::registry().with(strict).with(open);
            tracing::subscriber::with_default(s, emit);
        } else {
            let s = tracing_subscriber::registry().with(open).with(strict);
            tracing::subscriber::with_default(s, emit);
        }
        assert!(g1.flush() && g2.flush());
        let strict = metadata(strict_dir.path());
        let open = metadata(open_dir.path());
        assert_eq!(strict["pin"], "[REDACTED]", "strict first: {strict_first}");
        assert_eq!(strict["password"], "[REDACTED]");
        assert_eq!(strict["user_id"], "ana");
        assert_eq!(open["pin"], 4321, "strict first: {strict_first}");
        assert_eq!(open["password"], "hunter2");
        assert_eq!(open["user_id"], "ana");
    }
}
