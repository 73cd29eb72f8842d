//! What MariaDB's schema guarantees beyond the conformance suite: byte-exact comparisons, the
//! generated column behind "one active run per identity" (computed by the server, never
//! written), JSON checked on write, microsecond UTC times, and the store's server check.
//! Skipped when MariaDB does not answer; a failure with `OPRUN_REQUIRE_MARIADB=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_domain::{RunStatus, WorkspaceId};
use operation_runs_ports::{Provisioning, RunFilter, RunListQuery, RunQueries};
use operation_runs_sea_orm::{DatabaseTarget, DatabaseUrl, SeaOrmStore};
use operation_runs_tests::{Backend, TestDb};
use sea_orm::ConnectionTrait;

async fn migrated() -> Option<TestDb> {
    TestDb::migrated(Backend::MariaDb).await
}

async fn text(db: &TestDb, sql: &str) -> Vec<String> {
    db.conn
        .query_all_raw(sea_orm::Statement::from_string(
            db.db_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| {
            row.try_get_by_index::<Option<String>>(0)
                .unwrap()
                .unwrap_or_else(|| "NULL".into())
        })
        .collect()
}

/// A workspace and tenant, and a run inserted by hand with `run_type` and `hash`.
async fn run_row(db: &TestDb, store: &SeaOrmStore, run_type: &str, hash: &str) -> WorkspaceId {
    let ws = store.create_workspace("w").await.unwrap();
    let tenant = store.create_tenant(ws, "t").await.unwrap();
    db.exec(&format!(
        "INSERT INTO operation_runs (workspace_id, tenant_id, initiator_name, type, status, \
         outcome, run_identity_hash) VALUES ({}, {}, 'system', '{run_type}', 'queued', \
         'pending', '{hash}')",
        ws.get(),
        tenant.get()
    ))
    .await;
    ws
}

#[tokio::test]
async fn hashes_types_and_statuses_compare_byte_for_byte() {
    let Some(db) = migrated().await else { return };
    let collations = text(
        &db,
        "SELECT DISTINCT collation_name FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name = 'operation_runs' \
         AND column_name IN ('type', 'status', 'outcome', 'run_identity_hash', \
           'active_identity_hash')",
    )
    .await;
    assert_eq!(collations, ["utf8mb4_nopad_bin"]);
    // Neither case nor a trailing space makes two spellings equal.
    let store = SeaOrmStore::from_connection(db.conn.clone());
    let ws = run_row(&db, &store, "Inventory_Sync ", &"a".repeat(64)).await;
    let query = RunListQuery {
        workspace_id: ws,
        filter: RunFilter {
            run_type: Some("inventory_sync".into()),
            ..RunFilter::default()
        },
        after: None,
        newer_than: None,
        limit: 10,
    };
    assert!(store.list(&query).await.unwrap().runs.is_empty());
    let all = RunListQuery {
        filter: RunFilter::default(),
        ..query
    };
    assert_eq!(store.list(&all).await.unwrap().runs.len(), 1);
    // Two hashes differing by a trailing space are two identities, both active.
    let tenant = db.scalar_i64("SELECT MAX(id) FROM tenants").await.unwrap();
    db.exec(&format!(
        "INSERT INTO operation_runs (workspace_id, tenant_id, initiator_name, type, status, \
         outcome, run_identity_hash) VALUES ({}, {tenant}, 'system', 'inventory_sync', \
         'queued', 'pending', '{} ')",
        ws.get(),
        "a".repeat(64)
    ))
    .await;
}

#[tokio::test]
async fn the_active_identity_column_is_the_servers_alone() {
    let Some(db) = migrated().await else { return };
    let store = SeaOrmStore::from_connection(db.conn.clone());
    let hash = "b".repeat(64);
    let ws = run_row(&db, &store, "inventory_sync", &hash).await;
    let active = "SELECT active_identity_hash FROM operation_runs ORDER BY id";
    assert_eq!(text(&db, active).await, std::slice::from_ref(&hash));
    // A second active run of the identity is refused by the unique key.
    let tenant = db.scalar_i64("SELECT MAX(id) FROM tenants").await.unwrap();
    let second = format!(
        "INSERT INTO operation_runs (workspace_id, tenant_id, initiator_name, type, status, \
         outcome, run_identity_hash) VALUES ({}, {tenant}, 'system', 'inventory_sync', \
         'running', 'pending', '{hash}')",
        ws.get()
    );
    let refused = db.conn.execute_unprepared(&second).await.unwrap_err();
    assert!(refused.to_string().contains("Duplicate entry"), "{refused}");
    // Completed, the run leaves the key: NULL never conflicts, so the identity starts again.
    db.exec("UPDATE operation_runs SET status = 'completed', outcome = 'succeeded'")
        .await;
    assert_eq!(text(&db, active).await, ["NULL"]);
    db.exec(&second).await;
    assert_eq!(text(&db, active).await, ["NULL".to_owned(), hash]);
    // The application cannot write it.
    let written = db
        .conn
        .execute_unprepared("UPDATE operation_runs SET active_identity_hash = 'x'")
        .await
        .unwrap_err();
    assert!(
        written.to_string().contains("generated column"),
        "{written}"
    );
}

#[tokio::test]
async fn json_is_checked_on_write_and_times_keep_microseconds() {
    let Some(db) = migrated().await else { return };
    let store = SeaOrmStore::from_connection(db.conn.clone());
    run_row(&db, &store, "inventory_sync", &"c".repeat(64)).await;
    for column in ["summary_counts", "failure_summary", "context"] {
        let refused = db
            .conn
            .execute_unprepared(&format!(
                "UPDATE operation_runs SET {column} = '{{not json'"
            ))
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("CONSTRAINT"),
            "{column}: {refused}"
        );
    }
    let types = text(
        &db,
        "SELECT DISTINCT column_type FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name = 'operation_runs' \
         AND column_name LIKE '%\\_at'",
    )
    .await;
    assert_eq!(types, ["datetime(6)"]);
    let run = store
        .get(operation_runs_domain::RunId::new(
            db.scalar_i64("SELECT MAX(id) FROM operation_runs")
                .await
                .unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Queued);
}

#[tokio::test]
async fn the_store_connects_with_a_mysql_url_and_checks_the_server() {
    let Some(db) = migrated().await else { return };
    let url = DatabaseUrl::parse(&db.url).unwrap();
    assert_eq!(url.target(), DatabaseTarget::MariaDb);
    let store = SeaOrmStore::connect(&db.url).await.unwrap();
    let version = text(&db, "SELECT VERSION()").await;
    assert!(version[0].contains("MariaDB"), "{version:?}");
    store.connection().clone().close().await.unwrap();
    // An empty database is refused for its pending migrations, after the server check.
    let empty = TestDb::new(Backend::MariaDb).await.unwrap();
    let err = SeaOrmStore::connect(&empty.url).await.unwrap_err();
    assert!(
        matches!(
            err,
            operation_runs_sea_orm::StoreError::PendingMigrations(_)
        ),
        "{err}"
    );
}
