//! `oprun migrate up|down|status|fresh`.

use crate::cli::{GlobalArgs, MigrateCommand};
use crate::db::{self, Purpose};
use crate::error::{CliError, CliResult};
use crate::output::{Table, print_json};
use operation_runs_migration::Migrator;
use sea_orm::DatabaseConnection;
use sea_orm_migration::{MigrationStatus, MigratorTrait};
use serde_json::json;

async fn names(conn: &DatabaseConnection, status: MigrationStatus) -> CliResult<Vec<String>> {
    Ok(Migrator::get_migration_with_status(conn)
        .await
        .map_err(|e| CliError::error(format!("cannot read the migration status: {e}")))?
        .into_iter()
        .filter(|m| m.status() == status)
        .map(|m| m.name().to_owned())
        .collect())
}

fn report(global: &GlobalArgs, verb: &str, key: &str, changed: &[String]) {
    if global.json {
        print_json(&json!({ key: changed }));
    } else if changed.is_empty() {
        println!("nothing to {verb}");
    } else {
        println!("{key} {} migration(s):", changed.len());
        for name in changed {
            println!("  {name}");
        }
    }
}

/// Applies the pending migrations (or the next `steps`); returns the names applied.
pub async fn up(conn: &DatabaseConnection, steps: Option<u32>) -> CliResult<Vec<String>> {
    let before = names(conn, MigrationStatus::Pending).await?;
    Migrator::up(conn, steps)
        .await
        .map_err(|e| CliError::error(format!("migrate up failed: {e}")))?;
    let after = names(conn, MigrationStatus::Pending).await?;
    Ok(before.into_iter().filter(|n| !after.contains(n)).collect())
}

/// Runs a migrate subcommand.
pub async fn run(global: &GlobalArgs, command: MigrateCommand) -> CliResult {
    let conn = db::connect(&global.database_url, Purpose::Migrate).await?;
    let failed = |what: &str, e: sea_orm::DbErr| CliError::error(format!("{what} failed: {e}"));
    match command {
        MigrateCommand::Up { steps } => {
            let applied = up(&conn, steps).await?;
            report(
                global,
                "apply: the database is up to date",
                "applied",
                &applied,
            );
        }
        MigrateCommand::Down { steps } => {
            let before = names(&conn, MigrationStatus::Applied).await?;
            Migrator::down(&conn, Some(steps))
                .await
                .map_err(|e| failed("migrate down", e))?;
            let after = names(&conn, MigrationStatus::Applied).await?;
            let rolled_back = before
                .into_iter()
                .rev()
                .filter(|n| !after.contains(n))
                .collect::<Vec<_>>();
            report(global, "roll back", "rolled back", &rolled_back);
        }
        MigrateCommand::Status => {
            let migrations = Migrator::get_migration_with_status(&conn)
                .await
                .map_err(|e| CliError::error(format!("cannot read the migration status: {e}")))?;
            if global.json {
                let list = migrations
                    .iter()
                    .map(|m| {
                        json!({
                            "name": m.name(),
                            "applied": m.status() == MigrationStatus::Applied,
                        })
                    })
                    .collect::<Vec<_>>();
                print_json(&list);
            } else {
                let mut table = Table::new(["MIGRATION", "STATUS"]);
                for m in &migrations {
                    let status = match m.status() {
                        MigrationStatus::Applied => "applied",
                        MigrationStatus::Pending => "pending",
                    };
                    table.row([m.name().to_owned(), status.to_owned()]);
                }
                print!("{}", table.render());
            }
        }
        MigrateCommand::Fresh { yes } => {
            if !yes {
                return Err(CliError::usage(
                    "`migrate fresh` drops every table and all data; pass --yes to confirm",
                ));
            }
            Migrator::fresh(&conn)
                .await
                .map_err(|e| failed("migrate fresh", e))?;
            let applied = names(&conn, MigrationStatus::Applied).await?;
            report(global, "apply", "applied", &applied);
        }
    }
    Ok(())
}
