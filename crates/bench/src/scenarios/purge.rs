//! `purge`: a schedule's history purge of `rows / 2` old runs in bounded batches through the
//! adapter, against one hand-written `DELETE` on an identical copy of the data.

use crate::env::{Backend, Env};
use crate::progress;
use crate::raw::{Bind, Pool, execute};
use crate::report::{Figure, Samples, Target, timed};
use crate::seed::{Runs, json_object};
use anyhow::{Result, bail};
use chrono::{Duration, Utc};
use operation_runs_ports::{HistoryPurgeCriteria, Provisioning, ScheduleRunHistory};
use serde_json::json;

/// Runs older than this many days are purged; the old half of the data is 100 days old.
const WINDOW_DAYS: i64 = 50;

fn baseline_sql(backend: Backend) -> String {
    let schedule = match backend {
        Backend::Postgres => "(context ->> 'backup_schedule_id') = $2",
        Backend::Sqlite => "json_extract(context, '$.backup_schedule_id') = $2",
    };
    let history = format!(
        "workspace_id = $1 AND type IN ('backup_schedule_run', 'backup_schedule_retention', \
         'backup_schedule_purge') AND {schedule}"
    );
    backend.sql(&format!(
        "DELETE FROM operation_runs WHERE {history} AND status = 'completed' \
         AND created_at < $3 \
         AND id NOT IN (SELECT MAX(id) FROM operation_runs WHERE {history} GROUP BY type)"
    ))
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let db = env.create_migrated("purge").await?;
    let store = db.store();
    let workspace = store.create_workspace("bench").await?;
    let tenant = store.create_tenant(workspace, "bench-tenant").await?;
    let schedule = store
        .create_backup_schedule(workspace, tenant, "nightly", 7)
        .await?;
    let half = env.rows / 2;
    progress!(
        "purge: seeding {} runs of one schedule, {half} of them 100 days old",
        env.rows
    );
    let id = schedule.id.get().to_string();
    Runs {
        run_type: "CASE g % 10 WHEN 8 THEN 'backup_schedule_retention' \
                   WHEN 9 THEN 'backup_schedule_purge' ELSE 'backup_schedule_run' END"
            .to_owned(),
        // A few old runs are still active: purge must leave them.
        active_when: Some("g % 997 = 0".to_owned()),
        context: json_object(
            b,
            &[("backup_schedule_id", &id), ("trigger", "'scheduled'")],
        ),
        age_seconds: format!(
            "CASE WHEN g <= {half} THEN 8640000 + {rows} - g ELSE {rows} - g + 60 END",
            rows = env.rows
        ),
        ..Runs::simple(b, env.rows, workspace.get(), tenant.get())
    }
    .insert(&db)
    .await?;
    db.analyze().await?;
    let (ours_db, copies) = env.fork(db, &["purge_baseline"]).await?;
    let Some(base_db) = copies.into_iter().next() else {
        bail!("no copy for the baseline");
    };
    ours_db.warm().await?;
    base_db.warm().await?;
    let criteria = HistoryPurgeCriteria {
        workspace_id: workspace,
        schedule_id: schedule.id,
        created_before: Utc::now() - Duration::days(WINDOW_DAYS),
    };
    let store = ours_db.store();
    let batch_size = env.purge_batch;
    let expected = store.count_purgeable_schedule_history(&criteria).await?;
    progress!("purge: {expected} purgeable runs, batches of {batch_size}");

    ours_db.log.arm();
    let (deleted, ours_time) = timed(store.purge_schedule_history(&criteria, batch_size)).await;
    let statements = ours_db.log.disarm();
    let deleted = deleted?;
    let mut batches = Samples::default();
    for s in statements.iter().filter(|s| s.sql.starts_with("DELETE")) {
        batches.push(s.elapsed);
    }

    let pool = Pool::of(&base_db)?;
    let schedule_bind = match b {
        Backend::Postgres => Bind::Text(id.clone()),
        Backend::Sqlite => Bind::I64(schedule.id.get()),
    };
    let (base_deleted, base_time) = timed(execute(
        &pool,
        &baseline_sql(b),
        vec![
            Bind::I64(workspace.get()),
            schedule_bind,
            Bind::Time(criteria.created_before),
        ],
    ))
    .await;
    let base_deleted = base_deleted?;
    if deleted != expected || base_deleted != expected {
        bail!(
            "purge deleted {deleted} runs, the hand-written DELETE {base_deleted}, \
             {expected} were purgeable"
        );
    }
    let max_batch_us = batches.max();
    env.emit(
        &Figure::new("purge", b, env.rows, "batched_vs_single_delete")
            .once(ours_time, Some(base_time))
            .target(Target::at_most(1.5, "ratio <= 1.5"))
            .extra("deleted", json!(deleted))
            .extra("batches", json!(batches.len()))
            .note(format!(
                "ours = SeaOrmStore::purge_schedule_history in batches of {batch_size} ({} \
                 statements in all); baseline = one DELETE; both deleted {deleted} runs",
                statements.len()
            )),
    );
    let under_a_second = max_batch_us <= 1e6;
    let mut batch = Figure::new("purge", b, env.rows, "longest_statement")
        .once(
            std::time::Duration::from_secs_f64(max_batch_us / 1e6),
            Some(base_time),
        )
        .target(Target::condition(
            "no statement of the purge runs (holds its locks) longer than 1 s",
        ))
        .require(under_a_second)
        .extra(
            "batch_median_us",
            json!((batches.median() * 10.0).round() / 10.0),
        )
        .extra("batch_p95_us", json!((batches.p95() * 10.0).round() / 10.0))
        .note(format!(
            "median_us = the longest of {} batch DELETEs (each commits on its own); baseline = \
             the single DELETE, which holds its locks for the whole purge",
            batches.len()
        ));
    if b == Backend::Sqlite {
        batch = batch.note("on SQLite every write statement locks the whole database");
    }
    env.emit(&batch);
    env.drop_db(ours_db).await?;
    env.drop_db(base_db).await
}
