//! `cutover_live` (PostgreSQL, MariaDB): the whole cutover while the application keeps writing.
//! Writers start, begin, progress and complete runs and insert findings and inventory items
//! before and during `up_checked` (what `oprun migrate up` runs). On PostgreSQL the same load
//! runs before and during the hand-written single-transaction cutover on an identical copy;
//! MariaDB commits every DDL statement, so that baseline cannot exist there and its figures are
//! the live half alone. Reported: each writer operation's latency during the cutover against
//! before it, the longest operation of any writer during it, and the cutovers' durations.

use super::{inventory_sync, service};
use crate::env::{Backend, Db, Env};
use crate::raw::Pool;
use crate::report::{Figure, Samples, Target, timed};
use crate::{on_pool, progress};
use anyhow::{Context, Result, bail};
use operation_runs_domain::{RunOutcome, TenantId, WorkspaceId};
use operation_runs_migration::fixtures::{run_hand_written_cutover, seed_legacy_at_scale};
use operation_runs_migration::{DataLoss, Migrator, MigratorTrait, up_checked};
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
    let bigint = match db.backend {
        Backend::Mariadb => "SIGNED",
        Backend::Postgres | Backend::Sqlite => "BIGINT",
    };
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
                "SELECT CAST(COALESCE(SUM({column}), 0) AS {bigint}) FROM {table}"
            ))
            .await?,
        );
    }
    out.push(
        db.scalar("SELECT COUNT(*) FROM operation_runs WHERE type LIKE '%.%'")
            .await?,
    );
    out.push(
        db.scalar(match db.backend {
            Backend::Mariadb => {
                "SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() \
                 AND index_name = 'operation_runs_active_identity_key'"
            }
            Backend::Postgres | Backend::Sqlite => {
                "SELECT COUNT(*) FROM pg_indexes \
                 WHERE indexname = 'operation_runs_active_identity_key'"
            }
        })
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
    let pool = Pool::of(&app)?;
    // `change` is a reserved word on MariaDB.
    let change = match app.backend {
        Backend::Mariadb => "`change`",
        Backend::Postgres | Backend::Sqlite => "change",
    };
    let insert_finding = app.backend.sql(&format!(
        "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, {change}) \
         VALUES ($1, $2, $3, 'added')"
    ))?;
    let insert_item = app.backend.sql(
        "INSERT INTO inventory_items (workspace_id, tenant_id, external_id, kind, display_name) \
         VALUES ($1, $2, $3, 'device', $4)",
    )?;
    let mut ops = Vec::new();
    let mut i = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        let mut timed_op = |op: usize, began: Instant| ops.push((op, began, began.elapsed()));
        let identity = json!({"writer": n, "i": i});
        let request = inventory_sync(workspace, tenant, "bench-writer", identity);
        let began = Instant::now();
        let run = service.start(request).await?.into_run().id();
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
        let external = format!("live-{n}-{i}");
        on_pool!(&pool, p => sqlx::query(sqlx::AssertSqlSafe(insert_finding.as_str()))
            .bind(workspace.get())
            .bind(tenant.get())
            .bind(&external)
            .execute(p)
            .await
            .map(|_| ()))?;
        timed_op(4, began);
        let began = Instant::now();
        on_pool!(&pool, p => sqlx::query(sqlx::AssertSqlSafe(insert_item.as_str()))
            .bind(workspace.get())
            .bind(tenant.get())
            .bind(&external)
            .bind(&external)
            .execute(p)
            .await
            .map(|_| ()))?;
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

async fn live_cutover(db: &Db) -> Result<()> {
    up_checked(&db.conn, None, &BTreeSet::new(), DataLoss::Accept)
        .await
        .context("the live cutover")?;
    Ok(())
}

async fn single_transaction_cutover(db: &Db) -> Result<()> {
    run_hand_written_cutover(&db.conn)
        .await
        .context("the single-transaction cutover")?;
    Ok(())
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let rows = env.rows;
    let single_transaction = match b {
        Backend::Postgres => true,
        // MariaDB commits every DDL statement implicitly: the single-transaction baseline
        // cannot exist there (the fixtures' hand-written cutover is PostgreSQL's only).
        Backend::Mariadb => false,
        Backend::Sqlite => {
            progress!("cutover_live: not on SQLite (it runs the cutover as one transaction)");
            return Ok(());
        }
    };
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
    let labels: &[&str] = if single_transaction {
        &["live_ours", "idle_ours", "live_hand", "idle_hand"]
    } else {
        &["live_ours", "idle_ours"]
    };
    let (source, copies) = env.fork(source, labels).await?;
    env.drop_db(source).await?;
    let mut copies = copies.into_iter();
    let (Some(ours_db), Some(idle_ours_db)) = (copies.next(), copies.next()) else {
        bail!("expected a copy per label");
    };
    let hand_dbs = copies.next().zip(copies.next());

    progress!("cutover_live: {WRITERS} writers, then up_checked (migrate up) while they write");
    let ours = measure(env, &ours_db, || live_cutover(&ours_db)).await?;
    env.drop_db(ours_db).await?;
    let hand = match &hand_dbs {
        Some((live, _)) => {
            progress!("cutover_live: {WRITERS} writers, then the single-transaction cutover");
            Some(measure(env, live, || single_transaction_cutover(live)).await?)
        }
        None => None,
    };
    // The cutovers again with no writer: what the live machinery itself costs, apart from
    // sharing the server with the writers it lets through.
    progress!("cutover_live: the cutover(s) again, without writers");
    let idle_ours = idle(env, &idle_ours_db, || live_cutover(&idle_ours_db)).await?;
    env.drop_db(idle_ours_db).await?;
    let idle_hand = match &hand_dbs {
        Some((_, idle_db)) => {
            Some(idle(env, idle_db, || single_transaction_cutover(idle_db)).await?)
        }
        None => None,
    };
    if let Some((live, idle_db)) = hand_dbs {
        env.drop_db(live).await?;
        env.drop_db(idle_db).await?;
    }
    check_outcomes(&ours, hand.as_ref(), &idle_ours, idle_hand.as_ref())?;
    emit(
        env,
        rows,
        legacy_runs,
        &ours,
        hand.as_ref(),
        &idle_ours,
        idle_hand.as_ref(),
    );
    Ok(())
}

/// Both cutovers left the same references, pairwise (the writers' first run takes the id after
/// the seeded ones, which one seeded bridge names, so the copies with writers map more); with
/// no single-transaction side, the live cutover finished: no dotted type left, the active
/// identity key in place.
fn check_outcomes(
    ours: &Side,
    hand: Option<&Side>,
    idle_ours: &(Duration, Vec<i64>),
    idle_hand: Option<&(Duration, Vec<i64>)>,
) -> Result<()> {
    match (hand, idle_hand) {
        (Some(hand), Some(idle_hand)) => {
            if ours.outcome != hand.outcome || idle_ours.1 != idle_hand.1 {
                bail!(
                    "the cutovers disagree: live {:?}, single transaction {:?}, idle live {:?}, \
                     idle single transaction {:?}",
                    ours.outcome,
                    hand.outcome,
                    idle_ours.1,
                    idle_hand.1
                );
            }
        }
        _ => {
            for outcome in [&ours.outcome, &idle_ours.1] {
                if !matches!(outcome.as_slice(), [.., 0, 1]) {
                    bail!("the live cutover did not finish: {outcome:?}");
                }
            }
        }
    }
    Ok(())
}

fn emit(
    env: &Env,
    rows: u64,
    legacy_runs: u64,
    ours: &Side,
    hand: Option<&Side>,
    idle_ours: &(Duration, Vec<i64>),
    idle_hand: Option<&(Duration, Vec<i64>)>,
) {
    let b = env.backend;
    for (op, name) in OPS.iter().enumerate() {
        let (before, during) = (&ours.before[op], &ours.during[op]);
        let (p99_before, p99_during) = (before.percentile(99.0), during.percentile(99.0));
        let mut figure = Figure::new("cutover_live", b, rows, &format!("writer_{name}"))
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
            .extra("during_samples", json!(during.len()));
        let mut note = format!(
            "median_us/p95_us/p99_us/max_us = during the live cutover, baseline = the same \
             operation in the {} s before it",
            BEFORE.as_secs()
        );
        if let Some(hand) = hand {
            figure = figure.extra(
                "single_transaction_max_us",
                json!((hand.during[op].max() * 10.0).round() / 10.0),
            );
            note.push_str(
                "; single_transaction_max_us = the longest such operation during the \
                 single-transaction cutover",
            );
        }
        env.emit(&figure.note(note));
    }
    let longest_us = ours.longest.0.as_secs_f64() * 1e6;
    let mut longest = Figure::new("cutover_live", b, rows, "longest_writer_block")
        .once(ours.longest.0, hand.map(|h| h.longest.0))
        .target(Target::condition("no writer operation longer than 1 s"))
        .require(longest_us <= 1e6)
        .extra("operation", json!(ours.longest.1));
    let mut note = format!(
        "the longest writer operation overlapping the live cutover ({} ms, {})",
        ms(longest_us),
        ours.longest.1
    );
    if let Some(hand) = hand {
        longest = longest.extra("single_transaction_operation", json!(hand.longest.1));
        note.push_str(&format!(
            " against the same during the single-transaction cutover ({} ms, {})",
            ms(hand.longest.0.as_secs_f64() * 1e6),
            hand.longest.1
        ));
    }
    env.emit(&longest.note(note));
    if let Some(hand) = hand {
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
                    "ours = up_checked (preflight, then every pending migration, as oprun \
                     migrate up --accept-data-loss); baseline = \
                     fixtures::run_hand_written_cutover, steps 1-6 as plain statements in one \
                     transaction; both on identical copies with the same writers running; \
                     identical references verified",
                ),
        );
    }
    env.emit(
        &Figure::new(
            "cutover_live",
            b,
            rows,
            "idle_cutover_vs_single_transaction",
        )
        .once(idle_ours.0, idle_hand.map(|h| h.0))
        .note(if idle_hand.is_some() {
            "the same two cutovers on two more identical copies with no writer running, \
             settled and warmed the same way"
        } else {
            "the live cutover on another identical copy with no writer running, settled and \
             warmed the same way (no single-transaction cutover on this backend)"
        }),
    );
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
