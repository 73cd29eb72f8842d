//! Test support shipped with the mocks (feature `mock`): runs built in any state, as a store
//! would hand them out, for expectations of mocks and for seeding an in-memory store.

use chrono::{DateTime, Duration, Utc};
use operation_runs_domain::{
    FailureSummary, IdentityHash, OperationRun, RunContext, RunId, RunOutcome, RunRecord, RunState,
    RunStatus, RunType, Stored, SummaryCounts, TenantId, UserId, WorkspaceId,
};

/// How long [`RunBuilder::completed`] lets a run take, unless [`RunBuilder::completed_at`] says.
const RUN_LENGTH: Duration = Duration::minutes(5);

/// Builds a run in any state: `RunBuilder::new(id, workspace, &type, hash, at).running()`.
///
/// Starts queued, without tenant, user, counts or context, initiated by `scheduler`, last
/// changed when created. Every field it sets is readable; a legacy row with unreadable fields is
/// read from its columns instead ([`OperationRun::from_columns`]).
#[derive(Debug, Clone)]
pub struct RunBuilder {
    record: RunRecord,
}

impl RunBuilder {
    /// A queued run.
    #[must_use]
    pub fn new(
        id: RunId,
        workspace: WorkspaceId,
        run_type: &RunType,
        identity_hash: IdentityHash,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            record: RunRecord {
                id,
                workspace_id: workspace,
                tenant_id: None,
                user_id: None,
                initiator_name: "scheduler".into(),
                run_type: run_type.to_string(),
                status: Stored::Readable(RunStatus::Queued),
                outcome: Stored::Readable(RunOutcome::Pending),
                started_at: Stored::Readable(None),
                completed_at: Stored::Readable(None),
                failure_summary: Stored::Readable(FailureSummary::new()),
                identity_hash: Stored::Readable(identity_hash),
                summary_counts: Stored::Readable(SummaryCounts::new()),
                context: Stored::Readable(RunContext::new()),
                created_at,
                updated_at: created_at,
            },
        }
    }

    /// Sets the workspace.
    #[must_use]
    pub fn workspace(mut self, workspace: WorkspaceId) -> Self {
        self.record.workspace_id = workspace;
        self
    }

    /// Sets (or clears) the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: Option<TenantId>) -> Self {
        self.record.tenant_id = tenant;
        self
    }

    /// Sets the person who started it.
    #[must_use]
    pub fn user(mut self, user: UserId) -> Self {
        self.record.user_id = Some(user);
        self
    }

    /// Sets the stored type, in any spelling (an unregistered or legacy one too).
    #[must_use]
    pub fn run_type(mut self, run_type: &str) -> Self {
        self.record.run_type = run_type.into();
        self
    }

    /// Sets the creation time (the heartbeat moves along if it was earlier).
    #[must_use]
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.record.created_at = at;
        self.record.updated_at = self.record.updated_at.max(at);
        self
    }

    /// Sets the last change, the heartbeat of an active run.
    #[must_use]
    pub fn updated_at(mut self, at: DateTime<Utc>) -> Self {
        self.record.updated_at = at;
        self
    }

    /// Sets the counts.
    #[must_use]
    pub fn counts(mut self, counts: SummaryCounts) -> Self {
        self.record.summary_counts = Stored::Readable(counts);
        self
    }

    /// Sets the context.
    #[must_use]
    pub fn context(mut self, context: RunContext) -> Self {
        self.record.context = Stored::Readable(context);
        self
    }

    /// Queued.
    #[must_use]
    pub fn queued(mut self) -> Self {
        self.record.set_state(RunState::queued());
        self
    }

    /// Running since it was created.
    #[must_use]
    pub fn running(mut self) -> Self {
        self.record.set_state(RunState {
            status: RunStatus::Running,
            outcome: RunOutcome::Pending,
            started_at: Some(self.record.created_at),
            completed_at: None,
            failure_summary: FailureSummary::new(),
        });
        self
    }

    /// Completed with `outcome`, having run from its creation for five minutes.
    #[must_use]
    pub fn completed(mut self, outcome: RunOutcome) -> Self {
        let started = self.record.created_at;
        self.record.set_state(RunState {
            status: RunStatus::Completed,
            outcome,
            started_at: Some(started),
            completed_at: Some(started + RUN_LENGTH),
            failure_summary: FailureSummary::new(),
        });
        self
    }

    /// Moves the completion of a completed run.
    #[must_use]
    pub fn completed_at(mut self, at: DateTime<Utc>) -> Self {
        if let Stored::Readable(Some(completed_at)) = &mut self.record.completed_at {
            *completed_at = at;
        }
        self
    }

    /// The record, as a store holds it.
    #[must_use]
    pub fn record(self) -> RunRecord {
        self.record
    }

    /// The run.
    #[must_use]
    pub fn build(self) -> OperationRun {
        OperationRun::from_record(self.record)
    }
}
