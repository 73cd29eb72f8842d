//! The canonical operation run and its lifecycle.

mod record;

pub use record::{OperationRun, RunColumns, RunRecord};

use crate::context::RunContext;
use crate::counts::SummaryCounts;
use crate::failure::FailureSummary;
use crate::identity::IdentityHash;
use crate::ids::{TenantId, UserId, WorkspaceId};
use crate::run_type::RunType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a run is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Recorded, not started.
    Queued,
    /// Started; `updated_at` is its heartbeat.
    Running,
    /// Final.
    Completed,
}

/// How a run ended; `Pending` exactly while it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Not completed yet.
    Pending,
    /// Everything worked.
    Succeeded,
    /// Some items failed.
    PartiallySucceeded,
    /// The operation failed.
    Failed,
    /// Cancelled by a person or the system.
    Cancelled,
}

/// A value read from storage that is not one of the known spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownValue {
    kind: &'static str,
    value: String,
}

macro_rules! string_enum {
    ($ty:ident, $kind:literal, $($variant:ident => $text:literal),+) => {
        impl $ty {
            /// Every value, in lifecycle order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored spelling.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(UnknownValue { kind: $kind, value: other.to_owned() }),
                }
            }
        }
    };
}

string_enum!(RunStatus, "run status", Queued => "queued", Running => "running", Completed => "completed");
string_enum!(
    RunOutcome, "run outcome",
    Pending => "pending", Succeeded => "succeeded", PartiallySucceeded => "partially_succeeded",
    Failed => "failed", Cancelled => "cancelled"
);

impl RunStatus {
    /// Queued or running: at most one active run per identity.
    #[must_use]
    pub fn is_active(self) -> bool {
        !matches!(self, Self::Completed)
    }
}

impl RunOutcome {
    /// Succeeded or partially succeeded: what retention counts as a good backup.
    #[must_use]
    pub fn is_successful(self) -> bool {
        matches!(self, Self::Succeeded | Self::PartiallySucceeded)
    }
}

/// A requested change of lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// `queued → running`.
    Begin,
    /// `→ completed` with a final outcome.
    Complete(RunOutcome),
}

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// The run is completed; completed is final.
    #[error("run is already completed")]
    AlreadyCompleted,
    /// The transition does not start from this status.
    #[error("cannot {transition} a {from} run")]
    Illegal {
        /// The current status.
        from: RunStatus,
        /// What was asked.
        transition: &'static str,
    },
    /// `pending` is not a final outcome.
    #[error("`pending` is not a final outcome")]
    PendingIsNotFinal,
    /// The stored status breaks today's rules, so no transition can start from it.
    #[error("the run's stored status cannot be read")]
    UnreadableStatus,
}

/// The lifecycle part of a run: what a compare-and-set transition writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    /// New status.
    pub status: RunStatus,
    /// New outcome (`pending` unless completed).
    pub outcome: RunOutcome,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// The failures to store.
    pub failure_summary: FailureSummary,
}

impl RunState {
    /// The state of a freshly queued run.
    #[must_use]
    pub fn queued() -> Self {
        Self {
            status: RunStatus::Queued,
            outcome: RunOutcome::Pending,
            started_at: None,
            completed_at: None,
            failure_summary: FailureSummary::new(),
        }
    }

    /// Applies a transition at `now`, returning the next state.
    ///
    /// Legal: `queued → running`; `running → completed` with any final outcome;
    /// `queued → completed` as `failed` or `cancelled` (it never ran, so it cannot have succeeded).
    ///
    /// # Errors
    /// [`TransitionError`] for every other pair; `self` is unchanged.
    pub fn apply(
        &self,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        use RunStatus::{Completed, Queued, Running};
        match (self.status, transition) {
            (Completed, _) => Err(TransitionError::AlreadyCompleted),
            (_, Transition::Complete(RunOutcome::Pending)) => {
                Err(TransitionError::PendingIsNotFinal)
            }
            (Queued, Transition::Begin) => Ok(Self {
                status: Running,
                started_at: Some(now),
                ..self.clone()
            }),
            (Running, Transition::Begin) => Err(TransitionError::Illegal {
                from: Running,
                transition: "begin",
            }),
            (Queued, Transition::Complete(outcome))
                if !matches!(outcome, RunOutcome::Failed | RunOutcome::Cancelled) =>
            {
                Err(TransitionError::Illegal {
                    from: Queued,
                    transition: "complete as successful",
                })
            }
            (Queued | Running, Transition::Complete(outcome)) => Ok(Self {
                status: Completed,
                outcome,
                completed_at: Some(now),
                ..self.clone()
            }),
        }
    }
}

