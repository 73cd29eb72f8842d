//! Cutover step 3: points findings and inventory items at canonical runs, through the bridges,
//! then completes the canonical finding references: their indexes, and on PostgreSQL their
//! foreign keys.
//!
//! **Backfill rule.** A canonical reference gets the legacy run's `operation_run_id` only if that
//! bridge is not null, the operation run exists, and it belongs to the same workspace and tenant
//! as the finding or item (for findings: and is an `inventory_sync` run); in every other case
//! (legacy reference null, legacy row gone, bridge null, bridge dangling, bridge to another
//! tenant's run or to a run of another type) it stays null. A canonical reference that is
//! already set (an `inventory_items.last_seen_operation_run_id` written by current code, which is
//! newer than the legacy value) is kept: only null ones are filled.
//!
//! The backfill is set-based and writes each row at most once: one `UPDATE … FROM` per table and
//! batch, setting all of the table's references together, where a batch is a bounded range of
//! primary keys (50 000 on SQLite, 250 000 on PostgreSQL, where each statement also scans the
//! bridges), so a very large table is never one giant statement. Rows that get no run are not
//! written at all. For `findings`, whose two references may each be mappable or not, each has an
//! outer join. Each batch emits one progress event per reference (target
//! `operation_runs_migration::progress`, fields `table`, `column`, `done` and `total`: rows of
//! the table examined so far and in all, whether or not they had a reference to map; `mapped`:
//! that column's canonical references written so far). No row is ever inserted into
//! `operation_runs`.
//!
//! What the finding references need besides their values comes after the backfill, built once
//! instead of maintained for every row it writes: the indexes on
//! `findings.baseline_operation_run_id` and `current_operation_run_id` (a sorted build is much
//! cheaper than one insertion per row), and on PostgreSQL their foreign keys (one join checks
//! each, instead of a trigger per row; SQLite cannot add a foreign key to an existing column, so
//! there the previous step declared them).
//!
//! **On PostgreSQL** nothing of this step holds a lock for long. It runs outside the migrator's
//! transaction: each batch commits on its own (so its row locks last one batch, and a crash
//! keeps the batches done; a rerun reads them again and writes nothing to them), the indexes are
//! built `CONCURRENTLY`, and each foreign key is added `NOT VALID` under a short lock timeout
//! (see [`live`]), then validated, which lets writes through. A run deleted between the batch
//! that wrote a reference to it and the key's addition leaves that reference dangling; once the
//! key exists (and nulls the references of runs deleted from then on) those are nulled, as the
//! key would have done, before it is validated. **On SQLite** the step is one transaction.
//! The number of rows per batch can be set with `OPRUN_MIGRATION_BATCH_ROWS`.
//!
//! Only null canonical references are written, and the keys and indexes are added only when
//! missing, so running it again changes nothing. `down` drops the indexes and (PostgreSQL) the
//! foreign keys, the shape the previous step leaves; the references stay (they were null before,
//! and the previous step's `down` drops their columns).

use crate::live;
use crate::names::INVENTORY_SYNC_RUNS;
use crate::sql::{self, Flavor};
use crate::step::{Mode, Step};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{QueryResult, Statement};

/// Backfills canonical references through the legacy bridges.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rows per backfill statement on SQLite, where a batch costs little beyond its rows.
pub(crate) const SQLITE_BATCH_ROWS: u64 = 50_000;

/// Rows per backfill statement on PostgreSQL, where every batch also pays for scanning and
/// hashing the bridges once, so fewer, larger batches are cheaper.
pub(crate) const POSTGRES_BATCH_ROWS: u64 = 250_000;

/// A legacy reference column into `inventory_sync_runs` and the canonical column replacing it.
pub(crate) struct Reference {
    pub table: &'static str,
    pub legacy: &'static str,
    pub canonical: &'static str,
    /// The only run type the canonical reference may name, if any.
    pub run_type: Option<&'static str>,
}

impl Reference {
    /// The SQL condition under which the run `run` belongs to the workspace and tenant of the
    /// row `row`. A run without a tenant matches no row: the comparison is null, which a join
    /// and a `WHERE` treat as false.
    pub(crate) fn same_tenant(run: &str, row: &str) -> String {
        format!("{run}.workspace_id = {row}.workspace_id AND {run}.tenant_id = {row}.tenant_id")
    }

