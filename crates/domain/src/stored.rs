//! Stored fields as read: a value today's rules accept, or what the row holds and why it was
//! refused.
//!
//! The legacy product wrote runs without today's validation, and one such field must never make
//! a whole run (or a page of runs) unreadable. Each field that can break a rule is a
//! [`Stored`]: code that needs the value has to say what it does without it; there is no
//! silent default.

use crate::failure::sanitize_message;
use std::fmt;

/// A stored value that today's rules reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    raw: String,
    reason: String,
}

impl Unreadable {
    /// `raw` as the row holds it (JSON text for JSON columns, `null` for a missing value) and
    /// the rule it breaks.
    #[must_use]
    pub fn new(raw: impl Into<String>, reason: impl Into<String>) -> Self {
        // Reasons quote what they refuse, so they get the same redaction as the raw value.
        Self {
            raw: raw.into(),
            reason: sanitize_message(&reason.into()),
        }
    }

    /// The stored value, exactly as the row holds it. It may carry secrets the legacy product
    /// stored unsanitized: show [`Unreadable::shown_raw`] instead.
    #[must_use]
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Why today's rules reject it.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The stored value made safe to show or store elsewhere: secrets redacted and bounded
    /// as a failure message is ([`sanitize_message`]).
    #[must_use]
    pub fn shown_raw(&self) -> String {
        sanitize_message(&self.raw)
    }
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unreadable ({}): {}", self.reason, self.shown_raw())
    }
}

/// A stored field: [`Stored::Readable`] when it keeps today's rules, else
/// [`Stored::Unreadable`] with the raw value and the reason.
///
/// An unreadable value equals no value: `run.status() == RunStatus::Running` is false for a
/// run whose status could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored<T> {
    /// The value.
    Readable(T),
    /// What the row holds instead.
    Unreadable(Unreadable),
}

impl<T> Stored<T> {
    /// The value, or why there is none.
    ///
    /// # Errors
    /// The [`Unreadable`] stored value.
    pub fn readable(&self) -> Result<&T, &Unreadable> {
        match self {
            Self::Readable(value) => Ok(value),
            Self::Unreadable(unreadable) => Err(unreadable),
        }
    }

    /// The value, if readable.
    #[must_use]
    pub fn ok(&self) -> Option<&T> {
        self.readable().ok()
    }

    /// What the row holds, if it is unreadable.
    #[must_use]
    pub fn unreadable(&self) -> Option<&Unreadable> {
        self.readable().err()
    }

    /// Whether the value is readable and satisfies `predicate`.
    pub fn is_readable_and(&self, predicate: impl FnOnce(&T) -> bool) -> bool {
        self.ok().is_some_and(predicate)
    }
}

impl<T> Stored<T> {
    /// Decodes `raw` with `parse`; a refusal keeps `raw` (as `shown`) and the error as reason.
    pub fn decode<R: ?Sized, E: fmt::Display>(
        raw: &R,
        parse: impl FnOnce(&R) -> Result<T, E>,
        shown: impl FnOnce(&R) -> String,
    ) -> Self {
        match parse(raw) {
            Ok(value) => Self::Readable(value),
            Err(error) => Self::Unreadable(Unreadable::new(shown(raw), error.to_string())),
        }
    }
}

impl<T: PartialEq> PartialEq<T> for Stored<T> {
    fn eq(&self, other: &T) -> bool {
        matches!(self, Self::Readable(value) if value == other)
    }
}

impl<T: fmt::Display> fmt::Display for Stored<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Readable(value) => value.fmt(f),
            Self::Unreadable(unreadable) => unreadable.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_value_equals_nothing() {
        let readable: Stored<u8> = Stored::Readable(1);
        let unreadable: Stored<u8> = Stored::Unreadable(Unreadable::new("x", "not a number"));
        assert!(readable == 1);
        assert!(unreadable != 1);
        assert_eq!(unreadable.ok(), None);
        assert_eq!(unreadable.unreadable().map(Unreadable::raw), Some("x"));
    }

    #[test]
    fn decode_keeps_the_raw_value_and_the_reason() {
        let stored: Stored<u8> = Stored::decode("300", str::parse::<u8>, str::to_owned);
        let unreadable = stored.unreadable().expect("300 is no u8");
        assert_eq!(unreadable.raw(), "300");
        assert!(unreadable.reason().contains("too large"), "{unreadable}");
    }

    #[test]
    fn shown_raw_is_redacted_and_bounded() {
        let long = format!(
            "password=hunter2 {}",
            "x".repeat(2 * crate::failure::MAX_MESSAGE_CHARS)
        );
        let shown = Unreadable::new(long, "bad").shown_raw();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.chars().count() <= crate::failure::MAX_MESSAGE_CHARS);
    }
}
