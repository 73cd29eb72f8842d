//! `progress`: adding to a running run's counts. One task on distinct runs (the per-call
//! cost), 16 tasks on one run (lock-queue waiting), and throughput at 1 to 64 workers each on
//! its own run. Baseline: one hand-written `UPDATE … SET summary_counts = …` per increment.

use super::{
    ROUNDS, TASKS, WORKERS, concurrent, contended, inventory_sync, one_tenant, per_worker, rounds,
    samples, service, throughput, throughput_figure,
};
use crate::env::{Backend, Env};
use crate::progress;
use crate::raw::{Bind, Pool, execute};
use crate::report::{Figure, Samples, Target, timed};
use anyhow::{Result, bail};
use chrono::Utc;
use operation_runs_domain::{CountName, RunId, RunType, SummaryCounts, TenantId, WorkspaceId};
use operation_runs_ports::{RunLifecycle, RunQueries};
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_service::OperationRunService;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn update_sql(backend: Backend) -> String {
    match backend {
        Backend::Postgres => "UPDATE operation_runs SET summary_counts = summary_counts || \
             jsonb_build_object('processed', \
               COALESCE((summary_counts ->> 'processed')::bigint, 0) + $2), updated_at = $3 \
             WHERE id = $1 AND status IN ('queued', 'running')"
            .to_owned(),
        Backend::Sqlite => "UPDATE operation_runs SET summary_counts = json_set(summary_counts, \
             '$.processed', COALESCE(json_extract(summary_counts, '$.processed'), 0) + ?2), \
             updated_at = ?3 \
             WHERE id = ?1 AND status IN ('queued', 'running')"
            .to_owned(),
        // As the product's: 64-bit arithmetic on the count (`JSON_VALUE` cast to `SIGNED`),
        // written back with `JSON_SET` under the row's lock. `?` binds in order: the id last.
        Backend::Mariadb => "UPDATE operation_runs SET summary_counts = JSON_SET(summary_counts, \
             '$.processed', COALESCE(CAST(JSON_VALUE(summary_counts, '$.processed') AS SIGNED), \
             0) + ?), updated_at = ? \
             WHERE id = ? AND status IN ('queued', 'running')"
            .to_owned(),
    }
}

/// The target for the per-call cost: the hand-written `UPDATE` is one statement on a
/// local server; SQLite, in-process, leaves less to hide fixed costs behind.
fn one_task_target(backend: Backend) -> Target {
    match backend {
        Backend::Postgres | Backend::Mariadb => Target::at_most(1.5, "ratio <= 1.5"),
        Backend::Sqlite => Target::at_most(2.0, "ratio <= 2"),
    }
}

/// What the adapter alone runs per increment, for the notes.
fn adapter_note(backend: Backend) -> &'static str {
    match backend {
        Backend::Mariadb => {
            "ours = SeaOrmStore::increment_counts alone (MariaDB has no UPDATE … RETURNING: \
             the UPDATE, then the row read back, in one transaction)"
        }
        Backend::Postgres | Backend::Sqlite => {
            "ours = SeaOrmStore::increment_counts alone (one UPDATE … RETURNING)"
        }
    }
}

/// The three sides of an increment.
#[derive(Clone)]
struct Sides {
    service: OperationRunService,
    store: Arc<SeaOrmStore>,
    pool: Pool,
    sql: Arc<str>,
    /// Whether the statement binds the run's id last (MariaDB's positional `?`) or first.
    id_last: bool,
    /// The run types the service passes for `processed`: every registered type declares it.
    types: Arc<[RunType]>,
}

impl Sides {
    async fn service(&self, run: RunId) -> Result<()> {
        self.service
            .record_progress(run, &[("processed", 1)])
            .await?;
        Ok(())
    }

    async fn adapter(&self, run: RunId) -> Result<()> {
        let mut delta = SummaryCounts::new();
        delta.add(CountName::parse("processed")?, 1)?;
        self.store
            .increment_counts(run, &self.types, &delta, Utc::now())
            .await?;
        Ok(())
    }

    async fn baseline(&self, run: RunId) -> Result<()> {
        let mut args = vec![Bind::I64(run.get()), Bind::I64(1), Bind::Time(Utc::now())];
        if self.id_last {
            args.rotate_left(1);
        }
        let changed = execute(&self.pool, &self.sql, args).await?;
        if changed != 1 {
            bail!("the baseline increment changed {changed} rows");
        }
        Ok(())
    }
}

/// `n` running runs.
async fn running(
    service: &OperationRunService,
    workspace: WorkspaceId,
    tenant: TenantId,
    label: &str,
    n: usize,
) -> Result<Vec<RunId>> {
    let mut runs = Vec::with_capacity(n);
    for i in 0..n {
        let request = inventory_sync(workspace, tenant, "bench", json!({"side": label, "i": i}));
        let run = service.start(request).await?.into_run().id();
        service.begin(run).await?;
        runs.push(run);
    }
    Ok(runs)
}