    /// The SQL condition under which the run `run` (an alias with `workspace_id`, `tenant_id`
    /// and `type`) may be copied into the row `row` of this reference's table: same workspace
    /// and tenant, and the required type. `run_type_sql` turns the run's type column into the
    /// type compared (the preflight reads types before step 1 canonicalized them).
    pub(crate) fn bridge_allowed(
        &self,
        run: &str,
        row: &str,
        run_type_sql: impl Fn(&str) -> String,
    ) -> String {
        let mut condition = Self::same_tenant(run, row);
        if let Some(run_type) = self.run_type {
            condition.push_str(&format!(
                " AND {} = {}",
                run_type_sql(&format!("{run}.type")),
                sql::literal(run_type)
            ));
        }
        condition
    }
}

/// Every reference the cutover moves, those of one table next to each other.
pub(crate) const REFERENCES: [Reference; 3] = [
    Reference {
        table: "findings",
        legacy: "baseline_run_id",
        canonical: "baseline_operation_run_id",
        run_type: Some("inventory_sync"),
    },
    Reference {
        table: "findings",
        legacy: "current_run_id",
        canonical: "current_operation_run_id",
        run_type: Some("inventory_sync"),
    },
    Reference {
        table: "inventory_items",
        legacy: "last_seen_run_id",
        canonical: "last_seen_operation_run_id",
        run_type: None,
    },
];

/// How the references a batch wrote are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counting {
    /// One reference: every row the `UPDATE` affected got one.
    RowsAffected,
    /// The statement returns one row with the references written per column (PostgreSQL).
    Returned,
    /// Non-null references of the batch's rows after the `UPDATE`, minus before it (SQLite,
    /// whose `RETURNING` cannot see the joined tables; the migration's transaction holds the
    /// only write lock, so nothing else changes them in between).
    Difference,
}

/// The statement backfilling `references` (all of one table, at least one) for the ids in
/// `[lower, upper]`, and how its references are counted. PostgreSQL placeholders are `$1` and
/// `$2`; SQLite's are `?` for `lower`, `upper`, in that order, once each.
///
/// A bridge is copied only when it leads to an existing run of the row's workspace and tenant
/// (and, for findings, of type `inventory_sync`; step 1 has canonicalized the types): a
/// reference across tenants would show one tenant's run through another's screens. With one
/// reference the bridge is an inner join: rows without such a run drop out of the join, so the
/// rows affected are the references mapped. With several, each reference has its own outer
/// join, and the row is written when any of them maps (`COALESCE` keeps references that are
/// already set).
pub(crate) fn backfill_statement(flavor: Flavor, references: &[&Reference]) -> (String, Counting) {
    let table = references.first().map_or("", |r| r.table);
    let same_type = |column: &str| column.to_owned();
    if let [reference] = references {
        let Reference {
            legacy, canonical, ..
        } = reference;
        let allowed = reference.bridge_allowed("o", "t", same_type);
        let (lower, upper) = match flavor {
            Flavor::Postgres => ("$1", "$2"),
            Flavor::Sqlite | Flavor::MySql => ("?", "?"),
        };
        if flavor == Flavor::MySql {
            return (
                crate::mysql::backfill_one(table, legacy, canonical, &allowed),
                Counting::RowsAffected,
            );
        }
        return (
            format!(
                "UPDATE {table} AS t SET {canonical} = l.operation_run_id \
                 FROM {INVENTORY_SYNC_RUNS} AS l \
                 JOIN operation_runs AS o ON o.id = l.operation_run_id \
                 WHERE l.id = t.{legacy} AND t.{canonical} IS NULL AND {allowed} \
                 AND t.id >= {lower} AND t.id <= {upper}"
            ),
            Counting::RowsAffected,
        );
    }
    let (mut mapped, mut joins, mut sets, mut any) = (vec![], vec![], vec![], vec![]);
    for (n, reference) in references.iter().enumerate() {
        let Reference {
            legacy, canonical, ..
        } = reference;
        // `o{n}` is the run reference `n` maps to, when its bridge leads to one it may name.
        // The tables are joined themselves, not a CTE of the bridges shared by the references:
        // a CTE has no statistics, so PostgreSQL guessed that its join conditions kept a few
        // rows and merge-joined it on `tenant_id` alone, comparing each finding with every
        // bridge of its tenant.
        let allowed = reference.bridge_allowed(&format!("o{n}"), "f", same_type);
        joins.push(format!(
            "LEFT JOIN {INVENTORY_SYNC_RUNS} AS l{n} ON l{n}.id = f.{legacy} \
             LEFT JOIN operation_runs AS o{n} ON o{n}.id = l{n}.operation_run_id \
             AND {allowed}"
        ));
        mapped.push(format!(
            "CASE WHEN f.{canonical} IS NULL THEN o{n}.id END AS r{n}"
        ));
        sets.push(format!("{canonical} = COALESCE(t.{canonical}, m.r{n})"));
        any.push(format!("m.r{n} IS NOT NULL"));
    }
    let (mapped, joins, sets, any) = (
        mapped.join(", "),
        joins.join(" "),
        sets.join(", "),
        any.join(" OR "),
    );
    match flavor {
        // `m` is materialized so the planner sizes its joins by the batch, not by its guess of
        // how the batch's rows join back to the table, which is far too small and leads it to
        // nested loops.
        Flavor::Postgres => {
            let returned: Vec<String> = (0..references.len()).map(|n| format!("m.r{n}")).collect();
            let counted: Vec<String> = (0..references.len())
                .map(|n| format!("COUNT(r{n})"))
                .collect();
            (
                format!(
                    "WITH m AS MATERIALIZED (SELECT f.id, {mapped} FROM {table} AS f {joins} \
                       WHERE f.id >= $1 AND f.id <= $2), \
                     u AS (UPDATE {table} AS t SET {sets} FROM m \
                       WHERE t.id = m.id AND t.id >= $1 AND t.id <= $2 AND ({any}) \
                       RETURNING {returned}) \
                     SELECT {counted} FROM u",
                    returned = returned.join(", "),
                    counted = counted.join(", "),
                ),
                Counting::Returned,
            )
        }
        // Counted as on SQLite.
        Flavor::MySql => {
            let canonical: Vec<&str> = references.iter().map(|r| r.canonical).collect();
            (
                crate::mysql::backfill_many(table, &canonical, &mapped, &joins, &any),
                Counting::Difference,
            )
        }
        // SQLite plans the joins as look-ups by rowid for each row of the batch, and
        // `t.id = m.id` as one more.
        Flavor::Sqlite => (
            format!(
                "UPDATE {table} AS t SET {sets} \
                 FROM (SELECT f.id, {mapped} FROM {table} AS f {joins} \
                   WHERE f.id >= ? AND f.id <= ?) AS m \
                 WHERE t.id = m.id AND ({any})"
            ),
            Counting::Difference,
        ),
    }
}

