//! The preflight: what the cutover will change and lose, read before running it.

use crate::canonical::canonical_type;
use crate::m20260212_000003_backfill_operation_run_refs::{REFERENCES, Reference};
use crate::names::{ACTIVE, INVENTORY_SYNC_RUNS, LEGACY_RUN_TABLES};
use crate::sql;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr, Statement};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Everything the cutover will rewrite or lose on one database.
///
/// Produced by [`preflight`]. Sections whose legacy tables or columns no longer exist (because
/// the cutover already ran) are empty or `None`, and [`missing_legacy_objects`] names them.
///
/// [`missing_legacy_objects`]: PreflightReport::missing_legacy_objects
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PreflightReport {
    /// Legacy tables and columns that no longer exist (`table` or `table.column`).
    pub missing_legacy_objects: Vec<String>,
    /// Per legacy run table that still exists: rows, and rows whose history has no canonical run.
    pub legacy_tables: Vec<LegacyTableStats>,
    /// `findings.baseline_run_id` → `baseline_operation_run_id`, if the legacy column exists.
    pub finding_baseline_refs: Option<ReferenceStats>,
    /// `findings.current_run_id` → `current_operation_run_id`, if the legacy column exists.
    pub finding_current_refs: Option<ReferenceStats>,
    /// `inventory_items.last_seen_run_id` → `last_seen_operation_run_id`, if the legacy column
    /// exists.
    pub inventory_last_seen_refs: Option<ReferenceStats>,
    /// Stored run types containing a dot, with what they become.
    pub dotted_types: Vec<TypeStats>,
    /// Stored run types whose canonical form is not on the allow-list passed to [`preflight`].
    pub unregistered_types: Vec<TypeStats>,
    /// Identities with several active runs; the cutover keeps the newest and supersedes the rest.
    pub duplicate_active_identities: Vec<DuplicateIdentity>,
    /// Rows that break a foreign key of a table the cutover rebuilds (SQLite only; always empty
    /// on PostgreSQL). The cutover refuses to start while there are any: see
    /// [`PreflightReport::blocking_problems`].
    pub broken_foreign_keys: Vec<BrokenForeignKey>,
}

/// Rows whose foreign key points at a row that does not exist, in a table the cutover rebuilds.
///
/// SQLite enforces foreign keys only on connections that switch them on, so files written
/// without them can hold such rows. The cutover rebuilds `findings` and `inventory_items` on
/// SQLite and checks their foreign keys, so it refuses to start while any are left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BrokenForeignKey {
    /// The table holding the rows.
    pub table: String,
    /// The referencing column.
    pub column: String,
    /// The table the column references (by `id`).
    pub references: String,
    /// Rows whose `column` is not null and names no row of `references`.
    pub rows: u64,
}

/// One legacy run table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LegacyTableStats {
    /// Table name.
    pub table: String,
    /// Rows in the table (all are dropped).
    pub rows: u64,
    /// Rows whose `operation_run_id` bridge is null: history with no canonical run.
    pub bridge_null: u64,
    /// Rows whose bridge points at an operation run that does not exist.
    pub bridge_dangling: u64,
}

impl LegacyTableStats {
    /// A row count summary for `table`.
    #[must_use]
    pub fn new(table: &str, rows: u64, bridge_null: u64, bridge_dangling: u64) -> Self {
        Self {
            table: table.to_owned(),
            rows,
            bridge_null,
            bridge_dangling,
        }
    }

    /// Rows whose history survives as a canonical run.
    #[must_use]
    pub fn bridged(&self) -> u64 {
        self.rows
            .saturating_sub(self.bridge_null)
            .saturating_sub(self.bridge_dangling)
    }

    /// Rows whose history is lost with the table.
    #[must_use]
    pub fn unbridged(&self) -> u64 {
        self.bridge_null + self.bridge_dangling
    }
}

