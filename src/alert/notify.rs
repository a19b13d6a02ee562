//! Where notifications go: a generic JSON webhook, a Slack-compatible incoming webhook, or a
//! command given the notification as JSON on its stdin. One try each here; the engine retries
//! within its bounds and keeps what was not delivered.
//!
//! Webhook URLs carry secrets (Slack's path, a `?token=`): a notifier shows its URL only as
//! [`crate::redact::url_origin`] gives it — in `Debug`, errors, reports and the state file —
//! and no error of the HTTP client is shown with its URL.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A notifier that cannot be used as given. Its message never holds the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidNotifier(String);

#[derive(Clone)]
enum Target {
    /// POST of the payload (`slack`: Slack's `text` and `blocks` made from it).
    Webhook { url: String, slack: bool },
    /// The program and its arguments, run without a shell.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

/// One place notifications go, named (the state file keys undelivered notifications by
/// name).
#[derive(Clone)]
pub struct Notifier {
    name: String,
    target: Target,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .field("to", &self.describe())
            .finish()
    }
}

/// Whether this build can reach an `https` webhook (rustls comes with `alert-tls`, or with
/// another feature that brings it).
const TLS: bool = cfg!(any(
    feature = "alert-tls",
    feature = "supabase",
    feature = "otlp"
));

fn check_url(url: &str) -> Result<(), InvalidNotifier> {
    let shown = crate::redact::url_origin(url);
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|_| InvalidNotifier(format!("not a URL ({shown})")))?;
    match parsed.scheme() {
        "http" => {}
        "https" if TLS => {}
        "https" => {
            return Err(InvalidNotifier(format!(
                "{shown}: https needs the cargo feature `alert-tls` (this build has no TLS)"
            )));
        }
        _ => {
            return Err(InvalidNotifier(format!(
                "{shown}: only http and https URLs can be webhooks"
            )));
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(InvalidNotifier(format!("{shown}: the URL has no host")));
    }
    Ok(())
}

impl Notifier {
    /// A generic JSON webhook: each notification POSTed as the payload documented in the
    /// README (`Content-Type: application/json`, `Idempotency-Key: <id>`), any 2xx answer
    /// taken as delivered.
    ///
    /// ```
    /// let n = actionlog::alert::Notifier::webhook("http://127.0.0.1:9000/hook?token=s3cret").unwrap();
    /// assert!(!format!("{n:?}").contains("s3cret"));
    /// ```
    ///
    /// # Errors
    /// [`InvalidNotifier`] for anything but an `http` (or, with TLS, `https`) URL with a host.
    pub fn webhook(url: &str) -> Result<Notifier, InvalidNotifier> {
        check_url(url)?;
        Ok(Notifier {
            name: "webhook".into(),
            target: Target::Webhook {
                url: url.trim().to_owned(),
                slack: false,
            },
        })
    }

    /// A Slack-compatible incoming webhook: `text` (the fallback line) and `blocks` (a
    /// section and a context line), stored text escaped as Slack's `mrkdwn` needs.
    ///
    /// # Errors
    /// As [`Notifier::webhook`].
    pub fn slack(url: &str) -> Result<Notifier, InvalidNotifier> {
        let mut n = Notifier::webhook(url)?;
        n.name = "slack".into();
        if let Target::Webhook { slack, .. } = &mut n.target {
            *slack = true;
        }
        Ok(n)
    }

    /// A command: `argv[0]` run with the rest as arguments (no shell), the payload as one
    /// JSON line on its stdin, stdout discarded, stderr inherited; exit status 0 is
    /// delivered. Killed after its timeout (default 5 s, [`Notifier::timeout`]).
    ///
    /// # Errors
    /// [`InvalidNotifier`] for an empty `argv`.
    pub fn command(argv: Vec<String>) -> Result<Notifier, InvalidNotifier> {
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(InvalidNotifier(
                "`command` needs at least the program to run".into(),
            ));
        }
        Ok(Notifier {
            name: "command".into(),
            target: Target::Command {
                argv,
                timeout: Duration::from_secs(5),
            },
        })
    }

    /// A command's timeout (ignored by webhooks, whose requests take the engine's).
    pub fn timeout(mut self, d: Duration) -> Notifier {
        if let Target::Command { timeout, .. } = &mut self.target {
            *timeout = d.max(Duration::from_millis(1));
        }
        self
    }

    /// Names it (default: its kind): the state file keys undelivered notifications by name,
    /// so two notifiers need two names.
    pub fn named(mut self, name: impl Into<String>) -> Notifier {
        self.name = name.into();
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `webhook`, `slack` or `command`.
    pub fn kind(&self) -> &'static str {
        match &self.target {
            Target::Webhook { slack: true, .. } => "slack",
            Target::Webhook { .. } => "webhook",
            Target::Command { .. } => "command",
        }
    }

    /// Where it sends, without secrets: a webhook's scheme, host and port; a command's
    /// program.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Webhook { url, .. } => crate::redact::url_origin(url),
            Target::Command { argv, .. } => argv[0].clone(),
        }
    }

    /// One try at delivering `payload`; the error says why, without secrets.
    pub(crate) async fn send(&self, http: &reqwest::Client, payload: &Value) -> Result<(), String> {
        match &self.target {
            Target::Webhook { url, slack } => {
                let body = if *slack {
                    slack_body(payload)
                } else {
                    payload.clone()
                };
                let id = payload["id"].as_str().unwrap_or_default();
                let sent = http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("Idempotency-Key", id)
                    .body(body.to_string())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("{}: HTTP {}", self.describe(), r.status().as_u16())),
                    Err(e) => Err(format!("{}: {}", self.describe(), http_error(&e))),
                }
            }
            Target::Command { argv, timeout } => {
                let (argv, timeout) = (argv.clone(), *timeout);
                let line = format!("{payload}\n");
                tokio::task::spawn_blocking(move || run_command(&argv, line.as_bytes(), timeout))
                    .await
                    .unwrap_or_else(|e| Err(format!("the command's task failed: {e}")))
            }
        }
    }
}

