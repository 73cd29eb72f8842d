//! A run as stored, read tolerantly: each column is decoded on its own, and a value that breaks
//! today's rules is kept as [`Unreadable`] instead of failing the run.

use super::{RunOutcome, RunState, RunStatus, Transition, TransitionError};
use crate::context::RunContext;
use crate::counts::SummaryCounts;
use crate::failure::FailureSummary;
use crate::identity::IdentityHash;
use crate::ids::{RunId, TenantId, UserId, WorkspaceId};
use crate::run_type::{RunType, RunTypeRegistry};
use crate::stored::{Stored, Unreadable};
use chrono::{DateTime, Utc};

/// The columns of an `operation_runs` row as the database holds them, before today's rules
/// are applied; adapters fill it and read it with [`OperationRun::from_columns`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunColumns {
    /// `id`.
    pub id: RunId,
    /// `workspace_id`.
    pub workspace_id: WorkspaceId,
    /// `tenant_id`.
    pub tenant_id: Option<TenantId>,
    /// `user_id`.
    pub user_id: Option<UserId>,
    /// `initiator_name`.
    pub initiator_name: String,
    /// `type`, as spelled in the row.
    pub run_type: String,
    /// `status`.
    pub status: String,
    /// `outcome`.
    pub outcome: String,
    /// `started_at`.
    pub started_at: Option<DateTime<Utc>>,
    /// `completed_at`.
    pub completed_at: Option<DateTime<Utc>>,
    /// `run_identity_hash`.
    pub run_identity_hash: String,
    /// `summary_counts`.
    pub summary_counts: serde_json::Value,
    /// `failure_summary`.
    pub failure_summary: serde_json::Value,
    /// `context`.
    pub context: serde_json::Value,
    /// `created_at`.
    pub created_at: DateTime<Utc>,
    /// `updated_at`.
    pub updated_at: DateTime<Utc>,
}

/// Everything stored about a run, each field that can break a rule as a [`Stored`] value.
/// Stores that keep domain values fill it directly (every field readable) and turn it into an
/// [`OperationRun`] with [`OperationRun::from_record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Primary key.
    pub id: RunId,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Tenant, for tenant-scoped runs.
    pub tenant_id: Option<TenantId>,
    /// The person who started it.
    pub user_id: Option<UserId>,
    /// Display name of the initiator.
    pub initiator_name: String,
    /// The stored type, as spelled in the row (may be unregistered or legacy).
    pub run_type: String,
    /// Lifecycle status.
    pub status: Stored<RunStatus>,
    /// Outcome (`pending` exactly while not completed).
    pub outcome: Stored<RunOutcome>,
    /// When it started running.
    pub started_at: Stored<Option<DateTime<Utc>>>,
    /// When it completed.
    pub completed_at: Stored<Option<DateTime<Utc>>>,
    /// Failures.
    pub failure_summary: Stored<FailureSummary>,
    /// Idempotency key.
    pub identity_hash: Stored<IdentityHash>,
    /// Counts.
    pub summary_counts: Stored<SummaryCounts>,
    /// Type-specific data.
    pub context: Stored<RunContext>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change; the heartbeat of a running run.
    pub updated_at: DateTime<Utc>,
}

