//! Failure summaries: what went wrong, safe to store and show.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest stored message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 500;
/// Most failures stored per run; the rest are counted.
pub const MAX_FAILURES: usize = 50;
/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";
/// The code of the stored marker that counts failures beyond [`MAX_FAILURES`].
pub const OVERFLOW_CODE: &str = "failures_omitted";

/// A machine-readable failure code (snake_case).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FailureCode(String);

/// Why a failure code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailureError {
    /// Not snake_case.
    #[error("failure code `{0}` is not snake_case")]
    InvalidCode(String),
    /// A stored failure summary that cannot be read.
    #[error("stored failure summary is malformed: {0}")]
    Malformed(String),
}

impl FailureCode {
    /// `run_stale`: the reaper completed a run whose heartbeat stopped.
    pub const RUN_STALE: &'static str = "run_stale";
    /// `superseded_duplicate`: the cutover resolved several active runs of one identity.
    pub const SUPERSEDED_DUPLICATE: &'static str = "superseded_duplicate";

    /// Validates a code.
    ///
    /// # Errors
    /// [`FailureError::InvalidCode`] unless it is snake_case.
    pub fn parse(raw: &str) -> Result<Self, FailureError> {
        if crate::run_type::is_canonical(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FailureError::InvalidCode(raw.to_owned()))
        }
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FailureCode {
    type Error = FailureError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<FailureCode> for String {
    fn from(value: FailureCode) -> Self {
        value.0
    }
}

/// One failure: a code and a sanitized message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "UncheckedFailure")]
pub struct Failure {
    code: FailureCode,
    message: String,
}

/// A failure as it arrives from outside (e.g. reported by a remote worker): deserializing goes
/// through [`Failure::new`], so a message is never stored unsanitized.
#[derive(Deserialize)]
struct UncheckedFailure {
    code: FailureCode,
    message: String,
}

impl From<UncheckedFailure> for Failure {
    fn from(raw: UncheckedFailure) -> Self {
        Self::new(raw.code, &raw.message)
    }
}

impl Failure {
    /// A failure whose message is sanitized on construction.
    #[must_use]
    pub fn new(code: FailureCode, message: &str) -> Self {
        Self {
            code,
            message: sanitize_message(message),
        }
    }

    /// The code.
    #[must_use]
    pub fn code(&self) -> &FailureCode {
        &self.code
    }

    /// The sanitized message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A bounded list of failures; what overflows is counted in `omitted`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureSummary {
    failures: Vec<Failure>,
    omitted: u64,
}

impl FailureSummary {
    /// No failures.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A summary with one failure.
    #[must_use]
    pub fn single(failure: Failure) -> Self {
        let mut summary = Self::new();
        summary.push(failure);
        summary
    }

    /// Adds a failure, or counts it once the list is full.
    pub fn push(&mut self, failure: Failure) {
        if self.failures.len() < MAX_FAILURES {
            self.failures.push(failure);
        } else {
            self.omitted = self.omitted.saturating_add(1);
        }
    }

    /// Appends another summary, keeping the bound.
    pub fn extend(&mut self, other: Self) {
        for failure in other.failures {
            self.push(failure);
        }
        self.omitted = self.omitted.saturating_add(other.omitted);
    }

    /// The stored failures.
    #[must_use]
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// How many failures did not fit.
    #[must_use]
    pub fn omitted(&self) -> u64 {
        self.omitted
    }

    /// Whether there is no failure at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty() && self.omitted == 0
    }

    /// The JSON array stored in `failure_summary`; an omitted count becomes a final
    /// `{"code": "failures_omitted", "message": …, "count": n}` entry.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let mut items: Vec<serde_json::Value> = self
            .failures
            .iter()
            .map(|f| serde_json::json!({"code": f.code.as_str(), "message": f.message}))
            .collect();
        if self.omitted > 0 {
            items.push(serde_json::json!({
                "code": OVERFLOW_CODE,
                "message": format!("{} more failures were not recorded", self.omitted),
                "count": self.omitted,
            }));
        }
        serde_json::Value::Array(items)
    }

    /// Reads a stored `failure_summary`; messages are sanitized again, so rows written by other
    /// tools cannot leak secrets through this crate.
    ///
    /// # Errors
    /// [`FailureError::Malformed`] unless it is an array of `{code, message}` objects.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, FailureError> {
        let items = value
            .as_array()
            .ok_or_else(|| FailureError::Malformed(format!("expected an array, got {value}")))?;
        let mut summary = Self::new();
        for item in items {
            let code = item.get("code").and_then(serde_json::Value::as_str);
            let message = item.get("message").and_then(serde_json::Value::as_str);
            match (code, message) {
                (Some(OVERFLOW_CODE), _) => {
                    let count = item
                        .get("count")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0);
                    summary.omitted = summary.omitted.saturating_add(count);
                }
                (Some(code), Some(message)) => {
                    summary.push(Failure::new(FailureCode::parse(code)?, message))
                }
                _ => return Err(FailureError::Malformed(format!("bad entry {item}"))),
            }
        }
        Ok(summary)
    }
}

