//! The report as an operator reads it.

use super::{PreflightReport, ReferenceStats, RowClassStats};
use std::fmt;

fn write_reference(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    stats: Option<&ReferenceStats>,
) -> fmt::Result {
    match stats {
        None => writeln!(f, "  {name}: legacy column already dropped"),
        Some(s) => writeln!(
            f,
            "  {name}: {} rows; {} keep their canonical reference, {} mapped; \
             null afterwards: {} already null, {} legacy row missing, {} bridge null, {} bridge dangling, \
             {} bridge to another tenant's run, {} bridge to a run of another type",
            s.total(),
            s.already_set,
            s.mapped,
            s.legacy_ref_null,
            s.legacy_row_missing,
            s.bridge_null,
            s.bridge_dangling,
            s.bridge_foreign_tenant,
            s.bridge_wrong_type
        ),
    }
}

impl fmt::Display for PreflightReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Operation runs cutover preflight")?;
        if self.cutover_complete() {
            writeln!(
                f,
                "The legacy run tables and reference columns are already gone: the cutover has run."
            )?;
        } else if !self.missing_legacy_objects.is_empty() {
            writeln!(
                f,
                "Already removed: {}",
                self.missing_legacy_objects.join(", ")
            )?;
        }
        if !self.legacy_tables.is_empty() {
            writeln!(f, "Legacy run tables (dropped by the cutover):")?;
            for t in &self.legacy_tables {
                writeln!(
                    f,
                    "  {}: {} rows, {} with a canonical run, {} bridge null, {} bridge dangling \
                     (history lost: {})",
                    t.table,
                    t.rows,
                    t.bridged(),
                    t.bridge_null,
                    t.bridge_dangling,
                    t.unbridged()
                )?;
            }
        }
        if !self.cutover_complete() {
            writeln!(f, "References:")?;
            write_reference(f, "findings baseline", self.finding_baseline_refs.as_ref())?;
            write_reference(f, "findings current", self.finding_current_refs.as_ref())?;
            write_reference(
                f,
                "inventory items last seen",
                self.inventory_last_seen_refs.as_ref(),
            )?;
        }
        if !self.rejected_bridges.is_empty() {
            write_list(
                f,
                "References whose bridge leads to a run they may not name (null afterwards)",
                &self.rejected_bridges,
                |r| {
                    let ids = listed_ids(&r.ids, r.rows);
                    format!(
                        "{}.{}: {}: {} rows (ids {ids})",
                        r.table, r.column, r.reason, r.rows
                    )
                },
            )?;
        }
        if self.dotted_types.is_empty() {
            writeln!(f, "Run types: none dotted.")?;
        } else {
            write_list(f, "Dotted run types (rewritten)", &self.dotted_types, |t| {
                format!("{} -> {}: {} runs", t.stored, t.canonical, t.rows)
            })?;
        }
        if !self.unregistered_types.is_empty() {
            write_list(
                f,
                "Run types not on the allow-list after the rewrite",
                &self.unregistered_types,
                |t| format!("{} (stored as {}): {} runs", t.canonical, t.stored, t.rows),
            )?;
        }
        if self.duplicate_active_identities.is_empty() {
            writeln!(f, "Duplicate active identities: none.")?;
        } else {
            let title = format!(
                "Duplicate active identities: {} (the newest run stays active, {} runs complete as \
                 failed/superseded_duplicate)",
                self.duplicate_active_identities.len(),
                self.superseded_runs()
            );
            write_list(f, &title, &self.duplicate_active_identities, |d| {
                format!(
                    "workspace {} identity {}: keep {}, supersede {:?}",
                    d.workspace_id, d.run_identity_hash, d.kept_run_id, d.superseded_run_ids
                )
            })?;
        }
        write_row_classes(
            f,
            "Rows today's rules would reject (the cutover leaves them; reads show the field as \
             unreadable)",
            &self.unreadable_rows,
        )?;
        if !self.cutover_rewrites.is_empty() {
            write_row_classes(
                f,
                "Values the cutover rewrites (each has one right answer)",
                &self.cutover_rewrites,
            )?;
        }
        if !self.broken_foreign_keys.is_empty() {
            write_list(
                f,
                "Rows breaking a foreign key of a table the cutover rebuilds (SQLite)",
                &self.broken_foreign_keys,
                |b| {
                    format!(
                        "{}.{} -> {}: {} rows point at a missing row",
                        b.table, b.column, b.references, b.rows
                    )
                },
            )?;
        }
        if !self.blocking_rows.is_empty() {
            write_row_classes(
                f,
                "Runs holding a value a later cutover step would fail on",
                &self.blocking_rows,
            )?;
        }
        if self.blocking_problems() > 0 {
            writeln!(
                f,
                "The cutover WILL REFUSE TO START: {} rows would make it fail halfway; fix or \
                 delete them first (nothing is changed until then).",
                self.blocking_problems()
            )?;
        }
        if self.loses_data() {
            writeln!(
                f,
                "The cutover WILL lose data: {} legacy runs without a canonical run, {} references, \
                 {} active runs superseded.",
                self.unbridged_legacy_runs(),
                self.lost_references(),
                self.superseded_runs()
            )
        } else if self.blocking_problems() > 0 {
            writeln!(f, "Once they are fixed, the cutover loses nothing.")
        } else {
            writeln!(f, "The cutover loses nothing.")
        }
    }
}

/// `ids` as a list, with an ellipsis when `rows` are more than the ids listed.
pub(crate) fn listed_ids(ids: &[i64], rows: u64) -> String {
    let mut text = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if rows > ids.len() as u64 {
        text.push_str(", …");
    }
    text
}

fn write_row_classes(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    rows: &[RowClassStats],
) -> fmt::Result {
    if rows.is_empty() {
        return writeln!(f, "{title}: none.");
    }
    write_list(f, title, rows, |r| {
        let ids = listed_ids(&r.ids, r.rows);
        format!(
            "{}.{} {}: {} rows (ids {ids})",
            r.table, r.column, r.class, r.rows
        )
    })
}

/// `title:`, then one indented line per item.
fn write_list<T>(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    items: &[T],
    line: impl Fn(&T) -> String,
) -> fmt::Result {
    writeln!(f, "{title}:")?;
    for item in items {
        writeln!(f, "  {}", line(item))?;
    }
    Ok(())
}