/// What a new run is made of, validated by the service before it reaches a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperationRun {
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Tenant, for tenant-scoped types.
    pub tenant_id: Option<TenantId>,
    /// Who started it.
    pub user_id: Option<UserId>,
    /// Display name of the initiator.
    pub initiator_name: String,
    /// A registered canonical type.
    pub run_type: RunType,
    /// Idempotency key.
    pub identity_hash: IdentityHash,
    /// Initial counts (usually empty).
    pub summary_counts: SummaryCounts,
    /// Type-specific data.
    pub context: RunContext,
    /// Creation time; also the first heartbeat.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn state(status: RunStatus) -> RunState {
        let queued = RunState::queued();
        match status {
            RunStatus::Queued => queued,
            RunStatus::Running => queued.apply(Transition::Begin, now()).unwrap(),
            RunStatus::Completed => queued
                .apply(Transition::Complete(RunOutcome::Cancelled), now())
                .unwrap(),
        }
    }

    /// Every (status, transition) pair and what must happen.
    #[test]
    fn transition_table() {
        use RunOutcome::*;
        use RunStatus::*;
        use Transition::{Begin, Complete};
        type Expected = Result<(RunStatus, RunOutcome), TransitionError>;
        let illegal = |from, transition| Err(TransitionError::Illegal { from, transition });
        let not_final = Err(TransitionError::PendingIsNotFinal);
        let table: Vec<(RunStatus, Transition, Expected)> = vec![
            (Queued, Begin, Ok((Running, Pending))),
            (Queued, Complete(Pending), not_final),
            (
                Queued,
                Complete(Succeeded),
                illegal(Queued, "complete as successful"),
            ),
            (
                Queued,
                Complete(PartiallySucceeded),
                illegal(Queued, "complete as successful"),
            ),
            (Queued, Complete(Failed), Ok((Completed, Failed))),
            (Queued, Complete(Cancelled), Ok((Completed, Cancelled))),
            (Running, Begin, illegal(Running, "begin")),
            (Running, Complete(Pending), not_final),
            (Running, Complete(Succeeded), Ok((Completed, Succeeded))),
            (
                Running,
                Complete(PartiallySucceeded),
                Ok((Completed, PartiallySucceeded)),
            ),
            (Running, Complete(Failed), Ok((Completed, Failed))),
            (Running, Complete(Cancelled), Ok((Completed, Cancelled))),
            (Completed, Begin, Err(TransitionError::AlreadyCompleted)),
        ];
        let mut pairs = table.iter().map(|(s, t, _)| (*s, *t)).collect::<Vec<_>>();
        for outcome in RunOutcome::ALL {
            let pair = (Completed, Transition::Complete(*outcome));
            if !pairs.contains(&pair) {
                assert_eq!(
                    state(Completed).apply(pair.1, now()),
                    Err(TransitionError::AlreadyCompleted)
                );
                pairs.push(pair);
            }
        }
        assert_eq!(
            pairs.len(),
            RunStatus::ALL.len() * (1 + RunOutcome::ALL.len()),
            "every pair is covered"
        );

        for (from, transition, expected) in table {
            let before = state(from);
            let got = before
                .apply(transition, now())
                .map(|s| (s.status, s.outcome));
            assert_eq!(got, expected, "{from} + {transition:?}");
        }
    }

    #[test]
    fn transitions_stamp_their_times() {
        let started = RunState::queued().apply(Transition::Begin, now()).unwrap();
        assert_eq!(started.started_at, Some(now()));
        assert_eq!(started.completed_at, None);
        let later = now() + chrono::Duration::seconds(5);
        let done = started
            .apply(Transition::Complete(RunOutcome::Succeeded), later)
            .unwrap();
        assert_eq!(
            (done.started_at, done.completed_at),
            (Some(now()), Some(later))
        );
    }

    #[test]
    fn stored_spellings_round_trip() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
        }
        for o in RunOutcome::ALL {
            assert_eq!(o.as_str().parse::<RunOutcome>(), Ok(*o));
        }
        assert!("done".parse::<RunStatus>().is_err());
    }
}
