//! The run-type canonicalization the cutover applies, frozen with the migration history.

use std::borrow::Cow;

/// The legacy dotted spellings of the built-in run types and the canonical type each becomes.
///
/// This is the migration's own copy: an applied migration must never change meaning when the
/// domain's registry evolves. A test asserts it equals the domain's built-in spellings today.
pub const LEGACY_TYPE_SPELLINGS: [(&str, &str); 9] = [
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

/// The type a stored run type becomes in the cutover: a known legacy spelling maps to its
/// canonical type, any other dot becomes an underscore, anything else is kept.
///
/// ```
/// use operation_runs_migration::canonical_type;
/// assert_eq!(canonical_type("directory_groups.sync"), "entra_group_sync");
/// assert_eq!(canonical_type("custom.report.export"), "custom_report_export");
/// assert_eq!(canonical_type("inventory_sync"), "inventory_sync");
/// ```
#[must_use]
pub fn canonical_type(stored: &str) -> Cow<'_, str> {
    if let Some((_, canonical)) = LEGACY_TYPE_SPELLINGS
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

/// The SQL expression computing [`canonical_type`] of the column `column`.
pub(crate) fn canonical_type_sql(column: &str) -> String {
    let mut sql = format!("CASE {column}");
    for (legacy, canonical) in LEGACY_TYPE_SPELLINGS {
        sql.push_str(&format!(
            " WHEN {} THEN {}",
            crate::sql::literal(legacy),
            crate::sql::literal(canonical)
        ));
    }
    sql.push_str(&format!(" ELSE REPLACE({column}, '.', '_') END"));
    sql
}
