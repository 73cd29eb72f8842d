//! Summary counts: named, non-negative, checked.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The count names every run type may use.
pub const BASE_COUNT_NAMES: [&str; 9] = [
    "total",
    "processed",
    "succeeded",
    "failed",
    "skipped",
    "created",
    "updated",
    "deleted",
    "unchanged",
];

/// The largest value a count may hold: counts live in signed 64-bit database integers.
pub const MAX_COUNT: u64 = i64::MAX as u64;

/// A count name: snake_case, like a canonical run type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountName(Cow<'static, str>);

impl CountName {
    /// Validates a count name.
    ///
    /// # Errors
    /// [`CountError::InvalidName`] unless it is lowercase words joined by underscores.
    pub fn parse(raw: &str) -> Result<Self, CountError> {
        if crate::run_type::is_canonical(raw) {
            Ok(Self(Cow::Owned(raw.to_owned())))
        } else {
            Err(CountError::InvalidName(raw.to_owned()))
        }
    }

    pub(crate) fn from_static(raw: &'static str) -> Self {
        Self(Cow::Borrowed(raw))
    }
}

validated_string!(CountName, CountError, as_str: "The name as stored in `summary_counts`.");

/// Why counts were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CountError {
    /// Not a snake_case name.
    #[error("count name `{0}` is not snake_case")]
    InvalidName(String),
    /// The run type does not declare this count.
    #[error("count `{name}` is not declared by run type `{run_type}`")]
    Undeclared {
        /// The count name.
        name: String,
        /// The run type.
        run_type: String,
    },
    /// Counts are never negative.
    #[error("count `{name}` must not be negative (got {value})")]
    Negative {
        /// The count name.
        name: String,
        /// The refused value.
        value: i64,
    },
    /// The sum would exceed [`MAX_COUNT`].
    #[error("count `{0}` would overflow")]
    Overflow(String),
    /// Stored counts that are not an object of non-negative integers.
    #[error("stored summary counts are malformed: {0}")]
    Malformed(String),
}

/// Count name → non-negative integer (at most [`MAX_COUNT`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SummaryCounts(BTreeMap<CountName, u64>);

impl SummaryCounts {
    /// No counts.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds to one count.
    ///
    /// # Errors
    /// [`CountError::Overflow`] if the sum exceeds [`MAX_COUNT`]; the counts are unchanged then.
    pub fn add(&mut self, name: CountName, value: u64) -> Result<(), CountError> {
        let current = self.get(&name);
        let sum = current
            .checked_add(value)
            .filter(|sum| *sum <= MAX_COUNT)
            .ok_or_else(|| CountError::Overflow(name.to_string()))?;
        self.0.insert(name, sum);
        Ok(())
    }

    /// Adds all of `other`; all or nothing.
    ///
    /// # Errors
    /// [`CountError::Overflow`] if any sum exceeds [`MAX_COUNT`]; the counts are unchanged then.
    pub fn merge(&mut self, other: &Self) -> Result<(), CountError> {
        let mut merged = self.clone();
        for (name, value) in &other.0 {
            merged.add(name.clone(), *value)?;
        }
        *self = merged;
        Ok(())
    }

    /// One count, 0 if absent.
    #[must_use]
    pub fn get(&self, name: &CountName) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// One count by its name, 0 if absent or not a valid name.
    #[must_use]
    pub fn get_str(&self, name: &str) -> u64 {
        CountName::parse(name).map(|n| self.get(&n)).unwrap_or(0)
    }

    /// Whether no count is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The counts, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = (&CountName, u64)> {
        self.0.iter().map(|(k, v)| (k, *v))
    }

    /// The JSON object stored in `summary_counts`.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                .collect(),
        )
    }

    /// Reads a stored `summary_counts` object.
    ///
    /// # Errors
    /// [`CountError::Malformed`] unless it is an object of non-negative integers with valid names.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, CountError> {
        let object = value
            .as_object()
            .ok_or_else(|| CountError::Malformed(format!("expected an object, got {value}")))?;
        let mut counts = Self::new();
        for (name, value) in object {
            let n = value
                .as_u64()
                .filter(|n| *n <= MAX_COUNT)
                .ok_or_else(|| CountError::Malformed(format!("`{name}` is {value}")))?;
            counts.0.insert(CountName::parse(name)?, n);
        }
        Ok(counts)
    }
}

impl FromIterator<(CountName, u64)> for SummaryCounts {
    /// Builds counts without overflow checks beyond saturation at [`MAX_COUNT`].
    fn from_iter<I: IntoIterator<Item = (CountName, u64)>>(iter: I) -> Self {
        let mut counts = Self::new();
        for (name, value) in iter {
            let sum = counts.get(&name).saturating_add(value).min(MAX_COUNT);
            counts.0.insert(name, sum);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overflow_is_an_error_and_changes_nothing() {
        let name = CountName::parse("total").unwrap();
        let mut counts = SummaryCounts::new();
        counts.add(name.clone(), MAX_COUNT).unwrap();
        assert_eq!(
            counts.add(name.clone(), 1),
            Err(CountError::Overflow("total".into()))
        );
        assert_eq!(counts.get(&name), MAX_COUNT);
    }

    #[test]
    fn json_round_trip_and_malformed_input() {
        let mut counts = SummaryCounts::new();
        counts.add(CountName::parse("total").unwrap(), 7).unwrap();
        assert_eq!(counts.to_json(), serde_json::json!({"total": 7}));
        assert_eq!(SummaryCounts::from_json(&counts.to_json()).unwrap(), counts);
        assert!(SummaryCounts::from_json(&serde_json::json!({"total": -1})).is_err());
        assert!(SummaryCounts::from_json(&serde_json::json!([1])).is_err());
    }

    proptest! {
        #[test]
        fn addition_is_checked(values in proptest::collection::vec(0u64..=MAX_COUNT, 0..8)) {
            let name = CountName::parse("total").unwrap();
            let mut counts = SummaryCounts::new();
            let mut expected: Option<u64> = Some(0);
            for v in values {
                let result = counts.add(name.clone(), v);
                let next = expected.and_then(|e| e.checked_add(v)).filter(|s| *s <= MAX_COUNT);
                match next {
                    Some(sum) => { prop_assert!(result.is_ok()); expected = Some(sum); }
                    None => { prop_assert!(result.is_err()); }
                }
                prop_assert_eq!(Some(counts.get(&name)), expected);
            }
        }

        #[test]
        fn merge_is_all_or_nothing(a in 0u64..=MAX_COUNT, b in 0u64..=MAX_COUNT, c in 0u64..=MAX_COUNT) {
            let total = CountName::parse("total").unwrap();
            let failed = CountName::parse("failed").unwrap();
            let mut left = SummaryCounts::new();
            left.add(total.clone(), a).unwrap();
            let mut right = SummaryCounts::new();
            right.add(failed.clone(), c).unwrap();
            right.add(total.clone(), b).unwrap();
            let before = left.clone();
            match left.merge(&right) {
                Ok(()) => {
                    prop_assert_eq!(left.get(&total), a + b);
                    prop_assert_eq!(left.get(&failed), c);
                }
                Err(_) => {
                    prop_assert!(a.checked_add(b).is_none_or(|s| s > MAX_COUNT));
                    prop_assert_eq!(left, before);
                }
            }
        }
    }
}
