//! The `Provisioning` look-ups (`find_workspace`, `find_tenant`, `find_backup_schedule`) keep
//! their contract on every backend: exact names, the oldest match, never outside the scope
//! they are given.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_domain::WorkspaceId;
use operation_runs_memory::MemoryStore;
use operation_runs_ports::Provisioning;
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_tests::{TestDb, on_every_backend};

async fn lookups_find_the_oldest_match_in_scope(store: &dyn Provisioning) {
    assert_eq!(store.find_workspace("Acme").await.unwrap(), None);

    let acme = store.create_workspace("Acme").await.unwrap();
    let acme_again = store.create_workspace("Acme").await.unwrap();
    let globex = store.create_workspace("Globex").await.unwrap();
    assert_eq!(store.find_workspace("Acme").await.unwrap(), Some(acme));
    assert_eq!(store.find_workspace("Globex").await.unwrap(), Some(globex));
    assert_eq!(store.find_workspace("acme").await.unwrap(), None, "exact");
    assert_eq!(store.find_workspace("Acme ").await.unwrap(), None, "exact");

    let prod = store.create_tenant(acme, "prod").await.unwrap();
    let other_prod = store.create_tenant(acme_again, "prod").await.unwrap();
    store.create_tenant(acme, "prod").await.unwrap();
    assert_eq!(store.find_tenant(acme, "prod").await.unwrap(), Some(prod));
    assert_eq!(
        store.find_tenant(acme_again, "prod").await.unwrap(),
        Some(other_prod)
    );
    assert_eq!(store.find_tenant(globex, "prod").await.unwrap(), None);
    assert_eq!(store.find_tenant(acme, "Prod").await.unwrap(), None);
    assert_eq!(
        store
            .find_tenant(WorkspaceId::new(999_999), "prod")
            .await
            .unwrap(),
        None,
        "an unknown workspace has no tenants"
    );

    let create_nightly = async |ws, tenant, keep_last| {
        store
            .create_backup_schedule(ws, tenant, "nightly", keep_last)
            .await
            .unwrap()
    };
    let first = create_nightly(acme, prod, 2).await;
    create_nightly(acme, prod, 5).await;
    let elsewhere = create_nightly(acme_again, other_prod, 1).await;
    assert_eq!(
        store
            .find_backup_schedule(acme, prod, "nightly")
            .await
            .unwrap(),
        Some(first.clone()),
        "the oldest, as stored"
    );
    assert_eq!(first.keep_last, 2);
    assert_eq!(
        store
            .find_backup_schedule(acme_again, other_prod, "nightly")
            .await
            .unwrap(),
        Some(elsewhere)
    );
    for (workspace, tenant, name) in [
        (acme_again, prod, "nightly"),
        (acme, other_prod, "nightly"),
        (acme, prod, "weekly"),
        (acme, prod, "Nightly"),
    ] {
        assert_eq!(
            store
                .find_backup_schedule(workspace, tenant, name)
                .await
                .unwrap(),
            None,
            "{workspace} {tenant} {name}"
        );
    }
}

async fn lookups(db: TestDb) {
    lookups_find_the_oldest_match_in_scope(&SeaOrmStore::from_connection(db.conn.clone())).await;
}

on_every_backend!(migrated => lookups);

#[tokio::test]
async fn memory_lookups() {
    lookups_find_the_oldest_match_in_scope(&MemoryStore::new()).await;
}
