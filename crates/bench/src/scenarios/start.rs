//! `start`: start-or-reuse, with distinct identities and with one identity contended by 16
//! tasks. Baseline: `INSERT … ON CONFLICT DO NOTHING RETURNING`, then a `SELECT` of the active
//! run when the insert conflicted; on MariaDB one `INSERT … ON DUPLICATE KEY UPDATE id = id
//! RETURNING`, which returns the active run when the identity has one.

use super::{
    ROUNDS, TASKS, WORKERS, concurrent, contended, inventory_sync, one_tenant, per_worker, rounds,
    samples, service, throughput, throughput_figure,
};
use crate::env::{Backend, Env};
use crate::progress;
use crate::raw::{Bind, Pool, RUN_COLUMNS, RawRun, fetch_runs};
use crate::report::{Figure, Samples, Target, timed};
use crate::seed::Runs;
use anyhow::{Result, bail};
use chrono::{DateTime, SubsecRound, Utc};
use operation_runs_domain::{
    IdentityHash, NewOperationRun, RunContext, RunType, SummaryCounts, TenantId, WorkspaceId,
};
use operation_runs_ports::RunLifecycle;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const TARGET: Target = Target::at_most(1.5, "ratio <= 1.5");

/// The hand-written start-or-reuse.
struct Baseline {
    backend: Backend,
    pool: Pool,
    insert: String,
    select: String,
}

/// MariaDB's start-or-reuse in one statement: the unique key on (workspace, active identity)
/// turns the insert of an identity that has an active run into an update that changes
/// nothing, and `RETURNING` returns that run instead of a new one. No conflict target exists
/// (any unique key triggers it), but the only other unique key is the id, which the insert
/// leaves to `AUTO_INCREMENT`. The time is bound twice: `?` binds in order.
fn mariadb_insert() -> String {
    format!(
        "INSERT INTO operation_runs (workspace_id, tenant_id, user_id, initiator_name, \
           type, status, outcome, run_identity_hash, summary_counts, failure_summary, \
           context, created_at, updated_at) \
         VALUES (?, ?, NULL, ?, ?, 'queued', 'pending', ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE id = id \
         RETURNING {RUN_COLUMNS}"
    )
}

/// InnoDB deadlock (1213) or lock wait timeout (1205): the statement did nothing and may be
/// sent again, as the product does for concurrent starts of one identity.
fn lost_lock_race(err: &anyhow::Error) -> bool {
    err.downcast_ref::<sqlx::Error>()
        .and_then(sqlx::Error::as_database_error)
        .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|e| matches!(e.number(), 1205 | 1213))
}

/// What the baseline runs, for the notes.
fn baseline_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Mariadb => "INSERT … ON DUPLICATE KEY UPDATE id = id RETURNING",
        Backend::Postgres | Backend::Sqlite => "INSERT … ON CONFLICT DO NOTHING RETURNING",
    }
}

impl Baseline {
    fn new(backend: Backend, pool: Pool) -> Result<Self> {
        if backend == Backend::Mariadb {
            return Ok(Self {
                backend,
                pool,
                insert: mariadb_insert(),
                select: String::new(),
            });
        }
        Ok(Self {
            backend,
            pool,
            insert: backend.sql(&format!(
                "INSERT INTO operation_runs (workspace_id, tenant_id, user_id, initiator_name, \
                   type, status, outcome, run_identity_hash, summary_counts, failure_summary, \
                   context, created_at, updated_at) \
                 VALUES ($1, $2, NULL, $3, $4, 'queued', 'pending', $5, $6, $7, $8, $9, $9) \
                 ON CONFLICT (workspace_id, run_identity_hash) \
                   WHERE status IN ('queued', 'running') DO NOTHING \
                 RETURNING {RUN_COLUMNS}"
            ))?,
            select: backend.sql(&format!(
                "SELECT {RUN_COLUMNS} FROM operation_runs \
                 WHERE workspace_id = $1 AND run_identity_hash = $2 \
                   AND status IN ('queued', 'running')"
            ))?,
        })
    }

    /// MariaDB: one statement; the run is reused when it is not the one this call created
    /// (its creation time is not the one bound, which is exact to the microsecond the
    /// column keeps).
    async fn start_mariadb(
        &self,
        hash: &IdentityHash,
        workspace: WorkspaceId,
        tenant: TenantId,
    ) -> Result<(RawRun, bool)> {
        for attempt in 0..10_u32 {
            let now = Utc::now().trunc_subsecs(6);
            let result = fetch_runs(
                &self.pool,
                &self.insert,
                start_binds(workspace, tenant, hash, &[now, now]),
            )
            .await;
            match result {
                Ok(rows) => {
                    let Some(run) = rows.into_iter().next() else {
                        bail!("INSERT … RETURNING returned no row");
                    };
                    let reused = run.created_at != now;
                    return Ok((run, reused));
                }
                Err(e) if lost_lock_race(&e) => {
                    // The same short growing pause as the product's retry.
                    tokio::time::sleep(Duration::from_millis(1 << attempt.min(6))).await;
                }
                Err(e) => return Err(e),
            }
        }
        bail!("the baseline kept deadlocking")
    }