/// What the backfill does with one reference column, row by row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReferenceStats {
    /// Rows whose canonical reference is already set and is kept.
    pub already_set: u64,
    /// Rows that will point at the bridged operation run.
    pub mapped: u64,
    /// Null because the legacy reference is null (nothing lost).
    pub legacy_ref_null: u64,
    /// Null because the legacy row it points at no longer exists.
    pub legacy_row_missing: u64,
    /// Null because the legacy row's bridge is null.
    pub bridge_null: u64,
    /// Null because the legacy row's bridge points at a missing operation run.
    pub bridge_dangling: u64,
}

impl ReferenceStats {
    /// Rows that will hold a canonical reference.
    #[must_use]
    pub fn set_after(&self) -> u64 {
        self.already_set + self.mapped
    }

    /// Rows whose canonical reference will be null.
    #[must_use]
    pub fn null_after(&self) -> u64 {
        self.legacy_ref_null + self.lost()
    }

    /// Rows with a legacy reference that cannot be carried over (it becomes null).
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.legacy_row_missing + self.bridge_null + self.bridge_dangling
    }

    /// All rows.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.set_after() + self.null_after()
    }
}

/// A stored run type and what the cutover makes of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub struct TypeStats {
    /// The type as stored now.
    pub stored: String,
    /// The type after the cutover.
    pub canonical: String,
    /// Runs of that stored type.
    pub rows: u64,
}

/// Several active runs of one identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DuplicateIdentity {
    /// Workspace of the runs.
    pub workspace_id: i64,
    /// Their shared identity.
    pub run_identity_hash: String,
    /// The newest (highest id) active run, which stays active.
    pub kept_run_id: i64,
    /// The others, completed as failed with `superseded_duplicate`, ascending.
    pub superseded_run_ids: Vec<i64>,
}

impl PreflightReport {
    /// Whether the cutover has already run: no legacy table or column is left.
    #[must_use]
    pub fn cutover_complete(&self) -> bool {
        self.legacy_tables.is_empty()
            && self.finding_baseline_refs.is_none()
            && self.finding_current_refs.is_none()
            && self.inventory_last_seen_refs.is_none()
    }

    /// Legacy run rows whose history has no canonical run and is dropped.
    #[must_use]
    pub fn unbridged_legacy_runs(&self) -> u64 {
        self.legacy_tables
            .iter()
            .map(LegacyTableStats::unbridged)
            .sum()
    }

    /// References with a legacy value that will become null.
    #[must_use]
    pub fn lost_references(&self) -> u64 {
        [
            self.finding_baseline_refs,
            self.finding_current_refs,
            self.inventory_last_seen_refs,
        ]
        .iter()
        .flatten()
        .map(ReferenceStats::lost)
        .sum()
    }

    /// Active runs the cutover will complete as superseded duplicates.
    #[must_use]
    pub fn superseded_runs(&self) -> u64 {
        self.duplicate_active_identities
            .iter()
            .map(|d| d.superseded_run_ids.len() as u64)
            .sum()
    }

    /// Rows that make the cutover refuse to start ([`broken_foreign_keys`]): it would otherwise
    /// fail halfway. Fixing them (re-pointing or deleting the rows) comes first; the cutover
    /// loses nothing on their account.
    ///
    /// [`broken_foreign_keys`]: PreflightReport::broken_foreign_keys
    #[must_use]
    pub fn blocking_problems(&self) -> u64 {
        self.broken_foreign_keys.iter().map(|b| b.rows).sum()
    }

    /// Whether running the cutover destroys or force-completes anything: unbridged legacy
    /// runs, references that become null although they had a legacy value, or superseded
    /// duplicate active runs. What `up_checked` refuses without acceptance.
    #[must_use]
    pub fn loses_data(&self) -> bool {
        self.unbridged_legacy_runs() > 0 || self.lost_references() > 0 || self.superseded_runs() > 0
    }

    /// Whether the cutover cannot run as the database stands without losing something:
    /// unbridged legacy runs, references that become null although they had a legacy value,
    /// superseded duplicate active runs, or [`blocking_problems`] (rows the operator has to fix
    /// or delete before the cutover starts at all). Type rewrites are not losses (they are
    /// reported, not counted here). A `--strict` command refuses on it; tell blocking problems
    /// apart with [`blocking_problems`].
    ///
    /// [`blocking_problems`]: PreflightReport::blocking_problems
    #[must_use]
    pub fn would_lose_anything(&self) -> bool {
        self.loses_data() || self.blocking_problems() > 0
    }
}

