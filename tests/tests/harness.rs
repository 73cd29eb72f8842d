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
