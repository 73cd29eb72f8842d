//! The harness itself: each backend gives a fresh, working, isolated database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_tests::{TestDb, on_every_backend};

async fn fresh_database_is_empty_and_private(db: TestDb) {
    db.exec("CREATE TABLE probe (id BIGINT PRIMARY KEY)").await;
    db.exec("INSERT INTO probe (id) VALUES (1)").await;
    assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM probe").await, Some(1));
    let other = db.connect_again().await;
    drop(other);
}

on_every_backend!(new => fresh_database_is_empty_and_private);

/// Each store of the generic suites starts empty and is its own; another handle on it (another
/// connection pool, or a clone of the in-memory store) sees the same data.
mod stores {
    use operation_runs_tests::{TestStore, on_every_store};

    async fn fresh_store_is_private_and_its_handles_share_it(harness: TestStore) {
        let ws = harness.store.create_workspace("Contoso").await.unwrap();
        let other = harness.another_handle().await;
        let tenant = other.create_tenant(ws, "contoso.example").await.unwrap();
        assert_eq!(
            harness.store.tenant_workspace(tenant).await.unwrap(),
            Some(ws)
        );
        let fresh = TestStore::new(harness.backend).await.unwrap();
        assert_eq!(fresh.store.tenant_workspace(tenant).await.unwrap(), None);
    }

    on_every_store!(fresh_store_is_private_and_its_handles_share_it);
}
