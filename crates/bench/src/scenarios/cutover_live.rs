//! `cutover_live` (PostgreSQL): the whole cutover while the application keeps writing. Writers
//! start, begin, progress and complete runs and insert findings and inventory items before and
//! during `up_checked` (what `oprun migrate up` runs); the same load runs before and during the
//! hand-written single-transaction cutover on an identical copy. Reported: each writer
//! operation's latency during the cutover against before it, the longest operation of any
//! writer during it, and the two cutovers' durations.

use super::service;
use crate::env::{Backend, Db, Env};
use crate::progress;
use crate::report::{Figure, Samples, Target, timed};
use anyhow::{Context, Result, bail};
use operation_runs_domain::{RunOutcome, TenantId, WorkspaceId};
use operation_runs_migration::fixtures::{run_hand_written_cutover, seed_legacy_at_scale};
use operation_runs_migration::{DataLoss, Migrator, MigratorTrait, up_checked};
use operation_runs_service::StartRequest;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Concurrent writers.
const WRITERS: usize = 4;
/// Pause of each writer between two iterations: a steady load, not a saturating one.
const THINK: Duration = Duration::from_millis(20);
/// Writing before the measured window starts.
const WARM_UP: Duration = Duration::from_secs(2);
/// The window "before the cutover".
const BEFORE: Duration = Duration::from_secs(5);

/// A writer's operations, in the order of one iteration.
const OPS: [&str; 6] = [
    "start",
    "begin",
    "progress",
    "complete",
    "insert_finding",
    "insert_item",
];

/// One writer operation: which, when it started and how long it took.
type Op = (usize, Instant, Duration);

/// The canonical references (count and sum per column) and the run types left to
/// canonicalize: equal on both sides after their cutovers.
async fn outcome(db: &Db) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for (table, column) in [
        ("findings", "baseline_operation_run_id"),
        ("findings", "current_operation_run_id"),
        ("inventory_items", "last_seen_operation_run_id"),
    ] {
        out.push(
            db.scalar(&format!("SELECT COUNT({column}) FROM {table}"))
                .await?,
        );
        out.push(
            db.scalar(&format!(
                "SELECT CAST(COALESCE(SUM({column}), 0) AS BIGINT) FROM {table}"
            ))
            .await?,
        );
    }
    out.push(
        db.scalar("SELECT COUNT(*) FROM operation_runs WHERE type LIKE '%.%'")
            .await?,
    );
    out.push(
        db.scalar(
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'operation_runs_active_identity_key'",
        )
        .await?,
    );
    Ok(out)
}

/// One writer: iterations of [`OPS`] until `stop`, each operation timed.
async fn writer(
    app: Arc<Db>,
    n: usize,
    workspace: WorkspaceId,
    tenant: TenantId,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Op>> {
    let store = app.store();
    let service = service(&store);
    let pool = app.pg()?.clone();
    let mut ops = Vec::new();
    let mut i = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        let mut timed_op = |op: usize, began: Instant| ops.push((op, began, began.elapsed()));
        let began = Instant::now();
        let run = service
            .start(
                StartRequest::new(workspace, "inventory_sync", "bench-writer")
                    .tenant(tenant)
                    .identity(json!({"writer": n, "i": i})),
            )
            .await?
            .into_run()
            .id();
        timed_op(0, began);
        let began = Instant::now();
        service.begin(run).await?;
        timed_op(1, began);
        let began = Instant::now();
        service.record_progress(run, &[("processed", 1)]).await?;
        timed_op(2, began);
        let began = Instant::now();
        service
            .complete(run, RunOutcome::Succeeded, Default::default())
            .await?;
        timed_op(3, began);
        let began = Instant::now();
        sqlx::query(
            "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change) \
             VALUES ($1, $2, $3, 'added')",
        )
        .bind(workspace.get())
        .bind(tenant.get())
        .bind(format!("live-{n}-{i}"))
        .execute(&pool)
        .await?;
        timed_op(4, began);
        let began = Instant::now();
        sqlx::query(
            "INSERT INTO inventory_items (workspace_id, tenant_id, external_id, kind, \
             display_name) VALUES ($1, $2, $3, 'device', $3)",
        )
        .bind(workspace.get())
        .bind(tenant.get())
        .bind(format!("live-{n}-{i}"))
        .execute(&pool)
        .await?;
        timed_op(5, began);
        i += 1;
        tokio::time::sleep(THINK).await;
    }
    Ok(ops)
}

