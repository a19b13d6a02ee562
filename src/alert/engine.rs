//! The engine: one pass reads the store, evaluates the rules, moves the incidents along
//! (started, repeated, grown, resolved), lets the notifications through the throttle, keeps
//! them in the state file, then delivers what waits — within the bounds — and saves again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::config::{Config, ConfigError};
use super::notify::Notifier;
use super::observe::observe;
use super::rules::{Params, Rule, evaluate, format_duration};
use super::state::{Incident, MAX_PENDING, MAX_SAMPLES, Pending, State, StateError, StateLock};
use crate::clock::{Clock, SystemClock};
use crate::query::{Options, Store, Target};

/// Why the engine could not be built or a pass could not keep its state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rule file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state file: unreadable, unwritable, or held by another engine.
    #[error(transparent)]
    State(#[from] StateError),
    /// Settings that cannot work together (two notifiers of one name, two rules of one name).
    #[error("{0}")]
    Invalid(String),
}

/// A delivery that failed in this pass; the notification waits in the state file for the
/// next one.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryFailure {
    /// The notifier's name.
    pub notifier: String,
    /// The notification's id.
    pub id: String,
    /// Tries so far, over every pass.
    pub attempts: u32,
    /// The last try's error, without secrets.
    pub error: String,
}

/// What one pass did.
#[derive(Debug)]
pub struct PassReport {
    /// When (the engine's clock).
    pub at: DateTime<Utc>,
    /// The notifications this pass made and let through the throttle, as their payloads
    /// (the README's "Alerts" section documents the fields).
    pub events: Vec<Value>,
    /// Notifications this pass held back (the throttle's cap was reached).
    pub suppressed: u64,
    /// The incidents open after the pass.
    pub firing: Vec<Incident>,
    /// Notifications delivered in this pass (to any notifier, this pass's and earlier
    /// ones').
    pub delivered: usize,
    /// Notifications still waiting for a notifier.
    pub pending: usize,
    /// Deliveries that failed in this pass.
    pub failures: Vec<DeliveryFailure>,
    /// Rules that could not be evaluated and other things said once (a state file set
    /// aside, notifications dropped): their incidents are left as they were.
    pub problems: Vec<String>,
    /// The store could not be opened: no rule was evaluated (incidents left as they were);
    /// waiting notifications were still delivered.
    pub store_error: Option<crate::query::Error>,
}

impl PassReport {
    /// Whether something is firing after the pass.
    pub fn firing(&self) -> bool {
        !self.firing.is_empty()
    }
}

/// Builds an [`Engine`]; every setting has a default.
#[must_use]
pub struct EngineBuilder {
    target: Target,
    opts: Options,
    config: Config,
    extra: Vec<Notifier>,
    log_dir: PathBuf,
    state_file: Option<PathBuf>,
    clock: Arc<dyn Clock>,
}

impl EngineBuilder {
    /// The rules, notifiers and settings (default [`Config::default`]: the six default rules,
    /// no notifier).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Adds a notifier beside the config's.
    pub fn notifier(mut self, n: Notifier) -> Self {
        self.extra.push(n);
        self
    }

