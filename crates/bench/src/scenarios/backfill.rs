//! `backfill`: the cutover's reference backfill (step 3) on a large legacy database, against
//! the best hand-written `UPDATE … FROM` per table and against the legacy row-by-row
//! approach; then the whole cutover on the same data with the process's peak memory.
//!
//! The legacy schema and data come from the migration crate's `fixtures` module: no other
//! crate may name the legacy tables.

use super::{Fingerprint, REPS, product_first};
use crate::env::{Backend, Db, Env};
use crate::progress;
use crate::raw::Pool;
use crate::report::{Figure, Target, timed};
use anyhow::{Context, Result, bail};
use operation_runs_migration::fixtures::{
    add_reference_keys_and_indexes, row_by_row_backfill, run_hand_written_backfill,
    seed_legacy_at_scale,
};
use operation_runs_migration::{Migrator, MigratorTrait};
use serde_json::json;
use std::time::Duration;

/// The legacy product's chunk size.
const CHUNK: u64 = 1_000;

/// Applies the next `steps` migrations.
async fn migrate(db: &Db, steps: u32) -> Result<()> {
    Migrator::up(&db.conn, Some(steps))
        .await
        .context("applying migrations")
}

/// The whole result of a backfill: a fingerprint over every (id, reference) pair of both
/// tables, in id order, and the number of references set.
async fn references(db: &Db) -> Result<(String, u64)> {
    let pool = Pool::of(db)?;
    let findings = "SELECT id, baseline_operation_run_id, current_operation_run_id \
                    FROM findings ORDER BY id";
    let items = "SELECT id, last_seen_operation_run_id, NULL FROM inventory_items ORDER BY id";
    let mut print = Fingerprint::default();
    let mut set = 0;
    for sql in [findings, items] {
        let rows: Vec<(i64, Option<i64>, Option<i64>)> =
            crate::on_pool!(&pool, p => sqlx::query_as(sql).fetch_all(p).await?);
        for (id, a, b) in rows {
            print.add(Some(id));
            print.add(a);
            print.add(b);
            set += u64::from(a.is_some()) + u64::from(b.is_some());
        }
    }
    Ok((print.hex(), set))
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

/// The product's side and the baseline's of one comparison.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Step3,
    HandWritten,
    RowByRow,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Self::Step3 => "step 3",
            Self::HandWritten => "hand-written",
            Self::RowByRow => "row by row",
        }
    }

    async fn run(self, db: &Db) -> Result<()> {
        match self {
            Self::Step3 => migrate(db, 1).await,
            Self::HandWritten => Ok(run_hand_written_backfill(&db.conn).await?),
            Self::RowByRow => {
                row_by_row_backfill(&db.conn, CHUNK).await?;
                Ok(add_reference_keys_and_indexes(&db.conn).await?)
            }
        }
    }
}