    /// The run and whether it was reused.
    async fn start(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        identity: &serde_json::Value,
    ) -> Result<(RawRun, bool)> {
        let run_type = RunType::INVENTORY_SYNC;
        let hash = IdentityHash::compute(workspace, Some(tenant), &run_type, identity)?;
        if self.backend == Backend::Mariadb {
            return self.start_mariadb(&hash, workspace, tenant).await;
        }
        for _ in 0..8 {
            let now = Utc::now();
            let inserted = fetch_runs(
                &self.pool,
                &self.insert,
                start_binds(workspace, tenant, &hash, &[now]),
            )
            .await?;
            if let Some(run) = inserted.into_iter().next() {
                return Ok((run, false));
            }
            let active = fetch_runs(
                &self.pool,
                &self.select,
                vec![Bind::I64(workspace.get()), Bind::Text(hash.as_str().into())],
            )
            .await?;
            if let Some(run) = active.into_iter().next() {
                return Ok((run, true));
            }
        }
        bail!("the baseline could not start or find the run")
    }
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let (db, store, workspace, tenant) = one_tenant(env, "start").await?;
    progress!("start: seeding {} completed runs", env.rows);
    Runs::simple(b, env.rows, workspace.get(), tenant.get())
        .insert(&db)
        .await?;
    db.analyze().await?;
    db.warm().await?;
    let service = service(&store);
    let baseline = Arc::new(Baseline::new(b, Pool::of(&db)?)?);
    let n = samples(env.rows);

    // Distinct identities: every start inserts. The three sides alternate so that drift (cache,
    // table growth) hits them alike.
    progress!("start: {n} distinct starts per side");
    let (mut ours, mut adapter, mut base) =
        (Samples::default(), Samples::default(), Samples::default());
    // Every distinct start must insert a new run, on every side.
    let mut all_new = true;
    for i in 0..n + 20 {
        let warm = i < 20;
        let identity = json!({"side": "service", "n": i});
        let request = inventory_sync(workspace, tenant, "bench", identity);
        let (started, d) = timed(service.start(request)).await;
        all_new &= !started?.is_reused();
        if !warm {
            ours.push(d);
        }

        let (started, d) = timed(async {
            let run_type = RunType::INVENTORY_SYNC;
            let new = NewOperationRun {
                workspace_id: workspace,
                tenant_id: Some(tenant),
                user_id: None,
                initiator_name: "bench".into(),
                identity_hash: IdentityHash::compute(
                    workspace,
                    Some(tenant),
                    &run_type,
                    &json!({"side": "adapter", "n": i}),
                )?,
                run_type,
                summary_counts: SummaryCounts::new(),
                context: RunContext::new(),
                created_at: Utc::now(),
            };
            Ok::<_, anyhow::Error>(store.insert_or_get_active(&new).await?)
        })
        .await;
        all_new &= !started?.reused;
        if !warm {
            adapter.push(d);
        }

        let (started, d) =
            timed(baseline.start(workspace, tenant, &json!({"side": "baseline", "n": i}))).await;
        all_new &= !started?.1;
        if !warm {
            base.push(d);
        }
    }
    // Round trips of one start, counted by the connection's statement hook.
    let request = inventory_sync(workspace, tenant, "bench", json!({"side": "count"}));
    db.log.arm();
    service.start(request).await?;
    let statements = db.log.disarm().len();
    env.emit(
        &Figure::new("start", b, env.rows, "distinct_identities")
            .compare(&ours, &base)
            .same(all_new)
            .target(TARGET)
            .note(format!(
                "one task; ours = OperationRunService::start ({statements} statement(s) per start: \
                 the insert checks the tenant itself); baseline = {} (1 statement); every start \
                 of every side inserted a new run",
                baseline_name(b)
            )),
    );
    env.emit(
        &Figure::new("start", b, env.rows, "distinct_identities_adapter")
            .compare(&adapter, &base)
            .same(all_new)
            .note("ours = SeaOrmStore::insert_or_get_active alone (no service validation)"),
    );