    /// The log directory: spool and dead letters, and the state file's default place
    /// (default `logs`).
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = dir.into();
        self
    }

    /// The state file (default `<log_dir>/alert-state.json`).
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Where time comes from (default the system clock); tests pass a
    /// [`crate::ManualClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The store's bounds (default [`Options::default`]).
    pub fn options(mut self, opts: Options) -> Self {
        self.opts = opts;
        self
    }

    /// Takes the state file (its directory made if missing), reads what it holds, and makes
    /// the engine. A state file that cannot be read as one is moved aside
    /// (`<state>.unreadable-<time>`), said in the first pass's problems, and started afresh:
    /// watching goes on, at the cost of notifying open incidents again.
    ///
    /// # Errors
    /// [`Error::State`] when the directory or the lock cannot be made, or another engine
    /// holds the state file; [`Error::Invalid`] for two rules or notifiers of one name.
    pub fn build(self) -> Result<Engine, Error> {
        let mut config = self.config;
        config.notifiers.extend(self.extra);
        let mut names = HashSet::new();
        for n in &config.notifiers {
            if !names.insert(n.name().to_owned()) {
                return Err(Error::Invalid(format!(
                    "two notifiers are named {}: give each its own name",
                    n.name()
                )));
            }
        }
        let mut names = HashSet::new();
        for r in &config.rules {
            if !names.insert(r.name.clone()) {
                return Err(Error::Invalid(format!("two rules are named {}", r.name)));
            }
        }
        let path = self
            .state_file
            .unwrap_or_else(|| self.log_dir.join("alert-state.json"));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fs::create_dir(dir).map_err(|e| StateError::Io {
                path: dir.to_owned(),
                reason: format!("cannot make the state file's directory: {e}"),
            })?;
        }
        let lock = StateLock::take(&path)?;
        let mut notes = Vec::new();
        let state = match State::load(&path) {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                let aside = path.with_extension(format!(
                    "json.unreadable-{}",
                    self.clock.now().format("%Y%m%dT%H%M%SZ")
                ));
                std::fs::rename(&path, &aside).map_err(|r| StateError::Io {
                    path: path.clone(),
                    reason: format!("{e}; and it cannot be moved aside: {r}"),
                })?;
                notes.push(format!(
                    "{e}: moved to {}, starting afresh (open incidents are notified again)",
                    aside.display()
                ));
                State::default()
            }
        };
        let s = &config.settings;
        let http = reqwest::Client::builder()
            .timeout(s.timeout)
            .connect_timeout(s.timeout)
            // A redirect would carry the notification to wherever the answer says.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("actionlog/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Invalid(format!("the HTTP client cannot be made: {e}")))?;
        Ok(Engine {
            target: self.target,
            opts: self.opts,
            config,
            log_dir: self.log_dir,
            path,
            clock: self.clock,
            state,
            notes,
            http,
            _lock: lock,
        })
    }
}

/// The alert engine over one store: [`Engine::pass`] evaluates every rule once and
/// notifies; [`Engine::run`] does so on an interval. It reads the store only (opened afresh
/// at each pass, so a restarted database or a SQLite file that a writer opened since is seen
/// as it is) and writes only its state file.
pub struct Engine {
    target: Target,
    opts: Options,
    config: Config,
    log_dir: PathBuf,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    state: State,
    notes: Vec<String>,
    http: reqwest::Client,
    _lock: StateLock,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.target)
            .field("state_file", &self.path)
            .field("rules", &self.config.rules.len())
            .field("notifiers", &self.config.notifiers)
            .finish()
    }
}