fn write_reference(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    stats: Option<&ReferenceStats>,
) -> fmt::Result {
    match stats {
        None => writeln!(f, "  {name}: legacy column already dropped"),
        Some(s) => writeln!(
            f,
            "  {name}: {} rows; {} keep their canonical reference, {} mapped; \
             null afterwards: {} already null, {} legacy row missing, {} bridge null, {} bridge dangling",
            s.total(),
            s.already_set,
            s.mapped,
            s.legacy_ref_null,
            s.legacy_row_missing,
            s.bridge_null,
            s.bridge_dangling
        ),
    }
}

impl fmt::Display for PreflightReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Operation runs cutover preflight")?;
        if self.cutover_complete() {
            writeln!(
                f,
                "The legacy run tables and reference columns are already gone: the cutover has run."
            )?;
        } else if !self.missing_legacy_objects.is_empty() {
            writeln!(
                f,
                "Already removed: {}",
                self.missing_legacy_objects.join(", ")
            )?;
        }
        if !self.legacy_tables.is_empty() {
            writeln!(f, "Legacy run tables (dropped by the cutover):")?;
            for t in &self.legacy_tables {
                writeln!(
                    f,
                    "  {}: {} rows, {} with a canonical run, {} bridge null, {} bridge dangling \
                     (history lost: {})",
                    t.table,
                    t.rows,
                    t.bridged(),
                    t.bridge_null,
                    t.bridge_dangling,
                    t.unbridged()
                )?;
            }
        }
        if !self.cutover_complete() {
            writeln!(f, "References:")?;
            write_reference(f, "findings baseline", self.finding_baseline_refs.as_ref())?;
            write_reference(f, "findings current", self.finding_current_refs.as_ref())?;
            write_reference(
                f,
                "inventory items last seen",
                self.inventory_last_seen_refs.as_ref(),
            )?;
        }
        if self.dotted_types.is_empty() {
            writeln!(f, "Run types: none dotted.")?;
        } else {
            writeln!(f, "Dotted run types (rewritten):")?;
            for t in &self.dotted_types {
                writeln!(f, "  {} -> {}: {} runs", t.stored, t.canonical, t.rows)?;
            }
        }
        if !self.unregistered_types.is_empty() {
            writeln!(f, "Run types not on the allow-list after the rewrite:")?;
            for t in &self.unregistered_types {
                writeln!(
                    f,
                    "  {} (stored as {}): {} runs",
                    t.canonical, t.stored, t.rows
                )?;
            }
        }
        if self.duplicate_active_identities.is_empty() {
            writeln!(f, "Duplicate active identities: none.")?;
        } else {
            writeln!(
                f,
                "Duplicate active identities: {} (the newest run stays active, {} runs complete as \
                 failed/superseded_duplicate):",
                self.duplicate_active_identities.len(),
                self.superseded_runs()
            )?;
            for d in &self.duplicate_active_identities {
                writeln!(
                    f,
                    "  workspace {} identity {}: keep {}, supersede {:?}",
                    d.workspace_id, d.run_identity_hash, d.kept_run_id, d.superseded_run_ids
                )?;
            }
        }
        if !self.broken_foreign_keys.is_empty() {
            writeln!(
                f,
                "Rows breaking a foreign key of a table the cutover rebuilds (SQLite):"
            )?;
            for b in &self.broken_foreign_keys {
                writeln!(
                    f,
                    "  {}.{} -> {}: {} rows point at a missing row",
                    b.table, b.column, b.references, b.rows
                )?;
            }
            writeln!(
                f,
                "The cutover WILL REFUSE TO START: {} rows break foreign keys; fix or delete them \
                 first (nothing is changed until then).",
                self.blocking_problems()
            )?;
        }
        if self.loses_data() {
            writeln!(
                f,
                "The cutover WILL lose data: {} legacy runs without a canonical run, {} references, \
                 {} active runs superseded.",
                self.unbridged_legacy_runs(),
                self.lost_references(),
                self.superseded_runs()
            )
        } else if self.blocking_problems() > 0 {
            writeln!(f, "Once they are fixed, the cutover loses nothing.")
        } else {
            writeln!(f, "The cutover loses nothing.")
        }
    }
}

