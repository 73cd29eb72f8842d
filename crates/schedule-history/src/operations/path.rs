//! The one path every schedule operation takes: open its run (or find the work done or in
//! progress), do the work, complete the run — or fail it with a sanitized failure.

use super::request::{Execution, ScheduleRequest};
use super::{FAILURE_DUPLICATE, ScheduleOperations};
use crate::error::ScheduleError;
use operation_runs_domain::{
    Failure, FailureCode, FailureSummary, IdentityHash, OperationRun, RunOutcome, RunType,
    WorkspaceId, sanitize_message,
};
use operation_runs_ports::BackupSchedule;
use operation_runs_service::{ServiceError, StartRequest, Started};

/// One of the three operations: the type of its runs and the failure code of a failed one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Operation {
    pub(super) run_type: &'static RunType,
    pub(super) failure_code: &'static str,
}

/// How an operation's work ended, and what it reports.
pub(super) struct Done<R> {
    pub(super) outcome: RunOutcome,
    pub(super) failures: FailureSummary,
    pub(super) report: R,
}

impl<R> Done<R> {
    /// Work that succeeded without failures.
    pub(super) fn succeeded(report: R) -> Self {
        Self {
            outcome: RunOutcome::Succeeded,
            failures: FailureSummary::new(),
            report,
        }
    }
}

/// Where a request stands before any work.
enum Opened {
    /// A new run, begun: do the work.
    Running(OperationRun, BackupSchedule),
    /// A run of the identity is active.
    Active(OperationRun),
    /// A run of the identity completed successfully.
    Completed(OperationRun),
}

impl ScheduleOperations {
    /// Opens the request's run of `operation`, does `work` on it, and completes it as the work
    /// says; a failure anywhere after the run exists completes it as failed instead.
    pub(super) async fn perform<R>(
        &self,
        request: &ScheduleRequest,
        operation: Operation,
        work: impl AsyncFnOnce(&OperationRun, &BackupSchedule) -> Result<Done<R>, ScheduleError>,
    ) -> Result<Execution<R>, ScheduleError> {
        let (run, schedule) = match self.open(request, operation).await? {
            Opened::Running(run, schedule) => (run, schedule),
            Opened::Active(run) => return Ok(Execution::AlreadyActive(run)),
            Opened::Completed(run) => return Ok(Execution::AlreadyCompleted(run)),
        };
        match work(&run, &schedule).await {
            Ok(done) => {
                let run = self
                    .finish(run, done.outcome, done.failures, operation.failure_code)
                    .await?;
                Ok(Execution::Performed {
                    run,
                    report: done.report,
                })
            }
            Err(cause) => Err(self.fail(run, operation.failure_code, cause).await),
        }
    }

    /// Looks the schedule up, returns a completed successful run of the identity if there is
    /// one, else starts (or finds active) the run and begins it.
    ///
    /// The look-up before the start and the start are two steps, so a run of the identity may
    /// complete successfully in between; the start then inserts a new run (no run of the
    /// identity is active any more). The look-up is therefore repeated once after a new run was
    /// inserted, and a run found then wins: the new run is cancelled as a duplicate. See the
    /// crate documentation for what this leaves open.
    async fn open(
        &self,
        request: &ScheduleRequest,
        operation: Operation,
    ) -> Result<Opened, ScheduleError> {
        let run_type = operation.run_type;
        let schedule = self
            .history
            .schedule(request.workspace_id, request.schedule_id)
            .await?;
        let identity = request.identity();
        let hash = IdentityHash::compute(
            schedule.workspace_id,
            Some(schedule.tenant_id),
            run_type,
            &identity,
        )
        .map_err(ServiceError::from)?;
        if let Some(done) = self.succeeded_before(schedule.workspace_id, &hash).await? {
            tracing::debug!(run = %done.id(), "already completed for this scheduled time");
            return Ok(Opened::Completed(done));
        }
        let mut start = StartRequest::new(
            schedule.workspace_id,
            run_type.as_str(),
            request.initiator_name.clone(),
        )
        .tenant(schedule.tenant_id)
        .identity(identity)
        .context(request.context());
        if let Some(user) = request.user_id {
            start = start.user(user);
        }
        let run = match self.service.start(start).await? {
            Started::Reused(active) => {
                tracing::debug!(run = %active.id(), "already active for this scheduled time");
                return Ok(Opened::Active(active));
            }
            Started::New(run) => run,
        };
        let code = operation.failure_code;
        // Our insert succeeded, so no other run of the identity was active then: every other
        // run of it had completed before, and is visible to a read made after the insert; and
        // while ours is active no other run of the identity can exist to complete.
        match self.succeeded_before(run.workspace_id(), &hash).await {
            Ok(None) => {}
            Ok(Some(done)) => {
                self.cancel_duplicate(&run, &done).await;
                return Ok(Opened::Completed(done));
            }
            Err(cause) => return Err(self.fail(run, code, cause).await),
        }
        match self.service.begin(run.id()).await {
            Ok(running) => Ok(Opened::Running(running, schedule)),
            Err(cause) => Err(self.fail(run, code, cause.into()).await),
        }
    }

