//! `oprun migrate up|down|status|fresh`.

use crate::cli::{GlobalArgs, MigrateCommand};
use crate::db::{self, Purpose};
use crate::error::{CliError, CliResult, Exit};
use crate::output::{Table, print_json};
use operation_runs_domain::RunTypeRegistry;
use operation_runs_migration::{CutoverError, DataLoss, Migrator, up_checked};
use sea_orm::DatabaseConnection;
use sea_orm_migration::{MigrationStatus, MigratorTrait};
use serde_json::json;
use std::collections::BTreeSet;

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

/// Migrations whose `down` gives back exactly what their `up` took: rolling back one of them
/// alone needs no confirmation. Any other (including one added later) does.
const LOSSLESS_DOWN: [&str; 3] = [
    // drops indexes; `up` builds them again
    "m20260212_000006_canonical_run_indexes",
    // no-ops: `up` again changes nothing that matters
    "m20260212_000003_backfill_operation_run_refs",
    "m20260212_000001_canonicalize_run_types",
];

/// What rolling back a migration loses, for the confirmation message.
fn loss(name: &str) -> &'static str {
    match name {
        "m20260101_000001_create_baseline_schema" => "drops every table and all data",
        "m20260212_000002_add_finding_operation_run_refs" => "drops the findings' run references",
        "m20260212_000004_drop_legacy_reference_columns" => {
            "re-adds the legacy reference columns empty (their values cannot be restored)"
        }
        "m20260212_000005_drop_legacy_run_tables" => {
            "recreates the legacy run tables empty (their rows cannot be restored)"
        }
        "m20260301_000001_create_api_tokens" => {
            "drops the API tokens of `oprun serve` (every token stops working)"
        }
        _ => "cannot be undone without losing data",
    }
}

/// Refuses, without `--yes`, a rollback of several migrations or of one that cannot give back
/// the data its `up` removed (past the cutover's destructive steps, or the baseline).
fn confirm_down(applied: &[String], steps: u32) -> CliResult {
    let count = usize::try_from(steps).unwrap_or(usize::MAX);
    let rolled_back = applied.iter().rev().take(count).collect::<Vec<_>>();
    let lossy = rolled_back
        .iter()
        .filter(|name| !LOSSLESS_DOWN.contains(&name.as_str()))
        .map(|name| format!("{name} {}", loss(name)))
        .collect::<Vec<_>>();
    if rolled_back.len() <= 1 && lossy.is_empty() {
        return Ok(());
    }
    let command = if steps == 1 {
        "`migrate down`".to_owned()
    } else {
        format!("`migrate down --steps {steps}`")
    };
    let names = rolled_back
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let what = if lossy.is_empty() {
        format!("rolls back {} migrations ({names})", rolled_back.len())
    } else {
        format!(
            "rolls back {} migration(s), losing data: {}",
            rolled_back.len(),
            lossy.join("; ")
        )
    };
    Err(CliError::usage(format!(
        "{command} {what}; pass --yes to confirm"
    )))
}

/// Applies the pending migrations (or the next `steps`) behind the preflight's data-loss gate;
/// returns the names applied. A refusal prints the preflight on stderr and exits 6.
pub async fn up(
    conn: &DatabaseConnection,
    steps: Option<u32>,
    data_loss: DataLoss,
) -> CliResult<Vec<String>> {
    let allowed = RunTypeRegistry::with_builtins()
        .iter()
        .map(|d| d.id().to_string())
        .collect::<BTreeSet<_>>();
    match up_checked(conn, steps, &allowed, data_loss).await {
        Ok(applied) => Ok(applied.migrations),
        Err(CutoverError::WouldLoseData(report)) => {
            eprint!("{report}");
            Err(CliError::new(
                Exit::WouldLoseData,
                "migrate up refused: the cutover would lose data (see the preflight above); \
                 nothing was applied. Pass --accept-data-loss to apply it anyway",
            ))
        }
        Err(e) => Err(CliError::error(format!("migrate up failed: {e}"))),
    }
}

/// Runs a migrate subcommand.
pub async fn run(global: &GlobalArgs, command: MigrateCommand) -> CliResult {
    let conn = db::connect(&global.database_url, Purpose::Migrate).await?;
    let failed = |what: &str, e: sea_orm::DbErr| CliError::error(format!("{what} failed: {e}"));
    match command {
        MigrateCommand::Up {
            steps,
            accept_data_loss,
        } => {
            let data_loss = if accept_data_loss {
                DataLoss::Accept
            } else {
                DataLoss::Refuse
            };
            let applied = up(&conn, steps, data_loss).await?;
            report(
                global,
                "apply: the database is up to date",
                "applied",
                &applied,
            );
        }
        MigrateCommand::Down { steps, yes } => {
            let before = names(&conn, MigrationStatus::Applied).await?;
            if !yes {
                confirm_down(&before, steps)?;
            }
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

#[cfg(test)]
mod tests {
    use super::{LOSSLESS_DOWN, loss};
    use operation_runs_migration::Migrator;
    use sea_orm_migration::MigratorTrait;

    /// The names the confirmation knows are those of the history: a renamed migration must not
    /// silently lose its explanation or its exemption.
    #[test]
    fn the_named_migrations_exist() {
        let names = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect::<Vec<_>>();
        for name in LOSSLESS_DOWN {
            assert!(names.iter().any(|n| n == name), "{name}");
        }
        let explained = names.iter().filter(|n| loss(n) != loss("unknown")).count();
        assert_eq!(explained + LOSSLESS_DOWN.len(), names.len(), "{names:?}");
    }
}
