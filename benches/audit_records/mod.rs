//! The action records the audit benches write: final records shaped like real ones (ten
//! action types, a thousand users, details with four fields, durations, an IP address, one in
//! twenty failed with an error message, the others with a result message).

use actionlog::ActionRecord;

const TYPES: [&str; 10] = [
    "export",
    "login",
    "data_collection_start",
    "report_generate",
    "user_update",
    "invoice_send",
    "file_upload",
    "search",
    "settings_change",
    "api_call",
];

/// `n` fresh final records (new UUID v7 ids, the time now), the `from`-th first.
pub fn records(n: usize, from: usize) -> Vec<ActionRecord> {
    (from..from + n)
        .map(|i| {
            let mut r = ActionRecord::blank(uuid::Uuid::now_v7(), TYPES[i % TYPES.len()]);
            let failed = i % 20 == 7;
            r.status = if failed { "failed" } else { "completed" }.into();
            r.user_id = Some(format!("user-{:04}@example.com", (i * 7919) % 1000));
            r.source = Some(if i % 3 == 0 { "api" } else { "ui_button" }.into());
            r.request_duration_seconds = Some(((i * 31) % 5000) as f64 / 1000.0 + 0.0005);
            r.ip_address = Some(format!("10.0.{}.{}", (i / 256) % 256, i % 256));
            if failed {
                r.error_message = Some("upstream timed out after 30 s".into());
            } else {
                r.result_message = Some("ok".into());
            }
            let d = &mut r.action_details;
            d.insert("n".into(), i.into());
            d.insert("page".into(), format!("/reports/{}", i % 97).into());
            d.insert("lookback_days".into(), ((i % 30) + 1).into());
            d.insert("ratio".into(), (((i % 1000) as f64) / 7.0).into());
            r
        })
        .collect()
}
