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
    /// The code of the summary's own overflow marker, which only the summary writes.
    #[error(
        "failure code `{0}` is reserved for the count of failures a summary did not record; use another code"
    )]
    Reserved(String),
}

impl FailureCode {
    /// `run_stale`: the reaper completed a run whose heartbeat stopped.
    pub const RUN_STALE: &'static str = "run_stale";
    /// `superseded_duplicate`: the cutover resolved several active runs of one identity.
    pub const SUPERSEDED_DUPLICATE: &'static str = "superseded_duplicate";

    /// Validates a code.
    ///
    /// # Errors
    /// [`FailureError::InvalidCode`] unless it is snake_case; [`FailureError::Reserved`] for
    /// [`OVERFLOW_CODE`], the code of the marker a summary writes for the failures it did not
    /// record (a failure reported with it would be read back as that marker).
    pub fn parse(raw: &str) -> Result<Self, FailureError> {
        if raw == OVERFLOW_CODE {
            Err(FailureError::Reserved(raw.to_owned()))
        } else if crate::run_type::is_canonical(raw) {
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
    /// An entry is the overflow marker only when its code is [`OVERFLOW_CODE`] and it has a
    /// numeric `count`. An entry with the reserved code and no count cannot have been written
    /// by this crate's summaries (rows of older versions or other tools): it is kept as a
    /// failure, so a caller's real failure is never dropped.
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
            let count = item.get("count").and_then(serde_json::Value::as_u64);
            match (code, message, count) {
                (Some(OVERFLOW_CODE), _, Some(count)) => {
                    summary.omitted = summary.omitted.saturating_add(count);
                }
                (Some(OVERFLOW_CODE), Some(message), None) => {
                    summary.push(Failure::new(FailureCode(OVERFLOW_CODE.to_owned()), message))
                }
                (Some(code), Some(message), _) => {
                    summary.push(Failure::new(FailureCode::parse(code)?, message))
                }
                _ => return Err(FailureError::Malformed(format!("bad entry {item}"))),
            }
        }
        Ok(summary)
    }
}

/// Makes a message safe to store: control characters removed (line breaks and tabs become
/// spaces), secrets redacted, and the length bounded to [`MAX_MESSAGE_CHARS`] characters.
///
/// Redacted are: bearer tokens (`Bearer abc`, `Bearer: abc`, `Bearer=abc`); the values of
/// `client_secret`, `password`, `access_token`, `refresh_token` and `api_key` (also `apikey`,
/// `api-key`) after `=` or `:`, and of `token` and `secret` (which also match inside longer keys
/// such as `id_token`) after `=` or a quoted key (`"token": …`; a bare `token:` is too common
/// in prose); and JWT-like strings (`eyJ….eyJ…` with any further segments, or three dotted
/// segments). Keys match case-insensitively. A quoted value is redacted up to its closing quote
/// (or the end of the text), so a secret with spaces does not leak. Sanitizing a sanitized
/// message changes nothing.
#[must_use]
pub fn sanitize_message(raw: &str) -> String {
    // Truncation can cut a redaction marker in half, and a redaction can bring the text under
    // the bound again; further passes settle that, so the result is a fixed point (sanitizing a
    // stored message again changes nothing).
    let mut current = sanitize_once(raw);
    for _ in 0..6 {
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

fn starts_with_ascii_ci(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn is_value_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '&' | ',' | ';' | '"' | '\'' | '}' | ')' | ']' | '>'))
}

/// Where the value after a key ending at byte `after_key` starts: past the key's closing quotes
/// (`"password": …`, also backslash-escaped inside embedded JSON), spaces, a `=` or `:`, and
/// spaces. `None` unless such a separator follows. With `colon_needs_quoted_key`, a `:` only
/// counts after a quoted key.
fn value_start(text: &str, after_key: usize, colon_needs_quoted_key: bool) -> Option<usize> {
    let rest = &text[after_key..];
    let unquoted = rest.trim_start_matches(['"', '\'', '\\']);
    let key_quoted = unquoted.len() < rest.len();
    let separator = unquoted.trim_start();
    match separator.chars().next() {
        Some('=') => {}
        Some(':') if key_quoted || !colon_needs_quoted_key => {}
        _ => return None,
    }
    let value = separator[1..].trim_start();
    Some(text.len() - value.len())
}