/// Makes a message safe to store: control characters removed (line breaks and tabs become
/// spaces), secrets redacted (bearer tokens, `client_secret=` / `password=` values, JWT-like
/// strings), and the length bounded to [`MAX_MESSAGE_CHARS`] characters.
#[must_use]
pub fn sanitize_message(raw: &str) -> String {
    // Truncation can cut a redaction marker in half; another pass settles that, so the result
    // is a fixed point (sanitizing a stored message again changes nothing).
    let mut current = sanitize_once(raw);
    for _ in 0..3 {
        let next = sanitize_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn sanitize_once(raw: &str) -> String {
    let visible: String = raw
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    let redacted = redact_jwts(&redact_key_values(&redact_bearer(&visible)));
    truncate_chars(&redacted, MAX_MESSAGE_CHARS)
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => {
            let keep: String = text[..cut].chars().take(max.saturating_sub(1)).collect();
            format!("{keep}…")
        }
        None => text.to_owned(),
    }
}

/// Finds `needle` case-insensitively (ASCII) from byte `from`.
fn find_ascii_ci(haystack: &str, needle: &str, from: usize) -> Option<usize> {
    let hay = haystack.as_bytes();
    let needle = needle.as_bytes();
    (from..=hay.len().checked_sub(needle.len())?)
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

fn is_value_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '&' | ',' | ';' | '"' | '\'' | '}' | ')' | ']' | '>'))
}

/// Replaces the value that starts at byte `start` (up to a delimiter) with [`REDACTED`].
fn replace_value(out: &mut String, text: &str, start: usize) -> usize {
    if text[start..].starts_with(REDACTED) {
        out.push_str(REDACTED);
        return start + REDACTED.len();
    }
    let end = text[start..]
        .char_indices()
        .find(|(_, c)| !is_value_char(*c))
        .map_or(text.len(), |(i, _)| start + i);
    if end > start {
        out.push_str(REDACTED);
    }
    end
}

fn redact_bearer(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(hit) = find_ascii_ci(text, "bearer", pos) {
        let after_word = hit + "bearer".len();
        let value_start =
            after_word + text[after_word..].len() - text[after_word..].trim_start().len();
        out.push_str(&text[pos..value_start]);
        let value_is_keyword = find_ascii_ci(text, "bearer", value_start) == Some(value_start);
        pos = if value_start > after_word && !value_is_keyword {
            replace_value(&mut out, text, value_start)
        } else {
            value_start
        };
    }
    out.push_str(&text[pos..]);
    out
}

const SECRET_KEYS: [&str; 2] = ["client_secret", "password"];

fn redact_key_values(text: &str) -> String {
    let mut current = text.to_owned();
    for key in SECRET_KEYS {
        let mut out = String::with_capacity(current.len());
        let mut pos = 0;
        while let Some(hit) = find_ascii_ci(&current, key, pos) {
            let mut cursor = hit + key.len();
            // `key=value`, `key: value`, `"key": "value"`
            let rest = &current[cursor..];
            let skipped = rest.len() - rest.trim_start_matches(['"', '\'', ' ']).len();
            let after_quotes = cursor + skipped;
            if current[after_quotes..].starts_with(['=', ':']) {
                cursor = after_quotes + 1;
                let rest = &current[cursor..];
                cursor += rest.len() - rest.trim_start_matches([' ', '"', '\'']).len();
                out.push_str(&current[pos..cursor]);
                pos = replace_value(&mut out, &current, cursor);
            } else {
                out.push_str(&current[pos..after_quotes]);
                pos = after_quotes;
            }
        }
        out.push_str(&current[pos..]);
        current = out;
    }
    current
}

fn is_jwt_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=')
}

/// A JWT-like string: three or more dot-separated base64url segments, the first starting with
/// `eyJ` (a JSON header), or all of at least 16 characters.
fn looks_like_jwt(word: &str) -> bool {
    let segments: Vec<&str> = word.split('.').collect();
    if segments.len() < 3 || segments.iter().take(3).any(|s| s.is_empty()) {
        return false;
    }
    segments[0].starts_with("eyJ") || segments.iter().take(3).all(|s| s.len() >= 16)
}

