//! `history`: a schedule's history page (50 runs) with `rows` runs over `rows / 100`
//! schedules, against the same query on a table a hundred times smaller. Baseline: the
//! hand-written history `SELECT`.

use super::{one_tenant, plan_line_using, plan_summary, plan_uses_an_index, samples, service};
use crate::env::{Backend, Db, Env};
use crate::progress;
use crate::raw::{Bind, Pool, RUN_COLUMNS, fetch_runs};
use crate::report::{Figure, Samples, Target, timed};
use crate::seed::{Runs, insert_schedules, json_object};
use anyhow::{Result, bail};
use operation_runs_domain::{BackupScheduleId, RunType, WorkspaceId};
use operation_runs_ports::ScheduleHistoryQuery;
use operation_runs_schedule_history::{HistoryQuery, ScheduleHistory, SchedulePorts};
use serde_json::json;
use std::sync::Arc;

const INDEX: &str = "operation_runs_schedule_history_idx";
/// Runs per schedule on both sizes, so that a page of 50 is always full.
const RUNS_PER_SCHEDULE: u64 = 100;

struct Side {
    db: Db,
    workspace: WorkspaceId,
    first_schedule: i64,
    schedules: u64,
    runs: u64,
    history: ScheduleHistory,
    pool: Pool,
}

/// `runs` runs of the three backup-schedule types spread round-robin over `runs / 100`
/// schedules, so one schedule's runs are scattered over the whole table as on a live server.
async fn prepare(env: &Env, label: &str, runs: u64) -> Result<Side> {
    let b = env.backend;
    let (db, store, workspace, tenant) = one_tenant(env, label).await?;
    let schedules = (runs / RUNS_PER_SCHEDULE).max(1);
    progress!("history: seeding {runs} runs over {schedules} schedules ({label})");
    let first_schedule = insert_schedules(&db, schedules, workspace.get(), tenant.get()).await?;
    let schedule = format!("{first_schedule} + (g - 1) % {schedules}");
    Runs {
        run_type: format!(
            "CASE ((g - 1) / {schedules}) % 10 WHEN 8 THEN 'backup_schedule_retention' \
             WHEN 9 THEN 'backup_schedule_purge' ELSE 'backup_schedule_run' END"
        ),
        context: json_object(
            b,
            &[
                ("backup_schedule_id", schedule.as_str()),
                ("trigger", "'scheduled'"),
            ],
        ),
        ..Runs::simple(b, runs, workspace.get(), tenant.get())
    }
    .insert(&db)
    .await?;
    db.analyze().await?;
    db.warm().await?;
    let service = service(&store);
    let history = ScheduleHistory::new(service, SchedulePorts::from_store(Arc::new(store)));
    let pool = Pool::of(&db)?;
    Ok(Side {
        db,
        workspace,
        first_schedule,
        schedules,
        runs,
        history,
        pool,
    })
}

fn baseline_sql(backend: Backend) -> Result<String> {
    let schedule = match backend {
        Backend::Postgres => "(context ->> 'backup_schedule_id') = $2",
        Backend::Sqlite => "json_extract(context, '$.backup_schedule_id') = $2",
        // The indexed generated column (the schedule id as text), as the product reads it;
        // the workspace is bound first, so it moves ahead of the schedule.
        Backend::Mariadb => {
            return Ok(format!(
                "SELECT {RUN_COLUMNS} FROM operation_runs \
                 WHERE workspace_id = ? AND type IN ('backup_schedule_run', \
                   'backup_schedule_retention', 'backup_schedule_purge') \
                   AND backup_schedule_key = ? \
                 ORDER BY id DESC LIMIT 51"
            ));
        }
    };
    backend.sql(&format!(
        "SELECT {RUN_COLUMNS} FROM operation_runs \
         WHERE type IN ('backup_schedule_run', 'backup_schedule_retention', \
           'backup_schedule_purge') AND {schedule} AND workspace_id = $1 \
         ORDER BY id DESC LIMIT 51"
    ))
}

impl Side {
    fn schedule(&self, i: usize) -> i64 {
        let spread = (i as u64).wrapping_mul(7919) % self.schedules;
        self.first_schedule + i64::try_from(spread).unwrap_or(0)
    }