/// Writes [`REDACTED`] for the value starting at byte `start`; returns where the text resumes.
///
/// A quoted value (`"…"`, `'…'`, or `\"…\"` inside embedded JSON) runs to its closing quote, or
/// to the end of the text when there is none, so a secret with spaces cannot leak; the quotes
/// stay. An unquoted value runs to the next delimiter, a marker left by an earlier pass counting
/// as part of it: `[REDACTED]abc` loses its `abc`, while `[REDACTED]` before a delimiter stays
/// as it is (and `]`, a delimiter, cannot cut the marker).
fn replace_value(out: &mut String, text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let backslashes = rest.len() - rest.trim_start_matches('\\').len();
    if let Some(quote) = rest[backslashes..]
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\''))
    {
        let content_start = start + backslashes + 1;
        let content = &text[content_start..];
        let close = if backslashes == 0 {
            closing_quote(content, quote)
        } else {
            // An escaped opening quote is closed by the same escape sequence.
            content.find(&rest[..=backslashes])
        };
        let content_end = close.map_or(text.len(), |i| content_start + i);
        out.push_str(&text[start..content_start]);
        if content_end > content_start {
            out.push_str(REDACTED);
        }
        return content_end;
    }
    let mut end = start;
    loop {
        let tail = &text[end..];
        if tail.starts_with(REDACTED) {
            end += REDACTED.len();
        } else if let Some(c) = tail.chars().next().filter(|c| is_value_char(*c)) {
            end += c.len_utf8();
        } else {
            break;
        }
    }
    if end > start {
        out.push_str(REDACTED);
    }
    end
}

/// The byte offset of the first unescaped `quote` in `content`.
fn closing_quote(content: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in content.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return Some(i);
        }
    }
    None
}

fn redact_bearer(text: &str) -> String {
    const WORD: &str = "bearer";
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(hit) = find_ascii_ci(text, WORD, pos) {
        let after_word = hit + WORD.len();
        // `Bearer abc`, `Bearer: abc`, `Bearer=abc`; not `bearers` or `"Bearer",`.
        let after_space = text.len() - text[after_word..].trim_start().len();
        let start = value_start(text, after_word, false)
            .or((after_space > after_word).then_some(after_space))
            // `Bearer Bearer abc`: the second word is the one followed by the token.
            .filter(|&start| !starts_with_ascii_ci(&text[start..], WORD));
        match start {
            Some(start) => {
                out.push_str(&text[pos..start]);
                pos = replace_value(&mut out, text, start);
            }
            None => {
                out.push_str(&text[pos..after_word]);
                pos = after_word;
            }
        }
    }
    out.push_str(&text[pos..]);
    out
}

/// Keys whose value is a secret after `=` or `:`. They match anywhere in a word.
const SECRET_KEYS: [&str; 7] = [
    "client_secret",
    "password",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "api-key",
];
/// Keys whose value is a secret after `=` or a quoted key's `:`: a bare `token: expired` or
/// `/token: client_secret=…` is prose, not an assignment. Matching anywhere in a word, they also
/// cover `id_token=`, `csrftoken=`, `aws_secret=`.
const PROSE_SECRET_KEYS: [&str; 2] = ["token", "secret"];