fn redact_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, word: &str| {
        if looks_like_jwt(word) {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
    };
    for (i, c) in text.char_indices() {
        match (is_jwt_char(c), word_start) {
            (true, None) => word_start = Some(i),
            (false, Some(start)) => {
                flush(&mut out, &text[start..i]);
                word_start = None;
                out.push(c);
            }
            (false, None) => out.push(c),
            (true, Some(_)) => {}
        }
    }
    if let Some(start) = word_start {
        flush(&mut out, &text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn redacts_known_secret_shapes() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX3ZhbHVl";
        let cases = [
            (
                "Authorization: Bearer abc.def-123",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "token request failed: client_secret=s3cr3t&scope=x",
                "token request failed: client_secret=[REDACTED]&scope=x",
            ),
            (
                "PASSWORD = hunter2 rejected",
                "PASSWORD = [REDACTED] rejected",
            ),
            (
                r#"{"password": "hunter2"}"#,
                r#"{"password": "[REDACTED]"}"#,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(sanitize_message(raw), expected);
        }
        assert_eq!(
            sanitize_message(&format!("got {jwt} back")),
            "got [REDACTED] back"
        );
        assert_eq!(
            sanitize_message("see docs.example.com for help"),
            "see docs.example.com for help"
        );
    }

    #[test]
    fn strips_control_characters_and_bounds_length() {
        assert_eq!(sanitize_message("a\u{0}b\u{7}c\nd\te"), "abc d e");
        let long = "x".repeat(2 * MAX_MESSAGE_CHARS);
        let bounded = sanitize_message(&long);
        assert_eq!(bounded.chars().count(), MAX_MESSAGE_CHARS);
        assert!(bounded.ends_with('…'));
    }

    #[test]
    fn summary_is_bounded_and_counts_the_overflow() {
        let code = FailureCode::parse("graph_error").unwrap();
        let mut summary = FailureSummary::new();
        for i in 0..MAX_FAILURES + 7 {
            summary.push(Failure::new(code.clone(), &format!("failure {i}")));
        }
        assert_eq!(summary.failures().len(), MAX_FAILURES);
        assert_eq!(summary.omitted(), 7);
        let json = summary.to_json();
        assert_eq!(json.as_array().map(Vec::len), Some(MAX_FAILURES + 1));
        assert_eq!(FailureSummary::from_json(&json).unwrap(), summary);
    }

    #[test]
    fn deserialized_failures_are_sanitized() {
        let failure: Failure = serde_json::from_value(serde_json::json!({
            "code": "worker_failed",
            "message": "login with password=hunter2 failed\n",
        }))
        .unwrap();
        assert_eq!(failure.message(), "login with password=[REDACTED] failed ");
        assert_eq!(failure.code().as_str(), "worker_failed");
        let invalid = serde_json::from_value::<Failure>(serde_json::json!({
            "code": "Not Snake",
            "message": "x",
        }));
        assert!(invalid.is_err());
    }

    #[test]
    fn stored_failures_are_resanitized_and_validated() {
        let stored = serde_json::json!([{"code": "x", "message": "password=abc"}]);
        let summary = FailureSummary::from_json(&stored).unwrap();
        assert_eq!(summary.failures()[0].message(), "password=[REDACTED]");
        assert!(
            FailureSummary::from_json(&serde_json::json!([{"code": "Bad Code", "message": "m"}]))
                .is_err()
        );
        assert!(FailureSummary::from_json(&serde_json::json!({"code": "x"})).is_err());
    }

    fn secret() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]{8,40}"
    }

    proptest! {
        #[test]
        fn no_secret_survives(prefix in any::<String>(), suffix in any::<String>(), secret in secret(), shape in 0usize..5) {
            let embedded = match shape {
                0 => format!("Bearer {secret}"),
                1 => format!("client_secret={secret}"),
                2 => format!("password: {secret}"),
                3 => format!("eyJ{secret}.{secret}.{secret}"),
                _ => format!("\"password\":\"{secret}\""),
            };
            let message = format!("{prefix} {embedded} {suffix}");
            let clean = sanitize_message(&message);
            prop_assert!(!clean.contains(&secret), "{clean:?} leaks {secret:?}");
        }

        #[test]
        fn bounds_hold_for_any_input(raw in any::<String>(), repeat in 1usize..400) {
            let clean = sanitize_message(&raw.repeat(repeat));
            prop_assert!(clean.chars().count() <= MAX_MESSAGE_CHARS);
            prop_assert!(!clean.chars().any(char::is_control));
        }

        #[test]
        fn sanitizing_is_idempotent(raw in any::<String>()) {
            let once = sanitize_message(&raw);
            prop_assert_eq!(sanitize_message(&once), once.clone());
        }
    }
}