/// What the backfill did to one canonical reference column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReferenceBackfill {
    /// The table holding the reference.
    pub table: &'static str,
    /// The canonical reference column.
    pub column: &'static str,
    /// Rows of the table examined (all of them, whether or not they had anything to map).
    pub examined: u64,
    /// Rows whose canonical reference was written (null before, an existing run now).
    pub mapped: u64,
}

/// `COUNT(column)` for each of `columns` (their non-null values), as a select list.
fn counts(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("COUNT({c})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the `i64` columns `from..` of `row`.
fn numbers(row: &QueryResult, from: usize, n: usize) -> Result<Vec<i64>, DbErr> {
    (from..from + n)
        .map(|i| row.try_get_by_index::<i64>(i))
        .collect()
}

/// Backfills `references` (all of one table, at least one) in primary-key batches of `batch`
/// rows, each row rewritten at most once.
async fn backfill_table<C: ConnectionTrait + ?Sized>(
    db: &C,
    references: &[&Reference],
    batch: i64,
) -> Result<Vec<ReferenceBackfill>, DbErr> {
    let flavor = sql::flavor(db)?;
    let backend = db.get_database_backend();
    let Some(table) = references.first().map(|r| r.table) else {
        return Ok(Vec::new());
    };
    let columns: Vec<&str> = references.iter().map(|r| r.canonical).collect();
    let (update, counting) = backfill_statement(flavor, references);
    let total = sql::scalar_i64(db, &format!("SELECT COUNT(*) FROM {table}"), vec![])
        .await?
        .unwrap_or(0);
    // With `Counting::Difference` the batch's bounds also bring its references before the
    // `UPDATE`, from the same read of its rows.
    let before = if counting == Counting::Difference {
        format!(", {}", counts(&columns))
    } else {
        String::new()
    };
    let selected = if counting == Counting::Difference {
        format!("id, {}", columns.join(", "))
    } else {
        "id".to_owned()
    };
    let placeholders = match flavor {
        Flavor::Postgres => ("$1", "$2"),
        Flavor::Sqlite | Flavor::MySql => ("?", "?"),
    };
    let bounds = format!(
        "SELECT MAX(id), COUNT(*){before} FROM \
         (SELECT {selected} FROM {table} WHERE id >= {} ORDER BY id LIMIT {}) AS b",
        placeholders.0, placeholders.1
    );
    let after = format!(
        "SELECT {} FROM {table} WHERE id >= {} AND id <= {}",
        counts(&columns),
        placeholders.0,
        placeholders.1
    );
    // Batches are `[lower, upper]`, from the smallest id up: ids of zero or below are
    // backfilled like any other.
    let (mut lower, mut done) = (i64::MIN, 0_i64);
    let mut mapped = vec![0_u64; references.len()];
    loop {
        let Some(row) = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                &bounds,
                vec![lower.into(), batch.into()],
            ))
            .await?
        else {
            break;
        };
        let (Some(upper), rows) = (
            row.try_get_by_index::<Option<i64>>(0)?,
            row.try_get_by_index::<i64>(1)?,
        ) else {
            break;
        };
        let range =
            || Statement::from_sql_and_values(backend, &update, vec![lower.into(), upper.into()]);
        let written: Vec<u64> = match counting {
            Counting::RowsAffected => vec![db.execute_raw(range()).await?.rows_affected()],
            Counting::Returned => match db.query_one_raw(range()).await? {
                Some(counted) => numbers(&counted, 0, references.len())?
                    .into_iter()
                    .map(|n| <u64 as TryFrom<i64>>::try_from(n).unwrap_or(0))
                    .collect(),
                None => vec![0; references.len()],
            },
            Counting::Difference => {
                let before = numbers(&row, 2, references.len())?;
                db.execute_raw(range()).await?;
                let now = match db
                    .query_one_raw(Statement::from_sql_and_values(
                        backend,
                        &after,
                        vec![lower.into(), upper.into()],
                    ))
                    .await?
                {
                    Some(counted) => numbers(&counted, 0, references.len())?,
                    None => before.clone(),
                };
                now.iter()
                    .zip(&before)
                    .map(|(now, before)| <u64 as TryFrom<i64>>::try_from(now - before).unwrap_or(0))
                    .collect()
            }
        };
        done += rows;
        // Past the largest id there can be, nothing is left.
        let last = upper == i64::MAX;
        lower = upper.saturating_add(1);
        for ((reference, mapped), written) in references.iter().zip(&mut mapped).zip(written) {
            *mapped += written;
            tracing::info!(
                target: "operation_runs_migration::progress",
                table,
                column = reference.canonical,
                done,
                total,
                mapped = *mapped,
                "backfill progress"
            );
        }
        live::pause_point("backfill-batch").await;
        if last {
            break;
        }
    }
    let examined = <u64 as TryFrom<i64>>::try_from(done).unwrap_or(0);
    let mut results = Vec::new();
    for (reference, mapped) in references.iter().zip(mapped) {
        tracing::info!(
            table,
            column = reference.canonical,
            examined,
            mapped,
            "backfilled canonical references"
        );
        results.push(ReferenceBackfill {
            table,
            column: reference.canonical,
            examined,
            mapped,
        });
    }
    Ok(results)
}

