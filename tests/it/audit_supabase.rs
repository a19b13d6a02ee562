//! The audit trail through Supabase's REST API: rows and digests written through PostgREST
//! (the contract double in `common/postgrest.rs`, which performs every request in the real
//! PostgreSQL, since PostgREST itself cannot run here) verify clean, read back through the
//! same API; a change and a deletion made in the database are named.
#![cfg(all(
    feature = "audit",
    feature = "query",
    feature = "supabase",
    feature = "postgres"
))]

use std::time::Duration;

use crate::common;

use actionlog::audit::SigningKey;
use actionlog::query::Target;
use actionlog::sink::SupabaseSink;
use common::audit::{assert_clean, deleted, modified, problems, verify, write_trail};
use common::pg::TestDb;
use common::postgrest::Double;

const KEY: &str = "audit-sb-key";

#[test]
fn a_trail_written_through_postgrest_verifies_and_a_change_is_named() {
    let Some(db) = TestDb::new("audit_sb_trail") else {
        return;
    };
    db.migrate(&[
        "0001_action_logs.sql",
        "0002_jobs.sql",
        "0006_trace_context.sql",
        "0007_audit.sql",
    ]);
    let double = Double::start(&db.url, &db.schema, KEY);
    let sink = SupabaseSink::new(&double.url, KEY)
        .unwrap()
        .timeout(Duration::from_secs(5))
        .unwrap();
    let key = SigningKey::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_trail(sink, dir.path(), &key, "edge-1", 25);
    let target = Target::Supabase {
        url: double.url.clone(),
        key: KEY.into(),
    };
    let digests = [dir.path().join("digests")];
    let r = verify(&target, &key.public(), &digests);
    assert_clean(&r);
    assert_eq!(r.rows, 25 + 1 + 4, "{r:?}");

    let rows = db.query(
        "SELECT id::text FROM action_logs WHERE status = 'failed' ORDER BY action_timestamp, id",
    );
    let (changed, gone): (String, String) = (rows[0].get(0), rows[1].get(0));
    db.query(&format!(
        "UPDATE action_logs SET error_message = 'nothing happened' WHERE id = '{changed}'"
    ));
    db.query(&format!("DELETE FROM action_logs WHERE id = '{gone}'"));
    let r = verify(&target, &key.public(), &digests);
    let names = |v: Vec<uuid::Uuid>| v.iter().map(|u| u.to_string()).collect::<Vec<_>>();
    assert_eq!(names(modified(&r)), vec![changed], "{:#?}", problems(&r));
    assert_eq!(names(deleted(&r)), vec![gone], "{:#?}", problems(&r));
    assert!(double.violations().is_empty(), "{:?}", double.violations());
}
