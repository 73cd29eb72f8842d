//! `backfill`: the cutover's reference backfill (step 3) on a large legacy database, against
//! the best hand-written `UPDATE … FROM` per table and against the legacy row-by-row
//! approach; then the whole cutover on the same data with the process's peak memory.
//!
//! The legacy schema and data come from the migration crate's `fixtures` module: no other
//! crate may name the legacy tables.

use crate::env::{Db, Env};
use crate::progress;
use crate::report::{Figure, Target, timed};
use anyhow::{Context, Result, bail};
use operation_runs_migration::fixtures::{
    canonical_references_set, row_by_row_backfill, run_hand_written_backfill, seed_legacy_at_scale,
};
use operation_runs_migration::{Migrator, MigratorTrait};
use serde_json::json;
use std::time::Duration;

/// Row-by-row is measured on at most this many rows (items + findings).
const ROW_BY_ROW_ROWS: u64 = 100_000;
/// The legacy product's chunk size.
const CHUNK: u64 = 1_000;

/// Applies the next `steps` migrations.
async fn migrate(db: &Db, steps: u32) -> Result<()> {
    Migrator::up(&db.conn, Some(steps))
        .await
        .context("applying migrations")
}

/// The canonical references as they stand: count and sum of each column, to check that two
/// backfills wrote the same values.
async fn references(db: &Db) -> Result<Vec<i64>> {
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
    Ok(out)
}

/// A legacy database at the pre-cutover baseline with `items` items and findings.
async fn seeded(env: &Env, label: &str, items: u64) -> Result<Db> {
    let db = env.create(label).await?;
    migrate(&db, 1).await?;
    let legacy_runs = (items / 10).max(1);
    progress!(
        "backfill: seeding {items} inventory items, {items} findings, {legacy_runs} legacy runs \
         ({label})"
    );
    let (seed, d) = timed(seed_legacy_at_scale(&db.conn, items, items, legacy_runs)).await;
    let seed = seed?;
    progress!(
        "backfill: seeded {} operation runs, {} items, {} findings in {:.1} s",
        seed.operation_runs,
        seed.inventory_items,
        seed.findings,
        d.as_secs_f64()
    );
    db.analyze().await?;
    Ok(db)
}