fn count(value: Option<i64>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

async fn legacy_table_stats<C: ConnectionTrait>(
    db: &C,
    table: &str,
) -> Result<LegacyTableStats, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*), \
           SUM(CASE WHEN l.operation_run_id IS NULL THEN 1 ELSE 0 END), \
           SUM(CASE WHEN l.operation_run_id IS NOT NULL AND o.id IS NULL THEN 1 ELSE 0 END) \
         FROM {table} AS l LEFT JOIN operation_runs AS o ON o.id = l.operation_run_id"
    );
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    let Some(row) = row else {
        return Ok(LegacyTableStats::new(table, 0, 0, 0));
    };
    Ok(LegacyTableStats::new(
        table,
        count(row.try_get_by_index(0)?),
        count(row.try_get_by_index(1)?),
        count(row.try_get_by_index(2)?),
    ))
}

async fn reference_stats<C: ConnectionTrait>(
    db: &C,
    reference: &Reference,
    legacy_table_present: bool,
) -> Result<ReferenceStats, DbErr> {
    let Reference {
        table,
        legacy,
        canonical,
    } = reference;
    let already_set = if sql::column_exists(db, table, canonical).await? {
        format!("t.{canonical} IS NOT NULL")
    } else {
        "1 = 0".to_owned()
    };
    let legacy_rows = if legacy_table_present {
        INVENTORY_SYNC_RUNS.to_owned()
    } else {
        "(SELECT CAST(NULL AS BIGINT) AS id, CAST(NULL AS BIGINT) AS operation_run_id \
          WHERE 1 = 0)"
            .to_owned()
    };
    let sql = format!(
        "SELECT c.category, COUNT(*) FROM (SELECT CASE \
           WHEN {already_set} THEN 'already_set' \
           WHEN t.{legacy} IS NULL THEN 'legacy_ref_null' \
           WHEN l.id IS NULL THEN 'legacy_row_missing' \
           WHEN l.operation_run_id IS NULL THEN 'bridge_null' \
           WHEN o.id IS NULL THEN 'bridge_dangling' \
           ELSE 'mapped' END AS category \
         FROM {table} AS t \
         LEFT JOIN {legacy_rows} AS l ON l.id = t.{legacy} \
         LEFT JOIN operation_runs AS o ON o.id = l.operation_run_id) AS c \
         GROUP BY c.category"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    let mut stats = ReferenceStats::default();
    for row in rows {
        let category: String = row.try_get_by_index(0)?;
        let n = count(row.try_get_by_index(1)?);
        match category.as_str() {
            "already_set" => stats.already_set = n,
            "legacy_ref_null" => stats.legacy_ref_null = n,
            "legacy_row_missing" => stats.legacy_row_missing = n,
            "bridge_null" => stats.bridge_null = n,
            "bridge_dangling" => stats.bridge_dangling = n,
            _ => stats.mapped = n,
        }
    }
    Ok(stats)
}

async fn type_stats<C: ConnectionTrait>(
    db: &C,
    allowed_types: &BTreeSet<String>,
) -> Result<(Vec<TypeStats>, Vec<TypeStats>), DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT type, COUNT(*) FROM operation_runs GROUP BY type ORDER BY type",
        ))
        .await?;
    let (mut dotted, mut unregistered) = (Vec::new(), Vec::new());
    for row in rows {
        let stored: String = row.try_get_by_index(0)?;
        let stats = TypeStats {
            canonical: canonical_type(&stored).into_owned(),
            rows: count(row.try_get_by_index(1)?),
            stored,
        };
        if !allowed_types.contains(&stats.canonical) {
            unregistered.push(stats.clone());
        }
        if stats.stored.contains('.') {
            dotted.push(stats);
        }
    }
    Ok((dotted, unregistered))
}

