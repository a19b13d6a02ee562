//! The dashboard against clients that hold on: `serve` closes a connection that sends no
//! request head in time (silent, trickling, idle after a response), serves at most so many
//! connections at once, and cuts one that stops reading; exports are streamed a page at a
//! time, at most so many at once.
#![cfg(all(feature = "web", feature = "cli"))]

use crate::common::cli;
use crate::common::http;
use crate::common::web;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use actionlog::query::{Options, Store, Target};
use actionlog::web::Dashboard;
use axum::body::Body;
use futures_util::StreamExt;
use tower_service::Service;

/// How long anything may take before the test fails.
const WAIT: Duration = Duration::from_secs(30);
/// The timeouts the server is given here.
const SHORT: Duration = Duration::from_millis(300);

/// `n` actions, each with a result message of `pad` bytes, one microsecond apart, in
/// `<dir>/logs/actions.db`.
fn bulk_store(dir: &Path, n: usize, pad: usize) -> PathBuf {
    cli::sqlite_store(
        dir,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
             INSERT INTO action_logs (id, action_type, user_id, action_timestamp, status, result_message)
             SELECT printf('00000000-0000-7000-8000-%012x', i), 'bulk', 'user',
                    printf('2026-11-03T10:00:00.%06dZ', i), 'completed', substr(hex(zeroblob({pad})), 1, {pad})
             FROM n;",
            last = n - 1
        ),
    )
}

/// A dashboard over a small store, tuned by `tune`.
fn small(
    tune: impl FnOnce(Dashboard) -> Dashboard + Send + 'static,
) -> (tempfile::TempDir, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let db = bulk_store(dir.path(), 10, 10);
    let a = web::start(Target::Sqlite(db), &dir.path().join("logs"), None, tune);
    (dir, a)
}

/// Reads until the server closes the connection (true) or [`WAIT`] passes (false); whatever
/// it says before closing (a 408) is read and dropped.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() > deadline {
                    return false;
                }
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn silent_trickling_and_idle_connections_are_closed() {
    let (_dir, a) = small(|d| d.header_read_timeout(SHORT));

    // Connected, never a byte.
    let mut silent = TcpStream::connect(a).unwrap();
    assert!(
        closed_by_server(&mut silent),
        "a silent connection stayed open"
    );

    // A request head one byte at a time, each in time for the one before but never done.
    let mut slow = TcpStream::connect(a).unwrap();
    slow.write_all(format!("GET / HTTP/1.1\r\nHost: {a}\r\nX-Slow: ").as_bytes())
        .unwrap();
    // The pace of the trickle is the read timeout: a byte, then a read that waits that long.
    slow.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    let cut = loop {
        assert!(
            Instant::now() < deadline,
            "a trickling request head was never cut"
        );
        if slow.write_all(b"a").is_err() {
            break true;
        }
        match slow.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break true,
        }
    };
    assert!(cut);

    // A request answered, then nothing: the kept-alive connection is closed too.
    let mut idle = TcpStream::connect(a).unwrap();
    idle.write_all(format!("GET /assets/app.css HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes())
        .unwrap();
    idle.set_read_timeout(Some(WAIT)).unwrap();
    let mut r = BufReader::new(&mut idle);
    let (status, headers) = http::head(&mut r);
    assert_eq!(status, 200);
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .unwrap()
        .1
        .parse()
        .unwrap();
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    assert!(r.buffer().is_empty());
    drop(r);
    assert!(
        closed_by_server(&mut idle),
        "an idle kept-alive connection stayed open"
    );

    // The server still answers.
    assert_eq!(http::get(a, "/").status, 200);
}

#[test]
fn connections_past_the_limit_wait_for_a_free_one() {
    let (_dir, a) = small(|d| d.max_connections(2).header_read_timeout(WAIT * 2));
    let first = TcpStream::connect(a).unwrap();
    let _second = TcpStream::connect(a).unwrap();
    let mut third = http::connect(a, "GET", "/assets/app.css", &[], "");
    // Both connections held: the third is not served (a server without the limit answers
    // at once, and this read gets the answer).
    third.set_read_timeout(Some(SHORT)).unwrap();
    let mut byte = [0u8; 1];
    let e = third.read(&mut byte).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e}"
    );
    // One closes: the third is served.
    drop(first);
    third.set_read_timeout(Some(WAIT)).unwrap();
    let (status, _) = http::head(&mut BufReader::new(&mut third));
    assert_eq!(status, 200);
}

