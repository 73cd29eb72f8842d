//! The type-specific context of a run, with typed accessors for the keys the product relies on.

use crate::ids::{BackupScheduleId, BackupSetId};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Context keys with a meaning across the product.
pub mod keys {
    /// Integer id of the backup schedule a schedule operation belongs to.
    pub const BACKUP_SCHEDULE_ID: &str = "backup_schedule_id";
    /// Integer id of the backup set a scheduled backup created.
    pub const BACKUP_SET_ID: &str = "backup_set_id";
    /// RFC 3339 time the operation was scheduled for.
    pub const SCHEDULED_FOR: &str = "scheduled_for";
    /// What started the run (`schedule`, `manual`, `retry`, …).
    pub const TRIGGER: &str = "trigger";
}

/// Why a context was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The context must be a JSON object.
    #[error("run context must be a JSON object, got {0}")]
    NotAnObject(String),
    /// A well-known key holds a value of the wrong type (ids are integers, times RFC 3339).
    #[error("context key `{key}` must be {expected}, got {found}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What it must hold.
        expected: &'static str,
        /// What it held.
        found: String,
    },
}

/// A JSON object of type-specific data. Ids are always stored as JSON integers, so the
/// database can index and compare them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "serde_json::Value")]
pub struct RunContext(serde_json::Map<String, serde_json::Value>);

impl RunContext {
    /// An empty context.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates a JSON value: an object whose well-known keys have their proper types.
    ///
    /// # Errors
    /// [`ContextError`] otherwise.
    pub fn from_json(value: serde_json::Value) -> Result<Self, ContextError> {
        let serde_json::Value::Object(map) = value else {
            return Err(ContextError::NotAnObject(value.to_string()));
        };
        let context = Self(map);
        for key in [keys::BACKUP_SCHEDULE_ID, keys::BACKUP_SET_ID] {
            if let Some(v) = context.0.get(key).filter(|v| !v.is_i64()) {
                return Err(ContextError::WrongType {
                    key,
                    expected: "an integer",
                    found: v.to_string(),
                });
            }
        }
        if let Some(v) = context.0.get(keys::SCHEDULED_FOR) {
            let parsed = v.as_str().map(DateTime::parse_from_rfc3339);
            if !matches!(parsed, Some(Ok(_))) {
                return Err(ContextError::WrongType {
                    key: keys::SCHEDULED_FOR,
                    expected: "an RFC 3339 time",
                    found: v.to_string(),
                });
            }
        }
        if let Some(v) = context.0.get(keys::TRIGGER).filter(|v| !v.is_string()) {
            return Err(ContextError::WrongType {
                key: keys::TRIGGER,
                expected: "a string",
                found: v.to_string(),
            });
        }
        Ok(context)
    }

    /// The JSON object stored in `context`.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.0.clone())
    }

    /// Any key.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.get(key)
    }

    /// Sets any key.
    #[must_use]
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        self.0.insert(key.to_owned(), value);
        self
    }

    /// A key's value, if it is an integer (as ids are stored).
    fn integer(&self, key: &str) -> Option<i64> {
        self.0.get(key)?.as_i64()
    }

    /// The backup schedule, if set as an integer.
    #[must_use]
    pub fn backup_schedule_id(&self) -> Option<BackupScheduleId> {
        self.integer(keys::BACKUP_SCHEDULE_ID)
            .map(BackupScheduleId::new)
    }

    /// Sets the backup schedule (as an integer).
    #[must_use]
    pub fn with_backup_schedule_id(self, id: BackupScheduleId) -> Self {
        self.with(keys::BACKUP_SCHEDULE_ID, id.get().into())
    }

    /// The backup set, if set as an integer.
    #[must_use]
    pub fn backup_set_id(&self) -> Option<BackupSetId> {
        self.integer(keys::BACKUP_SET_ID).map(BackupSetId::new)
    }

    /// Sets the backup set (as an integer).
    #[must_use]
    pub fn with_backup_set_id(self, id: BackupSetId) -> Self {
        self.with(keys::BACKUP_SET_ID, id.get().into())
    }

    /// When the operation was scheduled for, if set.
    #[must_use]
    pub fn scheduled_for(&self) -> Option<DateTime<Utc>> {
        let raw = self.0.get(keys::SCHEDULED_FOR)?.as_str()?;
        DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Sets the scheduled time (RFC 3339, UTC, seconds).
    #[must_use]
    pub fn with_scheduled_for(self, at: DateTime<Utc>) -> Self {
        self.with(
            keys::SCHEDULED_FOR,
            at.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
        )
    }

    /// What started the run, if set.
    #[must_use]
    pub fn trigger(&self) -> Option<&str> {
        self.0.get(keys::TRIGGER)?.as_str()
    }

    /// Sets the trigger.
    #[must_use]
    pub fn with_trigger(self, trigger: &str) -> Self {
        self.with(keys::TRIGGER, trigger.into())
    }
}

impl TryFrom<serde_json::Value> for RunContext {
    type Error = ContextError;
    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        Self::from_json(value)
    }
}

impl From<RunContext> for serde_json::Value {
    fn from(value: RunContext) -> Self {
        serde_json::Value::Object(value.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn typed_accessors_round_trip() {
        let at = Utc.with_ymd_and_hms(2026, 2, 12, 3, 0, 0).unwrap();
        let context = RunContext::new()
            .with_backup_schedule_id(BackupScheduleId::new(42))
            .with_backup_set_id(BackupSetId::new(7))
            .with_scheduled_for(at)
            .with_trigger("schedule");
        assert_eq!(
            context.to_json(),
            json!({"backup_schedule_id": 42, "backup_set_id": 7, "scheduled_for": "2026-02-12T03:00:00Z", "trigger": "schedule"})
        );
        let back = RunContext::from_json(context.to_json()).unwrap();
        assert_eq!(back.backup_schedule_id(), Some(BackupScheduleId::new(42)));
        assert_eq!(back.backup_set_id(), Some(BackupSetId::new(7)));
        assert_eq!(back.scheduled_for(), Some(at));
        assert_eq!(back.trigger(), Some("schedule"));
    }

    #[test]
    fn ids_must_be_integers_and_the_context_an_object() {
        assert!(matches!(
            RunContext::from_json(json!({"backup_schedule_id": "42"})),
            Err(ContextError::WrongType { .. })
        ));
        assert!(matches!(
            RunContext::from_json(json!({"backup_set_id": 1.5})),
            Err(ContextError::WrongType { .. })
        ));
        assert!(matches!(
            RunContext::from_json(json!({"scheduled_for": "tomorrow"})),
            Err(ContextError::WrongType { .. })
        ));
        assert!(matches!(
            RunContext::from_json(json!([1])),
            Err(ContextError::NotAnObject(_))
        ));
        assert!(RunContext::from_json(json!({"anything": [1, 2]})).is_ok());
    }
}