impl RunRecord {
    /// Decodes a row column by column, without checking the columns against each other (that is
    /// [`OperationRun::from_record`]'s job).
    #[must_use]
    pub fn from_columns(c: RunColumns) -> Self {
        Self {
            id: c.id,
            workspace_id: c.workspace_id,
            tenant_id: c.tenant_id,
            user_id: c.user_id,
            initiator_name: c.initiator_name,
            // Unknown and legacy types stay readable: monitoring must still show them.
            run_type: c.run_type,
            status: Stored::decode(c.status.as_str(), str::parse, str::to_owned),
            outcome: Stored::decode(c.outcome.as_str(), str::parse, str::to_owned),
            started_at: Stored::Readable(c.started_at),
            completed_at: Stored::Readable(c.completed_at),
            failure_summary: Stored::decode(
                &c.failure_summary,
                FailureSummary::from_json,
                json_text,
            ),
            identity_hash: Stored::decode(
                c.run_identity_hash.as_str(),
                IdentityHash::parse,
                str::to_owned,
            ),
            summary_counts: Stored::decode(&c.summary_counts, SummaryCounts::from_json, json_text),
            context: Stored::decode(&c.context, |v| RunContext::from_json(v.clone()), json_text),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }

    /// Writes a lifecycle state into the record (every part of it readable).
    pub fn set_state(&mut self, state: RunState) {
        self.status = Stored::Readable(state.status);
        self.outcome = Stored::Readable(state.outcome);
        self.started_at = Stored::Readable(state.started_at);
        self.completed_at = Stored::Readable(state.completed_at);
        self.failure_summary = Stored::Readable(state.failure_summary);
    }
}

fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

fn missing(reason: &str) -> Unreadable {
    Unreadable::new("null", reason)
}

/// A canonical operation run, as read from storage: always readable as a whole, with each field
/// that breaks today's rules marked [`Unreadable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRun(RunRecord);

impl OperationRun {
    /// Decodes a row column by column and checks the columns against each other.
    #[must_use]
    pub fn from_columns(columns: RunColumns) -> Self {
        Self::from_record(RunRecord::from_columns(columns))
    }

    /// Checks that status, outcome and times agree (the outcome is `pending` exactly while not
    /// completed, a completed run has `completed_at`, a running one `started_at`) and marks the
    /// field that contradicts the status as unreadable. The status itself is what the database
    /// enforces its one-active-run rule on, so it is believed.
    #[must_use]
    pub fn from_record(mut record: RunRecord) -> Self {
        let Stored::Readable(status) = record.status else {
            return Self(record);
        };
        if let Stored::Readable(outcome) = record.outcome {
            let fits = match status {
                RunStatus::Completed => outcome != RunOutcome::Pending,
                RunStatus::Queued | RunStatus::Running => outcome == RunOutcome::Pending,
            };
            if !fits {
                let rule = if status.is_active() {
                    "pending"
                } else {
                    "final"
                };
                record.outcome = Stored::Unreadable(Unreadable::new(
                    outcome.as_str(),
                    format!("a {status} run's outcome must be {rule}"),
                ));
            }
        }
        if status == RunStatus::Running && matches!(record.started_at, Stored::Readable(None)) {
            record.started_at = Stored::Unreadable(missing("a running run has no started_at"));
        }
        if status == RunStatus::Completed && matches!(record.completed_at, Stored::Readable(None)) {
            record.completed_at =
                Stored::Unreadable(missing("a completed run has no completed_at"));
        }
        Self(record)
    }

    /// Marks the counts unreadable when the run's type is registered and does not declare one
    /// of them: the store cannot know the registry, the service applies it to what it reads.
    #[must_use]
    pub fn with_declared_counts(mut self, registry: &RunTypeRegistry) -> Self {
        let (Some(descriptor), Stored::Readable(counts)) =
            (registry.get(&self.0.run_type), &self.0.summary_counts)
        else {
            return self;
        };
        if let Err(error) = descriptor.check_declared(counts) {
            self.0.summary_counts = Stored::Unreadable(Unreadable::new(
                counts.to_json().to_string(),
                error.to_string(),
            ));
        }
        self
    }

