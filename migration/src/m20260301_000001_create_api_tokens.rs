//! API tokens for the monitoring server: one row per token, holding only the SHA-256 of the
//! token (64 hex characters), never the token itself.
//!
//! Tokens belong to users, not workspaces, so this table has no `workspace_id`; on a Citus
//! cluster sharded by `workspace_id` it is a reference table (small, replicated to every node),
//! which its unique `token_hash` key and the by-user index allow.
//!
//! `down` drops the table: every token stops working and has to be created again.

use crate::sql::{self, Flavor};
use crate::step::{Mode, Step};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;

/// Creates `api_tokens`.
#[derive(DeriveMigrationName)]
pub struct Migration;

fn statements(flavor: Flavor) -> Vec<String> {
    let t = sql::types(flavor);
    vec![
        t.ddl(
            "CREATE TABLE IF NOT EXISTS api_tokens (
  id {id},
  user_id {bigint} NOT NULL,
  name {text} NOT NULL,
  token_hash {key_text} NOT NULL,
  created_at {time} NOT NULL DEFAULT {now},
  revoked_at {time} NULL,
  CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
)",
        ),
        "CREATE INDEX IF NOT EXISTS api_tokens_user_id_idx ON api_tokens (user_id)".to_owned(),
    ]
}

#[async_trait::async_trait]
impl Step for Migration {
    const MODE: Mode = Mode::Transaction;

    async fn up(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        sql::exec_all(db, &statements(flavor)).await
    }

    async fn down(&self, db: &SchemaManagerConnection<'_>, _: Flavor) -> Result<(), DbErr> {
        sql::exec_all(db, &["DROP TABLE IF EXISTS api_tokens"]).await
    }
}
