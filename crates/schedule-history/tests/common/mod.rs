//! A small in-memory world wired into the port mocks: the mocks answer from shared state, so
//! the tests can assert what was written, and any call nobody wired fails the test.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, IdentityHash, OperationRun, RunContext, RunId, RunOutcome,
    RunRecord, RunState, RunStatus, RunType, RunTypeRegistry, SummaryCounts, TenantId, Transition,
    WorkspaceId,
};
use operation_runs_ports::{
    BackupSchedule, BackupSet, MockBackupRepository, MockClock, MockFindingRepository,
    MockInventoryRepository, MockRunLifecycle, MockRunQueries, MockScheduleRunHistory,
    MockWorkspaceDirectory, PortError, RunCursor, RunPage, ScheduleHistoryQuery, StartedRun,
};
use operation_runs_schedule_history::{ScheduleOperations, SchedulePorts};
use operation_runs_service::{OperationRunService, ServicePorts};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const WS: WorkspaceId = WorkspaceId::new(1);
pub const OTHER_WS: WorkspaceId = WorkspaceId::new(2);
pub const TENANT: TenantId = TenantId::new(10);
pub const SCHEDULE: BackupScheduleId = BackupScheduleId::new(7);
/// A schedule of [`OTHER_WS`].
pub const FOREIGN_SCHEDULE: BackupScheduleId = BackupScheduleId::new(8);

pub fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 3, 0, 0).unwrap()
}

/// "Now" of every test: 100 days after [`base`].
pub fn now() -> DateTime<Utc> {
    base() + Duration::days(100)
}

/// A change another process makes to the world between two steps of the code under test.
pub type Meanwhile = Box<dyn FnOnce(&mut State) + Send>;

#[derive(Default)]
pub struct State {
    pub runs: Vec<OperationRun>,
    pub sets: Vec<BackupSet>,
    pub schedules: Vec<BackupSchedule>,
    /// Port method name → error message it fails with.
    pub failing: BTreeMap<&'static str, String>,
    /// Every port method called, in order.
    pub calls: Vec<&'static str>,
    /// `(after, limit)` of every `schedule_history` call.
    pub history_pages: Vec<(Option<RunCursor>, u32)>,
    /// Batch size of `purge_schedule_history` calls.
    pub purge_batches: Vec<u32>,
    /// Runs once, right after the next `latest_completed_with_identity` answered: what another
    /// process does between a look-up and the next step.
    pub after_latest_completed: Option<Meanwhile>,
    next_run: i64,
    next_set: i64,
}

#[derive(Clone)]
pub struct World(pub Arc<Mutex<State>>);

impl World {
    pub fn new(keep_last: u32) -> Self {
        let state = State {
            schedules: vec![
                BackupSchedule {
                    id: SCHEDULE,
                    workspace_id: WS,
                    tenant_id: TENANT,
                    name: "nightly".into(),
                    keep_last,
                },
                BackupSchedule {
                    id: FOREIGN_SCHEDULE,
                    workspace_id: OTHER_WS,
                    tenant_id: TenantId::new(20),
                    name: "elsewhere".into(),
                    keep_last,
                },
            ],
            next_run: 1,
            next_set: 1,
            ..State::default()
        };
        Self(Arc::new(Mutex::new(state)))
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    /// Makes a port method fail with a backend error carrying `message`.
    pub fn fail(&self, method: &'static str, message: &str) {
        self.state().failing.insert(method, message.to_owned());
    }

    pub fn calls(&self) -> Vec<&'static str> {
        self.state().calls.clone()
    }

    /// Seeds a `backup_schedule_run` of [`SCHEDULE`] (ids grow, so later seeds are newer).
    pub fn backup(&self, status: RunStatus, outcome: RunOutcome, set: Option<i64>) -> RunId {
        let mut context = RunContext::new().with_backup_schedule_id(SCHEDULE);
        if let Some(set) = set {
            context = context.with_backup_set_id(BackupSetId::new(set));
        }
        self.seed(RunType::BACKUP_SCHEDULE_RUN, status, outcome, context)
    }

    pub fn succeeded(&self, set: i64) -> RunId {
        self.backup(RunStatus::Completed, RunOutcome::Succeeded, Some(set))
    }

    pub fn seed(
        &self,
        run_type: RunType,
        status: RunStatus,
        outcome: RunOutcome,
        context: RunContext,
    ) -> RunId {
        self.seed_with_identity(run_type, status, outcome, context, None)
    }

