use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "findings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub tenant_id: i64,
    pub subject_external_id: String,
    pub change: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub details: Json,
    pub baseline_operation_run_id: Option<i64>,
    pub current_operation_run_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
