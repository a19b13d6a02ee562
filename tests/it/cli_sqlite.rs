//! `actionlog` over the SQLite store the tracker example writes: `stats`, `jobs`, `actions`
//! and `runs` agree with the reference SQL run on the same file (its `NOW() - INTERVAL`
//! spelled the SQLite way), and a full session of every subcommand leaves the file — and the
//! directory — byte for byte as it was.
#![cfg(feature = "cli")]

use crate::common::cli;
use crate::common::reference_queries;

use std::collections::BTreeMap;
use std::path::Path;

/// The reference PostgreSQL, as SQLite says it.
fn sqlite_sql(sql: &str) -> String {
    sql.replace(
        "NOW() - INTERVAL '1 day'",
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')",
    )
    .replace(
        "NOW() - INTERVAL '7 days'",
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days')",
    )
}

fn reference(db: &Path, sql: &str) -> Vec<Vec<String>> {
    // immutable=1: no -wal/-shm beside the file (the test checks the directory is unchanged).
    let conn = rusqlite::Connection::open_with_flags(
        format!("file:{}?mode=ro&immutable=1", db.display()),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .unwrap();
    let mut st = conn.prepare(&sqlite_sql(sql)).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => String::new(),
                rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                rusqlite::types::ValueRef::Real(f) => f.to_string(),
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                    String::from_utf8_lossy(t).into_owned()
                }
            })
            .collect())
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                );
            }
        }
    }
    out
}

#[test]
fn over_the_tracker_store_the_command_agrees_with_the_reference_sql_and_writes_nothing() {
    let work = cli::run_tracker(&[]);
    let dir = work.path();
    let db = dir.join("logs/actions.db");
    let before = snapshot(dir);
    assert!(before.contains_key("logs/actions.db"));

    reference_queries::assert_agrees_with_reference(dir, &[], &|sql| reference(&db, sql));
    reference_queries::every_subcommand(dir, &[]);

    let after = snapshot(dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "files created or removed"
    );
    for (k, v) in &before {
        assert!(after[k] == *v, "{k} changed");
    }
}