impl Engine {
    /// An engine over the store `target`, with every default (see [`EngineBuilder`]).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use actionlog::alert::{Config, Engine, Notifier};
    /// use actionlog::query::Target;
    /// let mut engine = Engine::builder(Target::Sqlite("logs/actions.db".into()))
    ///     .config(Config::load("alerts.toml".as_ref())?)
    ///     .notifier(Notifier::webhook("http://127.0.0.1:9000/hook")?)
    ///     .build()?;
    /// let report = engine.pass().await?;
    /// for incident in &report.firing {
    ///     println!("{}: {}", incident.rule, incident.summary);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn builder(target: Target) -> EngineBuilder {
        EngineBuilder {
            target,
            opts: Options::default(),
            config: Config::default(),
            extra: Vec::new(),
            log_dir: PathBuf::from("logs"),
            state_file: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The state as the last pass left it.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state file.
    pub fn state_file(&self) -> &Path {
        &self.path
    }

    /// The rules, notifiers and settings in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs [`Engine::pass`] every `interval` (wall time, from the end of one pass to the
    /// start of the next), handing each report to `each`; never returns. Spawn it in an
    /// application that watches itself — knowing that a process cannot report its own
    /// death: the dead man's switch belongs in another process (`actionlog alert`).
    pub async fn run(
        mut self,
        interval: Duration,
        mut each: impl FnMut(Result<PassReport, Error>),
    ) -> std::convert::Infallible {
        loop {
            each(self.pass().await);
            tokio::time::sleep(interval).await;
        }
    }

    fn save(&self) -> Result<(), Error> {
        self.state.save(&self.path).map_err(Error::from)
    }

    /// One pass: read, evaluate, notify, deliver; the state saved after the notifications
    /// are made (before any is sent) and after each delivery, so a crash never loses one and
    /// a restart never makes one twice. (One that reached its receiver just before a crash,
    /// before the state could say so, is sent again with the same `id`, for the receiver to
    /// drop.)
    ///
    /// # Errors
    /// [`Error::State`] when the state file cannot be written: nothing is sent then.
    pub async fn pass(&mut self) -> Result<PassReport, Error> {
        let now = self.clock.now();
        let mut problems = std::mem::take(&mut self.notes);
        let rules: Vec<Rule> = self.config.rules.clone();
        let store_description = self.target.describe();
        let mut store_error = None;
        let mut events = Vec::new();
        match Store::open(&self.target, &self.opts).await {
            Err(e) => store_error = Some(e),
            Ok(store) => {
                let mut obs = observe(&store, &self.log_dir, &rules, now).await;
                if let Some(f) = &obs.files {
                    self.sample_spool(now, f.spool.bytes, &rules);
                }
                obs.spool_samples = self.state.spool_samples.clone();
                for rule in rules.iter().filter(|r| r.enabled) {
                    match evaluate(rule, &obs, now) {
                        Ok(findings) => self.advance(rule, findings, now, &mut events),
                        Err(e) => problems.push(format!(
                            "rule {} could not be evaluated: {e} (its incidents are left as they were)",
                            rule.name
                        )),
                    }
                }
                // Incidents of rules turned off or gone resolve: nobody would ever end them.
                let live: HashSet<&str> = rules
                    .iter()
                    .filter(|r| r.enabled)
                    .map(|r| r.name.as_str())
                    .collect();
                let (gone, kept): (Vec<Incident>, Vec<Incident>) =
                    std::mem::take(&mut self.state.incidents)
                        .into_iter()
                        .partition(|i| !live.contains(i.rule.as_str()));
                self.state.incidents = kept;
                for mut i in gone {
                    i.summary = format!("rule {} is off or no longer configured", i.rule);
                    events.push(("resolved", i));
                }
            }
        }
        let payloads: Vec<Value> = events
            .into_iter()
            .map(|(kind, i)| self.payload(kind, &i, now, &store_description))
            .collect();
        let (sent, suppressed) = self.throttle(payloads, now, &store_description);
        self.enqueue(&sent, &mut problems);
        self.state.rules = rules.iter().map(rule_json).collect();
        self.state.notifiers = self
            .config
            .notifiers
            .iter()
            .map(|n| json!({"name": n.name(), "kind": n.kind(), "to": n.describe()}))
            .collect();
        self.state.last_pass_at = Some(now);
        self.state.store = store_description;
        self.save()?;
        let (delivered, failures) = self.deliver(now).await?;
        for f in &failures {
            problems.push(format!(
                "notifier {}: {} ({} tries so far; kept for the next pass)",
                f.notifier, f.error, f.attempts
            ));
        }
        if let Some(e) = &store_error {
            problems.push(format!("store: {e}"));
        }
        self.state.last_problems = problems.clone();
        self.save()?;
        Ok(PassReport {
            at: now,
            events: sent,
            suppressed,
            firing: self.state.incidents.clone(),
            delivered,
            pending: self.state.pending.len(),
            failures,
            problems,
            store_error,
        })
    }

    /// Keeps this pass's spool size, and as many older ones as the spool rules look at.
    fn sample_spool(&mut self, now: DateTime<Utc>, bytes: u64, rules: &[Rule]) {
        let samples = &mut self.state.spool_samples;
        samples.push((now, bytes));
        let (mut passes, mut window) = (1usize, None::<Duration>);
        for r in rules {
            if let Params::SpoolGrowing {
                passes: p,
                window: w,
            } = &r.params
            {
                passes = passes.max(*p as usize + 1);
                window = window.max(*w);
            }
        }
        let mut cut = samples.len().saturating_sub(passes);
        if let Some(w) = window.and_then(|w| chrono::Duration::from_std(w).ok()) {
            let by_time = samples
                .iter()
                .rposition(|(t, _)| now - *t >= w)
                .unwrap_or(0);
            cut = cut.min(by_time);
        }
        cut = cut.max(samples.len().saturating_sub(MAX_SAMPLES));
        samples.drain(..cut);
    }

    /// Moves `rule`'s incidents along by this pass's findings: new ones start, lasting ones
    /// repeat when due (or at once when their measure grew), missing ones resolve.
    fn advance(
        &mut self,
        rule: &Rule,
        findings: Vec<super::rules::Finding>,
        now: DateTime<Utc>,
        events: &mut Vec<(&'static str, Incident)>,
    ) {
        let mut seen = HashSet::new();
        for f in findings {
            if !seen.insert(f.subject.clone()) {
                continue;
            }
            let found = self
                .state
                .incidents
                .iter_mut()
                .find(|i| i.rule == rule.name && i.subject == f.subject);
            match found {
                Some(i) => {
                    i.summary = f.summary;
                    i.details = f.details;
                    i.value = f.value;
                    i.last_seen_at = now;
                    let grew = matches!((f.value, i.notified_value), (Some(v), Some(n)) if v > n);
                    let due = rule.repeat.is_some_and(|r| {
                        chrono::Duration::from_std(r).is_ok_and(|r| now - i.last_notified_at >= r)
                    });
                    if grew || due {
                        i.last_notified_at = now;
                        i.notified_value = f.value.or(i.notified_value);
                        events.push((if grew { "grew" } else { "repeat" }, i.clone()));
                    }
                }
                None => {
                    let i = Incident {
                        rule: rule.name.clone(),
                        kind: rule.kind().name().to_owned(),
                        subject: f.subject,
                        summary: f.summary,
                        details: f.details,
                        started_at: now,
                        last_seen_at: now,
                        last_notified_at: now,
                        value: f.value,
                        notified_value: f.value,
                    };
                    events.push(("firing", i.clone()));
                    self.state.incidents.push(i);
                }
            }
        }
        let mut kept = Vec::with_capacity(self.state.incidents.len());
        for i in std::mem::take(&mut self.state.incidents) {
            if i.rule == rule.name && !seen.contains(&i.subject) {
                events.push(("resolved", i));
            } else {
                kept.push(i);
            }
        }
        self.state.incidents = kept;
    }

    /// The notification's payload, with an id made from the engine's clock (a UUID v7).
    fn payload(&self, event: &str, i: &Incident, now: DateTime<Utc>, store: &str) -> Value {
        let t = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        json!({
            "version": 1,
            "id": new_id(now),
            "event": event,
            "rule": i.rule,
            "kind": i.kind,
            "subject": i.subject,
            "summary": i.summary,
            "details": i.details,
            "started_at": t(&i.started_at),
            "at": t(&now),
            "resolved_at": (event == "resolved").then(|| t(&now)),
            "suppressed": 0,
            "store": store,
        })
    }

    /// Lets at most `max_notifications` per `per` through; the rest are counted, the count
    /// carried by the next one sent, and a new interval after held-back ones opens with a
    /// summary of what is firing.
    fn throttle(
        &mut self,
        events: Vec<Value>,
        now: DateTime<Utc>,
        store: &str,
    ) -> (Vec<Value>, u64) {
        let s = &self.config.settings;
        let per = super::rules::span_of(s.per);
        let mut out = Vec::new();
        let t = &mut self.state.throttle;
        if t.window_start.is_none_or(|w| now - w >= per) {
            let held = t.suppressed;
            t.window_start = Some(now);
            t.sent = 0;
            t.suppressed = 0;
            if held > 0 {
                let firing: Vec<Value> = self
                    .state
                    .incidents
                    .iter()
                    .map(|i| json!({"rule": i.rule, "subject": i.subject, "summary": i.summary}))
                    .collect();
                let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                out.push(json!({
                    "version": 1, "id": new_id(now), "event": "throttled",
                    "rule": "throttle", "kind": "throttle", "subject": "notifications",
                    "summary": format!(
                        "{held} notifications were held back by the throttle (at most {} per {}); {} incidents are firing",
                        s.max_notifications, format_duration(s.per), firing.len()
                    ),
                    "details": {"held_back": held, "firing": firing},
                    "started_at": stamp, "at": stamp, "resolved_at": null,
                    "suppressed": t.since_last_sent, "store": store,
                }));
                t.since_last_sent = 0;
                t.sent = 1;
            }
        }
        let mut suppressed = 0;
        for mut e in events {
            if t.sent < s.max_notifications {
                e["suppressed"] = Value::from(t.since_last_sent);
                t.since_last_sent = 0;
                t.sent += 1;
                out.push(e);
            } else {
                t.suppressed += 1;
                t.since_last_sent += 1;
                t.total_suppressed += 1;
                suppressed += 1;
            }
        }
        (out, suppressed)
    }

    /// One waiting delivery per notification and notifier, within [`MAX_PENDING`].
    fn enqueue(&mut self, sent: &[Value], problems: &mut Vec<String>) {
        let names: HashSet<&str> = self.config.notifiers.iter().map(|n| n.name()).collect();
        let before = self.state.pending.len();
        self.state
            .pending
            .retain(|p| names.contains(p.notifier.as_str()));
        let orphaned = before - self.state.pending.len();
        if orphaned > 0 {
            problems.push(format!(
                "{orphaned} waiting notifications dropped: their notifier is no longer configured"
            ));
        }
        for e in sent {
            for n in &self.config.notifiers {
                self.state.pending.push(Pending {
                    notifier: n.name().to_owned(),
                    payload: e.clone(),
                    attempts: 0,
                    last_error: None,
                    last_tried_at: None,
                });
            }
        }
        if self.state.pending.len() > MAX_PENDING {
            let over = self.state.pending.len() - MAX_PENDING;
            self.state.pending.drain(..over);
            self.state.dropped += over as u64;
            problems.push(format!(
                "{over} of the oldest waiting notifications dropped: more than {MAX_PENDING} were waiting"
            ));
        }
    }

    /// Delivers what waits, oldest first, each notifier within its deadline: a notification
    /// whose tries all fail stops that notifier for this pass (it is down; the rest wait).
    async fn deliver(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<(usize, Vec<DeliveryFailure>), Error> {
        let s = self.config.settings.clone();
        let mut delivered = 0;
        let mut failures = Vec::new();
        for n in self.config.notifiers.clone() {
            let deadline = Instant::now() + s.deadline;
            let mut i = 0;
            while i < self.state.pending.len() {
                if self.state.pending[i].notifier != n.name() {
                    i += 1;
                    continue;
                }
                let payload = self.state.pending[i].payload.clone();
                let mut error = None;
                let mut ok = false;
                for attempt in 0..s.attempts {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        error.get_or_insert_with(|| {
                            "the pass's delivery deadline was reached".to_owned()
                        });
                        break;
                    }
                    self.state.pending[i].attempts += 1;
                    match tokio::time::timeout(left, n.send(&self.http, &payload)).await {
                        Ok(Ok(())) => {
                            ok = true;
                            break;
                        }
                        Ok(Err(e)) => error = Some(e),
                        Err(_) => {
                            error = Some(format!(
                                "{}: the pass's delivery deadline was reached",
                                n.describe()
                            ))
                        }
                    }
                    if attempt + 1 < s.attempts {
                        let pause = s.backoff.saturating_mul(1 << attempt.min(16));
                        let left = deadline.saturating_duration_since(Instant::now());
                        tokio::time::sleep(pause.min(left)).await;
                    }
                }
                if ok {
                    self.state.pending.remove(i);
                    delivered += 1;
                    self.save()?;
                } else {
                    let p = &mut self.state.pending[i];
                    p.last_error = error.clone();
                    p.last_tried_at = Some(now);
                    failures.push(DeliveryFailure {
                        notifier: n.name().to_owned(),
                        id: payload["id"].as_str().unwrap_or_default().to_owned(),
                        attempts: p.attempts,
                        error: error.unwrap_or_default(),
                    });
                    break;
                }
            }
        }
        Ok((delivered, failures))
    }
}

/// A rule as the state file and the dashboard show it.
fn rule_json(r: &Rule) -> Value {
    json!({
        "name": r.name,
        "kind": r.kind().name(),
        "enabled": r.enabled,
        "repeat": r.repeat.map(format_duration),
        "params": r.params.to_json(),
        "reads": r.kind().reads(),
    })
}

/// A UUID v7 from the engine's clock (random beyond the millisecond).
fn new_id(now: DateTime<Utc>) -> String {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        now.timestamp().max(0) as u64,
        now.timestamp_subsec_nanos(),
    );
    uuid::Uuid::new_v7(ts).to_string()
}
