//! Failure summaries: what went wrong, safe to store and show.

mod redact;

pub use redact::sanitize_message;
use serde::{Deserialize, Serialize};

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
    /// `unreadable_failure_summary`: a lifecycle write replaced a stored failure summary that
    /// broke today's rules; the message keeps what it held.
    pub const UNREADABLE_FAILURE_SUMMARY: &'static str = "unreadable_failure_summary";

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
}

validated_string!(FailureCode, FailureError, as_str: "The code.");

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

    /// The summary a lifecycle write stores in place of one it could not read: one
    /// [`FailureCode::UNREADABLE_FAILURE_SUMMARY`] failure whose message keeps the stored value
    /// (sanitized and bounded like every message), so nothing the legacy row said is lost.
    #[must_use]
    pub fn replacing_unreadable(unreadable: &crate::Unreadable) -> Self {
        let message = format!(
            "the stored failure summary could not be read ({}): {}",
            unreadable.reason(),
            unreadable.raw()
        );
        Self::single(Failure::new(
            FailureCode(FailureCode::UNREADABLE_FAILURE_SUMMARY.to_owned()),
            &message,
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
