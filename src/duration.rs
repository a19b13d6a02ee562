//! Durations as people write them in settings and flags — `90s`, `5m`, `1h`, `2d`, `1w`,
//! `250ms` — read and printed back in one place: the alert rule file and `--interval`, and the
//! retention ages (`ACTIONLOG_RETENTION`, `actionlog prune --older-than`).

use std::time::Duration;

/// `90s`, `5m`, `1h`, `2d`, `1w`, `250ms` (one number and one unit), or `0`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(secs).map(Duration::from_secs)
}

/// The shortest of `parse_duration`'s forms for `d`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 || (s == 0 && !d.is_zero()) {
        return format!("{}ms", d.as_millis());
    }
    for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= n && s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print_back() {
        for (s, d) in [
            ("90s", Duration::from_secs(90)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("2d", Duration::from_secs(172_800)),
            ("1w", Duration::from_secs(604_800)),
            ("250ms", Duration::from_millis(250)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(s), Some(d), "{s}");
            assert_eq!(parse_duration(&format_duration(d)), Some(d));
        }
        for bad in ["", "5", "m", "5x", "-5m", "1.5h", "99999999999999999999w"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
    }
}