/// One repetition: `source` (at step 2) copied twice, both copies settled the same way
/// (`VACUUM ANALYZE` or a WAL checkpoint, then a checkpoint or `fsync`), then each side timed
/// on its copy, `ours` first when `ours_first`; each copy is dropped before the other side
/// runs. The durations and the two results.
async fn one_rep(
    env: &Env,
    source: Db,
    (ours, base): (Side, Side),
    ours_first: bool,
    label: &str,
) -> Result<(Db, [Duration; 2], [(String, u64); 2])> {
    let (source, copies) = env
        .fork(source, &[&format!("{label}_a"), &format!("{label}_b")])
        .await?;
    let mut copies = copies.into_iter();
    let (Some(a), Some(b)) = (copies.next(), copies.next()) else {
        bail!("expected two copies");
    };
    for db in [&a, &b] {
        env.vacuum(db).await?;
    }
    let order = if ours_first {
        [(ours, a, 0), (base, b, 1)]
    } else {
        [(base, a, 1), (ours, b, 0)]
    };
    let mut times = [Duration::ZERO; 2];
    let mut results = [(String::new(), 0), (String::new(), 0)];
    for (side, db, slot) in order {
        env.settle().await?;
        progress!("backfill: {} ({label})", side.name());
        let (done, took) = timed(side.run(&db)).await;
        done.with_context(|| side.name())?;
        times[slot] = took;
        results[slot] = references(&db).await?;
        env.drop_db(db).await?;
    }
    Ok((source, times, results))
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let rows = env.rows;

    // 1. Step 3 against the hand-written statements, REPS times each on identical copies of
    //    one legacy database at step 2, alternating which side goes first.
    let source = seeded(env, "backfill", rows).await?;
    let (source, cutover) = env.fork(source, &["backfill_cutover"]).await?;
    migrate(&source, 2).await?;
    let mut source = source;
    let (mut ours, mut hand) = (Vec::new(), Vec::new());
    let mut prints = Vec::new();
    let mut first = Vec::new();
    for rep in 0..REPS {
        let ours_first = product_first(rep);
        let (next, times, results) = one_rep(
            env,
            source,
            (Side::Step3, Side::HandWritten),
            ours_first,
            &format!("backfill_{rep}"),
        )
        .await?;
        source = next;
        ours.push(times[0]);
        hand.push(times[1]);
        prints.extend(results);
        first.push(if ours_first { "ours" } else { "baseline" });
    }
    env.drop_db(source).await?;
    let same = prints.windows(2).all(|w| w[0] == w[1]);
    let (print, set) = prints.first().cloned().unwrap_or_default();
    let step3 = crate::report::Samples::from_durations(&ours).median();
    let mut figure = Figure::new("backfill", b, rows, "step3_vs_hand_written");
    if b == Backend::Mariadb {
        figure = figure.note(
            "on MariaDB both sides' UPDATEs are multi-table UPDATE … JOIN, the baseline's over \
             whole tables; every DDL statement (indexes, foreign keys added in place) commits \
             on its own there, so neither side's keys and indexes are in its transaction",
        );
    }
    env.emit(
        &figure
            .repeated(&ours, &hand)
            .same(same)
            .target(Target::at_most(1.25, "ratio <= 1.25"))
            .extra("inventory_items", json!(rows))
            .extra("findings", json!(rows))
            .extra("legacy_runs", json!((rows / 10).max(1)))
            .extra("references_set", json!(set))
            .extra("references_fingerprint", json!(print))
            .extra("first", json!(first))
            .note(
                "ours = migration m20260212_000003 through Migrator::up (batches of ids, one \
                 UPDATE per table and batch, each batch committing on its own on PostgreSQL and \
                 all in one transaction on SQLite, then the finding reference indexes, built \
                 concurrently on PostgreSQL, and there the finding foreign keys, added NOT VALID \
                 and validated); baseline = one UPDATE … FROM per table over the whole table \
                 (both finding references in one), then the same keys and indexes in one \
                 transaction; each side on its own copy, both settled alike, sides alternating \
                 first; a fingerprint of every (id, reference) pair compared",
            ),
    );
    if !same {
        bail!("step 3 and the hand-written backfill disagree: {prints:?}");
    }

    // 2. The whole cutover on another copy of the same data, with the peak memory of this
    //    process.
    let Some(cutover) = cutover.into_iter().next() else {
        bail!("no copy for the whole cutover");
    };
    env.vacuum(&cutover).await?;
    env.settle().await?;
    progress!("backfill: the whole cutover (six migrations)");
    let reset = reset_peak_memory();
    let before = peak_memory_kib();
    let mut steps = Vec::new();
    let mut total = Duration::ZERO;
    for step in 1..=6 {
        let (done, d) = timed(migrate(&cutover, 1)).await;
        done.with_context(|| format!("cutover step {step}"))?;
        steps.push(format!("{step}: {:.0} ms", d.as_secs_f64() * 1e3));
        total += d;
    }
    let peak = peak_memory_kib();
    let cutover_refs = references(&cutover).await?.0;
    env.drop_db(cutover).await?;
    let mut figure = Figure::new("backfill", b, rows, "whole_cutover")
        .once(total, None)
        .same(cutover_refs == print)
        .extra("peak_memory_kib", json!(peak))
        .note(format!("per step {}", steps.join(", ")));
    figure = if reset {
        figure.note("peak memory = VmHWM of the bench process, reset just before the cutover")
    } else {
        figure.note(format!(
            "peak memory = VmHWM of the bench process since it started (could not reset; \
             {before:?} KiB before the cutover)"
        ))
    };
    if b != Backend::Sqlite {
        figure = figure.note(format!(
            "the migrations run in the {} server; this is the client",
            b.label()
        ));
    }
    env.emit(&figure);
    if cutover_refs != print {
        bail!("the whole cutover's references differ from step 3's");
    }

    // 3. Row by row at three smaller sizes (each against step 3 on an identical copy, the
    //    order alternating), fitted to a line and extrapolated to the full size.
    row_by_row(env, step3).await
}

/// Items (and findings) of the three row-by-row databases: 1, 2 and 4 two-hundredths of the
/// full size (at least 100 each); row by row costs milliseconds per row on PostgreSQL.
fn row_by_row_sizes(rows: u64) -> [u64; 3] {
    let unit = (rows / 200).max(100);
    [unit, unit * 2, unit * 4]
}

