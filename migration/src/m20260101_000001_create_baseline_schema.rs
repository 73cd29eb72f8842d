//! The schema as it stood before the cutover: the canonical tables, the legacy run tables and
//! their bridge columns.
//!
//! Every statement is `IF NOT EXISTS`, so running the baseline against a database that already
//! has the pre-cutover schema (created before this history existed) adopts it without change; on
//! a database already past the cutover it does nothing.
//!
//! `down` drops every table; the data in them is gone for good.

use crate::names::LEGACY_RUN_TABLES;
use crate::sql::{self, Flavor};
use crate::step::{Mode, Step};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;

/// Creates the pre-cutover schema.
#[derive(DeriveMigrationName)]
pub struct Migration;

fn statements(flavor: Flavor) -> Vec<String> {
    let t = sql::types(flavor);
    let mut out = vec![
        t.ddl(
            "CREATE TABLE IF NOT EXISTS workspaces (
  id {id},
  name {text} NOT NULL,
  created_at {time} NOT NULL DEFAULT {now}
)",
        ),
        t.ddl(
            "CREATE TABLE IF NOT EXISTS tenants (
  id {id},
  workspace_id {bigint} NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name {text} NOT NULL,
  created_at {time} NOT NULL DEFAULT {now}
)",
        ),
        "CREATE INDEX IF NOT EXISTS tenants_workspace_id_idx ON tenants (workspace_id)".to_owned(),
        t.ddl(
            "CREATE TABLE IF NOT EXISTS workspace_memberships (
  workspace_id {bigint} NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  user_id {bigint} NOT NULL,
  can_view_operations {boolean} NOT NULL DEFAULT FALSE,
  can_manage_operations {boolean} NOT NULL DEFAULT FALSE,
  created_at {time} NOT NULL DEFAULT {now},
  PRIMARY KEY (workspace_id, user_id)
)",
        ),
        "CREATE INDEX IF NOT EXISTS workspace_memberships_user_id_idx \
         ON workspace_memberships (user_id)"
            .to_owned(),
        t.ddl(
            "CREATE TABLE IF NOT EXISTS operation_runs (
  id {id},
  workspace_id {bigint} NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  tenant_id {bigint} NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id {bigint} NULL,
  initiator_name {text} NOT NULL,
  type {key_text} NOT NULL,
  status {key_text} NOT NULL,
  outcome {key_text} NOT NULL,
  run_identity_hash {key_text} NOT NULL,
  summary_counts {json} NOT NULL DEFAULT '{}',
  failure_summary {json} NOT NULL DEFAULT '[]',
  context {json} NOT NULL DEFAULT '{}',
  started_at {time} NULL,
  completed_at {time} NULL,
  created_at {time} NOT NULL DEFAULT {now},
  updated_at {time} NOT NULL DEFAULT {now}
)",
        ),
        "CREATE INDEX IF NOT EXISTS operation_runs_workspace_id_run_identity_hash_idx \
         ON operation_runs (workspace_id, run_identity_hash)"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS operation_runs_tenant_id_idx ON operation_runs (tenant_id)"
            .to_owned(),
        sql::inventory_items_table(flavor, "inventory_items", true),
    ];
    out.extend(sql::inventory_items_indexes());
    out.push(
        "CREATE INDEX IF NOT EXISTS inventory_items_last_seen_run_id_idx \
         ON inventory_items (last_seen_run_id)"
            .to_owned(),
    );
    out.push(sql::findings_table(flavor, "findings", true, false));
    out.push(sql::findings_tenant_index());
    out.extend(sql::findings_legacy_indexes());
    out.extend([
        t.ddl(
            "CREATE TABLE IF NOT EXISTS backup_schedules (
  id {id},
  workspace_id {bigint} NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  tenant_id {bigint} NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name {text} NOT NULL,
  frequency {key_text} NOT NULL DEFAULT 'daily',
  keep_last {int} NOT NULL DEFAULT 7,
  is_enabled {boolean} NOT NULL DEFAULT TRUE,
  created_at {time} NOT NULL DEFAULT {now},
  updated_at {time} NOT NULL DEFAULT {now}
)",
        ),
        "CREATE INDEX IF NOT EXISTS backup_schedules_tenant_id_idx ON backup_schedules (tenant_id)"
            .to_owned(),
        t.ddl(
            "CREATE TABLE IF NOT EXISTS backup_sets (
  id {id},
  workspace_id {bigint} NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  tenant_id {bigint} NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  backup_schedule_id {bigint} NULL REFERENCES backup_schedules (id) ON DELETE SET NULL,
  name {text} NOT NULL,
  item_count {bigint} NOT NULL DEFAULT 0,
  created_at {time} NOT NULL DEFAULT {now},
  deleted_at {time} NULL
)",
        ),
        "CREATE INDEX IF NOT EXISTS backup_sets_backup_schedule_id_deleted_at_idx \
         ON backup_sets (backup_schedule_id, deleted_at)"
            .to_owned(),
    ]);
    out.extend(sql::legacy_run_tables(flavor));
    out
}

/// The other tables, in an order that drops children before parents (the legacy run tables,
/// which reference nothing and are referenced by nothing, go first).
const DROP_ORDER: &[&str] = &[
    "backup_sets",
    "backup_schedules",
    "findings",
    "inventory_items",
    "operation_runs",
    "workspace_memberships",
    "tenants",
    "workspaces",
];

#[async_trait::async_trait]
impl Step for Migration {
    const MODE: Mode = Mode::Transaction;

    async fn up(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        if flavor == Flavor::MySql {
            crate::mysql::check_server(db).await?;
        }
        // A database already past the cutover (its version records lost) must not get the
        // legacy schema back: the rest of the history is a no-op on it, so this is too.
        if sql::table_exists(db, "findings").await?
            && !sql::column_exists(db, "findings", "baseline_run_id").await?
        {
            return Ok(());
        }
        sql::exec_all(db, &statements(flavor)).await
    }

    async fn down(&self, db: &SchemaManagerConnection<'_>, _: Flavor) -> Result<(), DbErr> {
        let drops: Vec<String> = LEGACY_RUN_TABLES
            .iter()
            .chain(DROP_ORDER)
            .map(|table| format!("DROP TABLE IF EXISTS {table}"))
            .collect();
        sql::exec_all(db, &drops).await
    }
}
