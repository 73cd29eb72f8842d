//! `operation-runs-migration`: SeaORM's migration CLI over this history
//! (`up`, `down`, `status`, `fresh`, …; `DATABASE_URL` selects the database).
#![forbid(unsafe_code)]

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(operation_runs_migration::Migrator).await;
}