/// Runs the backfill of cutover step 3 in batches of `batch_rows` rows (at least 1): what the
/// migration does (with batches of 50 000 rows on SQLite, 250 000 on PostgreSQL) before it adds
/// the finding references' foreign keys and indexes. Exposed so tests
/// and benchmarks can exercise the batching; does nothing (and returns nothing) when the legacy
/// schema is already gone. Returns, per reference column still to backfill, the rows examined
/// and the references mapped: the numbers its log events carry.
///
/// # Errors
/// Any database error, or a backend other than PostgreSQL and SQLite.
pub async fn backfill_references<C: ConnectionTrait + ?Sized>(
    db: &C,
    batch_rows: u64,
) -> Result<Vec<ReferenceBackfill>, DbErr> {
    sql::flavor(db)?;
    let mut done = Vec::new();
    if !sql::table_exists(db, INVENTORY_SYNC_RUNS).await? {
        return Ok(done);
    }
    let batch = <i64 as TryFrom<u64>>::try_from(Ord::max(batch_rows, 1)).unwrap_or(i64::MAX);
    let mut pending: Vec<&Reference> = Vec::new();
    for reference in &REFERENCES {
        if sql::column_exists(db, reference.table, reference.legacy).await? {
            pending.push(reference);
        }
    }
    for references in pending.chunk_by(|a, b| a.table == b.table) {
        done.extend(backfill_table(db, references, batch).await?);
    }
    Ok(done)
}