/// What went wrong with a request, in words that hold no URL: reqwest's own `Display`
/// names the URL, so only the kind of failure and the innermost I/O error are said.
fn http_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirected (not followed)"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut io = None;
    while let Some(s) = source {
        if let Some(i) = s.downcast_ref::<std::io::Error>() {
            io = Some(i.kind());
        }
        source = s.source();
    }
    match io {
        Some(kind) => format!("{what} ({kind})"),
        None => what.to_owned(),
    }
}

/// Runs `argv` with `stdin` on its standard input, killing it after `timeout`.
fn run_command(argv: &[String], stdin: &[u8], timeout: Duration) -> Result<(), String> {
    let program = &argv[0];
    let mut child = Command::new(program)
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{program}: cannot start: {e}"))?;
    // On a thread of its own: a command that does not read its stdin must not hold the pass
    // past the timeout once the pipe is full.
    let mut pipe = child.stdin.take();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(p) = pipe.as_mut() {
            let _ = p.write_all(&bytes);
        }
        drop(pipe);
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = writer.join();
                return Err(format!("{program}: killed after its timeout ({timeout:?})"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("{program}: {e}")),
        }
    };
    let _ = writer.join();
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program}: exited with {status}"))
    }
}

/// `&`, `<` and `>` as Slack's `mrkdwn` wants them, so stored text cannot make a link or a
/// mention.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

/// The Slack message of a payload: `text` is the notification's one line (what Slack shows
/// in notifications), `blocks` a section with the headline and summary and a context line
/// with the times, the store and the id.
pub(crate) fn slack_body(p: &Value) -> Value {
    let s = |k: &str| p[k].as_str().unwrap_or_default();
    let event = s("event");
    let icon = match event {
        "firing" => ":rotating_light:",
        "repeat" | "grew" => ":warning:",
        "resolved" => ":white_check_mark:",
        _ => ":information_source:",
    };
    let head = format!(
        "{} {} · {}",
        event.to_uppercase(),
        slack_escape(s("rule")),
        slack_escape(s("subject"))
    );
    let summary = slack_escape(&cut(s("summary"), 2500));
    let mut context = vec![format!("since {}", slack_escape(s("started_at")))];
    if let Some(n) = p["suppressed"].as_u64().filter(|n| *n > 0) {
        context.push(format!("{n} notifications held back by the throttle"));
    }
    context.push(format!("store {}", slack_escape(s("store"))));
    context.push(format!("id {}", slack_escape(s("id"))));
    json!({
        "text": format!("{icon} {head}: {summary}"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("{icon} *{head}*\n{summary}")}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context.join(" · ")}]},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_text_is_escaped_and_shaped() {
        let p = json!({"id": "x", "event": "firing", "rule": "job_overdue",
            "subject": "<!channel> & co", "summary": "late <http://evil|click>",
            "started_at": "2026-11-03T10:00:00Z", "store": "logs/actions.db", "suppressed": 2});
        let b = slack_body(&p);
        let text = b["text"].as_str().unwrap();
        assert!(text.contains("&lt;!channel&gt; &amp; co"), "{text}");
        assert!(!text.contains('<'), "{text}");
        assert_eq!(b["blocks"][0]["type"], "section");
        assert_eq!(b["blocks"][0]["text"]["type"], "mrkdwn");
        assert!(
            b["blocks"][1]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains("2 notifications held back")
        );
    }

    #[test]
    fn urls_are_checked_without_being_shown() {
        let e = Notifier::webhook("ftp://h/CANARY").unwrap_err();
        assert!(!e.to_string().contains("CANARY"), "{e}");
        assert!(Notifier::webhook("http://").is_err());
        assert!(Notifier::command(vec![]).is_err());
        let n = Notifier::slack("http://127.0.0.1:1/services/T/B/CANARY").unwrap();
        assert_eq!(n.describe(), "http://127.0.0.1:1/[REDACTED]");
        assert_eq!(n.kind(), "slack");
    }
}