fn redact_key_values(text: &str) -> String {
    let keys = SECRET_KEYS
        .iter()
        .map(|key| (*key, false))
        .chain(PROSE_SECRET_KEYS.iter().map(|key| (*key, true)));
    let mut current = text.to_owned();
    for (key, colon_needs_quoted_key) in keys {
        let mut out = String::with_capacity(current.len());
        let mut pos = 0;
        while let Some(hit) = find_ascii_ci(&current, key, pos) {
            let after_key = hit + key.len();
            match value_start(&current, after_key, colon_needs_quoted_key) {
                Some(start) => {
                    out.push_str(&current[pos..start]);
                    pos = replace_value(&mut out, &current, start);
                }
                None => {
                    out.push_str(&current[pos..after_key]);
                    pos = after_key;
                }
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

/// A JWT-like string: a JSON header and payload (`eyJ….eyJ…`) with or without further segments,
/// which may be empty (an unsigned token ends with a dot); or three or more non-empty
/// dot-separated segments, the first starting with `eyJ`, or all of at least 16 characters.
fn looks_like_jwt(word: &str) -> bool {
    let segments: Vec<&str> = word.split('.').collect();
    if segments.len() >= 2 && segments[0].starts_with("eyJ") && segments[1].starts_with("eyJ") {
        return true;
    }
    if segments.len() < 3 || segments.iter().take(3).any(|s| s.is_empty()) {
        return false;
    }
    segments[0].starts_with("eyJ") || segments.iter().take(3).all(|s| s.len() >= 16)
}

/// Where a JWT-like string starts in a word: at its start, or at an `eyJ` header glued to
/// what precedes it (`id=eyJ…`, `xeyJ…`). What precedes it is kept.
fn jwt_start(word: &str) -> Option<usize> {
    std::iter::once(0)
        .chain(word.match_indices("eyJ").map(|(i, _)| i))
        .find(|&i| looks_like_jwt(&word[i..]))
}

fn redact_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, word: &str| match jwt_start(word) {
        Some(start) => {
            out.push_str(&word[..start]);
            out.push_str(REDACTED);
        }
        None => out.push_str(word),
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

    #[test]
    fn the_overflow_code_is_reserved() {
        assert_eq!(
            FailureCode::parse(OVERFLOW_CODE),
            Err(FailureError::Reserved(OVERFLOW_CODE.to_owned()))
        );
        assert!(
            FailureError::Reserved(OVERFLOW_CODE.to_owned())
                .to_string()
                .contains("reserved")
        );
        let reported = serde_json::from_value::<Failure>(serde_json::json!({
            "code": OVERFLOW_CODE,
            "message": "a caller's real failure",
        }));
        assert!(reported.is_err());
        // The summary still writes its own marker.
        let mut summary = FailureSummary::new();
        for _ in 0..=MAX_FAILURES {
            summary.push(Failure::new(FailureCode::parse("x").unwrap(), "m"));
        }
        let json = summary.to_json();
        assert_eq!(json[MAX_FAILURES]["code"], OVERFLOW_CODE);
        assert_eq!(json[MAX_FAILURES]["count"], 1);
    }

    #[test]
    fn a_stored_entry_is_the_overflow_marker_only_with_a_numeric_count() {
        let stored = serde_json::json!([
            {"code": "failures_omitted", "message": "written by an older version"},
            {"code": "failures_omitted", "message": "count is no number", "count": "3"},
            {"code": "failures_omitted", "message": "4 more failures were not recorded", "count": 4},
            {"code": "graph_error", "message": "password=abc"},
        ]);
        let summary = FailureSummary::from_json(&stored).unwrap();
        assert_eq!(summary.omitted(), 4);
        let kept: Vec<(&str, &str)> = summary
            .failures()
            .iter()
            .map(|f| (f.code().as_str(), f.message()))
            .collect();
        assert_eq!(
            kept,
            [
                (OVERFLOW_CODE, "written by an older version"),
                (OVERFLOW_CODE, "count is no number"),
                ("graph_error", "password=[REDACTED]"),
            ]
        );
        // Written back and read again, nothing moves between the failures and the count.
        assert_eq!(
            FailureSummary::from_json(&summary.to_json()).unwrap(),
            summary
        );
        assert!(
            FailureSummary::from_json(&serde_json::json!([{"code": "failures_omitted"}])).is_err()
        );
    }

    #[test]
    fn quoted_values_are_redacted_to_their_closing_quote() {
        let cases = [
            (
                r#"login failed: password="correct horse battery staple" (user alice)"#,
                r#"login failed: password="[REDACTED]" (user alice)"#,
            ),
            (
                "login failed: password='correct horse battery staple' (user alice)",
                "login failed: password='[REDACTED]' (user alice)",
            ),
            (
                r#"{"client_secret": "two words", "scope": "x"}"#,
                r#"{"client_secret": "[REDACTED]", "scope": "x"}"#,
            ),
            (
                r#"{"password": "with \"escaped\" quotes", "user": "a"}"#,
                r#"{"password": "[REDACTED]", "user": "a"}"#,
            ),
            (
                // JSON embedded in a JSON string: the quotes are escaped themselves.
                r#"body: {\"password\": \"two words\", \"user\": \"a\"}"#,
                r#"body: {\"password\": \"[REDACTED]\", \"user\": \"a\"}"#,
            ),
            (
                "password=\"never closed, all of this is secret",
                "password=\"[REDACTED]",
            ),
            (r#"password="""#, r#"password="""#),
        ];
        for (raw, expected) in cases {
            assert_eq!(sanitize_message(raw), expected, "{raw}");
        }
    }

    #[test]
    fn unsigned_and_two_segment_jwts_are_redacted() {
        let header = "eyJhbGciOiJub25lIn0";
        let payload = "eyJzdWIiOiIxMjM0In0";
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
            format!("{header}.{payload}.."),
            format!("{header}.{payload}.c2ln.extra"),
        ] {
            assert_eq!(
                sanitize_message(&format!("got {token} back")),
                "got [REDACTED] back",
                "{token}"
            );
        }
        // Glued to what precedes it, the token goes and the rest stays.
        assert_eq!(
            sanitize_message(&format!("id={header}.{payload}.")),
            "id=[REDACTED]"
        );
        assert_eq!(
            sanitize_message(&format!("x{header}.{payload}, y")),
            "x[REDACTED], y"
        );
        // A lone header, or dotted words without one, is no token.
        for text in [
            format!("{header} only"),
            "eyJ.notjwt".to_owned(),
            "v1.2.3".to_owned(),
        ] {
            assert_eq!(sanitize_message(&text), text);
        }
    }

    #[test]
    fn bearer_with_colon_or_equals_is_redacted() {
        let cases = [
            ("Bearer:abc123secret", "Bearer:[REDACTED]"),
            ("bearer=abc123secret", "bearer=[REDACTED]"),
            ("BEARER : abc123secret end", "BEARER : [REDACTED] end"),
            ("Bearer = abc123secret", "Bearer = [REDACTED]"),
            (r#"{"bearer": "abc 123"}"#, r#"{"bearer": "[REDACTED]"}"#),
            // The token type of an OAuth response names no secret.
            (
                r#"{"token_type":"Bearer","expires_in":3599}"#,
                r#"{"token_type":"Bearer","expires_in":3599}"#,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(sanitize_message(raw), expected, "{raw}");
        }
    }

    #[test]
    fn a_value_starting_with_the_marker_is_redacted_whole() {
        assert_eq!(
            sanitize_message("client_secret=[REDACTED]abc&x=1"),
            "client_secret=[REDACTED]&x=1"
        );
        assert_eq!(
            sanitize_message("Bearer [REDACTED]abc"),
            "Bearer [REDACTED]"
        );
        assert_eq!(
            sanitize_message("password=[REDACTED][REDACTED]xyz]"),
            "password=[REDACTED]]"
        );
        for stored in [
            "client_secret=[REDACTED]&scope=x",
            "password=[REDACTED], retry",
            "Bearer [REDACTED])",
            "password=[REDACTED]",
        ] {
            assert_eq!(sanitize_message(stored), stored);
        }
    }

    #[test]
    fn oauth_keys_are_redacted_without_eating_prose() {
        let cases = [
            (
                "refresh failed: access_token=at-1&refresh_token=rt-2&token_type=Bearer",
                "refresh failed: access_token=[REDACTED]&refresh_token=[REDACTED]&token_type=Bearer",
            ),
            ("id_token=abc.def", "id_token=[REDACTED]"),
            ("?token=abc&x=1", "?token=[REDACTED]&x=1"),
            ("api_key: k-123", "api_key: [REDACTED]"),
            ("X-Api-Key: k-123", "X-Api-Key: [REDACTED]"),
            ("apikey=k-123", "apikey=[REDACTED]"),
            ("secret=s-1", "secret=[REDACTED]"),
            (r#"{"token": "t 1"}"#, r#"{"token": "[REDACTED]"}"#),
            (r#"{'secret': 's-1'}"#, r#"{'secret': '[REDACTED]'}"#),
            // A bare `token:` or `secret:` is prose.
            (
                "invalid token: signature mismatch",
                "invalid token: signature mismatch",
            ),
            (
                "POST /token: client_secret=s&grant_type=client_credentials",
                "POST /token: client_secret=[REDACTED]&grant_type=client_credentials",
            ),
            ("tokens=5 secrets: 2", "tokens=5 secrets: 2"),
        ];
        for (raw, expected) in cases {
            assert_eq!(sanitize_message(raw), expected, "{raw}");
        }
    }

    /// Words of at least 8 characters, so none can appear in the marker or a key by chance.
    fn spaced_secret() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec("[A-Za-z0-9]{8,40}", 1..4)
    }

    /// `key` with the case of each letter chosen by a bit of `mask`.
    fn mixed_case(key: &str, mask: u64) -> String {
        key.chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    const KEYS: [&str; 7] = [
        "client_secret",
        "password",
        "access_token",
        "refresh_token",
        "api_key",
        "token",
        "secret",
    ];

    /// A message embedding the secret words in one of the known shapes.
    fn embed(shape: usize, words: &[String], key: &str, quote: char) -> String {
        let one = &words[0];
        let spaced = words.join(" ");
        match shape {
            0 => format!("{key}={one}"),
            1 => format!("{key} = {quote}{spaced}{quote}"),
            2 => format!("{quote}{key}{quote}: {quote}{spaced}{quote}"),
            3 => format!("{key}={quote}{spaced}"),
            4 => format!("{key}=[REDACTED]{one}"),
            5 => format!("{}: {one}", mixed_case("password", key.len() as u64)),
            6 => format!("{} {one}", mixed_case("bearer", key.len() as u64)),
            7 => format!("{}:{one}", mixed_case("bearer", key.len() as u64)),
            8 => format!("{}= {one}", mixed_case("bearer", !(key.len() as u64))),
            9 => format!("eyJ{one}.{one}.{one}"),
            10 => format!("eyJ{one}.eyJ{one}."),
            _ => format!("eyJ{one}.eyJ{one}"),
        }
    }

    /// Pieces that steer the sanitizer into its corners: keys, separators, quotes, escapes, the
    /// marker itself, JWT headers, delimiters, and non-ASCII text.
    fn tricky_text() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "password",
            "PassWord",
            "client_secret",
            "token",
            "access_token",
            "secret",
            "api-key",
            "bearer",
            "Bearer",
            "=",
            ":",
            " ",
            "  ",
            "\"",
            "'",
            "\\",
            "\\\"",
            "[REDACTED]",
            "[REDAC",
            "]",
            "[",
            "&",
            ",",
            "}",
            ")",
            "eyJ",
            "eyJa",
            ".",
            "abc",
            "x9",
            "…",
            "é",
            "日本",
            "\u{a0}",
            "\n",
        ]);
        (proptest::collection::vec(pieces, 0..60), 1usize..30)
            .prop_map(|(pieces, repeat)| pieces.concat().repeat(repeat))
    }

    proptest! {
        #[test]
        fn no_secret_survives(
            prefix in any::<String>(),
            suffix in any::<String>(),
            words in spaced_secret(),
            shape in 0usize..12,
            key in prop::sample::select(KEYS.to_vec()),
            case_mask in any::<u64>(),
            double_quotes in any::<bool>(),
            glued in any::<bool>(),
        ) {
            let key = mixed_case(key, case_mask);
            let quote = if double_quotes { '"' } else { '\'' };
            let embedded = embed(shape, &words, &key, quote);
            let gap = if glued { "" } else { " " };
            let message = format!("{prefix}{gap}{embedded}{gap}{suffix}");
            let clean = sanitize_message(&message);
            for word in &words {
                prop_assert!(!clean.contains(word.as_str()), "{clean:?} leaks {word:?}");
            }
            prop_assert_eq!(sanitize_message(&clean), clean.clone());
        }

        #[test]
        fn sanitizing_tricky_text_is_idempotent_and_bounded(raw in tricky_text()) {
            let once = sanitize_message(&raw);
            prop_assert!(once.chars().count() <= MAX_MESSAGE_CHARS);
            prop_assert!(!once.chars().any(char::is_control));
            prop_assert_eq!(sanitize_message(&once), once.clone());
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