/// Names of the indexes this step builds (see [`sql::findings_canonical_indexes`]).
const INDEXES: [&str; 2] = [
    "findings_baseline_operation_run_id_idx",
    "findings_current_operation_run_id_idx",
];

/// The canonical finding foreign keys still to add (PostgreSQL; none on SQLite, whose previous
/// step declared them with the columns).
pub(crate) async fn missing_foreign_keys<C: ConnectionTrait + ?Sized>(
    db: &C,
) -> Result<Vec<(&'static str, &'static str)>, DbErr> {
    let mut missing = Vec::new();
    if sql::flavor(db)? == Flavor::Postgres {
        for (name, column) in sql::FINDINGS_CANONICAL_FOREIGN_KEYS {
            if !sql::postgres_constraint_exists(db, "findings", name).await? {
                missing.push((name, column));
            }
        }
    }
    Ok(missing)
}

/// Whether the foreign key `name` of `findings` is validated (PostgreSQL).
async fn foreign_key_validated<C: ConnectionTrait + ?Sized>(
    db: &C,
    name: &str,
) -> Result<bool, DbErr> {
    Ok(sql::scalar_i64(
        db,
        "SELECT COUNT(*) FROM pg_constraint AS k JOIN pg_class AS c ON c.oid = k.conrelid \
         JOIN pg_namespace AS n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relname = 'findings' AND k.conname = $1 \
         AND k.convalidated",
        vec![name.into()],
    )
    .await?
    .unwrap_or(0)
        > 0)
}

