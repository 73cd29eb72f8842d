use sea_orm::entity::prelude::*;

/// Status and outcome stay strings here: a row with an unknown spelling must surface as a clear
/// backend error from the conversion, not as an opaque decoding failure.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operation_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub tenant_id: Option<i64>,
    pub user_id: Option<i64>,
    pub initiator_name: String,
    #[sea_orm(column_name = "type")]
    pub run_type: String,
    pub status: String,
    pub outcome: String,
    pub run_identity_hash: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub summary_counts: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub failure_summary: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub context: Json,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
