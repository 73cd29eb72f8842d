//! `progress`: 16 tasks adding to the counts of one running run. Baseline: one hand-written
//! `UPDATE … SET summary_counts = …` per increment.

use super::{TASKS, contended, samples, service, throughput};
use crate::env::{Backend, Env};
use crate::progress;
use crate::raw::{Bind, Pool, execute};
use crate::report::{Figure, Samples, Target};
use anyhow::{Result, bail};
use chrono::Utc;
use operation_runs_domain::{CountName, RunId, SummaryCounts};
use operation_runs_ports::{Provisioning, RunLifecycle, RunQueries};
use operation_runs_service::StartRequest;
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
    }
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let db = env.create_migrated("progress").await?;
    let store = db.store();
    let workspace = store.create_workspace("bench").await?;
    let tenant = store.create_tenant(workspace, "bench-tenant").await?;
    let service = service(&store);
    let mut runs = Vec::new();
    for side in ["service", "adapter", "baseline"] {
        let run = service
            .start(
                StartRequest::new(workspace, "inventory_sync", "bench")
                    .tenant(tenant)
                    .identity(json!({"side": side})),
            )
            .await?
            .into_run()
            .id();
        service.begin(run).await?;
        runs.push(run);
    }
    let (ours_run, adapter_run, base_run) = (runs[0], runs[1], runs[2]);
    db.warm().await?;
    let pool = Pool::of(&db)?;
    let sql: Arc<str> = update_sql(b).into();
    let store = Arc::new(store);
    let per_task = (samples(env.rows) / TASKS).max(4);
    progress!("progress: {TASKS} tasks x {per_task} increments x 2 rounds per side");

    let (mut ours, mut adapter, mut base) =
        (Samples::default(), Samples::default(), Samples::default());
    let (mut walls, mut done) = ([0.0_f64; 3], [0_u64; 3]);
    for _round in 0..2 {
        let svc = service.clone();
        let (s, wall) = contended(per_task, move |_, _| {
            let svc = svc.clone();
            async move {
                svc.record_progress(ours_run, &[("processed", 1)]).await?;
                Ok(())
            }
        })
        .await?;
        done[0] += s.len() as u64;
        ours.extend(s);
        walls[0] += wall.as_secs_f64();

        let st = Arc::clone(&store);
        let (s, wall) = contended(per_task, move |_, _| {
            let st = Arc::clone(&st);
            async move {
                let mut delta = SummaryCounts::new();
                delta.add(CountName::parse("processed")?, 1)?;
                st.increment_counts(adapter_run, &delta, Utc::now()).await?;
                Ok(())
            }
        })
        .await?;
        done[1] += s.len() as u64;
        adapter.extend(s);
        walls[1] += wall.as_secs_f64();

        let (p, q) = (pool.clone(), Arc::clone(&sql));
        let (s, wall) = contended(per_task, move |_, _| {
            let (p, q) = (p.clone(), Arc::clone(&q));
            async move {
                let changed = execute(
                    &p,
                    &q,
                    vec![
                        Bind::I64(base_run.get()),
                        Bind::I64(1),
                        Bind::Time(Utc::now()),
                    ],
                )
                .await?;
                if changed != 1 {
                    bail!("the baseline increment changed {changed} rows");
                }
                Ok(())
            }
        })
        .await?;
        done[2] += s.len() as u64;
        base.extend(s);
        walls[2] += wall.as_secs_f64();
    }

    // No lost update: each run's count is exactly the number of increments made.
    let mut lost = Vec::new();
    for (run, expected, side) in [
        (ours_run, done[0], "service"),
        (adapter_run, done[1], "adapter"),
        (base_run, done[2], "baseline"),
    ] {
        let got = processed(&*store, run).await?;
        if got != expected {
            lost.push(format!("{side}: {got} of {expected}"));
        }
    }
    db.log.arm();
    service
        .record_progress(ours_run, &[("processed", 1)])
        .await?;
    let statements = db.log.disarm().len();
    let tp = |i: usize, s: &Samples| throughput(s.len(), Duration::from_secs_f64(walls[i]));
    let lost_note = if lost.is_empty() {
        "no lost update (every run's count equals the increments made)".to_owned()
    } else {
        format!("LOST UPDATES: {}", lost.join(", "))
    };
    env.emit(
        &Figure::new("progress", b, env.rows, "increment_16_tasks")
            .compare(&ours, &base)
            .target(Target::at_most(1.5, "ratio <= 1.5 and no lost update"))
            .require(lost.is_empty())
            .extra("throughput_per_s", json!(tp(0, &ours)))
            .extra("baseline_throughput_per_s", json!(tp(2, &base)))
            .note(format!(
                "ours = OperationRunService::record_progress ({statements} statements: read the \
                 run to validate the count names, then one guarded UPDATE … RETURNING); \
                 baseline = one UPDATE per increment"
            ))
            .note(lost_note),
    );
    env.emit(
        &Figure::new("progress", b, env.rows, "increment_16_tasks_adapter")
            .compare(&adapter, &base)
            .extra("throughput_per_s", json!(tp(1, &adapter)))
            .note("ours = SeaOrmStore::increment_counts alone (one UPDATE … RETURNING)"),
    );
    env.drop_db(db).await
}

async fn processed(store: &dyn RunQueries, run: RunId) -> Result<u64> {
    let run = store.get(run).await?;
    Ok(run.summary_counts().get_str("processed"))
}