/// Adds the canonical finding foreign keys after the backfill, without blocking writers for
/// the scan: each is added `NOT VALID` (a moment's lock; from then on it checks new rows and
/// nulls references to deleted runs), references to runs deleted between their backfill batch
/// and that moment are nulled as the key would have done, then it is validated (a scan that
/// lets writes through).
async fn add_foreign_keys(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    if sql::flavor(db)? == Flavor::MySql {
        return crate::mysql::add_foreign_keys(db).await;
    }
    for (name, column) in missing_foreign_keys(db).await? {
        live::short_lock(
            db,
            &format!(
                "ALTER TABLE findings ADD CONSTRAINT {name} FOREIGN KEY ({column}) \
                 REFERENCES operation_runs (id) ON DELETE SET NULL NOT VALID"
            ),
        )
        .await?;
    }
    if sql::flavor(db)? != Flavor::Postgres {
        return Ok(());
    }
    for (name, column) in sql::FINDINGS_CANONICAL_FOREIGN_KEYS {
        if foreign_key_validated(db, name).await? {
            continue;
        }
        let nulled = live::short_lock(
            db,
            &format!(
                "UPDATE findings SET {column} = NULL WHERE {column} IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM operation_runs AS o WHERE o.id = findings.{column})"
            ),
        )
        .await?;
        if nulled > 0 {
            tracing::warn!(
                column,
                nulled,
                "nulled references to runs deleted while the backfill ran"
            );
        }
        live::short_lock(
            db,
            &format!("ALTER TABLE findings VALIDATE CONSTRAINT {name}"),
        )
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Step for Migration {
    /// Outside the migrator's transaction: each backfill batch commits on its own on
    /// PostgreSQL, and the indexes are built concurrently, which no transaction allows; SQLite
    /// gets one transaction from [`live::begin_if_sqlite`].
    const MODE: Mode = Mode::Live("before-step-3");

    async fn up(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        let batch = match flavor {
            Flavor::Postgres => POSTGRES_BATCH_ROWS,
            Flavor::Sqlite => SQLITE_BATCH_ROWS,
            Flavor::MySql => crate::mysql::BATCH_ROWS,
        };
        backfill_references(db, live::batch_rows(batch)).await?;
        // Built once after the backfill, instead of maintained for every row it writes.
        for (name, create) in INDEXES.iter().zip(sql::findings_canonical_indexes()) {
            live::create_index(db, name, &create).await?;
        }
        add_foreign_keys(db).await
    }

    async fn down(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        if flavor == Flavor::MySql {
            // Before the indexes, which MariaDB keeps while a foreign key needs them.
            crate::mysql::drop_foreign_keys(db).await?;
        }
        for index in INDEXES {
            live::drop_index(db, index).await?;
        }
        if flavor == Flavor::Postgres {
            for (name, _) in sql::FINDINGS_CANONICAL_FOREIGN_KEYS {
                live::short_lock(
                    db,
                    &format!("ALTER TABLE findings DROP CONSTRAINT IF EXISTS {name}"),
                )
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Migrator;
    use sea_orm_migration::sea_orm::{ConnectOptions, Database};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::instrument::WithSubscriber;
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Every event of this crate: (message, fields as text).
    type Events = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

    struct Capture(Events);

    #[derive(Default)]
    struct Fields(BTreeMap<String, String>);

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if !event
                .metadata()
                .target()
                .starts_with("operation_runs_migration")
            {
                return;
            }
            let mut fields = Fields::default();
            event.record(&mut fields);
            let message = fields.0.remove("message").unwrap_or_default();
            self.0.lock().unwrap().push((message, fields.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn field<'a>(fields: &'a BTreeMap<String, String>, name: &str) -> &'a str {
        fields.get(name).map_or("<absent>", String::as_str)
    }

    /// Four findings, one of them mappable: the log and the result say 4 rows examined and 1
    /// reference mapped, not "updated" for the rows that stay null.
    #[tokio::test]
    async fn the_backfill_reports_rows_examined_and_references_mapped() {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await.unwrap();
        Migrator::up(&db, Some(1)).await.unwrap();
        sql::exec_all(
            &db,
            &[
                "INSERT INTO workspaces (id, name) VALUES (1, 'w')",
                "INSERT INTO tenants (id, workspace_id, name) VALUES (1, 1, 't')",
                "INSERT INTO operation_runs (id, workspace_id, tenant_id, initiator_name, type, \
                 status, outcome, run_identity_hash) \
                 VALUES (10, 1, 1, 's', 'inventory_sync', 'completed', 'succeeded', 'h')",
                "INSERT INTO inventory_sync_runs (id, workspace_id, tenant_id, status, \
                 operation_run_id) VALUES (100, 1, 1, 'succeeded', 10), \
                 (101, 1, 1, 'succeeded', NULL), (102, 1, 1, 'succeeded', 11)",
                // Mapped; bridge null; bridge dangling; legacy row missing; no reference.
                "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change, \
                 baseline_run_id) VALUES (1, 1, 'a', 'added', 100), (1, 1, 'b', 'added', 101), \
                 (1, 1, 'c', 'added', 102), (1, 1, 'd', 'added', 999), \
                 (1, 1, 'e', 'added', NULL)",
            ],
        )
        .await
        .unwrap();
        Migrator::up(&db, Some(2)).await.unwrap();

        let events = Events::default();
        let result = backfill_references(&db, 3)
            .with_subscriber(Capture(events.clone()))
            .await
            .unwrap();
        let summary: Vec<(&str, &str, u64, u64)> = result
            .iter()
            .map(|r| (r.table, r.column, r.examined, r.mapped))
            .collect();
        assert_eq!(
            summary,
            [
                ("findings", "baseline_operation_run_id", 5, 1),
                ("findings", "current_operation_run_id", 5, 0),
                ("inventory_items", "last_seen_operation_run_id", 0, 0),
            ]
        );

        let events = events.lock().unwrap().clone();
        let of_baseline: Vec<&(String, BTreeMap<String, String>)> = events
            .iter()
            .filter(|(_, f)| field(f, "column") == "baseline_operation_run_id")
            .collect();
        let shown: Vec<String> = of_baseline
            .iter()
            .map(|(message, f)| {
                format!(
                    "{message}: done={} total={} examined={} mapped={} updated={}",
                    field(f, "done"),
                    field(f, "total"),
                    field(f, "examined"),
                    field(f, "mapped"),
                    field(f, "updated")
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                "backfill progress: done=3 total=5 examined=<absent> mapped=1 updated=<absent>",
                "backfill progress: done=5 total=5 examined=<absent> mapped=1 updated=<absent>",
                "backfilled canonical references: done=<absent> total=<absent> examined=5 \
                 mapped=1 updated=<absent>",
            ]
        );
        assert_eq!(
            sql::scalar_i64(
                &db,
                "SELECT COUNT(baseline_operation_run_id) FROM findings",
                vec![]
            )
            .await
            .unwrap(),
            Some(1)
        );

        // Again: everything examined, nothing left to map.
        let again = backfill_references(&db, 3).await.unwrap();
        assert_eq!((again[0].examined, again[0].mapped), (5, 0));
    }
}