    /// The newest run of the identity that completed successfully, if any.
    async fn succeeded_before(
        &self,
        workspace: WorkspaceId,
        identity: &IdentityHash,
    ) -> Result<Option<OperationRun>, ScheduleError> {
        Ok(self
            .service
            .latest_completed(
                workspace,
                identity,
                &[RunOutcome::Succeeded, RunOutcome::PartiallySucceeded],
            )
            .await?)
    }

    /// Cancels a run started just after another run of its identity completed successfully,
    /// with failure [`FAILURE_DUPLICATE`] naming that run. Best effort: if it cannot be
    /// cancelled, the stale-run reaper completes it later.
    async fn cancel_duplicate(&self, duplicate: &OperationRun, done: &OperationRun) {
        tracing::debug!(
            run = %duplicate.id(),
            completed = %done.id(),
            "completed for this scheduled time just before this run started; cancelling it"
        );
        let failures = match FailureCode::parse(FAILURE_DUPLICATE) {
            Ok(code) => FailureSummary::single(Failure::new(
                code,
                &format!(
                    "run {} of this scheduled time completed successfully first",
                    done.id()
                ),
            )),
            // A snake_case constant (pinned by a test); this cannot happen.
            Err(_) => FailureSummary::new(),
        };
        if let Err(error) = self
            .service
            .complete(duplicate.id(), RunOutcome::Cancelled, failures)
            .await
        {
            tracing::warn!(
                run = %duplicate.id(),
                error = %sanitize_message(&error.to_string()),
                "could not cancel a duplicate run; the stale-run reaper will complete it"
            );
        }
    }

    /// Completes a run that did its work; if even that fails, the run is failed instead.
    async fn finish(
        &self,
        run: OperationRun,
        outcome: RunOutcome,
        failures: FailureSummary,
        code: &'static str,
    ) -> Result<OperationRun, ScheduleError> {
        match self.service.complete(run.id(), outcome, failures).await {
            Ok(done) => Ok(done),
            Err(cause) => Err(self.fail(run, code, cause.into()).await),
        }
    }

    /// Completes the run as `failed` with a sanitized failure and wraps the cause.
    async fn fail(
        &self,
        run: OperationRun,
        code: &'static str,
        cause: ScheduleError,
    ) -> ScheduleError {
        let code = match FailureCode::parse(code) {
            Ok(code) => code,
            // The codes are snake_case constants (pinned by a test); this cannot happen.
            Err(invalid) => return ServiceError::InvalidFailure(invalid).into(),
        };
        let failure = Failure::new(code, &cause.to_string());
        tracing::warn!(
            run = %run.id(),
            code = %failure.code(),
            message = failure.message(),
            "schedule operation failed"
        );
        let run = match self
            .service
            .complete(
                run.id(),
                RunOutcome::Failed,
                FailureSummary::single(failure.clone()),
            )
            .await
        {
            Ok(failed) => failed,
            Err(error) => {
                tracing::warn!(
                    run = %run.id(),
                    error = %sanitize_message(&error.to_string()),
                    "could not complete the run as failed; the stale-run reaper will"
                );
                run
            }
        };
        ScheduleError::OperationFailed {
            run: Box::new(run),
            failure,
            cause: Box::new(cause),
        }
    }
}
