//! The rule file: TOML that tunes the default rules, adds rules of its own, names the
//! notifiers and sets the engine's bounds. Read into spanned tables, so that every error —
//! TOML syntax, an unknown key, a value of the wrong type or out of range — names its line and
//! column ([`ConfigError`]).
//!
//! ```toml
//! [alert]
//! repeat = "4h"              # default for every rule (rules may set their own; "0": never)
//! max_notifications = 20     # at most this many notifications…
//! per = "1h"                 # …per this long; the rest are counted and said
//! attempts = 3               # tries per notification and pass
//! deadline = "10s"           # the most one pass spends delivering to one notifier
//!
//! [rules.job_overdue]        # a default rule (named by its kind), tuned
//! grace = "15m"
//!
//! [rules.checkout_failures]  # a rule of its own
//! kind = "failure_rate"
//! action_type = "checkout"
//! threshold = 0.2
//! min_count = 5
//! window = "30m"
//!
//! [[notify]]
//! kind = "slack"
//! url_env = "SLACK_WEBHOOK_URL"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::notify::Notifier;
use super::rules::{
    DEFAULT_REPEAT, Params, Rule, RuleKind, SilenceOf, default_rules, parse_duration,
};

/// A rule file that cannot be used: where, and why. Its `Display` is `PATH:LINE:COLUMN:
/// message` (without a path, `line L, column C: message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when read from one.
    pub path: Option<PathBuf>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong (never a webhook URL: those hold secrets).
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(p) => write!(
                f,
                "{}:{}:{}: {}",
                p.display(),
                self.line,
                self.column,
                self.message
            ),
            None => write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The engine's bounds: how often incidents repeat by default, the throttle, and how hard a
/// pass tries to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How often a lasting incident is notified again, for rules that do not say (default 1
    /// hour; `None`: never).
    pub repeat: Option<Duration>,
    /// At most this many notifications per [`Settings::per`] (default 20); more are not sent
    /// but counted, and the count is said in the next one sent and in a summary when the
    /// interval ends.
    pub max_notifications: u32,
    /// The throttle's interval (default 1 hour).
    pub per: Duration,
    /// Tries per notification in one pass (default 3).
    pub attempts: u32,
    /// The pause after a failed try, doubled each time (default 500 ms).
    pub backoff: Duration,
    /// The most one pass spends delivering to one notifier, tries and pauses included
    /// (default 10 s); what is left waits for the next pass.
    pub deadline: Duration,
    /// One request's or command's timeout (default 5 s), within the deadline.
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            repeat: Some(DEFAULT_REPEAT),
            max_notifications: 20,
            per: Duration::from_secs(3600),
            attempts: 3,
            backoff: Duration::from_millis(500),
            deadline: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Rules, notifiers and settings: the rule file read, or the defaults without one.
#[derive(Debug, Clone)]
pub struct Config {
    /// The rules: the six defaults (tuned or turned off by the file) and the file's own.
    pub rules: Vec<Rule>,
    /// Where notifications go.
    pub notifiers: Vec<Notifier>,
    /// The bounds.
    pub settings: Settings,
}

impl Default for Config {
    /// The default rules, no notifier, the default bounds: what works without a rule file.
    fn default() -> Self {
        Config {
            rules: default_rules(),
            notifiers: Vec::new(),
            settings: Settings::default(),
        }
    }
}

/// The largest rule file read.
const MAX_FILE: u64 = 1 << 20;

impl Config {
    /// Reads the rule file at `path`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, line and column (line 1, column 1 when the file
    /// cannot be read at all).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read;
        let whole = |message: String| ConfigError {
            path: Some(path.to_owned()),
            line: 1,
            column: 1,
            message,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(|e| whole(format!("cannot read the rule file: {e}")))?
            .take(MAX_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| whole(format!("cannot read the rule file: {e}")))?;
        if text.len() as u64 > MAX_FILE {
            return Err(whole(format!(
                "the rule file is larger than {MAX_FILE} bytes"
            )));
        }
        Config::parse(&text).map_err(|e| ConfigError {
            path: Some(path.to_owned()),
            ..e
        })
    }

