//! A minimal HTTP/1.1 client over a plain `TcpStream` for the dashboard's tests (and the
//! WebDriver client): one request per connection, `Content-Length` or chunked bodies, every
//! read bounded by a timeout so a hung server fails the test instead of hanging it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` to `addr` with `headers` (a `Host` of `127.0.0.1:PORT` unless given)
/// and `body`; reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut s = connect(addr, method, path, headers, body);
    let mut r = BufReader::new(&mut s);
    let (status, hs) = head(&mut r);
    let get = |n: &str| {
        hs.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut raw = Vec::new();
    if method == "HEAD" || status == 204 || status == 304 {
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            raw.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        raw.resize(n, 0);
        r.read_exact(&mut raw).unwrap();
    } else {
        r.read_to_end(&mut raw).unwrap();
    }
    Response {
        status,
        headers: hs,
        body: String::from_utf8_lossy(&raw).into_owned(),
    }
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], "")
}

/// Opens a connection and sends the request; the caller reads the response.
pub fn connect(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    s
}

/// Reads the status line and headers.
pub fn head(r: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut hs = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            hs.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    (status, hs)
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Event {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// A server-sent event stream being read (chunked HTTP body), each wait bounded.
pub struct Sse {
    r: BufReader<TcpStream>,
    pub status: u16,
    text: String,
}

impl Sse {
    /// `GET path` with `headers` (e.g. `Last-Event-ID`).
    pub fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Sse {
        let s = connect(addr, "GET", path, headers, "");
        let mut r = BufReader::new(s);
        let (status, _) = head(&mut r);
        r.get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Sse {
            r,
            status,
            text: String::new(),
        }
    }

    /// Whether the server ends the stream within `within` (whatever it sends before is
    /// dropped).
    pub fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        let mut buf = [0u8; 4096];
        while std::time::Instant::now() < deadline {
            match self.r.read(&mut buf) {
                Ok(0) => return true,
                // The chunked body's last chunk: the stream is over.
                Ok(n) if String::from_utf8_lossy(&buf[..n]).ends_with("0\r\n\r\n") => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// The next event (comments and keep-alives skipped), failing the test after `within`.
    pub fn next(&mut self, within: Duration) -> Event {
        let deadline = std::time::Instant::now() + within;
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut ev = Event {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut any = false;
                for l in block.lines() {
                    if let Some(v) = l.strip_prefix("event:") {
                        ev.event = v.trim().to_owned();
                        any = true;
                    } else if let Some(v) = l.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_owned());
                    } else if let Some(v) = l.strip_prefix("data:") {
                        ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return ev;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no event within {within:?}"
            );
            // One chunk: its size line, then its bytes (a read timeout just polls again).
            let mut line = String::new();
            match self.r.read_line(&mut line) {
                Ok(0) => panic!("the event stream ended"),
                Ok(_) => {}
                Err(_) => continue,
            }
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            let mut got = 0;
            while got < chunk.len() {
                match self.r.read(&mut chunk[got..]) {
                    Ok(0) => panic!("the event stream ended mid-chunk"),
                    Ok(k) => got += k,
                    Err(_) => assert!(std::time::Instant::now() < deadline, "chunk cut"),
                }
            }
            self.text
                .push_str(&String::from_utf8_lossy(&chunk[..n]).replace("\r\n", "\n"));
        }
    }
}
