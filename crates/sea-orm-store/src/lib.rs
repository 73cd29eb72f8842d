#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod backup;
mod convert;
mod directory;
mod entity;
mod error;
mod findings;
mod inventory;
mod runs;
mod sql;

pub use error::StoreError;

use chrono::Utc;
use convert::db_time;
use entity::{backup_schedules, tenants, workspace_memberships, workspaces};
use error::map_db_err;
use operation_runs_domain::{Membership, TenantId, UserId, WorkspaceId};
use operation_runs_ports::{BackupSchedule, PortError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ConnectOptions, Database, DatabaseConnection, DbBackend,
    EntityTrait, Set,
};
use sql::Dialect;

/// The operation-runs ports on a SeaORM connection (SQLite or PostgreSQL).
///
/// Cheap to clone: clones share the connection pool. The schema must have been created by the
/// migration crate (`operation-runs-migration`) before the store is used.
#[derive(Debug, Clone)]
pub struct SeaOrmStore {
    conn: DatabaseConnection,
}

impl SeaOrmStore {
    /// Connects to `url`: `sqlite://path/to/runs.db?mode=rwc`, `sqlite::memory:` or
    /// `postgres://user:password@host:5432/database`.
    ///
    /// SeaORM gives SQLite a pool of one connection by default; an in-memory database
    /// additionally keeps that connection open for the life of the store (it *is* the database).
    /// Use [`SeaOrmStore::from_connection`] to tune the pool.
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`] for any other kind of URL, [`StoreError::Connect`] when the
    /// database cannot be reached or opened (the message never contains the password).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            "SQLite"
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            "PostgreSQL"
        } else {
            return Err(StoreError::UnsupportedUrl(error::redact_url(url)));
        };
        let mut options = ConnectOptions::new(url.to_owned());
        options.sqlx_logging(false);
        if url.contains(":memory:") || url.contains("mode=memory") {
            // An in-memory database lives exactly as long as its one connection: never open a
            // second one (it would see another, empty database) and never recycle the first.
            options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let conn = Database::connect(options)
            .await
            .map_err(|source| StoreError::Connect {
                backend,
                target: error::redact_url(url),
                source,
            })?;
        Ok(Self { conn })
    }

    /// Wraps an existing connection (pool), e.g. one opened with custom [`ConnectOptions`].
    #[must_use]
    pub fn from_connection(conn: DatabaseConnection) -> Self {
        Self { conn }
    }

    /// The underlying connection, e.g. to run the migrations.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    fn dialect(&self) -> Result<Dialect, PortError> {
        match self.conn.get_database_backend() {
            DbBackend::Sqlite => Ok(Dialect::Sqlite),
            DbBackend::Postgres => Ok(Dialect::Postgres),
            other => Err(StoreError::UnsupportedBackend(other.as_str()).into()),
        }
    }

    /// Creates a workspace (an administration helper for demos and tests, not a port).
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    #[tracing::instrument(level = "debug", skip(self), err)]
    pub async fn create_workspace(&self, name: &str) -> Result<WorkspaceId, PortError> {
        let row = workspaces::ActiveModel {
            id: NotSet,
            name: Set(name.to_owned()),
            created_at: Set(db_time(Utc::now())),
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        Ok(WorkspaceId::new(row.id))
    }

    /// Creates a tenant in a workspace (administration helper, not a port).
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the workspace does not exist; [`PortError::Backend`] when the
    /// store fails.
    #[tracing::instrument(level = "debug", skip(self), err)]
    pub async fn create_tenant(
        &self,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<TenantId, PortError> {
        let row = tenants::ActiveModel {
            id: NotSet,
            workspace_id: Set(workspace.get()),
            name: Set(name.to_owned()),
            created_at: Set(db_time(Utc::now())),
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        Ok(TenantId::new(row.id))
    }

    /// Makes `user` a member of `workspace` with the given capabilities, or updates the
    /// capabilities of an existing member (administration helper, not a port).
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the workspace does not exist; [`PortError::Backend`] when the
    /// store fails.
    #[tracing::instrument(level = "debug", skip(self), err)]
    pub async fn add_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        can_view_operations: bool,
        can_manage_operations: bool,
    ) -> Result<Membership, PortError> {
        use workspace_memberships::Column;
        let row = workspace_memberships::ActiveModel {
            workspace_id: Set(workspace.get()),
            user_id: Set(user.get()),
            can_view_operations: Set(can_view_operations),
            can_manage_operations: Set(can_manage_operations),
            created_at: Set(db_time(Utc::now())),
        };
        workspace_memberships::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([Column::WorkspaceId, Column::UserId])
                    .update_columns([Column::CanViewOperations, Column::CanManageOperations])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(Membership {
            can_view_operations,
            can_manage_operations,
        })
    }

    /// Creates an enabled daily backup schedule of a tenant keeping the sets of its `keep_last`
    /// newest successful runs (administration helper, not a port).
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the workspace or tenant does not exist; [`PortError::Backend`]
    /// when the store fails or `keep_last` does not fit the column.
    #[tracing::instrument(level = "debug", skip(self), err)]
    pub async fn create_backup_schedule(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        name: &str,
        keep_last: u32,
    ) -> Result<BackupSchedule, PortError> {
        let keep = i32::try_from(keep_last)
            .map_err(|_| StoreError::OutOfRange(format!("keep_last {keep_last} is too large")))?;
        let now = db_time(Utc::now());
        let row = backup_schedules::ActiveModel {
            id: NotSet,
            workspace_id: Set(workspace.get()),
            tenant_id: Set(tenant.get()),
            name: Set(name.to_owned()),
            frequency: Set("daily".to_owned()),
            keep_last: Set(keep),
            is_enabled: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        convert::schedule(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_of_other_databases_are_refused_clearly() {
        for url in ["mysql://root:pw@localhost/runs", "runs.db", ""] {
            let err = SeaOrmStore::connect(url).await.unwrap_err();
            assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{url}: {err}");
            let message = err.to_string();
            assert!(message.contains("sqlite:") && message.contains("postgres://"));
            assert!(!message.contains(":pw@"), "{message}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_database_is_a_connect_error_naming_it() {
        let url = "sqlite:///no/such/directory/runs.db?mode=rwc";
        let err = SeaOrmStore::connect(url).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Connect {
                    backend: "SQLite",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("/no/such/directory/runs.db"),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());
    }
}