    // One identity, 16 tasks: one insert, every other call reuses.
    let per_task = (n / TASKS).max(4);
    progress!("start: {TASKS} tasks x {per_task} starts of one identity per side");
    let (mut ours, mut base) = (Samples::default(), Samples::default());
    let (mut ours_wall, mut base_wall) = (0.0, 0.0);
    let mut one_run_each = true;
    for round in 0..2 {
        // The side going first alternates.
        for product in [round == 0, round != 0] {
            if product {
                let svc = service.clone();
                let identity = json!({"side": "service-contended", "round": round});
                let (s, wall) = contended(per_task, move |_, _| {
                    let svc = svc.clone();
                    let request = inventory_sync(workspace, tenant, "bench", identity.clone());
                    async move {
                        svc.start(request).await?;
                        Ok(())
                    }
                })
                .await?;
                ours.extend(s);
                ours_wall += wall.as_secs_f64();
            } else {
                let bl = Arc::clone(&baseline);
                let identity = json!({"side": "baseline-contended", "round": round});
                let (s, wall) = contended(per_task, move |_, _| {
                    let bl = Arc::clone(&bl);
                    let identity = identity.clone();
                    async move {
                        bl.start(workspace, tenant, &identity).await?;
                        Ok(())
                    }
                })
                .await?;
                base.extend(s);
                base_wall += wall.as_secs_f64();
            }
        }

        for side in ["service-contended", "baseline-contended"] {
            let hash = IdentityHash::compute(
                workspace,
                Some(tenant),
                &RunType::INVENTORY_SYNC,
                &json!({"side": side, "round": round}),
            )?;
            let count = db
                .scalar(&format!(
                    "SELECT COUNT(*) FROM operation_runs WHERE run_identity_hash = '{}'",
                    hash.as_str()
                ))
                .await?;
            if count != 1 {
                progress!("{side}: {count} runs for one contended identity, expected exactly 1");
                one_run_each = false;
            }
        }
    }
    let calls = ours.len();
    let ours_tp = throughput(calls, std::time::Duration::from_secs_f64(ours_wall));
    let base_tp = throughput(base.len(), std::time::Duration::from_secs_f64(base_wall));
    env.emit(
        &Figure::new("start", b, env.rows, "contended_identity_16_tasks")
            .compare(&ours, &base)
            .same(one_run_each)
            .target(TARGET)
            .extra("throughput_per_s", json!(ours_tp))
            .extra("baseline_throughput_per_s", json!(base_tp))
            .note(format!(
                "{TASKS} tasks x {per_task} starts x 2 rounds, one insert per round, all other \
                 calls reuse; exactly one run per identity verified; throughput ours \
                 {ours_tp}/s, baseline {base_tp}/s"
            )),
    );

    // Throughput on distinct identities: `w` workers each starting new identities, the
    // product's side and the baseline's in turn (alternating which goes first).
    for (k, workers) in WORKERS.into_iter().enumerate() {
        let per_round = per_worker(env.rows, workers).div_ceil(ROUNDS).max(2);
        let per_task = per_round * ROUNDS;
        progress!("start: {workers} worker(s) x {per_task} distinct starts per side");
        let mut sides: [(Samples, Duration); 2] = Default::default();
        for (round, product) in rounds(k) {
            let (svc, bl) = (service.clone(), Arc::clone(&baseline));
            let tag = if product { "tp-service" } else { "tp-baseline" };
            let (s, wall) = concurrent(workers, per_round, move |task, i| {
                let (svc, bl) = (svc.clone(), Arc::clone(&bl));
                let identity = json!({
                    "side": tag, "workers": workers, "round": round, "task": task, "i": i
                });
                async move {
                    let reused = if product {
                        svc.start(inventory_sync(workspace, tenant, "bench", identity))
                            .await?
                            .is_reused()
                    } else {
                        bl.start(workspace, tenant, &identity).await?.1
                    };
                    if reused {
                        bail!("a distinct identity was reused");
                    }
                    Ok(())
                }
            })
            .await?;
            let side = &mut sides[usize::from(!product)];
            side.0.extend(s);
            side.1 += wall;
        }
        env.emit(
            &throughput_figure(env, "start", workers, &sides)
            .same(true)
            .note(format!(
                "{workers} worker(s) x {per_task} starts of distinct identities per side in \
                 {ROUNDS} rounds, the sides taking turns, every start inserting (checked: a reuse fails the scenario); median_us = wall time per start (1 / throughput); ours = \
                 OperationRunService::start, baseline = {}",
                baseline_name(b)
            )),
        );
    }
    env.drop_db(db).await?;
    if !(all_new && one_run_each) {
        bail!("the product and the baseline started runs differently");
    }
    Ok(())
}

/// The values of a baseline start's insert: the run's columns, then `times` (the creation time,
/// bound once per placeholder that names it: MariaDB's `?` cannot repeat one).
fn start_binds(
    workspace: WorkspaceId,
    tenant: TenantId,
    hash: &IdentityHash,
    times: &[DateTime<Utc>],
) -> Vec<Bind> {
    let mut binds = vec![
        Bind::I64(workspace.get()),
        Bind::I64(tenant.get()),
        Bind::Text("bench".into()),
        Bind::Text(RunType::INVENTORY_SYNC.as_str().into()),
        Bind::Text(hash.as_str().into()),
        Bind::Json(json!({})),
        Bind::Json(json!([])),
        Bind::Json(json!({})),
    ];
    binds.extend(times.iter().map(|t| Bind::Time(*t)));
    binds
}
