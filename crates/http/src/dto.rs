//! What the JSON API returns: runs as summaries in lists (never whole payloads) and in full on
//! their own.

use chrono::{DateTime, Utc};
use operation_runs_domain::{Failure, OperationRun};
use operation_runs_ports::{BackupSet, CappedCount, RunCursor, RunPage, StatusCounts};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One failure of a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailureDto {
    /// Machine-readable code (snake_case).
    pub code: String,
    /// Human-readable message, sanitized when it was stored.
    pub message: String,
}

impl From<&Failure> for FailureDto {
    fn from(failure: &Failure) -> Self {
        Self {
            code: failure.code().as_str().to_owned(),
            message: failure.message().to_owned(),
        }
    }
}

/// A run in a list: its state, counts and first failure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunSummaryDto {
    /// Run id.
    pub id: i64,
    /// Workspace.
    pub workspace_id: i64,
    /// Tenant, for tenant-scoped runs.
    pub tenant_id: Option<i64>,
    /// Stored type (possibly one this server does not register).
    #[serde(rename = "type")]
    pub run_type: String,
    /// `queued`, `running` or `completed`.
    pub status: String,
    /// `pending` until completed; then `succeeded`, `partially_succeeded`, `failed` or
    /// `cancelled`.
    pub outcome: String,
    /// Who started it (a person's name, `scheduler`, `system`).
    pub initiator_name: String,
    /// Summary counts (count name to value).
    pub summary_counts: BTreeMap<String, u64>,
    /// How many failures the run recorded (including ones counted but not kept).
    pub failure_count: u64,
    /// The first failure, if any.
    pub first_failure: Option<FailureDto>,
    /// Recorded.
    pub created_at: DateTime<Utc>,
    /// Started running.
    pub started_at: Option<DateTime<Utc>>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
}

fn counts(run: &OperationRun) -> BTreeMap<String, u64> {
    run.summary_counts()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value))
        .collect()
}

fn failure_count(run: &OperationRun) -> u64 {
    let kept = run.failure_summary().failures().len() as u64;
    kept.saturating_add(run.failure_summary().omitted())
}

impl From<&OperationRun> for RunSummaryDto {
    fn from(run: &OperationRun) -> Self {
        Self {
            id: run.id().get(),
            workspace_id: run.workspace_id().get(),
            tenant_id: run.tenant_id().map(|t| t.get()),
            run_type: run.run_type().to_owned(),
            status: run.status().as_str().to_owned(),
            outcome: run.outcome().as_str().to_owned(),
            initiator_name: run.initiator_name().to_owned(),
            summary_counts: counts(run),
            failure_count: failure_count(run),
            first_failure: run
                .failure_summary()
                .failures()
                .first()
                .map(FailureDto::from),
            created_at: run.created_at(),
            started_at: run.started_at(),
            completed_at: run.completed_at(),
        }
    }
}

/// A page of runs, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunPageDto {
    /// The runs.
    pub runs: Vec<RunSummaryDto>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Pass as `newer` for the page before (newer runs); `null` on the first page.
    pub newer_cursor: Option<String>,
    /// How many runs match the filters (but for status), per status, counted up to a cap.
    pub counts: StatusCountsDto,
}

impl RunPageDto {
    /// A page, the cursors of the older and newer pages, and its counts.
    #[must_use]
    pub fn new(
        page: &RunPage,
        older: Option<RunCursor>,
        newer: Option<RunCursor>,
        counts: &StatusCounts,
    ) -> Self {
        Self {
            runs: page.runs.iter().map(RunSummaryDto::from).collect(),
            next_cursor: older.map(RunCursor::encode),
            newer_cursor: newer.map(RunCursor::encode),
            counts: StatusCountsDto::from(counts),
        }
    }
}

/// Runs per status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct StatusCountsDto {
    /// Queued runs.
    pub queued: CountDto,
    /// Running runs.
    pub running: CountDto,
    /// Completed runs.
    pub completed: CountDto,
}