/// Resets the process's peak resident set size (Linux `clear_refs`), so the next reading is
/// the cutover's own peak.
fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `VmHWM`: the peak resident set size of this process, in KiB.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let rows = env.rows;

    // 1. Step 3 against the hand-written statements, on two copies of one legacy database.
    let source = seeded(env, "backfill", rows).await?;
    let (source, copies) = env
        .fork(source, &["backfill_ours", "backfill_hand"])
        .await?;
    let [ours_db, hand_db]: [Db; 2] = copies
        .try_into()
        .map_err(|_| anyhow::anyhow!("expected two copies"))?;
    for db in [&ours_db, &hand_db] {
        migrate(db, 2).await?;
    }
    env.settle().await?;
    progress!("backfill: step 3 through the Migrator");
    let (done, ours_time) = timed(migrate(&ours_db, 1)).await;
    done?;
    // Each side's database is gone before the other side runs, so the second does not share
    // the machine with what the first left behind.
    let ours_refs = references(&ours_db).await?;
    env.drop_db(ours_db).await?;
    env.settle().await?;
    progress!("backfill: hand-written UPDATE … FROM");
    let set_before = canonical_references_set(&hand_db.conn).await?;
    let (done, hand_time) = timed(run_hand_written_backfill(&hand_db.conn)).await;
    done?;
    let updated = canonical_references_set(&hand_db.conn)
        .await?
        .saturating_sub(set_before);
    let hand_refs = references(&hand_db).await?;
    env.drop_db(hand_db).await?;
    if ours_refs != hand_refs {
        bail!(
            "the migration and the hand-written backfill disagree: {ours_refs:?} vs {hand_refs:?}"
        );
    }
    env.emit(
        &Figure::new("backfill", b, rows, "step3_vs_hand_written")
            .once(ours_time, Some(hand_time))
            .target(Target::at_most(1.25, "ratio <= 1.25"))
            .extra("inventory_items", json!(rows))
            .extra("findings", json!(rows))
            .extra("legacy_runs", json!((rows / 10).max(1)))
            .extra("references_set", json!(updated))
            .note(
                "ours = migration m20260212_000003 through Migrator::up (batches of ids, one \
                 UPDATE per table and batch, each batch committing on its own on PostgreSQL and \
                 all in one transaction on SQLite, then the finding reference indexes, built \
                 concurrently on PostgreSQL, and there the finding foreign keys, added NOT VALID \
                 and validated); baseline = one UPDATE … FROM per table over the whole table \
                 (both finding references in one), then the same keys and indexes in one \
                 transaction; identical resulting references verified",
            ),
    );

    // 2. The whole cutover on the same data, with the peak memory of this process.
    env.settle().await?;
    progress!("backfill: the whole cutover (six migrations)");
    let reset = reset_peak_memory();
    let before = peak_memory_kib();
    let mut steps = Vec::new();
    let mut total = Duration::ZERO;
    for step in 1..=6 {
        let (done, d) = timed(migrate(&source, 1)).await;
        done.with_context(|| format!("cutover step {step}"))?;
        steps.push(format!("{step}: {:.0} ms", d.as_secs_f64() * 1e3));
        total += d;
    }
    let peak = peak_memory_kib();
    if references(&source).await? != ours_refs {
        bail!("the cutover's references differ from step 3's");
    }
    let mut cutover = Figure::new("backfill", b, rows, "whole_cutover")
        .once(total, None)
        .extra("peak_memory_kib", json!(peak))
        .note(format!("per step {}", steps.join(", ")));
    cutover = if reset {
        cutover.note("peak memory = VmHWM of the bench process, reset just before the cutover")
    } else {
        cutover.note(format!(
            "peak memory = VmHWM of the bench process since it started (could not reset; \
             {before:?} KiB before the cutover)"
        ))
    };
    if b == crate::env::Backend::Postgres {
        cutover = cutover.note("the migrations run in the PostgreSQL server; this is the client");
    }
    env.emit(&cutover);
    env.drop_db(source).await?;

    // 3. Row-by-row, on a smaller database of the same shape.
    let rb_rows = rows.min(ROW_BY_ROW_ROWS);
    let items = (rb_rows / 2).max(1);
    let small = seeded(env, "backfill_rb", items).await?;
    migrate(&small, 2).await?;
    let (small, copies) = env.fork(small, &["backfill_rb_copy"]).await?;
    let Some(rb_db) = copies.into_iter().next() else {
        bail!("no copy for row-by-row");
    };
    env.settle().await?;
    progress!("backfill: step 3 on {} rows", items * 2);
    let (done, ours_small) = timed(migrate(&small, 1)).await;
    done?;
    let small_refs = references(&small).await?;
    env.drop_db(small).await?;
    env.settle().await?;
    progress!(
        "backfill: row by row on {} rows (chunks of {CHUNK})",
        items * 2
    );
    let (rb_updated, rb_time) = timed(row_by_row_backfill(&rb_db.conn, CHUNK)).await;
    let rb_updated = rb_updated?;
    let rb_refs = references(&rb_db).await?;
    env.drop_db(rb_db).await?;
    if small_refs != rb_refs {
        bail!("the migration and the row-by-row backfill disagree");
    }
    let speedup = rb_time.as_secs_f64() / ours_small.as_secs_f64().max(f64::MIN_POSITIVE);
    env.emit(
        &Figure::new("backfill", b, rows, "step3_vs_row_by_row")
            .once(ours_small, Some(rb_time))
            .target(Target::at_most(0.02, "ratio <= 0.02 (at least 50x faster)"))
            .extra("measured_rows", json!(items * 2))
            .extra("references_set", json!(rb_updated))
            .extra("speedup", json!((speedup * 10.0).round() / 10.0))
            .note(format!(
                "{items} items + {items} findings; baseline = select {CHUNK} ids at a time, one \
                 look-up and one UPDATE per row (autocommit); ours = step 3 through the \
                 Migrator; identical references verified"
            )),
    );
    Ok(())
}