    /// [`World::seed`] with the given identity inputs (default: unique to the run).
    pub fn seed_with_identity(
        &self,
        run_type: RunType,
        status: RunStatus,
        outcome: RunOutcome,
        context: RunContext,
        identity: Option<serde_json::Value>,
    ) -> RunId {
        let mut state = self.state();
        let id = RunId::new(state.next_run);
        state.next_run += 1;
        let identity = identity.unwrap_or_else(|| serde_json::json!({"seed": id.get()}));
        let created = base() + Duration::hours(id.get());
        let mut run_state = RunState::queued();
        if status != RunStatus::Queued {
            run_state = run_state.apply(Transition::Begin, created).unwrap();
        }
        if status == RunStatus::Completed {
            run_state = run_state
                .apply(Transition::Complete(outcome), created)
                .unwrap();
        }
        let record = RunRecord {
            id,
            workspace_id: WS,
            tenant_id: Some(TENANT),
            user_id: None,
            initiator_name: "scheduler".into(),
            run_type: run_type.to_string(),
            state: run_state,
            identity_hash: IdentityHash::compute(WS, Some(TENANT), &run_type, &identity).unwrap(),
            summary_counts: SummaryCounts::new(),
            context,
            created_at: created,
            updated_at: created,
        };
        state.runs.push(OperationRun::from_record(record).unwrap());
        id
    }

    /// Seeds a backup set of [`SCHEDULE`] with a given id.
    pub fn set(&self, id: i64, deleted_at: Option<DateTime<Utc>>) {
        let mut state = self.state();
        state.next_set = state.next_set.max(id + 1);
        state.sets.push(BackupSet {
            id: BackupSetId::new(id),
            schedule_id: SCHEDULE,
            name: format!("set {id}"),
            item_count: 1,
            created_at: base(),
            deleted_at,
        });
    }

    pub fn run(&self, id: RunId) -> OperationRun {
        self.state()
            .runs
            .iter()
            .find(|r| r.id() == id)
            .cloned()
            .unwrap()
    }

    pub fn runs_of(&self, run_type: &RunType) -> Vec<OperationRun> {
        self.state()
            .runs
            .iter()
            .filter(|r| r.is_type(run_type))
            .cloned()
            .collect()
    }

    pub fn deleted_sets(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .state()
            .sets
            .iter()
            .filter(|s| s.deleted_at.is_some())
            .map(|s| s.id.get())
            .collect();
        ids.sort_unstable();
        ids
    }

