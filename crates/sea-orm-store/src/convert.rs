//! Rows to domain values, with every stored rule checked: a row that breaks one becomes a
//! [`StoreError::CorruptRow`] naming the row, never a panic.

use crate::entity::{backup_schedules, backup_sets, findings, inventory_items, operation_runs};
use crate::error::StoreError;
use chrono::{DateTime, SubsecRound, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, FailureSummary, FindingId, IdentityHash, InventoryItemId,
    OperationRun, RunContext, RunId, RunOutcome, RunRecord, RunState, RunStatus, SummaryCounts,
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

pub(crate) fn run(m: operation_runs::Model) -> Result<OperationRun, PortError> {
    let bad = |reason: String| corrupt("operation_runs", m.id, reason);
    let status: RunStatus = m.status.parse().map_err(|e| bad(format!("{e}")))?;
    let outcome: RunOutcome = m.outcome.parse().map_err(|e| bad(format!("{e}")))?;
    let identity_hash = IdentityHash::parse(&m.run_identity_hash)
        .map_err(|e| bad(format!("run_identity_hash: {e}")))?;
    let summary_counts = SummaryCounts::from_json(&m.summary_counts)
        .map_err(|e| bad(format!("summary_counts: {e}")))?;
    let failure_summary = FailureSummary::from_json(&m.failure_summary)
        .map_err(|e| bad(format!("failure_summary: {e}")))?;
    let context =
        RunContext::from_json(m.context.clone()).map_err(|e| bad(format!("context: {e}")))?;
    let record = RunRecord {
        id: RunId::new(m.id),
        workspace_id: WorkspaceId::new(m.workspace_id),
        tenant_id: m.tenant_id.map(TenantId::new),
        user_id: m.user_id.map(UserId::new),
        initiator_name: m.initiator_name.clone(),
        // Unknown and legacy types stay readable: monitoring must still show them.
        run_type: m.run_type.clone(),
        state: RunState {
            status,
            outcome,
            started_at: m.started_at,
            completed_at: m.completed_at,
            failure_summary,
        },
        identity_hash,
        summary_counts,
        context,
        created_at: m.created_at,
        updated_at: m.updated_at,
    };
    OperationRun::from_record(record).map_err(|e| bad(e.to_string()))
}

pub(crate) fn runs(models: Vec<operation_runs::Model>) -> Result<Vec<OperationRun>, PortError> {
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
