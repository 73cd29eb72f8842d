//! What the JSON API returns: runs as summaries in lists (never whole payloads) and in full on
//! their own.

use chrono::{DateTime, Utc};
use operation_runs_domain::{Failure, OperationRun, Stored};
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

/// A stored field of a run that breaks today's rules (a row the legacy product wrote): the
/// field itself is `null` (or empty) in the run, and described here.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnreadableFieldDto {
    /// The column (`status`, `outcome`, `run_identity_hash`, `summary_counts`,
    /// `failure_summary`, `context`, `started_at`, `completed_at`).
    pub field: String,
    /// What the row holds, with secrets redacted and bounded in length.
    pub stored: String,
    /// Why it cannot be read.
    pub reason: String,
}

fn unreadable_fields(run: &OperationRun) -> Vec<UnreadableFieldDto> {
    run.unreadable_fields()
        .into_iter()
        .map(|(field, unreadable)| UnreadableFieldDto {
            field: field.to_owned(),
            stored: unreadable.shown_raw(),
            reason: unreadable.reason().to_owned(),
        })
        .collect()
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
    /// `queued`, `running` or `completed`; `null` when unreadable.
    pub status: Option<String>,
    /// `pending` until completed; then `succeeded`, `partially_succeeded`, `failed` or
    /// `cancelled`; `null` when unreadable.
    pub outcome: Option<String>,
    /// Who started it (a person's name, `scheduler`, `system`).
    pub initiator_name: String,
    /// Summary counts (count name to value); `null` when unreadable.
    pub summary_counts: Option<BTreeMap<String, u64>>,
    /// How many failures the run recorded (including ones counted but not kept); `null` when
    /// unreadable.
    pub failure_count: Option<u64>,
    /// The first failure, if any.
    pub first_failure: Option<FailureDto>,
    /// Recorded.
    pub created_at: DateTime<Utc>,
    /// Started running (`null` also when unreadable).
    pub started_at: Option<DateTime<Utc>>,
    /// Completed (`null` also when unreadable).
    pub completed_at: Option<DateTime<Utc>>,
    /// The fields that could not be read.
    pub unreadable: Vec<UnreadableFieldDto>,
}

fn counts(run: &OperationRun) -> Option<BTreeMap<String, u64>> {
    let counts = run.summary_counts().ok()?;
    Some(
        counts
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value))
            .collect(),
    )
}

fn failure_count(run: &OperationRun) -> Option<u64> {
    let summary = run.failure_summary().ok()?;
    Some((summary.failures().len() as u64).saturating_add(summary.omitted()))
}

fn failures(run: &OperationRun) -> &[Failure] {
    run.failure_summary()
        .ok()
        .map_or(&[], operation_runs_domain::FailureSummary::failures)
}

fn text<T: ToString>(stored: &Stored<T>) -> Option<String> {
    stored.ok().map(ToString::to_string)
}

impl From<&OperationRun> for RunSummaryDto {
    fn from(run: &OperationRun) -> Self {
        Self {
            id: run.id().get(),
            workspace_id: run.workspace_id().get(),
            tenant_id: run.tenant_id().map(|t| t.get()),
            run_type: run.run_type().to_owned(),
            status: text(&run.status()),
            outcome: text(&run.outcome()),
            initiator_name: run.initiator_name().to_owned(),
            summary_counts: counts(run),
            failure_count: failure_count(run),
            first_failure: failures(run).first().map(FailureDto::from),
            created_at: run.created_at(),
            started_at: run.started_at().ok().copied().flatten(),
            completed_at: run.completed_at().ok().copied().flatten(),
            unreadable: unreadable_fields(run),
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
    /// Lifecycle status; `null` when unreadable.
    pub status: Option<String>,
    /// Outcome; `null` when unreadable.
    pub outcome: Option<String>,
    /// Identity hash (64 hex characters); `null` when unreadable.
    pub run_identity_hash: Option<String>,
    /// Summary counts; `null` when unreadable.
    pub summary_counts: Option<BTreeMap<String, u64>>,
    /// The failures kept (none when the summary is unreadable).
    pub failures: Vec<FailureDto>,
    /// Failures counted but not kept (the list is bounded); `null` when unreadable.
    pub omitted_failures: Option<u64>,
    /// Type-specific data; `null` when unreadable.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    /// Recorded.
    pub created_at: DateTime<Utc>,
    /// Started running (`null` also when unreadable).
    pub started_at: Option<DateTime<Utc>>,
    /// Completed (`null` also when unreadable).
    pub completed_at: Option<DateTime<Utc>>,
    /// The fields that could not be read.
    pub unreadable: Vec<UnreadableFieldDto>,
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
            status: text(&run.status()),
            outcome: text(&run.outcome()),
            run_identity_hash: text(run.identity_hash()),
            summary_counts: counts(run),
            failures: failures(run).iter().map(FailureDto::from).collect(),
            omitted_failures: run.failure_summary().ok().map(|s| s.omitted()),
            context: run
                .context()
                .ok()
                .map_or(serde_json::Value::Null, |c| c.to_json()),
            created_at: run.created_at(),
            started_at: run.started_at().ok().copied().flatten(),
            completed_at: run.completed_at().ok().copied().flatten(),
            updated_at: run.updated_at(),
            cancellable: may_manage && run.is_active() == Some(true),
            unreadable: unreadable_fields(run),
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
