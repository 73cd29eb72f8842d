//! What only the SQL store can show: connections opened before the cutover, connecting by URL,
//! and rows written by other writers (unknown types, corrupt values), on every SQL backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_domain::RunType;
use operation_runs_ports::{Provisioning, RunFilter, RunLifecycle, WorkspaceDirectory};
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_tests::RawColumn::Text;
use operation_runs_tests::{Backend, Migrator, TestDb, TestStore, newest_page, on_every_backend};
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;
use serde_json::json;
use support::{fixture, new_run, t0};

// The conformance suite's fixture and builders; this file uses a few of them.
#[path = "conformance/support.rs"]
#[allow(dead_code)]
mod support;

/// A service may open its pool before the migrations finish (or run them through that pool).
/// SQLite connections keep the schema they last loaded, so starting a run must not depend on a
/// connection having seen the active-identity index being created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_opened_before_the_cutover_can_start_runs() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::new(backend).await else {
            continue;
        };
        Migrator::up(&db.conn, Some(1)).await.unwrap();
        let early = db.connect_again().await;
        early
            .execute_unprepared("SELECT count(*) FROM operation_runs")
            .await
            .unwrap();
        Migrator::up(&db.conn, None).await.unwrap();

        let admin = SeaOrmStore::from_connection(db.conn.clone());
        let ws = admin.create_workspace("Contoso").await.unwrap();
        let early = SeaOrmStore::from_connection(early);
        let new = new_run(ws, None, RunType::DRIFT_GENERATE, json!({}), t0());
        let first = early.insert_or_get_active(&new).await;
        assert!(
            matches!(&first, Ok(s) if !s.reused),
            "{backend:?}: {first:?}"
        );
        let second = early.insert_or_get_active(&new).await.unwrap();
        assert!(second.reused, "{backend:?}");
        // A tenant's run goes through the insert that checks the tenant in the same statement.
        let tenant = admin.create_tenant(ws, "contoso.example").await.unwrap();
        let new = new_run(ws, Some(tenant), RunType::INVENTORY_SYNC, json!({}), t0());
        let first = early.insert_or_get_active(&new).await;
        assert!(
            matches!(&first, Ok(s) if !s.reused && s.run.tenant_id() == Some(tenant)),
            "{backend:?}: {first:?}"
        );
        let second = early.insert_or_get_active(&new).await.unwrap();
        assert!(second.reused, "{backend:?}");
        early.connection().clone().close().await.unwrap();
    }
}

async fn connecting_by_url_reaches_the_same_database(db: TestDb) {
    let url = db.url.clone();
    let f = fixture(TestStore::from_db(db)).await;
    let other = SeaOrmStore::connect(&url).await.unwrap();
    let ws = other.create_workspace("Fabrikam").await.unwrap();
    let tenant = other.create_tenant(ws, "fabrikam.example").await.unwrap();
    assert_eq!(f.store.tenant_workspace(tenant).await.unwrap(), Some(ws));
    assert_eq!(other.tenant_workspace(f.tenant).await.unwrap(), Some(f.ws));
    other.connection().clone().close().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Reading what other writers stored

async fn unknown_stored_types_and_statuses_stay_readable(db: TestDb) {
    let f = fixture(TestStore::from_db(db)).await;
    let run = f.queued(1, t0()).await;
    f.harness
        .overwrite_run(&run, &[("type", Text("legacy.thing_sync"))])
        .await;
    let read = f.store.get(run.id()).await.unwrap();
    assert_eq!(read.run_type(), "legacy.thing_sync");
    assert_eq!(
        f.list_all(RunFilter {
            run_type: Some("legacy.thing_sync".into()),
            ..Default::default()
        })
        .await,
        vec![run.id()]
    );

    let broken = f.queued(2, t0()).await;
    f.harness
        .overwrite_run(&broken, &[("status", Text("done"))])
        .await;
    // An unknown status leaves the run readable, its status marked with what the row holds.
    let read = f.store.get(broken.id()).await.unwrap();
    let status = read.status();
    let unreadable = status.unreadable().expect("`done` is no status");
    assert_eq!(unreadable.raw(), "done");
    assert!(
        unreadable.reason().contains("unknown run status"),
        "{unreadable}"
    );
    assert_eq!(
        read.run_type(),
        broken.run_type(),
        "the rest stays readable"
    );
    // A list that meets the row shows it instead of failing or hiding it.
    let listed = f.store.list(&newest_page(f.ws, 10)).await.unwrap();
    let ids: Vec<_> = listed.runs.iter().map(|r| r.id()).collect();
    assert_eq!(ids, vec![broken.id(), run.id()]);
}

on_every_backend!(migrated =>
    connecting_by_url_reaches_the_same_database,
    unknown_stored_types_and_statuses_stay_readable,
);