    /// Primary key.
    #[must_use]
    pub fn id(&self) -> RunId {
        self.0.id
    }
    /// Owning workspace.
    #[must_use]
    pub fn workspace_id(&self) -> WorkspaceId {
        self.0.workspace_id
    }
    /// Tenant, for tenant-scoped runs.
    #[must_use]
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.0.tenant_id
    }
    /// Who started it.
    #[must_use]
    pub fn user_id(&self) -> Option<UserId> {
        self.0.user_id
    }
    /// Display name of the initiator.
    #[must_use]
    pub fn initiator_name(&self) -> &str {
        &self.0.initiator_name
    }
    /// The stored type; reading never fails on an unknown type, check it against a
    /// [`crate::RunTypeRegistry`] where it matters.
    #[must_use]
    pub fn run_type(&self) -> &str {
        &self.0.run_type
    }
    /// Whether the stored type is the given canonical type.
    #[must_use]
    pub fn is_type(&self, run_type: &RunType) -> bool {
        self.0.run_type == run_type.as_str()
    }
    /// Status.
    #[must_use]
    pub fn status(&self) -> Stored<RunStatus> {
        self.0.status.clone()
    }
    /// Outcome.
    #[must_use]
    pub fn outcome(&self) -> Stored<RunOutcome> {
        self.0.outcome.clone()
    }
    /// Idempotency key.
    #[must_use]
    pub fn identity_hash(&self) -> &Stored<IdentityHash> {
        &self.0.identity_hash
    }
    /// Counts.
    #[must_use]
    pub fn summary_counts(&self) -> &Stored<SummaryCounts> {
        &self.0.summary_counts
    }
    /// Failures.
    #[must_use]
    pub fn failure_summary(&self) -> &Stored<FailureSummary> {
        &self.0.failure_summary
    }
    /// Type-specific data.
    #[must_use]
    pub fn context(&self) -> &Stored<RunContext> {
        &self.0.context
    }
    /// When it started running.
    #[must_use]
    pub fn started_at(&self) -> Stored<Option<DateTime<Utc>>> {
        self.0.started_at.clone()
    }
    /// When it completed.
    #[must_use]
    pub fn completed_at(&self) -> Stored<Option<DateTime<Utc>>> {
        self.0.completed_at.clone()
    }
    /// Row creation.
    #[must_use]
    pub fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Last change (heartbeat).
    #[must_use]
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The stored record.
    #[must_use]
    pub fn record(&self) -> &RunRecord {
        &self.0
    }
    /// The fields that break today's rules, by column name, in column order: what monitoring
    /// shows as unreadable.
    #[must_use]
    pub fn unreadable_fields(&self) -> Vec<(&'static str, &Unreadable)> {
        let r = &self.0;
        [
            ("status", r.status.unreadable()),
            ("outcome", r.outcome.unreadable()),
            ("run_identity_hash", r.identity_hash.unreadable()),
            ("summary_counts", r.summary_counts.unreadable()),
            ("failure_summary", r.failure_summary.unreadable()),
            ("context", r.context.unreadable()),
            ("started_at", r.started_at.unreadable()),
            ("completed_at", r.completed_at.unreadable()),
        ]
        .into_iter()
        .filter_map(|(field, unreadable)| unreadable.map(|u| (field, u)))
        .collect()
    }

    /// Whether the run is queued or running; `None` when its status cannot be read.
    #[must_use]
    pub fn is_active(&self) -> Option<bool> {
        self.0.status.ok().map(|status| status.is_active())
    }