    fn enter(&self, method: &'static str) -> Result<std::sync::MutexGuard<'_, State>, PortError> {
        let mut state = self.state();
        state.calls.push(method);
        match state.failing.get(method) {
            Some(message) => Err(PortError::backend(message.clone())),
            None => Ok(state),
        }
    }

    fn update(
        &self,
        id: RunId,
        change: impl FnOnce(&mut RunRecord) -> Result<(), PortError>,
        method: &'static str,
    ) -> Result<OperationRun, PortError> {
        let mut state = self.enter(method)?;
        let slot = state
            .runs
            .iter_mut()
            .find(|r| r.id() == id)
            .ok_or(PortError::NotFound)?;
        let mut record = slot.record().clone();
        change(&mut record)?;
        *slot = OperationRun::from_record(record).unwrap();
        Ok(slot.clone())
    }

    /// The run ports, answering from the world.
    pub fn run_mocks(&self) -> RunMocks {
        let mut lifecycle = MockRunLifecycle::new();
        let mut queries = MockRunQueries::new();
        let mut history = MockScheduleRunHistory::new();
        let w = self.clone();
        history.expect_schedule_history().returning(move |q| {
            let mut state = w.enter("schedule_history")?;
            state.history_pages.push((q.after, q.limit));
            Ok(paginate(&state.runs, q))
        });
        let w = self.clone();
        queries.expect_latest_completed_with_identity().returning(
            move |workspace, hash, outcomes| {
                let mut state = w.enter("latest_completed_with_identity")?;
                let found = state
                    .runs
                    .iter()
                    .filter(|r| {
                        r.workspace_id() == workspace
                            && r.identity_hash() == hash
                            && r.status() == RunStatus::Completed
                            && (outcomes.is_empty() || outcomes.contains(&r.outcome()))
                    })
                    .max_by_key(|r| r.id())
                    .cloned();
                if let Some(then) = state.after_latest_completed.take() {
                    then(&mut state);
                }
                Ok(found)
            },
        );
        let w = self.clone();
        lifecycle
            .expect_insert_or_get_active()
            .returning(move |new| {
                let mut state = w.enter("insert_or_get_active")?;
                if let Some(active) = state.runs.iter().find(|r| {
                    r.workspace_id() == new.workspace_id
                        && r.identity_hash() == &new.identity_hash
                        && r.status().is_active()
                }) {
                    return Ok(StartedRun {
                        run: active.clone(),
                        reused: true,
                    });
                }
                let id = RunId::new(state.next_run);
                state.next_run += 1;
                let run = OperationRun::from_record(RunRecord {
                    id,
                    workspace_id: new.workspace_id,
                    tenant_id: new.tenant_id,
                    user_id: new.user_id,
                    initiator_name: new.initiator_name.clone(),
                    run_type: new.run_type.to_string(),
                    state: RunState::queued(),
                    identity_hash: new.identity_hash.clone(),
                    summary_counts: new.summary_counts.clone(),
                    context: new.context.clone(),
                    created_at: new.created_at,
                    updated_at: new.created_at,
                })
                .unwrap();
                state.runs.push(run.clone());
                Ok(StartedRun { run, reused: false })
            });
        let w = self.clone();
        queries.expect_get().returning(move |id| {
            let state = w.enter("get")?;
            state
                .runs
                .iter()
                .find(|r| r.id() == id)
                .cloned()
                .ok_or(PortError::NotFound)
        });
        let w = self.clone();
        lifecycle
            .expect_transition()
            .returning(move |id, expected, next, now| {
                w.update(
                    id,
                    |record| {
                        if record.state.status != expected {
                            return Err(PortError::Conflict("status changed".into()));
                        }
                        record.state = next.clone();
                        record.updated_at = now;
                        Ok(())
                    },
                    "transition",
                )
            });
        let w = self.clone();
        lifecycle
            .expect_increment_counts()
            .returning(move |id, delta, now| {
                w.update(
                    id,
                    |record| {
                        if record.state.status == RunStatus::Completed {
                            return Err(PortError::Conflict("completed".into()));
                        }
                        record
                            .summary_counts
                            .merge(delta)
                            .map_err(|e| PortError::CountOverflow(e.to_string()))?;
                        record.updated_at = now;
                        Ok(())
                    },
                    "increment_counts",
                )
            });
        let w = self.clone();
        lifecycle
            .expect_merge_context()
            .returning(move |id, patch, now| {
                w.update(
                    id,
                    |record| {
                        if record.state.status == RunStatus::Completed {
                            return Err(PortError::Conflict("completed".into()));
                        }
                        let mut merged = record.context.to_json();
                        if let (Some(target), Some(source)) =
                            (merged.as_object_mut(), patch.to_json().as_object())
                        {
                            for (k, v) in source {
                                target.insert(k.clone(), v.clone());
                            }
                        }
                        record.context = RunContext::from_json(merged).unwrap();
                        record.updated_at = now;
                        Ok(())
                    },
                    "merge_context",
                )
            });
        let w = self.clone();
        history
            .expect_count_purgeable_schedule_history()
            .returning(move |criteria| {
                let state = w.enter("count_purgeable_schedule_history")?;
                Ok(purgeable(&state.runs, criteria).len() as u64)
            });
        let w = self.clone();
        history
            .expect_purge_schedule_history()
            .returning(move |criteria, batch| {
                let mut state = w.enter("purge_schedule_history")?;
                state.purge_batches.push(batch);
                let doomed = purgeable(&state.runs, criteria);
                state.runs.retain(|r| !doomed.contains(&r.id()));
                Ok(doomed.len() as u64)
            });
        RunMocks {
            lifecycle,
            queries,
            history,
        }
    }

    pub fn backup_mock(&self) -> MockBackupRepository {
        let mut mock = MockBackupRepository::new();
        let w = self.clone();
        mock.expect_get_schedule().returning(move |id| {
            let state = w.enter("get_schedule")?;
            state
                .schedules
                .iter()
                .find(|s| s.id == id)
                .cloned()
                .ok_or(PortError::NotFound)
        });
        let w = self.clone();
        mock.expect_create_set()
            .returning(move |schedule, name, item_count, now| {
                let mut state = w.enter("create_set")?;
                let id = BackupSetId::new(state.next_set);
                state.next_set += 1;
                let set = BackupSet {
                    id,
                    schedule_id: schedule,
                    name: name.to_owned(),
                    item_count,
                    created_at: now,
                    deleted_at: None,
                };
                state.sets.push(set.clone());
                Ok(set)
            });
        let w = self.clone();
        mock.expect_list_sets()
            .returning(move |schedule, include_deleted| {
                let state = w.enter("list_sets")?;
                let mut sets: Vec<BackupSet> = state
                    .sets
                    .iter()
                    .filter(|s| s.schedule_id == schedule)
                    .filter(|s| include_deleted || s.deleted_at.is_none())
                    .cloned()
                    .collect();
                sets.sort_by_key(|s| std::cmp::Reverse(s.id));
                Ok(sets)
            });
        let w = self.clone();
        mock.expect_soft_delete_sets()
            .returning(move |schedule, ids, now| {
                let mut state = w.enter("soft_delete_sets")?;
                let mut changed = 0;
                for set in state.sets.iter_mut() {
                    if set.schedule_id == schedule
                        && ids.contains(&set.id)
                        && set.deleted_at.is_none()
                    {
                        set.deleted_at = Some(now);
                        changed += 1;
                    }
                }
                Ok(changed)
            });
        let w = self.clone();
        mock.expect_count_purgeable_sets()
            .returning(move |schedule, before| {
                let state = w.enter("count_purgeable_sets")?;
                Ok(state
                    .sets
                    .iter()
                    .filter(|s| {
                        s.schedule_id == schedule && s.deleted_at.is_some_and(|d| d < before)
                    })
                    .count() as u64)
            });
        let w = self.clone();
        mock.expect_purge_sets().returning(move |schedule, before| {
            let mut state = w.enter("purge_sets")?;
            let len = state.sets.len();
            state.sets.retain(|s| {
                !(s.schedule_id == schedule && s.deleted_at.is_some_and(|d| d < before))
            });
            Ok((len - state.sets.len()) as u64)
        });
        mock
    }

    pub fn service_with(
        &self,
        lifecycle: MockRunLifecycle,
        queries: MockRunQueries,
        directory: MockWorkspaceDirectory,
    ) -> OperationRunService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        OperationRunService::new(
            ServicePorts {
                lifecycle: Arc::new(lifecycle),
                queries: Arc::new(queries),
                directory: Arc::new(directory),
                inventory: Arc::new(MockInventoryRepository::new()),
                findings: Arc::new(MockFindingRepository::new()),
                clock: Arc::new(clock),
            },
            RunTypeRegistry::with_builtins(),
        )
    }