/// What one side measured.
struct Side {
    cutover: Duration,
    /// Per operation: latencies of the operations wholly before the cutover, and of those
    /// overlapping it.
    before: Vec<Samples>,
    during: Vec<Samples>,
    /// The longest operation overlapping the cutover, and which.
    longest: (Duration, &'static str),
    outcome: Vec<i64>,
}

/// Writers on their own pool for [`WARM_UP`] and [`BEFORE`], then `cutover` on `db`'s pool
/// while they keep writing.
async fn measure<F, Fut>(env: &Env, db: &Db, cutover: F) -> Result<Side>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let app = Arc::new(env.reopen(db).await?);
    app.warm().await?;
    db.warm().await?;
    let workspace = WorkspaceId::new(db.scalar("SELECT MIN(id) FROM workspaces").await?);
    let tenant = TenantId::new(db.scalar("SELECT MIN(id) FROM tenants").await?);
    env.settle().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            tokio::spawn(writer(
                Arc::clone(&app),
                n,
                workspace,
                tenant,
                Arc::clone(&stop),
            ))
        })
        .collect();
    tokio::time::sleep(WARM_UP).await;
    let window = Instant::now();
    tokio::time::sleep(BEFORE).await;
    let began = Instant::now();
    let (done, took) = timed(cutover()).await;
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let mut ops = Vec::new();
    for w in writers {
        ops.extend(w.await.context("a writer panicked")??);
    }
    done?;
    app.conn.clone().close().await.ok();
    let (mut before, mut during) = (vec![Samples::default(); 6], vec![Samples::default(); 6]);
    let mut longest = (Duration::ZERO, OPS[0]);
    for (op, start, d) in ops {
        let end = start + d;
        if start >= window && end <= began {
            before[op].push(d);
        } else if end > began && start < ended {
            during[op].push(d);
            if d > longest.0 {
                longest = (d, OPS[op]);
            }
        }
    }
    Ok(Side {
        cutover: took,
        before,
        during,
        longest,
        outcome: outcome(db).await?,
    })
}

