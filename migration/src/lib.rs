//! Migration history of Operation Runs (being written).
pub use sea_orm_migration::prelude::*;

/// The migration history.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![]
    }
}