    pub fn directory_mock() -> MockWorkspaceDirectory {
        let mut directory = MockWorkspaceDirectory::new();
        directory
            .expect_tenant_workspace()
            .returning(|tenant| Ok(Some(if tenant == TENANT { WS } else { OTHER_WS })));
        directory
    }

    /// Operations over the world, reading histories in pages of `page_size`.
    pub fn ops(&self, page_size: u32) -> ScheduleOperations {
        let runs = self.run_mocks();
        let service = self.service_with(runs.lifecycle, runs.queries, Self::directory_mock());
        let ports = SchedulePorts {
            history: Arc::new(runs.history),
            backups: Arc::new(self.backup_mock()),
        };
        ScheduleOperations::new(service, ports).with_walk_page_size(page_size)
    }
}

/// The run ports of a [`World`].
pub struct RunMocks {
    pub lifecycle: MockRunLifecycle,
    pub queries: MockRunQueries,
    pub history: MockScheduleRunHistory,
}

/// What a keyset-paginating store returns for a schedule-history query.
pub fn paginate(all: &[OperationRun], q: &ScheduleHistoryQuery) -> RunPage {
    let mut matching: Vec<OperationRun> = all
        .iter()
        .filter(|r| {
            r.workspace_id() == q.workspace_id
                && r.context().backup_schedule_id() == Some(q.schedule_id)
                && q.run_types.iter().any(|t| r.is_type(t))
                && (q.outcomes.is_empty() || q.outcomes.contains(&r.outcome()))
                && q.after.is_none_or(|c| r.id() < c.0)
        })
        .cloned()
        .collect();
    matching.sort_by_key(|r| std::cmp::Reverse(r.id()));
    let limit = q.limit as usize;
    let more = matching.len() > limit;
    matching.truncate(limit);
    RunPage {
        next: if more {
            matching.last().map(|r| RunCursor(r.id()))
        } else {
            None
        },
        runs: matching,
    }
}

/// The port's purge rule: completed runs of the schedule created before the cutoff, except the
/// newest run of each type.
fn purgeable(
    runs: &[OperationRun],
    criteria: &operation_runs_ports::HistoryPurgeCriteria,
) -> Vec<RunId> {
    let of_schedule: Vec<&OperationRun> = runs
        .iter()
        .filter(|r| {
            r.workspace_id() == criteria.workspace_id
                && r.context().backup_schedule_id() == Some(criteria.schedule_id)
                && RunType::BACKUP_SCHEDULE_TYPES.iter().any(|t| r.is_type(t))
        })
        .collect();
    let newest: Vec<RunId> = RunType::BACKUP_SCHEDULE_TYPES
        .iter()
        .filter_map(|t| {
            of_schedule
                .iter()
                .filter(|r| r.is_type(t))
                .map(|r| r.id())
                .max()
        })
        .collect();
    of_schedule
        .iter()
        .filter(|r| {
            !r.status().is_active()
                && r.created_at() < criteria.created_before
                && !newest.contains(&r.id())
        })
        .map(|r| r.id())
        .collect()
}

/// The write methods of the ports.
pub const WRITES: [&str; 8] = [
    "insert_or_get_active",
    "transition",
    "increment_counts",
    "merge_context",
    "purge_schedule_history",
    "create_set",
    "soft_delete_sets",
    "purge_sets",
];
