//! The cutover's statements on the connections a host may hand the migrator: a pool of one
//! connection (the concurrent index builds use a connection of their own and must not wait for
//! a second one), and a transaction (the statements then run plainly inside it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_migration::fixtures::seed_legacy_edge_cases;
use operation_runs_tests::{Backend, Migrator, TestDb, on_every_backend};
use sea_orm::{ConnectOptions, Database, TransactionTrait};
use sea_orm_migration::MigratorTrait;

async fn all_applied(db: &TestDb) {
    let pending = Migrator::get_pending_migrations_read_only(&db.conn)
        .await
        .unwrap();
    assert!(
        pending.is_empty(),
        "{:?}",
        pending.iter().map(|m| m.name()).collect::<Vec<_>>()
    );
    if db.backend == Backend::Postgres {
        let invalid = db
            .scalar_i64("SELECT COUNT(*) FROM pg_index WHERE NOT indisvalid")
            .await;
        assert_eq!(invalid, Some(0));
    }
    let index = match db.backend {
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'operation_runs_active_identity_key'"
        }
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master \
             WHERE name = 'operation_runs_active_identity_key'"
        }
        Backend::MariaDb => {
            "SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND index_name = 'operation_runs_active_identity_key'"
        }
    };
    assert_eq!(db.scalar_i64(index).await, Some(1));
}

async fn the_cutover_runs_on_a_pool_of_one_connection(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    seed_legacy_edge_cases(&db.conn).await.unwrap();
    let mut options = ConnectOptions::new(db.url.clone());
    options
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(60))
        .sqlx_logging(false);
    let single = Database::connect(options).await.unwrap();
    Migrator::up(&single, None).await.unwrap();
    single.close().await.unwrap();
    all_applied(&db).await;
}

async fn the_cutover_runs_inside_a_transaction_it_is_given(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    seed_legacy_edge_cases(&db.conn).await.unwrap();
    let transaction = db.conn.begin().await.unwrap();
    if db.backend == Backend::MariaDb {
        // MariaDB commits every DDL statement implicitly, ending the transaction it was handed:
        // a transaction cannot hold the cutover there, and the migrator says so.
        assert!(Migrator::up(&transaction, None).await.is_err());
        return;
    }
    Migrator::up(&transaction, None).await.unwrap();
    transaction.commit().await.unwrap();
    all_applied(&db).await;
}

on_every_backend!(new => the_cutover_runs_on_a_pool_of_one_connection, the_cutover_runs_inside_a_transaction_it_is_given);
