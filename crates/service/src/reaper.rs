//! The stale-run reaper.

use crate::error::ServiceError;
use crate::request::ReapReport;
use crate::service::{OperationRunService, status_of};
use chrono::{DateTime, Utc};
use operation_runs_domain::{Failure, FailureCode, RunOutcome, Transition};
use operation_runs_ports::PortError;
#[cfg(doc)]
use operation_runs_ports::RunLifecycle;

impl OperationRunService {
    /// Completes as `failed` (failure code `run_stale`) up to `limit` active runs whose
    /// heartbeat is older than `older_than`, oldest first.
    ///
    /// Each completion is a compare-and-set on the status the run had when it was found AND on
    /// its heartbeat still being older than the threshold
    /// ([`RunLifecycle::complete_if_stale`]), so a run that completed, started or sent
    /// a heartbeat (progress, context) meanwhile is left alone and listed in
    /// [`ReapReport::lost_races`].
    ///
    /// # Errors
    /// [`ServiceError::InvalidThreshold`] for a negative `older_than`; [`ServiceError::Port`]
    /// when the store fails (runs reaped before the failure stay reaped).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn reap_stale(
        &self,
        older_than: chrono::Duration,
        limit: u32,
    ) -> Result<ReapReport, ServiceError> {
        if older_than < chrono::Duration::zero() {
            return Err(ServiceError::InvalidThreshold(older_than));
        }
        let mut report = ReapReport::default();
        if limit == 0 {
            return Ok(report);
        }
        let code = FailureCode::parse(FailureCode::RUN_STALE)?;
        let now = self.ports.clock.now();
        let cutoff = now
            .checked_sub_signed(older_than)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        for run in self.ports.queries.find_stale(cutoff, limit).await? {
            // The store found it active by its status; only a status read as completed since
            // (someone else won) refuses the transition.
            let (Ok(expected), Ok(mut next)) = (
                status_of(&run),
                run.next_state(Transition::Complete(RunOutcome::Failed), now),
            ) else {
                report.lost_races.push(run.id());
                continue;
            };
            next.failure_summary.push(Failure::new(
                code.clone(),
                &format!(
                    "no heartbeat since {}; completed by the stale-run reaper",
                    run.updated_at().to_rfc3339()
                ),
            ));
            match self
                .ports
                .lifecycle
                .complete_if_stale(run.id(), expected, cutoff, &next, now)
                .await
            {
                Ok(_) => report.reaped.push(run.id()),
                Err(PortError::Conflict(_) | PortError::NotFound) => {
                    tracing::debug!(
                        run = %run.id(),
                        "stale run changed or sent a heartbeat meanwhile; left alone"
                    );
                    report.lost_races.push(run.id());
                }
                Err(error) => {
                    tracing::warn!(reaped = ?report.reaped, "reaping stopped by a store failure");
                    return Err(error.into());
                }
            }
        }
        tracing::info!(
            reaped = report.reaped.len(),
            lost_races = report.lost_races.len(),
            "stale runs reaped"
        );
        Ok(report)
    }
}