/// Least squares `y = a + b x`: (a, b, r²).
fn fit(points: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let syy: f64 = points.iter().map(|(_, y)| (y - my).powi(2)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let a = my - b * mx;
    let r2 = if sxx > 0.0 && syy > 0.0 {
        sxy * sxy / (sxx * syy)
    } else {
        1.0
    };
    (a, b, r2)
}

async fn row_by_row(env: &Env, step3_full_us: f64) -> Result<()> {
    let (b, rows) = (env.backend, env.rows);
    let mut measured = Vec::new();
    let mut same = true;
    for (i, items) in row_by_row_sizes(rows).into_iter().enumerate() {
        let small = seeded(env, &format!("backfill_rb{i}"), items).await?;
        migrate(&small, 2).await?;
        let (small, [ours, rb], results) = one_rep(
            env,
            small,
            (Side::Step3, Side::RowByRow),
            product_first(i),
            &format!("backfill_rb{i}"),
        )
        .await?;
        env.drop_db(small).await?;
        same &= results[0] == results[1];
        measured.push((items * 2, ours, rb));
    }
    let points: Vec<(f64, f64)> = measured
        .iter()
        .map(|(n, _, rb)| (*n as f64, rb.as_secs_f64() * 1e6))
        .collect();
    let (mut a, mut slope, mut r2) = fit(&points);
    let mut through_origin = false;
    if slope <= 0.0 {
        // The shared disk's latency moved more between the sizes than the sizes moved the
        // time: fall back to a line through the origin (row by row has no fixed cost to speak
        // of), and say so.
        through_origin = true;
        let (sxy, sxx) = points
            .iter()
            .fold((0.0, 0.0), |(sxy, sxx), (x, y)| (sxy + x * y, sxx + x * x));
        (a, slope, r2) = (0.0, sxy / sxx.max(f64::MIN_POSITIVE), 0.0);
    }
    let full = rows * 2;
    let extrapolated_us = a + slope * full as f64;
    let speedup = extrapolated_us / step3_full_us.max(f64::MIN_POSITIVE);
    let us = |d: &Duration| (d.as_secs_f64() * 1e7).round() / 10.0;
    env.emit(
        &Figure::new("backfill", b, rows, "step3_vs_row_by_row")
            .once(
                Duration::from_secs_f64(step3_full_us / 1e6),
                Some(Duration::from_secs_f64(extrapolated_us.max(0.0) / 1e6)),
            )
            .same(same)
            .target(Target::at_most(0.02, "ratio <= 0.02 (at least 50x faster)"))
            .extra("full_rows", json!(full))
            .extra(
                "sizes",
                json!(measured.iter().map(|m| m.0).collect::<Vec<_>>()),
            )
            .extra(
                "step3_us",
                json!(measured.iter().map(|m| us(&m.1)).collect::<Vec<_>>()),
            )
            .extra(
                "row_by_row_us",
                json!(measured.iter().map(|m| us(&m.2)).collect::<Vec<_>>()),
            )
            .extra("fit_intercept_us", json!((a * 10.0).round() / 10.0))
            .extra("fit_per_row_us", json!((slope * 1000.0).round() / 1000.0))
            .extra("fit_r2", json!((r2 * 1e4).round() / 1e4))
            .extra("fit_through_origin", json!(through_origin))
            .extra("speedup", json!((speedup * 10.0).round() / 10.0))
            .note(format!(
                "median_us = step 3 at the full size (the median of step3_vs_hand_written); \
                 baseline = row by row extrapolated to {full} rows (items + findings) from a \
                 least-squares line through three measured sizes; row by row = select {CHUNK} \
                 ids at a time, one look-up and one UPDATE per row (autocommit), then the keys \
                 and indexes step 3 adds; at each size step 3 ran on an identical copy, the \
                 order alternating, and the references were compared"
            )),
    );
    if !same {
        bail!("step 3 and the row-by-row backfill disagree");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_through_exact_points_is_found() {
        let (a, b, r2) = fit(&[(1.0, 12.0), (2.0, 14.0), (4.0, 18.0)]);
        assert!((a - 10.0).abs() < 1e-9 && (b - 2.0).abs() < 1e-9, "{a} {b}");
        assert!((r2 - 1.0).abs() < 1e-9);
        assert_eq!(row_by_row_sizes(1_000_000), [5_000, 10_000, 20_000]);
        assert_eq!(row_by_row_sizes(2_000), [100, 200, 400]);
    }
}