    /// Reads a rule file's text.
    ///
    /// ```
    /// let c = actionlog::alert::Config::parse("[rules.job_overdue]\ngrace = \"15m\"\n").unwrap();
    /// assert_eq!(c.rules.len(), 6);
    /// let e = actionlog::alert::Config::parse("[rules.job_overdue]\ngrace = 15\n").unwrap_err();
    /// assert_eq!((e.line, e.column), (2, 9));
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] with the line and column of the offending key or value.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let p = Parser { text };
        let doc = DeTable::parse(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            p.error(at, e.message().trim().to_owned())
        })?;
        let root = doc.get_ref();
        let mut config = Config::default();
        for (k, _) in root.iter() {
            if !["alert", "rules", "notify"].contains(&k.get_ref().as_ref()) {
                return Err(p.at(
                    k,
                    format!(
                        "unknown section `{}`: expected [alert], [rules.NAME] or [[notify]]",
                        k.get_ref()
                    ),
                ));
            }
        }
        if let Some(v) = root.get("alert") {
            config.settings = p.settings(v)?;
        }
        for r in &mut config.rules {
            r.repeat = config.settings.repeat;
        }
        if let Some(v) = root.get("rules") {
            let t = p.table(v, "[rules]")?;
            for (name, body) in t.iter() {
                p.rule(&mut config, name, body)?;
            }
        }
        if let Some(v) = root.get("notify") {
            let DeValue::Array(items) = v.get_ref() else {
                return Err(p.at(v, "`notify` must be an array of tables: [[notify]]".into()));
            };
            for item in items {
                let n = p.notifier(item, config.notifiers.len(), &config.settings)?;
                if config.notifiers.iter().any(|o| o.name() == n.name()) {
                    let at = p
                        .table(item, "[[notify]]")?
                        .get("name")
                        .map_or(item.span(), |s| s.span());
                    return Err(p.error(
                        at.start,
                        format!(
                            "two notifiers are named `{}`: give each its own `name`",
                            n.name()
                        ),
                    ));
                }
                config.notifiers.push(n);
            }
        }
        Ok(config)
    }
}

struct Parser<'a> {
    text: &'a str,
}