    /// The next state for a transition, without changing this run.
    ///
    /// Only the status must be readable. What a transition overwrites (outcome, times) is not
    /// read; a started time that cannot be read stays unknown; an unreadable failure summary is
    /// replaced by one failure that keeps its raw value
    /// ([`FailureSummary::replacing_unreadable`]), so the write stores a valid summary.
    ///
    /// # Errors
    /// [`TransitionError`] for an illegal transition or an unreadable status.
    pub fn next_state(
        &self,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<RunState, TransitionError> {
        let Stored::Readable(status) = self.0.status else {
            return Err(TransitionError::UnreadableStatus);
        };
        let current = RunState {
            status,
            outcome: self.0.outcome.ok().copied().unwrap_or(RunOutcome::Pending),
            started_at: self.0.started_at.ok().copied().flatten(),
            completed_at: self.0.completed_at.ok().copied().flatten(),
            failure_summary: match &self.0.failure_summary {
                Stored::Readable(summary) => summary.clone(),
                Stored::Unreadable(unreadable) => FailureSummary::replacing_unreadable(unreadable),
            },
        };
        current.apply(transition, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn columns(status: &str, outcome: &str) -> RunColumns {
        RunColumns {
            id: RunId::new(1),
            workspace_id: WorkspaceId::new(1),
            tenant_id: None,
            user_id: None,
            initiator_name: "system".into(),
            run_type: "some.legacy_type".into(),
            status: status.into(),
            outcome: outcome.into(),
            started_at: Some(now()),
            completed_at: None,
            run_identity_hash: "0".repeat(64),
            summary_counts: json!({}),
            failure_summary: json!([]),
            context: json!({}),
            created_at: now(),
            updated_at: now(),
        }
    }

    #[test]
    fn a_valid_row_is_readable_throughout() {
        let run = OperationRun::from_columns(columns("running", "pending"));
        assert_eq!(run.status(), RunStatus::Running);
        assert_eq!(run.outcome(), RunOutcome::Pending);
        assert_eq!(run.started_at(), Some(now()));
        assert_eq!(
            run.run_type(),
            "some.legacy_type",
            "unknown types are readable"
        );
        assert!(
            run.failure_summary()
                .ok()
                .is_some_and(FailureSummary::is_empty)
        );
    }

    #[test]
    fn each_broken_column_is_unreadable_on_its_own() {
        let mut c = columns("running", "pending");
        c.failure_summary = json!({"error": "boom"});
        c.run_identity_hash = "ABC".into();
        c.summary_counts = json!({"total": -1});
        c.context = json!({"backup_set_id": "seven"});
        let run = OperationRun::from_columns(c);
        assert_eq!(
            run.failure_summary().unreadable().map(Unreadable::raw),
            Some(r#"{"error":"boom"}"#)
        );
        assert_eq!(
            run.identity_hash().unreadable().map(Unreadable::raw),
            Some("ABC")
        );
        assert!(run.summary_counts().unreadable().is_some());
        let context = run
            .context()
            .unreadable()
            .expect("an id must be an integer");
        assert!(context.reason().contains("backup_set_id"), "{context}");
        assert_eq!(run.status(), RunStatus::Running, "the rest stays readable");
        assert_eq!(run.started_at(), Some(now()));
    }

    #[test]
    fn contradictions_mark_the_field_that_breaks_the_status() {
        let table = [
            ("queued", "succeeded", "outcome"),
            ("completed", "pending", "outcome"),
            ("running", "pending", "started_at"),
            ("completed", "failed", "completed_at"),
        ];
        for (status, outcome, field) in table {
            let mut c = columns(status, outcome);
            if field == "started_at" {
                c.started_at = None;
            }
            let run = OperationRun::from_columns(c);
            let unreadable = match field {
                "outcome" => run.outcome().unreadable().cloned(),
                "started_at" => run.started_at().unreadable().cloned(),
                _ => run.completed_at().unreadable().cloned(),
            };
            assert!(unreadable.is_some(), "{status}/{outcome}: {field}");
            assert!(run.status().ok().is_some(), "the status is believed");
        }
        let run = OperationRun::from_columns(columns("done", "pending"));
        assert!(run.status().unreadable().is_some());
        assert_eq!(
            run.next_state(Transition::Begin, now()),
            Err(TransitionError::UnreadableStatus)
        );
    }

    #[test]
    fn completing_replaces_an_unreadable_failure_summary_keeping_its_raw_value() {
        let mut c = columns("running", "pending");
        c.failure_summary = json!("legacy text with password=hunter2");
        let run = OperationRun::from_columns(c);
        let next = run
            .next_state(Transition::Complete(RunOutcome::Failed), now())
            .unwrap();
        let [failure] = next.failure_summary.failures() else {
            panic!("one replacement failure: {:?}", next.failure_summary);
        };
        assert_eq!(failure.code().as_str(), "unreadable_failure_summary");
        assert!(
            failure.message().contains("legacy text"),
            "{}",
            failure.message()
        );
        assert!(!failure.message().contains("hunter2"), "sanitized");
    }

    #[test]
    fn a_running_run_without_started_at_can_still_complete() {
        let mut c = columns("running", "pending");
        c.started_at = None;
        let next = OperationRun::from_columns(c)
            .next_state(Transition::Complete(RunOutcome::Failed), now())
            .unwrap();
        assert_eq!((next.status, next.started_at), (RunStatus::Completed, None));
    }
}
