//! Links from an action or a run to the team's trace viewer: a URL template such as
//! `https://viewer.example/trace/{trace_id}`, checked once when the dashboard is set up, and
//! filled with the row's ids percent-encoded (whatever a store holds, a value cannot leave its
//! place in the URL; the page escapes the whole link as any attribute).

/// A trace viewer URL template: `http://` or `https://`, with `{trace_id}` (and optionally
/// `{span_id}`) where the ids go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceUrl(String);

impl TraceUrl {
    /// Checks a template: an `http` or `https` URL with a host, holding `{trace_id}`, without
    /// whitespace, control characters, quotes or angle brackets (so that it is the link it
    /// looks like).
    ///
    /// ```
    /// use actionlog::web::TraceUrl;
    /// assert!(TraceUrl::parse("https://viewer.example/trace/{trace_id}").is_ok());
    /// assert!(TraceUrl::parse("javascript:alert(1)//{trace_id}").is_err());
    /// assert!(TraceUrl::parse("https://viewer.example/trace/").is_err());
    /// ```
    ///
    /// # Errors
    /// What is wrong with it, for the command line.
    pub fn parse(template: &str) -> Result<TraceUrl, String> {
        let t = template.trim();
        let rest = t
            .strip_prefix("https://")
            .or_else(|| t.strip_prefix("http://"))
            .ok_or("a trace viewer URL starts with https:// or http://")?;
        if rest.is_empty() || rest.starts_with(['/', '?', '#', '{']) {
            return Err("a trace viewer URL names a host".into());
        }
        if t.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'<>\\`".contains(c))
        {
            return Err(
                "a trace viewer URL holds no spaces, control characters, quotes, \\ or angle brackets"
                    .into(),
            );
        }
        if !t.contains("{trace_id}") {
            return Err("a trace viewer URL holds {trace_id}, where the trace id goes".into());
        }
        Ok(TraceUrl(t.to_owned()))
    }

    /// The link for a row with these ids; none without a trace id.
    pub(crate) fn link(&self, trace_id: &str, span_id: &str) -> Option<String> {
        if trace_id.is_empty() {
            return None;
        }
        Some(
            self.0
                .replace("{span_id}", &super::params::encode(span_id))
                .replace("{trace_id}", &super::params::encode(trace_id)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked_and_ids_encoded() {
        for bad in [
            "ftp://x/{trace_id}",
            "data:text/html,{trace_id}",
            "https:///{trace_id}",
            "https://x/{trace_id}\"onmouseover=\"alert(1)",
            "https://x/ {trace_id}",
            "https://x/trace",
        ] {
            assert!(TraceUrl::parse(bad).is_err(), "{bad}");
        }
        let u = TraceUrl::parse("https://v.example/t/{trace_id}?span={span_id}").unwrap();
        assert_eq!(
            u.link("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
                .unwrap(),
            "https://v.example/t/4bf92f3577b34da6a3ce929d0e0e4736?span=00f067aa0ba902b7"
        );
        assert_eq!(
            u.link("\"><script>x</script>/../{span_id}", "").unwrap(),
            "https://v.example/t/%22%3E%3Cscript%3Ex%3C%2Fscript%3E%2F..%2F%7Bspan_id%7D?span="
        );
        assert_eq!(u.link("", "00f067aa0ba902b7"), None);
    }
}
