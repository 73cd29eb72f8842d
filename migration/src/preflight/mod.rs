//! The preflight: what the cutover will change and lose, read before running it.

mod display;
mod read;

use crate::legacy_rows::{BLOCKING, REWRITES, UNREADABLE};
use crate::m20260212_000003_backfill_operation_run_refs::REFERENCES;
use crate::names::{INVENTORY_SYNC_RUNS, LEGACY_RUN_TABLES};
use crate::sql;
use read::{duplicate_identities, legacy_table_stats, reference_stats, row_classes, type_stats};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr};
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
    /// References whose bridge leads to a run the row may not name (another workspace's or
    /// tenant's run, or for findings a run that is not an `inventory_sync`), which become null;
    /// per reference column and reason, with up to ten row ids.
    pub rejected_bridges: Vec<RejectedBridge>,
    /// Rows of `operation_runs` holding a value today's rules reject and the cutover leaves as
    /// it is, per column and class, with up to ten ids: information (reads show such a field as
    /// unreadable), not loss. Once the cutover has run, the classes it would have rewritten are
    /// here too.
    pub unreadable_rows: Vec<RowClassStats>,
    /// Rows of `operation_runs` whose value the cutover rewrites (it has one right answer), per
    /// column and class, with up to ten ids. Empty once the cutover has run.
    pub cutover_rewrites: Vec<RowClassStats>,
    /// Rows of `operation_runs` holding a value a later cutover step would fail on (SQLite: a
    /// `context` that is not JSON), per column and class, with up to ten ids. The cutover
    /// refuses to start while there are any: see [`PreflightReport::blocking_problems`].
    pub blocking_rows: Vec<RowClassStats>,
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

/// Why a bridge to an existing run is not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BridgeRejection {
    /// The run belongs to another workspace or tenant than the referencing row.
    AnotherTenant,
    /// The run is of another type than the reference may name (`inventory_sync` for findings).
    WrongType,
}

impl fmt::Display for BridgeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AnotherTenant => "bridge to another tenant's run",
            Self::WrongType => "bridge to a run of another type",
        })
    }
}

/// References of one column whose bridge the backfill refuses for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RejectedBridge {
    /// The table holding the references.
    pub table: String,
    /// The canonical reference column, which stays null.
    pub column: String,
    /// Why.
    pub reason: BridgeRejection,
    /// How many rows.
    pub rows: u64,
    /// The first (lowest) ids of those rows, at most [`MAX_LISTED_IDS`].
    pub ids: Vec<i64>,
}

/// Rows of one table whose `column` holds a value of one class (see
/// [`PreflightReport::unreadable_rows`] and [`PreflightReport::cutover_rewrites`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RowClassStats {
    /// The table.
    pub table: String,
    /// The column holding the value.
    pub column: String,
    /// The class (snake_case), for example `not_an_array` or `hash_upper_case`.
    pub class: String,
    /// How many rows.
    pub rows: u64,
    /// The first (lowest) ids of those rows, at most [`MAX_LISTED_IDS`].
    pub ids: Vec<i64>,
}

/// How many row ids a section of the report lists at most.
pub const MAX_LISTED_IDS: usize = 10;

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
    /// Null because the bridged run belongs to another workspace or tenant than the row.
    pub bridge_foreign_tenant: u64,
    /// Null because the bridged run is of another type than the reference may name.
    pub bridge_wrong_type: u64,
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
        self.legacy_row_missing
            + self.bridge_null
            + self.bridge_dangling
            + self.bridge_foreign_tenant
            + self.bridge_wrong_type
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

    /// Rows that make the cutover refuse to start ([`broken_foreign_keys`], [`blocking_rows`]):
    /// it would otherwise fail halfway. Fixing them (re-pointing or deleting the rows) comes
    /// first; the cutover loses nothing on their account.
    ///
    /// [`broken_foreign_keys`]: PreflightReport::broken_foreign_keys
    /// [`blocking_rows`]: PreflightReport::blocking_rows
    #[must_use]
    pub fn blocking_problems(&self) -> u64 {
        self.broken_foreign_keys.iter().map(|b| b.rows).sum::<u64>()
            + self.blocking_rows.iter().map(|b| b.rows).sum::<u64>()
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
    let (mut references, mut rejected_bridges) = (Vec::new(), Vec::new());
    for reference in &REFERENCES {
        if sql::column_exists(db, reference.table, reference.legacy).await? {
            let (stats, rejected) = reference_stats(db, reference, inventory_runs_present).await?;
            references.push(Some(stats));
            rejected_bridges.extend(rejected);
        } else {
            missing.push(format!("{}.{}", reference.table, reference.legacy));
            references.push(None);
        }
    }
    let (dotted_types, unregistered_types) = type_stats(db, allowed_types).await?;
    let duplicate_active_identities = duplicate_identities(db).await?;
    let mut unreadable_rows = row_classes(db, &UNREADABLE).await?;
    let mut cutover_rewrites = row_classes(db, &REWRITES).await?;
    let blocking_rows = if cutover_complete_so_far(&legacy_tables, &references) {
        Vec::new()
    } else {
        row_classes(db, &BLOCKING).await?
    };
    if cutover_complete_so_far(&legacy_tables, &references) {
        // Nothing will rewrite them any more: they are unreadable like the rest.
        unreadable_rows.append(&mut cutover_rewrites);
    }
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
        rejected_bridges,
        unreadable_rows,
        cutover_rewrites,
        blocking_rows,
        broken_foreign_keys,
    })
}

/// Whether no legacy table or reference column is left (what
/// [`PreflightReport::cutover_complete`] says of the finished report).
fn cutover_complete_so_far(
    legacy_tables: &[LegacyTableStats],
    references: &[Option<ReferenceStats>],
) -> bool {
    legacy_tables.is_empty() && references.iter().all(Option::is_none)
}

/// Rows whose `summary_counts` name counts their type does not declare, as one
/// `summary_counts` / `count_not_declared` section for [`PreflightReport::unreadable_rows`]
/// (`None` if there are none). `declared` maps each registered type to its count names (the
/// host's registry); rows of other types are not judged. The tolerant reads show such counts
/// as unreadable; the cutover leaves them as they are.
///
/// # Errors
/// Any database error, or a backend other than PostgreSQL and SQLite.
pub async fn undeclared_counts(
    db: &impl ConnectionTrait,
    declared: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Option<RowClassStats>, DbErr> {
    let Some(predicate) =
        crate::legacy_rows::undeclared_count_predicate(sql::flavor(db)?, declared)
    else {
        return Ok(None);
    };
    read::row_class(db, "summary_counts", "count_not_declared", &predicate).await
}
