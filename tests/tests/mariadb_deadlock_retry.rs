//! A start that InnoDB picks as a deadlock victim (error 1213) is sent again a bounded number of
//! times; once the retries are spent the caller gets a typed contention error and nothing is
//! written. The deadlocks are real server errors: a trigger on `operation_runs` raises 1213 for
//! as many inserts as a counter in a non-transactional table allows (its decrement survives the
//! statement's rollback), so the test decides how often the start loses.
//! Skipped when MariaDB does not answer; a failure with `OPRUN_REQUIRE_MARIADB=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_domain::RunTypeRegistry;
use operation_runs_ports::{PortError, Provisioning};
use operation_runs_sea_orm::{SeaOrmStore, StoreError};
use operation_runs_service::{OperationRunService, ServiceError, ServicePorts, StartRequest};
use operation_runs_tests::{Backend, TestDb};
use std::sync::Arc;

/// A migrated MariaDB database whose inserts into `operation_runs` fail with 1213 while the
/// injection counter is above zero.
async fn deadlocking_db() -> Option<TestDb> {
    let db = TestDb::migrated(Backend::MariaDb).await?;
    db.exec("CREATE TABLE deadlocks_to_inject (n INT NOT NULL) ENGINE=MyISAM")
        .await;
    db.exec("INSERT INTO deadlocks_to_inject VALUES (0)").await;
    db.exec(
        "CREATE TRIGGER inject_deadlock BEFORE INSERT ON operation_runs FOR EACH ROW \
         BEGIN \
           IF (SELECT n FROM deadlocks_to_inject) > 0 THEN \
             UPDATE deadlocks_to_inject SET n = n - 1; \
             SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, \
               MESSAGE_TEXT = 'Deadlock found when trying to get lock (injected)'; \
           END IF; \
         END",
    )
    .await;
    Some(db)
}

async fn inject(db: &TestDb, deadlocks: i64) {
    db.exec(&format!("UPDATE deadlocks_to_inject SET n = {deadlocks}"))
        .await;
}

async fn injections_left(db: &TestDb) -> i64 {
    db.scalar_i64("SELECT n FROM deadlocks_to_inject")
        .await
        .unwrap()
}

async fn runs_stored(db: &TestDb) -> i64 {
    db.scalar_i64("SELECT COUNT(*) FROM operation_runs")
        .await
        .unwrap()
}

/// A service over the database and a start request for a fresh workspace and tenant.
async fn service_and_request(db: &TestDb) -> (OperationRunService, StartRequest) {
    let store = SeaOrmStore::from_connection(db.conn.clone());
    let ws = store.create_workspace("Contoso").await.unwrap();
    let tenant = store.create_tenant(ws, "contoso.example").await.unwrap();
    let service = OperationRunService::new(
        ServicePorts::from_store(Arc::new(store)),
        RunTypeRegistry::with_builtins(),
    );
    let request = StartRequest::new(ws, "inventory_sync", "scheduler").tenant(tenant);
    (service, request)
}

#[tokio::test]
async fn a_start_that_loses_a_few_deadlocks_is_sent_again_and_inserts_once() {
    let Some(db) = deadlocking_db().await else {
        return;
    };
    let (service, request) = service_and_request(&db).await;
    inject(&db, 3).await;

    let started = service.start(request.clone()).await.unwrap();

    assert!(!started.is_reused());
    assert_eq!(injections_left(&db).await, 0, "every deadlock was retried");
    assert_eq!(runs_stored(&db).await, 1);
    let again = service.start(request).await.unwrap();
    assert!(again.is_reused());
    assert_eq!(again.into_run().id(), started.into_run().id());
}

#[tokio::test]
async fn a_start_that_keeps_deadlocking_gives_up_with_a_contention_error_and_writes_nothing() {
    let Some(db) = deadlocking_db().await else {
        return;
    };
    let (service, request) = service_and_request(&db).await;
    let injected = 1_000;
    inject(&db, injected).await;

    let err = service.start(request).await.unwrap_err();

    let ServiceError::Port(PortError::Backend(source)) = &err else {
        panic!("expected a store failure, got {err:?}");
    };
    assert!(
        matches!(
            source.downcast_ref::<StoreError>(),
            Some(StoreError::Contention(_))
        ),
        "expected a contention error, got {source:?}"
    );
    assert!(err.to_string().contains("deadlocking"), "{err}");
    let attempts = injected - injections_left(&db).await;
    assert!(
        (2..=20).contains(&attempts),
        "a bounded number of attempts, more than one: {attempts}"
    );
    assert_eq!(runs_stored(&db).await, 0);
}