/// A count that stops at a cap.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct CountDto {
    /// The count, or the cap when there are more.
    pub count: u64,
    /// `true` when there are more than `count` (the cap): the rest was not counted.
    pub more: bool,
}

impl From<CappedCount> for CountDto {
    fn from(count: CappedCount) -> Self {
        match count {
            CappedCount::Exact(count) => Self { count, more: false },
            CappedCount::MoreThan(count) => Self { count, more: true },
        }
    }
}

impl From<&StatusCounts> for StatusCountsDto {
    fn from(counts: &StatusCounts) -> Self {
        Self {
            queued: counts.queued.into(),
            running: counts.running.into(),
            completed: counts.completed.into(),
        }
    }
}

/// Every field of a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunDetailDto {
    /// Run id.
    pub id: i64,
    /// Workspace.
    pub workspace_id: i64,
    /// Tenant, for tenant-scoped runs.
    pub tenant_id: Option<i64>,
    /// The person who started it, if one did.
    pub user_id: Option<i64>,
    /// Who started it.
    pub initiator_name: String,
    /// Stored type.
    #[serde(rename = "type")]
    pub run_type: String,
    /// Whether this server registers the type (an unregistered one is still shown).
    pub type_registered: bool,
    /// Lifecycle status.
    pub status: String,
    /// Outcome.
    pub outcome: String,
    /// Identity hash (64 hex characters).
    pub run_identity_hash: String,
    /// Summary counts.
    pub summary_counts: BTreeMap<String, u64>,
    /// The failures kept.
    pub failures: Vec<FailureDto>,
    /// Failures counted but not kept (the list is bounded).
    pub omitted_failures: u64,
    /// Type-specific data.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    /// Recorded.
    pub created_at: DateTime<Utc>,
    /// Started running.
    pub started_at: Option<DateTime<Utc>>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Last change (the heartbeat of a running run).
    pub updated_at: DateTime<Utc>,
    /// Whether the asking viewer may cancel it (an active run and the manage capability).
    pub cancellable: bool,
}

impl RunDetailDto {
    pub(crate) fn new(run: &OperationRun, registered: bool, may_manage: bool) -> Self {
        Self {
            id: run.id().get(),
            workspace_id: run.workspace_id().get(),
            tenant_id: run.tenant_id().map(|t| t.get()),
            user_id: run.user_id().map(|u| u.get()),
            initiator_name: run.initiator_name().to_owned(),
            run_type: run.run_type().to_owned(),
            type_registered: registered,
            status: run.status().as_str().to_owned(),
            outcome: run.outcome().as_str().to_owned(),
            run_identity_hash: run.identity_hash().to_string(),
            summary_counts: counts(run),
            failures: run
                .failure_summary()
                .failures()
                .iter()
                .map(FailureDto::from)
                .collect(),
            omitted_failures: run.failure_summary().omitted(),
            context: run.context().to_json(),
            created_at: run.created_at(),
            started_at: run.started_at(),
            completed_at: run.completed_at(),
            updated_at: run.updated_at(),
            cancellable: may_manage && run.status().is_active(),
        }
    }
}

/// A backup set a scheduled backup created.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackupSetDto {
    /// Set id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Items it holds.
    pub item_count: u64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Soft-deleted by retention (purged sets are gone).
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<&BackupSet> for BackupSetDto {
    fn from(set: &BackupSet) -> Self {
        Self {
            id: set.id.get(),
            name: set.name.clone(),
            item_count: set.item_count,
            created_at: set.created_at,
            deleted_at: set.deleted_at,
        }
    }
}

/// A run of a schedule's history, with the backup set it made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryEntryDto {
    /// The run.
    #[serde(flatten)]
    pub run: RunSummaryDto,
    /// `context.backup_set_id`, if the run names one.
    pub backup_set_id: Option<i64>,
    /// That set, if it still exists.
    pub backup_set: Option<BackupSetDto>,
}

/// A page of a schedule's history, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryPageDto {
    /// Schedule id.
    pub schedule_id: i64,
    /// Schedule name.
    pub schedule_name: String,
    /// The runs.
    pub runs: Vec<HistoryEntryDto>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}