type Value<'i> = Spanned<DeValue<'i>>;

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Parser<'_> {
    /// An error at byte `at` of the text.
    fn error(&self, at: usize, message: String) -> ConfigError {
        let at = at.min(self.text.len());
        let before = &self.text[..self.text.floor_char_boundary_compat(at)];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit_once('\n')
            .map_or(before, |(_, l)| l)
            .chars()
            .count()
            + 1;
        ConfigError {
            path: None,
            line,
            column,
            message,
        }
    }

    fn at<T>(&self, s: &Spanned<T>, message: String) -> ConfigError {
        self.error(s.span().start, message)
    }

    fn table<'v, 'i>(&self, v: &'v Value<'i>, what: &str) -> Result<&'v DeTable<'i>, ConfigError> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(t),
            _ => Err(self.at(v, format!("{what} must be a table"))),
        }
    }

    fn string(&self, v: &Value<'_>, key: &str) -> Result<String, ConfigError> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            _ => Err(self.at(v, format!("`{key}` must be a string"))),
        }
    }

    fn duration(&self, v: &Value<'_>, key: &str) -> Result<Duration, ConfigError> {
        let bad = || {
            self.at(
                v,
                format!("`{key}` must be a duration such as \"90s\", \"15m\", \"1h\", \"1d\""),
            )
        };
        match v.get_ref() {
            DeValue::String(s) => parse_duration(s).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    fn uint(&self, v: &Value<'_>, key: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => {
                i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
            }
            _ => None,
        };
        match n {
            Some(n) if n >= 0 && (min..=max).contains(&(n as u64)) => Ok(n as u64),
            _ => Err(self.at(
                v,
                format!("`{key}` must be a whole number from {min} to {max}"),
            )),
        }
    }

    fn fraction(&self, v: &Value<'_>, key: &str) -> Result<f64, ConfigError> {
        let f = match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(i) => i.as_str().parse::<f64>().ok(),
            _ => None,
        };
        match f {
            Some(f) if (0.0..=1.0).contains(&f) => Ok(f),
            _ => Err(self.at(
                v,
                format!("`{key}` must be a number from 0 to 1 (0.25 is 25 %)"),
            )),
        }
    }

    fn boolean(&self, v: &Value<'_>, key: &str) -> Result<bool, ConfigError> {
        match v.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.at(v, format!("`{key}` must be true or false"))),
        }
    }

    /// Refuses keys outside `allowed`.
    fn keys(&self, t: &DeTable<'_>, allowed: &[&str], what: &str) -> Result<(), ConfigError> {
        for (k, _) in t.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                return Err(self.at(
                    k,
                    format!(
                        "unknown key `{}` in {what}; expected one of: {}",
                        k.get_ref(),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn settings(&self, v: &Value<'_>) -> Result<Settings, ConfigError> {
        let t = self.table(v, "[alert]")?;
        self.keys(
            t,
            &[
                "repeat",
                "max_notifications",
                "per",
                "attempts",
                "backoff",
                "deadline",
                "timeout",
            ],
            "[alert]",
        )?;
        let mut s = Settings::default();
        if let Some(v) = t.get("repeat") {
            s.repeat = Some(self.duration(v, "repeat")?).filter(|d| !d.is_zero());
        }
        if let Some(v) = t.get("max_notifications") {
            s.max_notifications = self.uint(v, "max_notifications", 1, 100_000)? as u32;
        }
        if let Some(v) = t.get("per") {
            s.per = self.positive(v, "per")?;
        }
        if let Some(v) = t.get("attempts") {
            s.attempts = self.uint(v, "attempts", 1, 100)? as u32;
        }
        if let Some(v) = t.get("backoff") {
            s.backoff = self.duration(v, "backoff")?;
        }
        if let Some(v) = t.get("deadline") {
            s.deadline = self.positive(v, "deadline")?;
        }
        if let Some(v) = t.get("timeout") {
            s.timeout = self.positive(v, "timeout")?;
        }
        Ok(s)
    }

    fn positive(&self, v: &Value<'_>, key: &str) -> Result<Duration, ConfigError> {
        let d = self.duration(v, key)?;
        if d.is_zero() {
            return Err(self.at(v, format!("`{key}` must be longer than 0")));
        }
        Ok(d)
    }

    fn rule(
        &self,
        config: &mut Config,
        name: &Spanned<std::borrow::Cow<'_, str>>,
        body: &Value<'_>,
    ) -> Result<(), ConfigError> {
        let n = name.get_ref().as_ref();
        if !is_name(n) {
            return Err(self.at(
                name,
                format!("bad rule name `{n}`: lowercase letters, digits, `_` and `-`, at most 64"),
            ));
        }
        let t = self.table(body, &format!("[rules.{n}]"))?;
        let default_kind = RuleKind::parse(n);
        let kind = match t.get("kind") {
            Some(v) => {
                let s = self.string(v, "kind")?;
                let k = RuleKind::parse(&s).ok_or_else(|| {
                    self.at(
                        v,
                        format!(
                            "unknown rule kind `{s}`; expected one of: {}",
                            RuleKind::ALL.map(RuleKind::name).join(", ")
                        ),
                    )
                })?;
                if default_kind.is_some_and(|d| d != k) {
                    return Err(self.at(
                        v,
                        format!("[rules.{n}] is the default rule of kind `{n}`: its kind cannot be `{s}` (name a new rule otherwise)"),
                    ));
                }
                k
            }
            None => default_kind.ok_or_else(|| {
                self.at(
                    name,
                    format!(
                        "[rules.{n}] needs a `kind` (a new rule; the default ones are {})",
                        RuleKind::ALL.map(RuleKind::name).join(", ")
                    ),
                )
            })?,
        };
        let mut rule = config
            .rules
            .iter()
            .find(|r| r.name == n)
            .cloned()
            .unwrap_or_else(|| Rule {
                name: n.to_owned(),
                enabled: true,
                repeat: config.settings.repeat,
                params: Params::default_for(kind),
            });
        let common = ["kind", "enabled", "repeat"];
        let own: &[&str] = match kind {
            RuleKind::JobFailedMaxRetries => &["job_id"],
            RuleKind::JobOverdue => &["grace", "job_id"],
            RuleKind::FailureRate => &["window", "threshold", "min_count", "action_type"],
            RuleKind::DeadLetters => &["min_records"],
            RuleKind::SpoolGrowing => &["passes", "window"],
            RuleKind::Silence => &["max_silence", "of"],
        };
        let allowed: Vec<&str> = common.iter().chain(own).copied().collect();
        self.keys(t, &allowed, &format!("[rules.{n}] (kind {kind})"))?;
        if let Some(v) = t.get("enabled") {
            rule.enabled = self.boolean(v, "enabled")?;
        }
        if let Some(v) = t.get("repeat") {
            rule.repeat = Some(self.duration(v, "repeat")?).filter(|d| !d.is_zero());
        }
        let text = |k: &str| -> Result<Option<String>, ConfigError> {
            t.get(k).map(|v| self.string(v, k)).transpose()
        };
        match &mut rule.params {
            Params::JobFailedMaxRetries { job_id } => {
                if let Some(j) = text("job_id")? {
                    *job_id = Some(j);
                }
            }
            Params::JobOverdue { grace, job_id } => {
                if let Some(v) = t.get("grace") {
                    *grace = self.duration(v, "grace")?;
                }
                if let Some(j) = text("job_id")? {
                    *job_id = Some(j);
                }
            }
            Params::FailureRate {
                window,
                threshold,
                min_count,
                action_type,
            } => {
                if let Some(v) = t.get("window") {
                    *window = self.positive(v, "window")?;
                    if *window > Duration::from_secs(93 * 86_400) {
                        return Err(self.at(v, "`window` must be at most 93 days".into()));
                    }
                }
                if let Some(v) = t.get("threshold") {
                    *threshold = self.fraction(v, "threshold")?;
                }
                if let Some(v) = t.get("min_count") {
                    *min_count = self.uint(v, "min_count", 1, u32::MAX as u64)?;
                }
                if let Some(a) = text("action_type")? {
                    *action_type = Some(a);
                }
            }
            Params::DeadLetters { min_records } => {
                if let Some(v) = t.get("min_records") {
                    *min_records = self.uint(v, "min_records", 1, u32::MAX as u64)?;
                }
            }
            Params::SpoolGrowing { passes, window } => {
                if let Some(v) = t.get("passes") {
                    *passes = self.uint(v, "passes", 1, 100)? as u32;
                }
                if let Some(v) = t.get("window") {
                    *window = Some(self.positive(v, "window")?);
                }
            }
            Params::Silence { max_silence, of } => {
                if let Some(v) = t.get("max_silence") {
                    *max_silence = self.positive(v, "max_silence")?;
                }
                if let Some(v) = t.get("of") {
                    *of = match self.string(v, "of")?.as_str() {
                        "actions" => SilenceOf::Actions,
                        "runs" => SilenceOf::Runs,
                        "either" => SilenceOf::Either,
                        other => {
                            return Err(self.at(
                                v,
                                format!("unknown `of = \"{other}\"`: actions, runs or either"),
                            ));
                        }
                    };
                }
            }
        }
        match config.rules.iter_mut().find(|r| r.name == n) {
            Some(r) => *r = rule,
            None => config.rules.push(rule),
        }
        Ok(())
    }

    fn notifier(
        &self,
        item: &Value<'_>,
        index: usize,
        settings: &Settings,
    ) -> Result<Notifier, ConfigError> {
        let t = self.table(item, "[[notify]]")?;
        let kind_v = t.get("kind").ok_or_else(|| {
            self.at(
                item,
                "[[notify]] needs a `kind`: webhook, slack or command".into(),
            )
        })?;
        let kind = self.string(kind_v, "kind")?;
        let allowed: &[&str] = match kind.as_str() {
            "webhook" | "slack" => &["kind", "name", "url", "url_env"],
            "command" => &["kind", "name", "command", "timeout"],
            other => {
                return Err(self.at(
                    kind_v,
                    format!("unknown notifier kind `{other}`: webhook, slack or command"),
                ));
            }
        };
        self.keys(t, allowed, &format!("[[notify]] (kind {kind})"))?;
        let name = match t.get("name") {
            Some(v) => {
                let n = self.string(v, "name")?;
                if !is_name(&n) {
                    return Err(self.at(
                        v,
                        format!("bad notifier name `{n}`: lowercase letters, digits, `_` and `-`"),
                    ));
                }
                n
            }
            None => format!("{kind}-{}", index + 1),
        };
        let n = match kind.as_str() {
            "command" => {
                let v = t.get("command").ok_or_else(|| {
                    self.at(
                        item,
                        "a command notifier needs `command = [\"program\", \"arg\", …]`".into(),
                    )
                })?;
                let DeValue::Array(parts) = v.get_ref() else {
                    return Err(self.at(v, "`command` must be an array of strings: the program and its arguments (no shell)".into()));
                };
                let argv = parts
                    .iter()
                    .map(|p| self.string(p, "command"))
                    .collect::<Result<Vec<_>, _>>()?;
                let timeout = match t.get("timeout") {
                    Some(v) => self.positive(v, "timeout")?,
                    None => settings.timeout,
                };
                Notifier::command(argv)
                    .map_err(|e| self.at(v, e.to_string()))?
                    .timeout(timeout)
            }
            k => {
                let (url, at) = match (t.get("url"), t.get("url_env")) {
                    (Some(v), None) => (self.string(v, "url")?, v),
                    (None, Some(v)) => {
                        let var = self.string(v, "url_env")?;
                        let url = std::env::var(&var)
                            .ok()
                            .filter(|u| !u.trim().is_empty())
                            .ok_or_else(|| {
                                self.at(
                                    v,
                                    format!("the environment variable {var} (url_env) is not set"),
                                )
                            })?;
                        (url, v)
                    }
                    _ => {
                        return Err(self.at(
                            item,
                            format!("a {k} notifier needs `url` or `url_env` (one of them)"),
                        ));
                    }
                };
                let made = if k == "slack" {
                    Notifier::slack(&url)
                } else {
                    Notifier::webhook(&url)
                };
                made.map_err(|e| self.at(at, e.to_string()))?
            }
        };
        Ok(n.named(name))
    }
}

/// `str::floor_char_boundary`, stable only since Rust 1.91.
trait FloorBoundary {
    fn floor_char_boundary_compat(&self, at: usize) -> usize;
}

impl FloorBoundary for str {
    fn floor_char_boundary_compat(&self, mut at: usize) -> usize {
        while at > 0 && !self.is_char_boundary(at) {
            at -= 1;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        Config::parse(text).unwrap_err()
    }

    #[test]
    fn the_defaults_need_no_file() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.rules, default_rules());
        assert!(c.notifiers.is_empty());
    }

    #[test]
    fn tuning_adding_and_turning_off() {
        let c = Config::parse(
            "[alert]\nrepeat = \"4h\"\n\n[rules.job_overdue]\ngrace = \"15m\"\n\n\
             [rules.dead_letters]\nenabled = false\n\n[rules.checkout]\nkind = \"failure_rate\"\n\
             action_type = \"checkout\"\nthreshold = 0.2\nmin_count = 5\nwindow = \"30m\"\nrepeat = \"0\"\n",
        )
        .unwrap();
        assert_eq!(c.rules.len(), 7);
        let r = |n: &str| c.rules.iter().find(|r| r.name == n).unwrap();
        assert_eq!(
            r("job_overdue").params,
            Params::JobOverdue {
                grace: Duration::from_secs(900),
                job_id: None
            }
        );
        assert_eq!(r("job_overdue").repeat, Some(Duration::from_secs(4 * 3600)));
        assert!(!r("dead_letters").enabled);
        assert_eq!(r("checkout").repeat, None);
        assert_eq!(
            r("checkout").params,
            Params::FailureRate {
                window: Duration::from_secs(1800),
                threshold: 0.2,
                min_count: 5,
                action_type: Some("checkout".into())
            }
        );
    }

    #[test]
    fn every_error_names_its_line_and_column() {
        for (text, line, column, says) in [
            ("[rules.job_overdue]\ngrace = 15\n", 2, 9, "duration"),
            (
                "[rules.job_overdue]\n  gracee = \"1m\"\n",
                2,
                3,
                "unknown key `gracee`",
            ),
            ("[rules.mine]\nthreshold = 0.5\n", 1, 8, "needs a `kind`"),
            ("[rules.mine]\nkind = \"nope\"\n", 2, 8, "unknown rule kind"),
            (
                "[rules.x]\nkind = \"failure_rate\"\nthreshold = 1.5\n",
                3,
                13,
                "from 0 to 1",
            ),
            (
                "[alert]\nrepeat = \"1h\"\nrepeat = \"2h\"\n",
                3,
                1,
                "duplicate",
            ),
            ("[rules.job_overdue\n", 1, 19, ""),
            (
                "[[notify]]\nkind = \"webhook\"\nurl = \"ftp://x/secret\"\n",
                3,
                7,
                "http",
            ),
            ("[[notify]]\nkind = \"slack\"\n", 1, 1, "needs `url`"),
            ("[oops]\n", 1, 2, "unknown section"),
        ] {
            let e = err(text);
            assert_eq!((e.line, e.column), (line, column), "{text:?}: {e}");
            assert!(e.message.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_webhook_url_never_shows_in_errors_or_debug() {
        let e = err("[[notify]]\nkind = \"webhook\"\nurl = \"gopher://h/CANARY\"\n");
        assert!(!e.to_string().contains("CANARY"), "{e}");
        let c = Config::parse(
            "[[notify]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook?token=CANARY\"\n",
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("CANARY"), "{c:?}");
    }
}
