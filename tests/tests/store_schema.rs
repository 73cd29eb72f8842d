//! The store checks the schema it is given: a database with pending migrations is refused with
//! `StoreError::PendingMigrations` naming them, on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_sea_orm::{REQUIRED_MIGRATIONS, SeaOrmStore, StoreError};
use operation_runs_tests::{Migrator, TestDb, on_every_backend};
use sea_orm_migration::MigratorTrait;

fn names() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

fn pending(err: StoreError) -> Vec<String> {
    match err {
        StoreError::PendingMigrations(pending) => pending,
        other => panic!("expected PendingMigrations, got {other}"),
    }
}

/// The store needs exactly the migration history: a migration added to it must be added to
/// the store's list (or the store would run on a schema it was not written for).
#[test]
fn the_store_requires_every_migration_of_the_history() {
    assert_eq!(REQUIRED_MIGRATIONS.map(str::to_owned).to_vec(), names());
}

async fn a_database_with_pending_migrations_is_refused(db: TestDb) {
    // New: everything pending, and nothing written (no migration table created).
    let err = SeaOrmStore::open(db.conn.clone()).await.unwrap_err();
    assert_eq!(pending(err), names());
    let err = SeaOrmStore::connect(&db.url).await.unwrap_err();
    let pending_count = format!("{} pending migration(s)", names().len());
    assert!(err.to_string().contains(&pending_count), "{err}");
    assert!(
        Migrator::get_migration_with_status_read_only(&db.conn)
            .await
            .unwrap()
            .iter()
            .all(|m| m.status() == sea_orm_migration::MigrationStatus::Pending)
    );

    // Part-way through the cutover: the steps still to run, oldest first.
    Migrator::up(&db.conn, Some(4)).await.unwrap();
    let err = SeaOrmStore::open(db.conn.clone()).await.unwrap_err();
    assert_eq!(pending(err), names()[4..].to_vec());

    // The cutover's last step still pending: refused (no unique index for one active run).
    Migrator::up(&db.conn, Some(2)).await.unwrap();
    let err = SeaOrmStore::connect(&db.url).await.unwrap_err();
    assert_eq!(pending(err), names()[6..].to_vec());

    Migrator::up(&db.conn, None).await.unwrap();
    SeaOrmStore::open(db.conn.clone()).await.unwrap();
    SeaOrmStore::connect(&db.url).await.unwrap();
}

async fn a_lost_migration_record_is_a_pending_migration(db: TestDb) {
    Migrator::up(&db.conn, None).await.unwrap();
    let last = names().pop().unwrap();
    db.exec(&format!(
        "DELETE FROM seaql_migrations WHERE version = '{last}'"
    ))
    .await;
    let err = SeaOrmStore::open(db.conn.clone()).await.unwrap_err();
    assert_eq!(pending(err), vec![last]);
}

on_every_backend!(new => a_database_with_pending_migrations_is_refused, a_lost_migration_record_is_a_pending_migration);