fn ms(us: f64) -> f64 {
    (us / 100.0).round() / 10.0
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let rows = env.rows;
    match b {
        Backend::Postgres => {}
        Backend::Sqlite => {
            progress!("cutover_live: PostgreSQL only (SQLite runs the cutover as one transaction)");
            return Ok(());
        }
        // The figure compares the live cutover with the whole cutover as one transaction, and
        // MariaDB commits every DDL statement implicitly: that baseline cannot exist there
        // (the fixtures' hand-written cutover is PostgreSQL's only).
        Backend::Mariadb => {
            progress!(
                "cutover_live: PostgreSQL only (MariaDB commits each DDL statement, so there is \
                 no single-transaction cutover to measure the live one against)"
            );
            return Ok(());
        }
    }
    let source = env.create("live").await?;
    Migrator::up(&source.conn, Some(1))
        .await
        .context("applying the baseline")?;
    let legacy_runs = (rows / 10).max(1);
    progress!(
        "cutover_live: seeding {rows} inventory items, {rows} findings, {legacy_runs} legacy runs"
    );
    seed_legacy_at_scale(&source.conn, rows, rows, legacy_runs).await?;
    source.analyze().await?;
    let (source, copies) = env
        .fork(
            source,
            &["live_ours", "live_hand", "idle_ours", "idle_hand"],
        )
        .await?;
    env.drop_db(source).await?;
    let [ours_db, hand_db, idle_ours_db, idle_hand_db]: [Db; 4] = copies
        .try_into()
        .map_err(|_| anyhow::anyhow!("expected four copies"))?;

    progress!("cutover_live: {WRITERS} writers, then up_checked (migrate up) while they write");
    let allowed = BTreeSet::new();
    let ours = measure(env, &ours_db, || async {
        up_checked(&ours_db.conn, None, &allowed, DataLoss::Accept)
            .await
            .context("the live cutover")?;
        Ok(())
    })
    .await?;
    env.drop_db(ours_db).await?;
    progress!("cutover_live: {WRITERS} writers, then the single-transaction cutover");
    let hand = measure(env, &hand_db, || async {
        run_hand_written_cutover(&hand_db.conn)
            .await
            .context("the single-transaction cutover")?;
        Ok(())
    })
    .await?;
    env.drop_db(hand_db).await?;
    // The same two cutovers with no writer: what the live machinery itself costs, apart from
    // sharing the server with the writers it lets through.
    progress!("cutover_live: both cutovers again, without writers");
    let idle_ours = idle(env, &idle_ours_db, || async {
        up_checked(&idle_ours_db.conn, None, &allowed, DataLoss::Accept)
            .await
            .context("the live cutover without writers")?;
        Ok(())
    })
    .await?;
    env.drop_db(idle_ours_db).await?;
    let idle_hand = idle(env, &idle_hand_db, || async {
        run_hand_written_cutover(&idle_hand_db.conn)
            .await
            .context("the single-transaction cutover without writers")?;
        Ok(())
    })
    .await?;
    env.drop_db(idle_hand_db).await?;
    // Compared pairwise: the writers' first run takes the id after the seeded ones, which one
    // seeded bridge names, so the copies with writers map more references.
    if ours.outcome != hand.outcome || idle_ours.1 != idle_hand.1 {
        bail!(
            "the cutovers disagree: live {:?}, single transaction {:?}, idle live {:?}, idle \
             single transaction {:?}",
            ours.outcome,
            hand.outcome,
            idle_ours.1,
            idle_hand.1
        );
    }

    for (op, name) in OPS.iter().enumerate() {
        let (before, during) = (&ours.before[op], &ours.during[op]);
        let (p99_before, p99_during) = (before.percentile(99.0), during.percentile(99.0));
        let hand_during = &hand.during[op];
        env.emit(
            &Figure::new("cutover_live", b, rows, &format!("writer_{name}"))
                .compare(during, before)
                .target(Target::condition(
                    "p99 during the cutover <= 5x p99 before it",
                ))
                .require(during.len() > 0 && p99_during <= 5.0 * p99_before)
                .extra("p99_us", json!((p99_during * 10.0).round() / 10.0))
                .extra("max_us", json!((during.max() * 10.0).round() / 10.0))
                .extra("before_p99_us", json!((p99_before * 10.0).round() / 10.0))
                .extra("before_max_us", json!((before.max() * 10.0).round() / 10.0))
                .extra("before_samples", json!(before.len()))
                .extra("during_samples", json!(during.len()))
                .extra(
                    "single_transaction_max_us",
                    json!((hand_during.max() * 10.0).round() / 10.0),
                )
                .note(format!(
                    "median_us/p95_us/p99_us/max_us = during the live cutover, baseline = the \
                     same operation in the {} s before it; single_transaction_max_us = the \
                     longest such operation during the single-transaction cutover",
                    BEFORE.as_secs()
                )),
        );
    }
    let longest_us = ours.longest.0.as_secs_f64() * 1e6;
    env.emit(
        &Figure::new("cutover_live", b, rows, "longest_writer_block")
            .once(ours.longest.0, Some(hand.longest.0))
            .target(Target::condition("no writer operation longer than 1 s"))
            .require(longest_us <= 1e6)
            .extra("operation", json!(ours.longest.1))
            .extra("single_transaction_operation", json!(hand.longest.1))
            .note(format!(
                "the longest writer operation overlapping the live cutover ({} ms, {}) against \
                 the same during the single-transaction cutover ({} ms, {})",
                ms(longest_us),
                ours.longest.1,
                ms(hand.longest.0.as_secs_f64() * 1e6),
                hand.longest.1
            )),
    );
    env.emit(
        &Figure::new("cutover_live", b, rows, "cutover_vs_single_transaction")
            .once(ours.cutover, Some(hand.cutover))
            .target(Target::at_most(1.5, "ratio <= 1.5"))
            .extra("writers", json!(WRITERS))
            .extra("think_ms", json!(THINK.as_millis()))
            .extra("inventory_items", json!(rows))
            .extra("findings", json!(rows))
            .extra("legacy_runs", json!(legacy_runs))
            .note(
                "ours = up_checked (preflight, then every pending migration, as oprun migrate up \
                 --accept-data-loss); baseline = fixtures::run_hand_written_cutover, steps 1-6 \
                 as plain statements in one transaction; both on identical copies with the same \
                 writers running; identical references verified",
            ),
    );
    env.emit(
        &Figure::new(
            "cutover_live",
            b,
            rows,
            "idle_cutover_vs_single_transaction",
        )
        .once(idle_ours.0, Some(idle_hand.0))
        .note(
            "the same two cutovers on two more identical copies with no writer running, \
                 settled and warmed the same way",
        ),
    );
    Ok(())
}

/// The duration of `cutover` on `db` with no writer, settled and warmed as [`measure`] does.
async fn idle<F, Fut>(env: &Env, db: &Db, cutover: F) -> Result<(Duration, Vec<i64>)>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    db.warm().await?;
    env.settle().await?;
    let (done, took) = timed(cutover()).await;
    done?;
    Ok((took, outcome(db).await?))
}
