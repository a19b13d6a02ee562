//! Headless Chromium for the dashboard's browser tests, through `chromedriver` (Debian's
//! `chromium` and `chromium-driver`) and a small WebDriver client over [`super::http`]: the
//! W3C commands the tests need, nothing more. Under `CI=true` a missing browser fails the
//! test; elsewhere the test is skipped loudly.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http;

const DRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the driver is killed (and the profile removed) on drop.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct El(String);

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session, or `None` (skip)
    /// when they are not installed outside CI.
    pub fn start() -> Option<Browser> {
        if !std::path::Path::new(DRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true and {DRIVER} or {CHROMIUM} is missing (apt-get install chromium chromium-driver)"
                );
            }
            eprintln!("SKIPPED: no {DRIVER} or {CHROMIUM}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = std::net::TcpStream::connect(addr).is_ok()
                && serde_json::from_str::<Value>(&http::get(addr, "/status").body)
                    .is_ok_and(|v| v["value"]["ready"] == true);
            if up {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        } } });
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let v = b.cmd("POST", "/session", caps);
        b.session = v["sessionId"].as_str().expect("a session").to_owned();
        Some(b)
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if method == "GET" || method == "DELETE" {
            String::new()
        } else {
            body.to_string()
        };
        let r = http::request(
            self.addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            &body,
        );
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        assert!(
            r.status == 200,
            "WebDriver {method} {path}: {} {}",
            r.status,
            r.body
        );
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", &self.s("/url"), json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", &self.s("/url"), Value::Null)
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn find_all(&self, css: &str) -> Vec<El> {
        let v = self.cmd(
            "POST",
            &self.s("/elements"),
            json!({ "using": "css selector", "value": css }),
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| El(e[ELEMENT].as_str().unwrap().to_owned()))
            .collect()
    }

    pub fn find(&self, css: &str) -> El {
        self.find_all(css)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {css:?} on {}", self.url()))
    }

    pub fn click(&self, e: &El) {
        self.cmd(
            "POST",
            &self.s(&format!("/element/{}/click", e.0)),
            json!({}),
        );
    }

    /// Types `text` into the element (a form field).
    pub fn send_keys(&self, e: &El, text: &str) {
        self.cmd(
            "POST",
            &self.s(&format!("/element/{}/value", e.0)),
            json!({ "text": text }),
        );
    }

    /// The cookies the browser holds for the current page, `HttpOnly` ones included: each
    /// `{name, value, path, httpOnly, sameSite, …}`.
    pub fn cookies(&self) -> Vec<Value> {
        self.cmd("GET", &self.s("/cookie"), Value::Null)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn text(&self, e: &El) -> String {
        self.cmd(
            "GET",
            &self.s(&format!("/element/{}/text", e.0)),
            Value::Null,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub fn attr(&self, e: &El, name: &str) -> Option<String> {
        self.cmd(
            "GET",
            &self.s(&format!("/element/{}/attribute/{name}", e.0)),
            Value::Null,
        )
        .as_str()
        .map(str::to_owned)
    }

    /// Runs `script` in the page (a function body: `return …`).
    pub fn eval(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            &self.s("/execute/sync"),
            json!({ "script": script, "args": [] }),
        )
    }

    /// The body's visible text.
    pub fn body(&self) -> String {
        self.text(&self.find("body"))
    }

    /// Polls `cond` until it holds, failing the test with `what` after `within`.
    pub fn wait(&self, what: &str, within: Duration, mut cond: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + within;
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a PNG of the viewport under `target/` and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", &self.s("/screenshot"), Value::Null);
        let png = base64(b64.as_str().unwrap());
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http::request(self.addr, "DELETE", &self.s(""), &[], "");
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (what WebDriver screenshots are).
fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