#[test]
fn a_client_that_stops_reading_loses_its_export() {
    // About 20 MB of CSV: far more than the socket buffers hold.
    let dir = tempfile::tempdir().unwrap();
    let db = bulk_store(dir.path(), 10_000, 2_000);
    let a = web::start(Target::Sqlite(db), &dir.path().join("logs"), None, |d| {
        d.max_exports(1).write_timeout(SHORT)
    });
    // A receive buffer fixed small, so the server's writes stall soon.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let mut held = rt
        .block_on(async {
            let s = tokio::net::TcpSocket::new_v4()?;
            s.set_recv_buffer_size(4096)?;
            s.connect(a).await
        })
        .unwrap()
        .into_std()
        .unwrap();
    held.set_nonblocking(false).unwrap();
    held.set_read_timeout(Some(WAIT)).unwrap();
    held.write_all(
        format!("GET /export/actions.csv HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let (status, _) = http::head(&mut BufReader::new(&mut held));
    assert_eq!(status, 200);
    // The one export allowed is that client's while it is being sent.
    let probe = || http::request(a, "HEAD", "/export/actions.csv", &[], "");
    let busy = probe();
    assert_eq!(busy.status, 503);
    assert!(busy.header("retry-after").is_some());
    // The client reads nothing more: its connection is cut and the export freed.
    let deadline = Instant::now() + WAIT;
    while probe().status != 200 {
        assert!(
            Instant::now() < deadline,
            "the stalled export was never freed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn get(path: &str) -> axum::http::Request<Body> {
    axum::http::Request::builder()
        .uri(path)
        .header("host", "127.0.0.1")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_capped_and_streamed_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = bulk_store(dir.path(), 2_500, 10);
    let store = Store::open(&Target::Sqlite(db.clone()), &Options::default())
        .await
        .unwrap();
    // At most two exports at once by default.
    let mut app = Dashboard::new(store)
        .log_dir(dir.path().join("logs"))
        .router();

    // Two exports whose bodies are not read yet hold both permits.
    let one = app.call(get("/export/actions.csv")).await.unwrap();
    let two = app.call(get("/export/actions.ndjson")).await.unwrap();
    assert_eq!((one.status().as_u16(), two.status().as_u16()), (200, 200));
    let three = app.call(get("/export/actions.csv")).await.unwrap();
    assert_eq!(three.status(), 503);
    assert!(three.headers().contains_key("retry-after"));
    assert_eq!(
        one.headers()["x-actionlog-row-limit"].to_str().unwrap(),
        "10000"
    );
    // A body dropped (read to its end or abandoned) gives its permit back.
    drop(one);
    let four = app.call(get("/export/actions.csv")).await.unwrap();
    assert_eq!(four.status(), 200);
    drop((two, four));

    // The first chunk is one page; rows written after it was received, older than every
    // row, still come at the end: the later pages are read as the client takes them.
    let r = app.call(get("/export/actions.ndjson")).await.unwrap();
    let mut body = r.into_body().into_data_stream();
    let first = body.next().await.unwrap().unwrap();
    let first = std::str::from_utf8(&first).unwrap().lines().count();
    assert!(
        (1..=1_000).contains(&first),
        "{first} rows in the first chunk"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "INSERT INTO action_logs (id, action_type, action_timestamp, status)
         VALUES ('00000000-0000-7000-8000-ffff00000001', 'late', '2026-11-02T00:00:00.000000Z', 'completed'),
                ('00000000-0000-7000-8000-ffff00000002', 'late', '2026-11-02T00:00:01.000000Z', 'completed');",
    )
    .unwrap();
    drop(conn);
    let mut rest = String::new();
    let mut chunks = 1;
    while let Some(c) = body.next().await {
        rest.push_str(std::str::from_utf8(&c.unwrap()).unwrap());
        chunks += 1;
    }
    assert!(chunks >= 3, "{chunks} chunks");
    let ids = web::ndjson_ids(&rest);
    assert_eq!(first + ids.len(), 2_502);
    assert_eq!(
        ids[ids.len() - 2..],
        [
            "00000000-0000-7000-8000-ffff00000002",
            "00000000-0000-7000-8000-ffff00000001"
        ]
    );
}
