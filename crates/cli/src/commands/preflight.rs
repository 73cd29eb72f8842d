//! `oprun preflight`: what the cutover would change and lose, before it runs.

use crate::cli::{GlobalArgs, PreflightArgs};
use crate::db::{self, Purpose};
use crate::error::{CliError, CliResult, Exit};
use crate::output::print_json;
use operation_runs_domain::RunTypeRegistry;
use operation_runs_migration::{Migrator, preflight};
use sea_orm_migration::{MigrationStatus, MigratorTrait};
use serde_json::Value;
use std::collections::BTreeSet;

/// Prints the preflight report.
pub async fn run(global: &GlobalArgs, args: &PreflightArgs) -> CliResult {
    let conn = db::connect(&global.database_url, Purpose::Use).await?;
    // The report reads the pre-cutover schema, so only the baseline must be in place.
    let migrations = Migrator::get_migration_with_status_read_only(&conn)
        .await
        .map_err(|e| CliError::error(format!("cannot read the migration status: {e}")))?;
    if migrations
        .first()
        .is_some_and(|baseline| baseline.status() == MigrationStatus::Pending)
    {
        return Err(CliError::error(
            "the database has no schema yet (the baseline migration is pending): there is nothing to lose; run `oprun migrate up`",
        ));
    }
    let allowed = RunTypeRegistry::with_builtins()
        .iter()
        .map(|d| d.id().to_string())
        .collect::<BTreeSet<_>>();
    let report = preflight(&conn, &allowed)
        .await
        .map_err(|e| CliError::error(format!("preflight failed: {e}")))?;
    let loses = report.would_lose_anything();
    if global.json {
        let mut value = serde_json::to_value(&report)
            .map_err(|e| CliError::error(format!("cannot print the report: {e}")))?;
        if let Value::Object(map) = &mut value {
            map.insert("would_lose_anything".to_owned(), loses.into());
            map.insert(
                "cutover_complete".to_owned(),
                report.cutover_complete().into(),
            );
        }
        print_json(&value);
    } else {
        print!("{report}");
    }
    if args.strict && loses {
        return Err(CliError::new(
            Exit::WouldLoseData,
            "--strict: the cutover would lose data (see the report)",
        ));
    }
    Ok(())
}
