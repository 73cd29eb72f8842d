//! Applying the migrations behind the preflight: a cutover that would lose data runs only when
//! the caller accepts the loss.

use crate::preflight::{PreflightReport, preflight};
use crate::{Migrator, sql};
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr};
use std::collections::BTreeSet;
use std::fmt;

/// The cutover steps that destroy or force-complete data (the legacy reference columns, the
/// legacy run tables, duplicate active runs): the preflight is consulted when one is about to
/// run.
const DESTRUCTIVE: [&str; 3] = [
    "m20260212_000004_drop_legacy_reference_columns",
    "m20260212_000005_drop_legacy_run_tables",
    "m20260212_000006_canonical_run_indexes",
];

/// Whether [`up_checked`] may apply a cutover that the preflight says loses data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataLoss {
    /// Refuse, changing nothing, with [`CutoverError::WouldLoseData`].
    Refuse,
    /// Apply anyway: the operator has read the preflight and accepts what it lists.
    Accept,
}

/// Why [`up_checked`] did not apply the migrations.
#[derive(Debug)]
#[non_exhaustive]
pub enum CutoverError {
    /// The migrations about to run include a destructive cutover step and the preflight says it
    /// would lose data ([`PreflightReport::loses_data`]); nothing was applied.
    WouldLoseData(Box<PreflightReport>),
    /// Reading the database or applying a migration failed.
    Database(DbErr),
}

impl fmt::Display for CutoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WouldLoseData(report) => write!(
                f,
                "the cutover would lose data ({} legacy runs without a canonical run, {} \
                 references, {} active runs superseded); nothing was applied",
                report.unbridged_legacy_runs(),
                report.lost_references(),
                report.superseded_runs()
            ),
            Self::Database(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CutoverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::WouldLoseData(_) => None,
            Self::Database(e) => Some(e),
        }
    }
}

impl From<DbErr> for CutoverError {
    fn from(e: DbErr) -> Self {
        Self::Database(e)
    }
}

/// What [`up_checked`] applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// Names of the migrations applied, in order.
    pub migrations: Vec<String>,
    /// The preflight read before a destructive step, when one was about to run on a database
    /// holding data; `Some` with [`PreflightReport::loses_data`] true means the loss was
    /// accepted.
    pub preflight: Option<PreflightReport>,
}

/// Applies the pending migrations (all, or the next `steps`) as [`Migrator::up`] does, after
/// the preflight: the way to migrate for a host that would otherwise call `Migrator::up`
/// itself, and what `oprun migrate up` does.
///
/// When the migrations about to run include a destructive cutover step (dropping the legacy
/// reference columns or run tables, or superseding duplicate active runs) and the database
/// already holds the run table, it runs [`preflight`] first (with `allowed_types`, which only
/// affects the report's list of unregistered types). If the report
/// [loses data](PreflightReport::loses_data) and `data_loss` is [`DataLoss::Refuse`], it refuses
/// before writing anything (not even the migration table). A new database, a lossless cutover
/// and a database whose destructive steps are already applied need no acceptance. Rows that
/// block the cutover ([`PreflightReport::blocking_problems`]) are left to the cutover itself,
/// which refuses to start on them with an error naming them.
///
/// ```rust,no_run
/// use operation_runs_migration::{CutoverError, DataLoss, up_checked};
/// use sea_orm_migration::sea_orm::Database;
/// use std::collections::BTreeSet;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let db = Database::connect("sqlite://oprun.db?mode=rwc").await?;
/// let allowed: BTreeSet<String> = ["inventory_sync".to_owned()].into();
/// match up_checked(&db, None, &allowed, DataLoss::Refuse).await {
///     Ok(applied) => println!("applied {:?}", applied.migrations),
///     Err(CutoverError::WouldLoseData(report)) => eprint!("refused:\n{report}"),
///     Err(other) => return Err(other.into()),
/// }
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`CutoverError::WouldLoseData`] as above (nothing applied); [`CutoverError::Database`] when
/// reading the database or a migration fails (the migrations applied before the failing one
/// stay applied, as with [`Migrator::up`]).
pub async fn up_checked(
    db: &DatabaseConnection,
    steps: Option<u32>,
    allowed_types: &BTreeSet<String>,
    data_loss: DataLoss,
) -> Result<Applied, CutoverError> {
    let pending: Vec<String> = Migrator::get_pending_migrations_read_only(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let to_apply = match steps {
        Some(n) => &pending[..pending.len().min(usize::try_from(n).unwrap_or(usize::MAX))],
        None => &pending[..],
    };
    let destructive = to_apply.iter().any(|m| DESTRUCTIVE.contains(&m.as_str()));
    let report = if destructive && sql::table_exists(db, "operation_runs").await? {
        Some(preflight(db, allowed_types).await?)
    } else {
        None
    };
    if let Some(report) = &report
        && report.loses_data()
        && report.blocking_problems() == 0
        && data_loss == DataLoss::Refuse
    {
        return Err(CutoverError::WouldLoseData(Box::new(report.clone())));
    }
    Migrator::up(db, steps).await?;
    let still_pending: Vec<String> = Migrator::get_pending_migrations_read_only(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    Ok(Applied {
        migrations: pending
            .into_iter()
            .filter(|m| !still_pending.contains(m))
            .collect(),
        preflight: report,
    })
}

#[cfg(test)]
mod tests {
    use super::DESTRUCTIVE;
    use crate::Migrator;
    use sea_orm_migration::MigratorTrait;

    #[test]
    fn the_destructive_steps_are_in_the_history() {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        for name in DESTRUCTIVE {
            assert!(names.iter().any(|n| n == name), "{name}");
        }
    }
}
