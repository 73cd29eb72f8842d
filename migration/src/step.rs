//! The one frame around every migration of the history.
//!
//! A step says only where it runs ([`Mode`]) and what it does on the connection it is given;
//! [`Frame`] turns it into a SeaORM migration. The step keeps its `DeriveMigrationName`, so its
//! name (the file's stem, recorded in `seaql_migrations`) is the one it always had.

use crate::live;
use crate::sql::{self, Flavor};
use sea_orm_migration::prelude::*;
use sea_orm_migration::{MigrationName, SchemaManagerConnection};

/// Where a step runs.
pub(crate) enum Mode {
    /// Inside the migrator's transaction, on every backend.
    Transaction,
    /// Outside it, each statement committing on its own (see [`live`]); on SQLite in one
    /// transaction of its own ([`live::begin_if_sqlite`]). `up` first passes the test hook
    /// [`live::pause_point`] of the name given.
    Live(&'static str),
}

/// One migration of the history, on the connection its [`Mode`] gives it.
#[async_trait::async_trait]
pub(crate) trait Step: MigrationName + Send + Sync {
    const MODE: Mode;

    async fn up(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr>;

    async fn down(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr>;
}

/// `step` as one of the [`Migrator`](crate::Migrator)'s migrations.
pub(crate) fn migration<S: Step + 'static>(step: S) -> Box<dyn MigrationTrait> {
    Box::new(Frame(step))
}

/// A [`Step`] as a SeaORM migration.
struct Frame<S>(S);

impl<S: Step> MigrationName for Frame<S> {
    fn name(&self) -> &str {
        self.0.name()
    }
}

/// Which half of a step [`Frame::run`] runs.
#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

impl<S: Step> Frame<S> {
    async fn run(&self, manager: &SchemaManager<'_>, direction: Direction) -> Result<(), DbErr> {
        let Mode::Live(pause_point) = S::MODE else {
            return self.work(manager.get_connection(), direction).await;
        };
        if let Direction::Up = direction {
            live::pause_point(pause_point).await;
        }
        let transaction = live::begin_if_sqlite(manager).await?;
        self.work(live::conn(manager, &transaction), direction)
            .await?;
        live::commit(transaction).await
    }

    async fn work(
        &self,
        db: &SchemaManagerConnection<'_>,
        direction: Direction,
    ) -> Result<(), DbErr> {
        let flavor = sql::flavor(db)?;
        match direction {
            Direction::Up => self.0.up(db, flavor).await,
            Direction::Down => self.0.down(db, flavor).await,
        }
    }
}

#[async_trait::async_trait]
impl<S: Step> MigrationTrait for Frame<S> {
    fn use_transaction(&self) -> Option<bool> {
        Some(matches!(S::MODE, Mode::Transaction))
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        self.run(manager, Direction::Up).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        self.run(manager, Direction::Down).await
    }
}

#[cfg(test)]
mod tests {
    use crate::Migrator;
    use sea_orm_migration::MigratorTrait;

    /// The names are the keys of `seaql_migrations`, and which steps run outside the migrator's
    /// transaction is what lets the cutover run on a live database.
    #[test]
    fn the_history_keeps_its_names_and_transactions() {
        let history: Vec<(String, Option<bool>)> = Migrator::migrations()
            .iter()
            .map(|m| (m.name().to_owned(), m.use_transaction()))
            .collect();
        let expected = [
            ("m20260101_000001_create_baseline_schema", true),
            ("m20260212_000001_canonicalize_run_types", true),
            ("m20260212_000002_add_finding_operation_run_refs", false),
            ("m20260212_000003_backfill_operation_run_refs", false),
            ("m20260212_000004_drop_legacy_reference_columns", false),
            ("m20260212_000005_drop_legacy_run_tables", false),
            ("m20260212_000006_canonical_run_indexes", false),
            ("m20260301_000001_create_api_tokens", true),
        ]
        .map(|(name, transaction)| (name.to_owned(), Some(transaction)));
        assert_eq!(history, expected);
    }
}
