//! `purge`: a schedule's history purge of `rows / 2` old runs in bounded batches through the
//! adapter, against one hand-written `DELETE` on an identical copy of the data.

use super::{Fingerprint, REPS, one_tenant, product_first};
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

/// On MariaDB, the history's rows on the indexed generated column, and the newest run of each
/// type joined as a derived table: MariaDB runs a `NOT IN` subquery on the table a `DELETE`
/// writes once per candidate row (seconds for a thousand), while the derived table is read
/// once. `?` binds in order, so the workspace and schedule are bound twice (see [`binds`]).
fn baseline_sql(backend: Backend) -> Result<String> {
    let schedule = match backend {
        Backend::Postgres => "(context ->> 'backup_schedule_id') = $2",
        Backend::Sqlite => "json_extract(context, '$.backup_schedule_id') = $2",
        Backend::Mariadb => {
            let types = "('backup_schedule_run', 'backup_schedule_retention', \
                 'backup_schedule_purge')";
            return Ok(format!(
                "DELETE r FROM operation_runs AS r \
                 LEFT JOIN (SELECT MAX(id) AS id FROM operation_runs \
                   WHERE workspace_id = ? AND type IN {types} AND backup_schedule_key = ? \
                   GROUP BY type) AS newest ON newest.id = r.id \
                 WHERE r.workspace_id = ? AND r.type IN {types} \
                   AND r.backup_schedule_key = ? AND r.status = 'completed' \
                   AND r.created_at < ? AND newest.id IS NULL"
            ));
        }
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

/// The baseline's values in its placeholders' order.
fn binds(backend: Backend, workspace: Bind, schedule: Bind, before: Bind) -> Vec<Bind> {
    match backend {
        Backend::Mariadb => vec![
            workspace.clone(),
            schedule.clone(),
            workspace,
            schedule,
            before,
        ],
        Backend::Postgres | Backend::Sqlite => vec![workspace, schedule, before],
    }
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let (db, store, workspace, tenant) = one_tenant(env, "purge").await?;
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
    let criteria = HistoryPurgeCriteria {
        workspace_id: workspace,
        schedule_id: schedule.id,
        created_before: Utc::now() - Duration::days(WINDOW_DAYS),
    };
    let schedule_bind = match b {
        Backend::Postgres | Backend::Mariadb => Bind::Text(id.clone()),
        Backend::Sqlite => Bind::I64(schedule.id.get()),
    };
    let sql = baseline_sql(b)?;
    let batch_size = env.purge_batch;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    let mut batches = Samples::default();
    // Time inside the batch DELETEs and inside the purge's other statements (its reads), as
    // the statement hook saw them; the rest of the purge's time is the client's.
    let (mut in_deletes, mut in_reads) = (Samples::default(), Samples::default());
    let (mut statements, mut first) = (0, Vec::new());
    let mut deleted_lists: Vec<Vec<i64>> = Vec::new();
    let mut expected = 0;
    let mut source = db;
    for rep in 0..REPS {
        let (next, copies) = env
            .fork(
                source,
                &[&format!("purge_{rep}_a"), &format!("purge_{rep}_b")],
            )
            .await?;
        source = next;
        let mut copies = copies.into_iter();
        let (Some(a), Some(c)) = (copies.next(), copies.next()) else {
            bail!("expected two copies");
        };
        let ours_first = product_first(rep);
        let (ours_db, base_db) = if ours_first { (a, c) } else { (c, a) };
        // Everything read untimed is read on both copies: the purgeable count (through the
        // product) and the ids before the purge.
        let mut before = Vec::new();
        for db in [&ours_db, &base_db] {
            db.warm().await?;
            env.vacuum(db).await?;
            expected = db
                .store()
                .count_purgeable_schedule_history(&criteria)
                .await?;
            before.push(ids(db).await?);
        }
        progress!(
            "purge: {expected} purgeable runs, batches of {batch_size}, {} first (repetition {})",
            if ours_first { "ours" } else { "baseline" },
            rep + 1
        );
        first.push(if ours_first { "ours" } else { "baseline" });
        let order = if ours_first {
            [true, false]
        } else {
            [false, true]
        };
        for product in order {
            env.settle().await?;
            if product {
                let store = ours_db.store();
                ours_db.log.arm();
                let (deleted, took) =
                    timed(store.purge_schedule_history(&criteria, batch_size)).await;
                let logged = ours_db.log.disarm();
                deleted?;
                ours.push(took);
                statements = logged.len();
                let (mut deletes, mut reads) =
                    (std::time::Duration::ZERO, std::time::Duration::ZERO);
                for s in &logged {
                    if s.sql.starts_with("DELETE") {
                        batches.push(s.elapsed);
                        deletes += s.elapsed;
                    } else {
                        reads += s.elapsed;
                    }
                }
                in_deletes.push(deletes);
                in_reads.push(reads);
                deleted_lists.push(gone(&before[0], &ids(&ours_db).await?));
            } else {
                let pool = Pool::of(&base_db)?;
                let (deleted, took) = timed(execute(
                    &pool,
                    &sql,
                    binds(
                        b,
                        Bind::I64(workspace.get()),
                        schedule_bind.clone(),
                        Bind::Time(criteria.created_before),
                    ),
                ))
                .await;
                deleted?;
                base.push(took);
                deleted_lists.push(gone(&before[1], &ids(&base_db).await?));
            }
        }
        env.drop_db(ours_db).await?;
        env.drop_db(base_db).await?;
    }
    env.drop_db(source).await?;
    let deleted = deleted_lists.first().map_or(0, Vec::len);
    let same = deleted_lists.windows(2).all(|w| w[0] == w[1]) && deleted == expected as usize;
    let mut print = Fingerprint::default();
    for id in deleted_lists.first().into_iter().flatten() {
        print.add(Some(*id));
    }
    env.emit(
        &Figure::new("purge", b, env.rows, "batched_vs_single_delete")
            .repeated(&ours, &base)
            .same(same)
            .target(Target::at_most(1.5, "ratio <= 1.5"))
            .extra("deleted", json!(deleted))
            .extra("deleted_fingerprint", json!(print.hex()))
            .extra("batches", json!(batches.len() / REPS))
            .extra(
                "in_deletes_median_us",
                json!((in_deletes.median() * 10.0).round() / 10.0),
            )
            .extra(
                "in_reads_median_us",
                json!((in_reads.median() * 10.0).round() / 10.0),
            )
            .extra("first", json!(first))
            .note(format!(
                "ours = SeaOrmStore::purge_schedule_history in batches of {batch_size} \
                 ({statements} statements in all); baseline = one DELETE; {REPS} repetitions \
                 each on two fresh identical copies (VACUUM ANALYZE or a WAL checkpoint on both, \
                 then a checkpoint before each side), the side going first alternating; both \
                 copies read the purgeable count and every id before; the deleted ids compared \
                 ({deleted} each time)"
            )),
    );
    let max_batch_us = batches.max();
    let under_a_second = max_batch_us <= 1e6;
    let mut batch = Figure::new("purge", b, env.rows, "longest_statement")
        .once(
            std::time::Duration::from_secs_f64(max_batch_us / 1e6),
            Some(Samples::from_durations(&base).median())
                .map(|us| std::time::Duration::from_secs_f64(us / 1e6)),
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
            "median_us = the longest of {} batch DELETEs over {REPS} repetitions (each commits \
             on its own); baseline = the median single DELETE, which holds its locks for the \
             whole purge",
            batches.len()
        ));
    if b == Backend::Sqlite {
        batch = batch.note("on SQLite every write statement locks the whole database");
    }
    env.emit(&batch);
    if !same {
        bail!("the batched purge and the single DELETE deleted different runs");
    }
    Ok(())
}

/// Every run id, in order.
async fn ids(db: &crate::env::Db) -> Result<Vec<i64>> {
    let pool = Pool::of(db)?;
    let sql = "SELECT id FROM operation_runs ORDER BY id";
    let ids: Vec<i64> = crate::on_pool!(&pool, p => sqlx::query_scalar(sql).fetch_all(p).await?);
    Ok(ids)
}

/// The ids of `before` missing from `after` (both sorted).
fn gone(before: &[i64], after: &[i64]) -> Vec<i64> {
    let mut after = after.iter().peekable();
    let mut out = Vec::new();
    for id in before {
        while after.next_if(|a| **a < *id).is_some() {}
        if after.next_if(|a| **a == *id).is_none() {
            out.push(*id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deleted_ids_are_those_gone() {
        assert_eq!(gone(&[1, 2, 3, 5, 8], &[2, 5]), vec![1, 3, 8]);
        assert_eq!(gone(&[1, 2], &[1, 2]), Vec::<i64>::new());
    }
}
