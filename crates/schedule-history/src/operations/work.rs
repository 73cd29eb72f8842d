//! The work of each schedule operation, done on its open run.

use super::ScheduleOperations;
use super::path::Done;
use super::request::{BackupReport, PurgeReport, RetentionReport};
use crate::error::ScheduleError;
use crate::purge::{PurgePlan, PurgePolicy, history_cutoff};
use crate::retention::RetentionPlan;
use crate::source::BackupSource;
use chrono::{DateTime, SecondsFormat, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, CountError, OperationRun, RunContext, RunOutcome, RunType,
    sanitize_message,
};
use operation_runs_ports::BackupSchedule;
use operation_runs_service::ServiceError;
use std::collections::BTreeSet;

fn count(name: &'static str, value: u64) -> Result<(&'static str, i64), ScheduleError> {
    i64::try_from(value)
        .map(|v| (name, v))
        .map_err(|_| ServiceError::InvalidCounts(CountError::Overflow(name.to_owned())).into())
}

impl ScheduleOperations {
    pub(super) async fn back_up<S: BackupSource>(
        &self,
        run: &OperationRun,
        schedule: &BackupSchedule,
        scheduled_for: DateTime<Utc>,
        source: &S,
    ) -> Result<Done<BackupReport>, ScheduleError> {
        let content = source.back_up(schedule, scheduled_for).await?;
        let items = count("items_backed_up", content.item_count)?;
        let name = format!(
            "{} {}",
            schedule.name,
            scheduled_for.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let now = self.service.now();
        let set = self
            .backups()
            .create_set(schedule.id, &name, content.item_count, now)
            .await?;
        let patch = RunContext::new().with_backup_set_id(set.id);
        if let Err(error) = self.service.record_output(run.id(), &patch).await {
            self.discard_set(schedule.id, set.id).await;
            return Err(error.into());
        }
        self.service
            .record_progress(run.id(), &[("sets_created", 1), items])
            .await?;
        let outcome = if content.failures.is_empty() {
            RunOutcome::Succeeded
        } else {
            RunOutcome::PartiallySucceeded
        };
        Ok(Done {
            outcome,
            failures: content.failures.clone(),
            report: BackupReport {
                set,
                failures: content.failures,
            },
        })
    }

    async fn discard_set(&self, schedule: BackupScheduleId, set: BackupSetId) {
        let now = self.service.now();
        if let Err(error) = self.backups().soft_delete_sets(schedule, &[set], now).await {
            tracing::warn!(
                %set,
                error = %sanitize_message(&error.to_string()),
                "could not soft-delete a backup set no run references"
            );
        }
    }

    pub(super) async fn retention_plan(
        &self,
        schedule: &BackupSchedule,
    ) -> Result<RetentionPlan, ScheduleError> {
        let runs = self
            .history
            .walk_schedule(schedule, &[RunType::BACKUP_SCHEDULE_RUN], &[])
            .await?;
        let mut plan = RetentionPlan::from_runs(schedule, &runs);
        if !plan.to_soft_delete.is_empty() {
            let sets = self.backups().list_sets(schedule.id, true).await?;
            plan.exclude_deleted_sets(&sets);
        }
        Ok(plan)
    }

    pub(super) async fn retain(
        &self,
        run: &OperationRun,
        schedule: &BackupSchedule,
    ) -> Result<Done<RetentionReport>, ScheduleError> {
        let plan = self.retention_plan(schedule).await?;
        let ids = plan.set_ids_to_soft_delete();
        let sets_soft_deleted = if ids.is_empty() {
            0
        } else {
            let now = self.service.now();
            self.backups()
                .soft_delete_sets(schedule.id, &ids, now)
                .await?
        };
        self.service
            .record_progress(
                run.id(),
                &[
                    count("sets_kept", plan.kept.len() as u64)?,
                    count("sets_soft_deleted", sets_soft_deleted)?,
                ],
            )
            .await?;
        Ok(Done::succeeded(RetentionReport {
            plan,
            sets_soft_deleted,
        }))
    }

    pub(super) async fn purge_plan(
        &self,
        schedule: &BackupSchedule,
        policy: PurgePolicy,
    ) -> Result<PurgePlan, ScheduleError> {
        let now = self.service.now();
        let sets_deleted_before = now - policy.grace;
        let window_cutoff = now - policy.window;
        let sets_to_purge = self
            .backups()
            .count_purgeable_sets(schedule.id, sets_deleted_before)
            .await?;
        let live: BTreeSet<BackupSetId> = self
            .backups()
            .list_sets(schedule.id, false)
            .await?
            .into_iter()
            .filter(|set| set.deleted_at.is_none())
            .map(|set| set.id)
            .collect();
        let (runs_created_before, held_back_by, skipped) = if live.is_empty() {
            (window_cutoff, None, Vec::new())
        } else {
            let runs = self
                .history
                .walk_schedule(schedule, &[RunType::BACKUP_SCHEDULE_RUN], &[])
                .await?;
            history_cutoff(window_cutoff, &runs, &live)
        };
        let mut plan = PurgePlan {
            workspace_id: schedule.workspace_id,
            schedule_id: schedule.id,
            planned_at: now,
            sets_deleted_before,
            sets_to_purge,
            window_cutoff,
            runs_created_before,
            held_back_by,
            runs_to_purge: 0,
            skipped,
        };
        plan.runs_to_purge = self
            .runs()
            .count_purgeable_schedule_history(&plan.history_criteria())
            .await?;
        Ok(plan)
    }

    pub(super) async fn purge_now(
        &self,
        run: &OperationRun,
        schedule: &BackupSchedule,
        policy: PurgePolicy,
    ) -> Result<Done<PurgeReport>, ScheduleError> {
        let plan = self.purge_plan(schedule, policy).await?;
        let sets_purged = self
            .backups()
            .purge_sets(schedule.id, plan.sets_deleted_before)
            .await?;
        self.service
            .record_progress(run.id(), &[count("sets_purged", sets_purged)?])
            .await?;
        let runs_purged = self
            .runs()
            .purge_schedule_history(&plan.history_criteria(), self.purge_batch_size)
            .await?;
        self.service
            .record_progress(run.id(), &[count("runs_purged", runs_purged)?])
            .await?;
        Ok(Done::succeeded(PurgeReport {
            plan,
            sets_purged,
            runs_purged,
        }))
    }
}
