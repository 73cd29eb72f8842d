//! Run types: the allow-list of what may be recorded, and how backend developers extend it.
//!
//! A registered type may name legacy spellings: the dotted types its runs were stored under
//! before the cutover (`policy.export` for `policy_export`). They serve two readers only:
//! [`RunTypeRegistry::canonicalize`], which maps a stored spelling to its type when a host reads
//! stored types, and the listing of the registry (`oprun types` shows the built-ins').
//!
//! The cutover migration does not consult the registry: it applies the frozen built-in mapping
//! ([`BUILTIN_LEGACY_SPELLINGS`]) and otherwise turns every dot into an underscore
//! ([`canonicalize`]). A host spelling whose rewrite is its type (`policy.export` →
//! `policy_export`) is migrated to that type; one whose rewrite is not (`policy.export.v1` →
//! `policy_export_v1`) leaves its runs under the rewrite, which the preflight lists as not on
//! the allow-list. [`RunTypeRegistry::register`] refuses a spelling whose rewrite is a
//! different registered type, since the migration would then move its runs to that other type.

mod descriptor;
mod registry;

pub use descriptor::{RunScope, RunTypeDescriptor};
pub use registry::{RegistryError, RunTypeRegistry, UnknownRunType};

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A canonical run type id: lowercase words joined by underscores
/// (`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`). A dot is never canonical.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunType(Cow<'static, str>);

/// Why a string is not a canonical run type id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunTypeError {
    /// The id contains a dot: a legacy spelling, never canonical.
    #[error("run type `{0}` is dotted; canonical run types use underscores (did you mean `{1}`?)")]
    Dotted(String, String),
    /// The id breaks the canonical pattern in another way.
    #[error(
        "run type `{0}` is not canonical: use lowercase words joined by underscores, e.g. `inventory_sync`"
    )]
    NotCanonical(String),
}

impl RunType {
    /// `inventory_sync`
    pub const INVENTORY_SYNC: Self = Self(Cow::Borrowed("inventory_sync"));
    /// `entra_group_sync`
    pub const ENTRA_GROUP_SYNC: Self = Self(Cow::Borrowed("entra_group_sync"));
    /// `backup_schedule_run`
    pub const BACKUP_SCHEDULE_RUN: Self = Self(Cow::Borrowed("backup_schedule_run"));
    /// `backup_schedule_retention`
    pub const BACKUP_SCHEDULE_RETENTION: Self = Self(Cow::Borrowed("backup_schedule_retention"));
    /// `backup_schedule_purge`
    pub const BACKUP_SCHEDULE_PURGE: Self = Self(Cow::Borrowed("backup_schedule_purge"));
    /// `drift_generate`
    pub const DRIFT_GENERATE: Self = Self(Cow::Borrowed("drift_generate"));

    /// The three types that make up a backup schedule's history.
    pub const BACKUP_SCHEDULE_TYPES: [Self; 3] = [
        Self::BACKUP_SCHEDULE_RUN,
        Self::BACKUP_SCHEDULE_RETENTION,
        Self::BACKUP_SCHEDULE_PURGE,
    ];

    /// Validates a canonical id.
    ///
    /// # Errors
    /// [`RunTypeError::Dotted`] for a dotted spelling, [`RunTypeError::NotCanonical`] otherwise.
    pub fn parse(raw: &str) -> Result<Self, RunTypeError> {
        if is_canonical(raw) {
            Ok(Self(Cow::Owned(raw.to_owned())))
        } else if raw.contains('.') {
            Err(RunTypeError::Dotted(
                raw.to_owned(),
                canonicalize(raw).into_owned(),
            ))
        } else {
            Err(RunTypeError::NotCanonical(raw.to_owned()))
        }
    }
}

validated_string!(RunType, RunTypeError, as_str: "The id as stored in `operation_runs.type`.");

/// Whether `raw` matches `^[a-z][a-z0-9]*(_[a-z0-9]+)*$`.
#[must_use]
pub fn is_canonical(raw: &str) -> bool {
    let mut chars = raw.chars();
    if !matches!(chars.next(), Some('a'..='z')) {
        return false;
    }
    let mut previous_underscore = false;
    for c in chars {
        match c {
            'a'..='z' | '0'..='9' => previous_underscore = false,
            '_' if !previous_underscore => previous_underscore = true,
            _ => return false,
        }
    }
    !previous_underscore
}

/// The legacy dotted spellings of the built-in types, as the cutover migration rewrites them.
pub const BUILTIN_LEGACY_SPELLINGS: [(&str, &str); 9] = [
    ("inventory.sync", "inventory_sync"),
    ("entra_group.sync", "entra_group_sync"),
    ("directory_groups.sync", "entra_group_sync"),
    ("backup_schedule.run", "backup_schedule_run"),
    ("backup_schedule.run_now", "backup_schedule_run"),
    ("backup_schedule.retry", "backup_schedule_run"),
    ("backup_schedule.retention", "backup_schedule_retention"),
    ("backup_schedule.purge", "backup_schedule_purge"),
    ("drift.generate", "drift_generate"),
];

/// Canonicalizes a stored type with the built-in rules only: a known legacy spelling maps to its
/// type, any other dot becomes an underscore. This is exactly what the cutover migration does.
#[must_use]
pub fn canonicalize(stored: &str) -> Cow<'_, str> {
    if let Some((_, canonical)) = BUILTIN_LEGACY_SPELLINGS
        .iter()
        .find(|(legacy, _)| *legacy == stored)
    {
        return Cow::Borrowed(canonical);
    }
    if stored.contains('.') {
        Cow::Owned(stored.replace('.', "_"))
    } else {
        Cow::Borrowed(stored)
    }
}