async fn duplicate_identities<C: ConnectionTrait>(db: &C) -> Result<Vec<DuplicateIdentity>, DbErr> {
    let sql = format!(
        "SELECT r.workspace_id, r.run_identity_hash, r.id FROM operation_runs AS r \
         JOIN (SELECT workspace_id, run_identity_hash FROM operation_runs WHERE {ACTIVE} \
               GROUP BY workspace_id, run_identity_hash HAVING COUNT(*) > 1) AS d \
           ON d.workspace_id = r.workspace_id AND d.run_identity_hash = r.run_identity_hash \
         WHERE r.{ACTIVE} \
         ORDER BY r.workspace_id, r.run_identity_hash, r.id"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    let mut groups: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
    for row in rows {
        let workspace_id: i64 = row.try_get_by_index(0)?;
        let hash: String = row.try_get_by_index(1)?;
        let id: i64 = row.try_get_by_index(2)?;
        groups.entry((workspace_id, hash)).or_default().push(id);
    }
    Ok(groups
        .into_iter()
        .filter_map(|((workspace_id, run_identity_hash), mut ids)| {
            let kept_run_id = ids.pop()?;
            Some(DuplicateIdentity {
                workspace_id,
                run_identity_hash,
                kept_run_id,
                superseded_run_ids: ids,
            })
        })
        .collect())
}

/// Reads what the cutover will rewrite and lose, without writing anything.
///
/// Works on a database at any point of the history after the baseline: before the cutover it
/// predicts it exactly; once the legacy tables and columns are gone it says so
/// ([`PreflightReport::cutover_complete`]) instead of failing. `allowed_types` is the run-type
/// allow-list (for example the ids of the domain's registry); stored types whose canonical form
/// is not in it are listed in [`PreflightReport::unregistered_types`]. Rows that would make the
/// cutover refuse to start are in [`PreflightReport::broken_foreign_keys`] and counted by
/// [`PreflightReport::blocking_problems`].
///
/// # Errors
/// Any database error, or a backend other than PostgreSQL and SQLite.
#[tracing::instrument(skip_all)]
pub async fn preflight(
    db: &impl ConnectionTrait,
    allowed_types: &BTreeSet<String>,
) -> Result<PreflightReport, DbErr> {
    sql::flavor(db)?;
    let mut missing = Vec::new();
    let mut legacy_tables = Vec::new();
    for table in LEGACY_RUN_TABLES {
        if sql::table_exists(db, table).await? {
            legacy_tables.push(legacy_table_stats(db, table).await?);
        } else {
            missing.push(table.to_owned());
        }
    }
    let inventory_runs_present = !missing.iter().any(|t| t == INVENTORY_SYNC_RUNS);
    let mut references = Vec::new();
    for reference in &REFERENCES {
        if sql::column_exists(db, reference.table, reference.legacy).await? {
            references.push(Some(
                reference_stats(db, reference, inventory_runs_present).await?,
            ));
        } else {
            missing.push(format!("{}.{}", reference.table, reference.legacy));
            references.push(None);
        }
    }
    let (dotted_types, unregistered_types) = type_stats(db, allowed_types).await?;
    let duplicate_active_identities = duplicate_identities(db).await?;
    let broken_foreign_keys = sql::cutover_foreign_key_breaks(db)
        .await?
        .into_iter()
        .map(|b| BrokenForeignKey {
            table: b.table.to_owned(),
            column: b.column.to_owned(),
            references: b.parent.to_owned(),
            rows: b.rows,
        })
        .collect();
    let mut references = references.into_iter();
    Ok(PreflightReport {
        missing_legacy_objects: missing,
        legacy_tables,
        finding_baseline_refs: references.next().flatten(),
        finding_current_refs: references.next().flatten(),
        inventory_last_seen_refs: references.next().flatten(),
        dotted_types,
        unregistered_types,
        duplicate_active_identities,
        broken_foreign_keys,
    })
}
