//! Rows to domain values. Runs are read tolerantly, column by column; other rows that break a
//! stored rule become a [`StoreError::CorruptRow`] naming the row, never a panic.

use crate::entity::{backup_schedules, backup_sets, findings, inventory_items, operation_runs};
use crate::error::StoreError;
use chrono::{DateTime, SubsecRound, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, FindingId, InventoryItemId, OperationRun, RunColumns, RunId,
    TenantId, UserId, WorkspaceId,
};
use operation_runs_ports::{BackupSchedule, BackupSet, Finding, InventoryItem, PortError};

/// Times are stored with microsecond precision on every backend (PostgreSQL's resolution), so
/// what is written is exactly what is read back and compared, whatever the backend.
pub(crate) fn db_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn corrupt(table: &'static str, id: i64, reason: impl ToString) -> PortError {
    StoreError::CorruptRow {
        table,
        id,
        reason: reason.to_string(),
    }
    .into()
}

/// Every column on its own: a value that breaks today's rules is read as unreadable, never as
/// an error for the whole row (see [`OperationRun::from_columns`]).
pub(crate) fn run(m: operation_runs::Model) -> OperationRun {
    OperationRun::from_columns(RunColumns {
        id: RunId::new(m.id),
        workspace_id: WorkspaceId::new(m.workspace_id),
        tenant_id: m.tenant_id.map(TenantId::new),
        user_id: m.user_id.map(UserId::new),
        initiator_name: m.initiator_name,
        run_type: m.run_type,
        status: m.status,
        outcome: m.outcome,
        started_at: m.started_at,
        completed_at: m.completed_at,
        run_identity_hash: m.run_identity_hash,
        summary_counts: m.summary_counts,
        failure_summary: m.failure_summary,
        context: m.context,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// The ids a `RETURNING id` gave back.
pub(crate) fn ids(rows: Vec<sea_orm::QueryResult>) -> Result<Vec<i64>, PortError> {
    rows.iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(crate::error::map_db_err)
}

pub(crate) fn runs(models: Vec<operation_runs::Model>) -> Vec<OperationRun> {
    models.into_iter().map(run).collect()
}

pub(crate) fn inventory_item(m: inventory_items::Model) -> InventoryItem {
    InventoryItem {
        id: InventoryItemId::new(m.id),
        tenant_id: TenantId::new(m.tenant_id),
        external_id: m.external_id,
        kind: m.kind,
        display_name: m.display_name,
        last_seen_operation_run_id: m.last_seen_operation_run_id.map(RunId::new),
    }
}

pub(crate) fn finding(m: findings::Model) -> Finding {
    Finding {
        id: FindingId::new(m.id),
        workspace_id: WorkspaceId::new(m.workspace_id),
        tenant_id: TenantId::new(m.tenant_id),
        baseline_operation_run_id: m.baseline_operation_run_id.map(RunId::new),
        current_operation_run_id: m.current_operation_run_id.map(RunId::new),
        subject_external_id: m.subject_external_id,
        change: m.change,
        details: m.details,
    }
}

pub(crate) fn schedule(m: backup_schedules::Model) -> Result<BackupSchedule, PortError> {
    let keep_last = u32::try_from(m.keep_last).map_err(|_| {
        corrupt(
            "backup_schedules",
            m.id,
            format!("keep_last is {}", m.keep_last),
        )
    })?;
    Ok(BackupSchedule {
        id: BackupScheduleId::new(m.id),
        workspace_id: WorkspaceId::new(m.workspace_id),
        tenant_id: TenantId::new(m.tenant_id),
        name: m.name,
        keep_last,
    })
}

pub(crate) fn backup_set(m: backup_sets::Model) -> Result<BackupSet, PortError> {
    let bad = |reason: String| corrupt("backup_sets", m.id, reason);
    let schedule_id = m
        .backup_schedule_id
        .ok_or_else(|| bad("it belongs to no schedule".to_owned()))?;
    let item_count =
        u64::try_from(m.item_count).map_err(|_| bad(format!("item_count is {}", m.item_count)))?;
    Ok(BackupSet {
        id: BackupSetId::new(m.id),
        schedule_id: BackupScheduleId::new(schedule_id),
        name: m.name,
        item_count,
        created_at: m.created_at,
        deleted_at: m.deleted_at,
    })
}
