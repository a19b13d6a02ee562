//! Reading PostgREST's answers: the error body's code, message, details and hint.

use serde_json::Value;

/// `: CODE message (details; hint)` from a PostgREST error body, or the start of a non-JSON body.
pub(super) fn postgrest_error(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let field = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            };
            let head = [field("code"), field("message")]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>();
            let tail = [field("details"), field("hint")]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>();
            let mut out = String::new();
            if !head.is_empty() {
                out = format!(": {}", head.join(" "));
            }
            if !tail.is_empty() {
                out.push_str(&format!(" ({})", tail.join("; ")));
            }
            out
        }
        Err(_) if body.trim().is_empty() => String::new(),
        Err(_) => format!(": {}", body.chars().take(200).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgrest_error_bodies() {
        assert_eq!(
            postgrest_error(
                r#"{"code":"PGRST204","message":"Column 'x' not found","details":null,"hint":null}"#
            ),
            ": PGRST204 Column 'x' not found"
        );
        assert_eq!(postgrest_error(""), "");
        assert_eq!(
            postgrest_error(r#"{"message":"Invalid API key","hint":"Check the key."}"#),
            ": Invalid API key (Check the key.)"
        );
        assert_eq!(
            postgrest_error("<html>bad gateway</html>"),
            ": <html>bad gateway</html>"
        );
    }
}