    /// One page through the product and one hand-written; both timed. Whether both pages
    /// hold the same runs, in the same order.
    async fn measure(
        &self,
        i: usize,
        sql: &str,
        ours: &mut Samples,
        base: &mut Samples,
    ) -> Result<bool> {
        let schedule = self.schedule(i);
        let query = HistoryQuery::new(self.workspace, BackupScheduleId::new(schedule));
        let (page, d) = timed(self.history.page(&query)).await;
        let page = page?;
        ours.push(d);
        let schedule_bind = match self.db.backend {
            Backend::Postgres | Backend::Mariadb => Bind::Text(schedule.to_string()),
            Backend::Sqlite => Bind::I64(schedule),
        };
        let (rows, d) = timed(fetch_runs(
            &self.pool,
            sql,
            vec![Bind::I64(self.workspace.get()), schedule_bind],
        ))
        .await;
        let rows = rows?;
        base.push(d);
        let ids: Vec<i64> = page.runs.iter().map(|r| r.id().get()).collect();
        let want: Vec<i64> = rows.iter().take(50).map(|r| r.id).collect();
        Ok(ids == want && !ids.is_empty())
    }
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let small_runs = (env.rows / 100).max(RUNS_PER_SCHEDULE).min(env.rows);
    let large = prepare(env, "history_large", env.rows).await?;
    let small = prepare(env, "history_small", small_runs).await?;
    let sql = baseline_sql(b)?;
    let n = samples(env.rows);
    progress!("history: {n} pages per side and size");
    // In order: the product and the hand-written pages on the large table, then on the small.
    let mut s: [Samples; 4] = Default::default();
    let mut warm: [Samples; 4] = Default::default();
    let (mut same_large, mut same_small) = (true, true);
    for (pages, [a, b2, c, d]) in [(10, &mut warm), (n, &mut s)] {
        for i in 0..pages {
            same_large &= large.measure(i, &sql, a, b2).await?;
            same_small &= small.measure(i, &sql, c, d).await?;
        }
    }
    let plan = large
        .db
        .store()
        .explain_schedule_history(&ScheduleHistoryQuery {
            workspace_id: large.workspace,
            schedule_id: BackupScheduleId::new(large.schedule(1)),
            run_types: RunType::BACKUP_SCHEDULE_TYPES.to_vec(),
            outcomes: Vec::new(),
            after: None,
            limit: 50,
        })
        .await?;
    let uses_index = plan_uses_an_index(&plan);
    let index = if plan_line_using(&plan, INDEX).is_some() {
        format!("uses {INDEX}")
    } else if uses_index {
        format!("uses another index than {INDEX}")
    } else {
        "uses NO index".to_owned()
    };
    let note = "ours = ScheduleHistory::page (schedule look-up + history SELECT); baseline = \
                the history SELECT alone; every page's run ids compared in order";
    for (metric, side, ours, base, same) in [
        ("page_large_table", &large, &s[0], &s[1], same_large),
        ("page_small_table", &small, &s[2], &s[3], same_small),
    ] {
        env.emit(
            &Figure::new("history", b, env.rows, metric)
                .compare(ours, base)
                .same(same)
                .extra("table_runs", json!(side.runs))
                .extra("schedules", json!(side.schedules))
                .note(note),
        );
    }
    env.emit(
        &Figure::new("history", b, env.rows, "large_vs_small_table")
            .compare(&s[0], &s[2])
            .target(Target::at_most(
                2.0,
                "ratio <= 2 (large / small table) and the plan uses an index",
            ))
            .require(uses_index)
            .note(format!(
                "both sides are the product's page: {} runs vs {} runs in the table; \
                 hand-written large/small = {:.3}",
                large.runs,
                small.runs,
                s[1].median() / s[3].median().max(f64::MIN_POSITIVE)
            ))
            .note(format!("plan {index}: {}", plan_summary(&plan))),
    );
    env.drop_db(large.db).await?;
    env.drop_db(small.db).await?;
    if !(same_large && same_small) {
        bail!("the product's history pages differ from the hand-written ones");
    }
    Ok(())
}
