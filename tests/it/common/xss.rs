//! A SQLite store and a day file with script-injection payloads in every text column, the
//! detail keys and values, the run's captured logs and the day-file lines, for the
//! dashboard's escaping tests (router and browser). A payload that ran would set
//! `window.__xss`; a page that escapes shows the payloads as text.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A script element.
pub const SCRIPT: &str = "<script>window.__xss=1</script>";
/// Breaking out of an attribute into an element with an event handler.
pub const IMG: &str = "\"><img src=x onerror=\"window.__xss=2\">";
/// A script URL.
pub const JS_URL: &str = "javascript:window.__xss=3";
/// Short enough for the 20-character `status` column.
pub const SVG: &str = "<svg/onload=a()>";
/// A spreadsheet formula (CSV exports must defuse it).
pub const FORMULA: &str = "=HYPERLINK(\"http://x\")";

/// Characters that reorder or hide the text around them: a right-to-left override (a file
/// name that reads `exe.png` backwards), an isolate, a mark, a zero-width no-break space.
pub const BIDI: &str = "invoice\u{202e}gnp.exe\u{202c} \u{2066}x\u{2069}\u{200f}\u{feff}";
/// The same as the pages must show it.
pub const BIDI_SHOWN: &str =
    "invoice\\u{202e}gnp.exe\\u{202c} \\u{2066}x\\u{2069}\\u{200f}\\u{feff}";
/// Each of them, to look for raw.
pub const BIDI_CHARS: [char; 6] = [
    '\u{202e}', '\u{202c}', '\u{2066}', '\u{2069}', '\u{200f}', '\u{feff}',
];

pub const ACTION_ID: &str = "00000000-0000-7000-8000-00000000abcd";
pub const BIDI_ID: &str = "00000000-0000-7000-8000-00000000abcf";
pub const RUN_ID: &str = "00000000-0000-7000-9000-00000000abcd";
pub const DAY: &str = "2026-11-03";

/// Every payload, as the literal text a page must show.
pub fn payloads() -> [&'static str; 4] {
    [SCRIPT, IMG, JS_URL, SVG]
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `<dir>/logs/actions.db` and `<dir>/logs/2026-11-03.log`, full of payloads.
pub fn store(dir: &Path) -> PathBuf {
    let all = format!("{SCRIPT} {IMG} {JS_URL}");
    let details = serde_json::json!({
        SCRIPT: IMG,
        "url": JS_URL,
        "nested": { IMG: SCRIPT },
        "formula": FORMULA,
    })
    .to_string();
    let sql = format!(
        "INSERT INTO action_logs (id, action_type, user_id, action_timestamp, action_details, job_id,
            job_execution_id, status, result_message, error_message, source, ip_address, user_agent,
            request_duration_seconds)
         VALUES ({id}, {t}, {u}, '2026-11-03T10:00:00.000000Z', {d}, {j}, {run}, {s}, {all}, {all},
            {src}, {ip}, {all}, 0.5),
            ('00000000-0000-7000-8000-00000000abce', {f}, {f}, '2026-11-03T10:00:01.000000Z', NULL,
            NULL, NULL, 'completed', {f}, NULL, 'ui_button', NULL, NULL, NULL),
            ({bid}, {b}, {b}, '2026-11-03T10:00:02.000000Z', {bd}, NULL, NULL, 'failed', {b}, {b},
            {b}, NULL, {b}, NULL);
         INSERT INTO job_executions (id, job_id, status, started_at, completed_at, duration_seconds,
            error_message, logs, metadata)
         VALUES ({run}, {j}, 'failed', '2026-11-03T09:59:59.000000Z', '2026-11-03T10:00:02.000000Z',
            3.0, {all}, {logs}, {d});
         INSERT INTO scheduled_jobs (job_id, job_name, schedule_type, schedule_value, next_scheduled_run)
         VALUES ({j}, {all}, {ip}, {all}, '2026-11-03T11:00:00.000000Z');",
        id = q(ACTION_ID),
        t = q(SCRIPT),
        u = q(IMG),
        d = q(&details),
        j = q(&format!("{SCRIPT}{JS_URL}")),
        run = q(RUN_ID),
        s = q(SVG),
        all = q(&all),
        src = q(IMG),
        ip = q(SVG),
        f = q(FORMULA),
        bid = q(BIDI_ID),
        b = q(BIDI),
        bd = q(&serde_json::json!({ BIDI: BIDI }).to_string()),
        logs = q(&format!("2026-11-03 10:00:00,000 - ERROR - {all}\n2026-11-03 10:00:01,000 - INFO - {SCRIPT}")),
    );
    let db = super::cli::sqlite_store(dir, &sql);
    let line = |level: &str, msg: &str| {
        serde_json::json!({
            "timestamp": "2026-11-03T10:00:00.500000+00:00",
            "level": level,
            "message": msg,
            "logger": IMG,
            "metadata": { SCRIPT: JS_URL },
        })
        .to_string()
            + "\n"
    };
    std::fs::write(
        dir.join("logs").join(format!("{DAY}.log")),
        line("ERROR", &all) + &line("INFO", SCRIPT) + &line("WARN", BIDI),
    )
    .unwrap();
    db
}
