//! A backup schedule's run history, and the backup sets its runs create.

use crate::error::PortError;
use crate::model::{
    BackupSchedule, BackupSet, HistoryPurgeCriteria, RunPage, ScheduleHistoryQuery,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{BackupScheduleId, BackupSetId};

/// The runs of one backup schedule (`context.backup_schedule_id`), read and purged.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ScheduleRunHistory: Send + Sync {
    /// A page of one backup schedule's history: runs of the requested backup-schedule types whose
    /// `context.backup_schedule_id` is the schedule, in its workspace, newest first (by id).
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn schedule_history(&self, query: &ScheduleHistoryQuery) -> Result<RunPage, PortError>;

    /// How many runs [`ScheduleRunHistory::purge_schedule_history`] would delete.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn count_purgeable_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
    ) -> Result<u64, PortError>;

    /// Deletes completed runs of the schedule's history created before the cutoff, never an
    /// active run and never the newest run of each type, in batches of at most `batch_size`
    /// rows (one statement each). Returns how many were deleted.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails (batches already done stay done).
    async fn purge_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
        batch_size: u32,
    ) -> Result<u64, PortError>;
}

/// Backup schedules and the backup sets their runs create.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BackupRepository: Send + Sync {
    /// One schedule.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such schedule; [`PortError::Backend`] when the store fails.
    async fn get_schedule(&self, id: BackupScheduleId) -> Result<BackupSchedule, PortError>;

    /// Creates a backup set of a schedule.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the schedule does not exist; [`PortError::Backend`] when the
    /// store fails.
    async fn create_set(
        &self,
        schedule: BackupScheduleId,
        name: &str,
        item_count: u64,
        now: DateTime<Utc>,
    ) -> Result<BackupSet, PortError>;

    /// A schedule's sets, newest first; soft-deleted ones included only if asked.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn list_sets(
        &self,
        schedule: BackupScheduleId,
        include_deleted: bool,
    ) -> Result<Vec<BackupSet>, PortError>;

    /// Soft-deletes those of `ids` that belong to the schedule and are not deleted yet, in one
    /// statement. Returns how many changed.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn soft_delete_sets(
        &self,
        schedule: BackupScheduleId,
        ids: &[BackupSetId],
        now: DateTime<Utc>,
    ) -> Result<u64, PortError>;

    /// How many of the schedule's sets were soft-deleted before `deleted_before`.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn count_purgeable_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError>;

    /// Removes for good the schedule's sets soft-deleted before `deleted_before`, in one
    /// statement. Returns how many were removed.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn purge_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError>;
}