/// Runs whose `processed` count differs from the increments made to them.
async fn lost(store: &dyn RunQueries, expected: &[(RunId, u64)]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (run, want) in expected {
        let run_read = store.get(*run).await?;
        let got = match run_read.summary_counts().readable() {
            Ok(counts) => counts.get_str("processed"),
            Err(unreadable) => bail!("run {run}'s counts cannot be read: {unreadable}"),
        };
        if got != *want {
            out.push(format!("run {run}: {got} of {want}"));
        }
    }
    Ok(out)
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let (db, store, workspace, tenant) = one_tenant(env, "progress").await?;
    let service = service(&store);
    db.warm().await?;
    let sides = Sides {
        service: service.clone(),
        store: Arc::new(store),
        pool: Pool::of(&db)?,
        sql: update_sql(b).into(),
        id_last: b == Backend::Mariadb,
        types: service.registry().iter().map(|d| d.id().clone()).collect(),
    };
    let mut expected: Vec<(RunId, u64)> = Vec::new();

    // One task, distinct runs: each increment goes to the next of 50 runs per side, the three
    // sides interleaved increment by increment.
    let n = samples(env.rows);
    let per_side = 50;
    let pools = [
        running(&service, workspace, tenant, "one-service", per_side).await?,
        running(&service, workspace, tenant, "one-adapter", per_side).await?,
        running(&service, workspace, tenant, "one-baseline", per_side).await?,
    ];
    progress!("progress: one task, {n} increments per side over {per_side} runs each");
    let mut s = [Samples::default(), Samples::default(), Samples::default()];
    let mut counts = [vec![0_u64; per_side], vec![0; per_side], vec![0; per_side]];
    for i in 0..n + 20 {
        let slot = i % per_side;
        for side in 0..3 {
            let run = pools[side][slot];
            let (done, d) = timed(async {
                match side {
                    0 => sides.service(run).await,
                    1 => sides.adapter(run).await,
                    _ => sides.baseline(run).await,
                }
            })
            .await;
            done?;
            counts[side][slot] += 1;
            if i >= 20 {
                s[side].push(d);
            }
        }
    }
    for side in 0..3 {
        expected.extend(
            pools[side]
                .iter()
                .copied()
                .zip(counts[side].iter().copied()),
        );
    }
    db.log.arm();
    sides.service(pools[0][0]).await?;
    let statements = db.log.disarm().len();
    expected[0].1 += 1;
    let lost_one = lost(&*sides.store, &expected).await?;
    env.emit(
        &Figure::new("progress", b, env.rows, "increment_one_task")
            .compare(&s[0], &s[2])
            .same(lost_one.is_empty())
            .target(one_task_target(b))
            .note(format!(
                "one task, each increment on the next of {per_side} running runs per side, sides \
                 interleaved; ours = OperationRunService::record_progress ({statements} \
                 statement(s) per call); baseline = one UPDATE; every run's count equals the \
                 increments made"
            )),
    );
    env.emit(
        &Figure::new("progress", b, env.rows, "increment_one_task_adapter")
            .compare(&s[1], &s[2])
            .same(lost_one.is_empty())
            .note(adapter_note(b)),
    );

    // What pinging every checked-out connection would cost (sqlx's default, which the product
    // turns off for busy connections): the hand-written UPDATE through a second pool that
    // pings, against the same through the product's pool, interleaved.
    let pinging = env.reopen_pinging(&db).await?;
    pinging.warm().await?;
    let pinged = Sides {
        pool: Pool::of(&pinging)?,
        ..sides.clone()
    };
    let ping_runs = running(&service, workspace, tenant, "ping", 2).await?;
    let (mut with_ping, mut without) = (Samples::default(), Samples::default());
    for i in 0..n + 20 {
        // Alternating which goes first.
        for ping in if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        } {
            let (side, run, out) = if ping {
                (&pinged, ping_runs[0], &mut with_ping)
            } else {
                (&sides, ping_runs[1], &mut without)
            };
            let (done, d) = timed(side.baseline(run)).await;
            done?;
            if i >= 20 {
                out.push(d);
            }
        }
    }
    pinging.conn.clone().close().await.ok();
    env.emit(
        &Figure::new("progress", b, env.rows, "ping_on_every_checkout")
            .compare(&with_ping, &without)
            .note(
                "ours = the hand-written UPDATE on a pool that pings every connection it hands \
                 out (sqlx's default test_before_acquire); baseline = the same UPDATE on the \
                 product's pool (pings only connections idle for 30 s)",
            ),
    );

    // 16 tasks on one run per side: latency here is waiting in the row lock's queue.
    let [ours_run, adapter_run, base_run]: [RunId; 3] =
        running(&service, workspace, tenant, "contended", 3)
            .await?
            .try_into()
            .map_err(|_| anyhow::anyhow!("expected three runs"))?;
    let per_task = (n / TASKS).max(4);
    progress!("progress: {TASKS} tasks x {per_task} increments x 2 rounds per side");
    let (mut ours, mut adapter, mut base) =
        (Samples::default(), Samples::default(), Samples::default());
    let (mut walls, mut done) = ([0.0_f64; 3], [0_u64; 3]);
    for round in 0..2 {
        // The order of the sides alternates.
        let mut order = [(0, ours_run), (1, adapter_run), (2, base_run)];
        if round % 2 == 1 {
            order.reverse();
        }
        for (side, run) in order {
            let sd = sides.clone();
            let (samples, wall) = contended(per_task, move |_, _| {
                let sd = sd.clone();
                async move {
                    match side {
                        0 => sd.service(run).await,
                        1 => sd.adapter(run).await,
                        _ => sd.baseline(run).await,
                    }
                }
            })
            .await?;
            done[side] += samples.len() as u64;
            walls[side] += wall.as_secs_f64();
            match side {
                0 => ours.extend(samples),
                1 => adapter.extend(samples),
                _ => base.extend(samples),
            }
        }
    }
    let contended_lost = lost(
        &*sides.store,
        &[
            (ours_run, done[0]),
            (adapter_run, done[1]),
            (base_run, done[2]),
        ],
    )
    .await?;
    let tp = |i: usize, s: &Samples| throughput(s.len(), Duration::from_secs_f64(walls[i]));
    env.emit(
        &Figure::new("progress", b, env.rows, "increment_16_tasks")
            .compare(&ours, &base)
            .same(contended_lost.is_empty())
            .target(Target::at_most(1.5, "ratio <= 1.5 and no lost update"))
            .require(contended_lost.is_empty())
            .extra("throughput_per_s", json!(tp(0, &ours)))
            .extra("baseline_throughput_per_s", json!(tp(2, &base)))
            .note(
                "16 tasks on one run per side; ours = OperationRunService::record_progress; \
                 baseline = one UPDATE per increment; every run's count equals the increments \
                 made (no lost update)",
            ),
    );
    env.emit(
        &Figure::new("progress", b, env.rows, "increment_16_tasks_adapter")
            .compare(&adapter, &base)
            .same(contended_lost.is_empty())
            .extra("throughput_per_s", json!(tp(1, &adapter)))
            .note(adapter_note(b)),
    );

    // Throughput: `w` workers, each on its own run.
    let mut tp_lost = Vec::new();
    for (k, workers) in WORKERS.into_iter().enumerate() {
        let per_round = per_worker(env.rows, workers).div_ceil(ROUNDS).max(2);
        let per_task = per_round * ROUNDS;
        progress!("progress: {workers} worker(s) x {per_task} increments per side, own runs");
        let label = format!("tp-{workers}");
        let ours_runs = Arc::new(running(&service, workspace, tenant, &label, workers).await?);
        let label = format!("tp-{workers}-baseline");
        let base_runs = Arc::new(running(&service, workspace, tenant, &label, workers).await?);
        let mut measured: [(Samples, Duration); 2] = Default::default();
        for (_, product) in rounds(k) {
            let sd = sides.clone();
            let runs = Arc::clone(if product { &ours_runs } else { &base_runs });
            let (s, wall) = concurrent(workers, per_round, move |task, _| {
                let (sd, run) = (sd.clone(), runs[task]);
                async move {
                    if product {
                        sd.service(run).await
                    } else {
                        sd.baseline(run).await
                    }
                }
            })
            .await?;
            let side = &mut measured[usize::from(!product)];
            side.0.extend(s);
            side.1 += wall;
        }
        let want: Vec<(RunId, u64)> = ours_runs
            .iter()
            .chain(base_runs.iter())
            .map(|r| (*r, per_task as u64))
            .collect();
        tp_lost.extend(lost(&*sides.store, &want).await?);
        env.emit(
            &throughput_figure(env, "progress", workers, &measured)
            .same(tp_lost.is_empty())
            .note(format!(
                "{workers} worker(s) x {per_task} increments per side in {ROUNDS} rounds, the \
                 sides taking turns, each worker on its own run; median_us = wall time per increment (1 / throughput); ours = \
                 OperationRunService::record_progress, baseline = one UPDATE; every count checked"
            )),
        );
    }
    env.drop_db(db).await?;
    let all_lost: Vec<String> = lost_one
        .into_iter()
        .chain(contended_lost)
        .chain(tp_lost)
        .collect();
    if !all_lost.is_empty() {
        bail!("lost updates: {}", all_lost.join(", "));
    }
    Ok(())
}
