//! Stores for the generic suites: one harness per backend, and the list every generic test
//! runs on (`on_every_store!`).

use crate::{Backend, TestDb};
use operation_runs_domain::{OperationRun, RunColumns, WorkspaceId};
use operation_runs_memory::MemoryStore;
use operation_runs_ports::{RunFilter, RunListQuery, RunStore};
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_service::ServicePorts;
use std::sync::Arc;

/// A backend of the generic suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBackend {
    /// `operation-runs-memory`.
    Memory,
    /// The SeaORM store on a fresh SQLite file.
    Sqlite,
    /// The SeaORM store on a fresh PostgreSQL database (when configured).
    Postgres,
    /// The SeaORM store on a fresh MariaDB database (when the server answers).
    MariaDb,
}

/// A fresh, empty store of one backend for one test, its schema in place.
pub struct TestStore {
    pub backend: StoreBackend,
    /// The store under test, as the ports see it.
    pub store: Arc<dyn RunStore>,
    /// The database behind a SQL store (kept alive, and dropped, with the test).
    db: Option<TestDb>,
    memory: Option<MemoryStore>,
}

impl TestStore {
    /// A fresh store of `backend`; `None` when the backend is not configured (PostgreSQL without
    /// `OPRUN_TEST_POSTGRES_URL`, MariaDB not answering; with `OPRUN_REQUIRE_POSTGRES` /
    /// `OPRUN_REQUIRE_MARIADB` set this panics instead).
    pub async fn new(backend: StoreBackend) -> Option<Self> {
        match backend {
            StoreBackend::Memory => {
                let memory = MemoryStore::new();
                Some(Self {
                    backend,
                    store: Arc::new(memory.clone()),
                    db: None,
                    memory: Some(memory),
                })
            }
            StoreBackend::Sqlite => Some(Self::sql(backend, Backend::Sqlite).await?),
            StoreBackend::Postgres => Some(Self::sql(backend, Backend::Postgres).await?),
            StoreBackend::MariaDb => Some(Self::sql(backend, Backend::MariaDb).await?),
        }
    }

    async fn sql(_backend: StoreBackend, db_backend: Backend) -> Option<Self> {
        Some(Self::from_db(TestDb::migrated(db_backend).await?))
    }

    /// The SeaORM store over a migrated test database (for tests of what only SQL shows).
    pub fn from_db(db: TestDb) -> Self {
        Self {
            backend: match db.backend {
                Backend::Sqlite => StoreBackend::Sqlite,
                Backend::Postgres => StoreBackend::Postgres,
                Backend::MariaDb => StoreBackend::MariaDb,
            },
            store: Arc::new(SeaOrmStore::from_connection(db.conn.clone())),
            db: Some(db),
            memory: None,
        }
    }

    /// Another handle on the same data, as a second process would have: a SQL store on a
    /// connection pool of its own, a clone of the in-memory store (which shares the data).
    pub async fn another_handle(&self) -> Arc<dyn RunStore> {
        match (&self.db, &self.memory) {
            (Some(db), _) => Arc::new(SeaOrmStore::from_connection(db.connect_again().await)),
            (None, Some(memory)) => Arc::new(memory.clone()),
            (None, None) => unreachable!("a test store is SQL or in memory"),
        }
    }

    /// Overwrites columns of a stored run with raw values, bypassing every rule, as the legacy
    /// product wrote rows: an `UPDATE` on a SQL store, the same row re-read from its columns in
    /// memory. `run` is the run as stored before.
    pub async fn overwrite_run(&self, run: &OperationRun, columns: &[(&str, RawColumn)]) {
        if let Some(db) = &self.db {
            let sets: Vec<String> = columns
                .iter()
                .map(|(column, value)| format!("{column} = {}", value.sql_literal(db.backend)))
                .collect();
            db.exec(&format!(
                "UPDATE operation_runs SET {} WHERE id = {}",
                sets.join(", "),
                run.id()
            ))
            .await;
            return;
        }
        let memory = self
            .memory
            .as_ref()
            .expect("a test store is SQL or in memory");
        let mut row = columns_of(run);
        for (column, value) in columns {
            value.write_into(&mut row, column);
        }
        memory.put_run_columns(row);
    }

    /// The database behind a SQL store, `None` for the in-memory one.
    pub fn db(&self) -> Option<&TestDb> {
        self.db.as_ref()
    }
}

/// Every port of a service from one store of the suites.
pub fn service_ports(store: &Arc<dyn RunStore>) -> ServicePorts {
    ServicePorts {
        lifecycle: store.clone(),
        queries: store.clone(),
        directory: store.clone(),
        inventory: store.clone(),
        findings: store.clone(),
        clock: Arc::new(operation_runs_ports::SystemClock),
    }
}

/// Every run of `workspace` that `filter` selects, newest first, read through the ports in one
/// page (a test holds a few runs).
pub async fn runs_of(
    store: &Arc<dyn RunStore>,
    workspace: WorkspaceId,
    filter: RunFilter,
) -> Vec<OperationRun> {
    let page = store
        .list(&RunListQuery {
            filter,
            ..newest_page(workspace, 10_000)
        })
        .await
        .unwrap();
    assert!(page.next.is_none(), "more runs than a test should hold");
    page.runs
}

/// The query of `workspace`'s newest page of at most `limit` runs, unfiltered.
pub fn newest_page(workspace: WorkspaceId, limit: u32) -> RunListQuery {
    RunListQuery {
        workspace_id: workspace,
        filter: RunFilter::default(),
        after: None,
        newer_than: None,
        limit,
    }
}

/// Declares each `async fn name(store: TestStore)` as one test per backend of the list below:
/// `memory::name`, `sqlite::name`, `postgres::name` and `mariadb::name`. A backend that is not
/// configured (PostgreSQL without `OPRUN_TEST_POSTGRES_URL`, MariaDB not answering at
/// `OPRUN_TEST_MARIADB_URL` or its default) skips; `OPRUN_REQUIRE_POSTGRES=1` /
/// `OPRUN_REQUIRE_MARIADB=1` make that a failure.
///
/// Adding a backend: one line here (`module Variant`), a [`StoreBackend`] variant and its arm in
/// [`TestStore::new`].
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),+ $(,)?) => {
        $crate::__store_modules!([$($name),+]
            memory Memory,
            sqlite Sqlite,
            postgres Postgres,
            mariadb MariaDb,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_modules {
    ($names:tt $($module:ident $backend:ident),+ $(,)?) => {
        $( $crate::__store_module!($module $backend $names); )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_module {
    ($module:ident $backend:ident [$($name:ident),+]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(store) =
                        $crate::TestStore::new($crate::StoreBackend::$backend).await
                    {
                        super::$name(store).await;
                    }
                }
            )+
        }
    };
}

/// A raw value for [`TestStore::overwrite_run`].
#[derive(Debug, Clone)]
pub enum RawColumn {
    /// Text (`status`, `outcome`, `run_identity_hash`).
    Text(&'static str),
    /// JSON (`summary_counts`, `failure_summary`, `context`).
    Json(serde_json::Value),
    /// `NULL` (`started_at`, `completed_at`).
    Null,
}

impl RawColumn {
    fn sql_literal(&self, backend: Backend) -> String {
        let quoted = |text: &str| format!("'{}'", text.replace('\'', "''"));
        match (self, backend) {
            (Self::Text(text), _) => quoted(text),
            (Self::Json(value), Backend::Postgres) => {
                format!("{}::jsonb", quoted(&value.to_string()))
            }
            (Self::Json(value), Backend::Sqlite) => quoted(&value.to_string()),
            // MariaDB reads a backslash in a literal as an escape: JSON's own are doubled.
            (Self::Json(value), Backend::MariaDb) => {
                quoted(&value.to_string().replace('\\', "\\\\"))
            }
            (Self::Null, _) => "NULL".to_owned(),
        }
    }

    fn write_into(&self, row: &mut RunColumns, column: &str) {
        match (column, self) {
            ("status", Self::Text(text)) => row.status = (*text).to_owned(),
            ("outcome", Self::Text(text)) => row.outcome = (*text).to_owned(),
            ("run_identity_hash", Self::Text(text)) => row.run_identity_hash = (*text).to_owned(),
            ("summary_counts", Self::Json(value)) => row.summary_counts = value.clone(),
            ("failure_summary", Self::Json(value)) => row.failure_summary = value.clone(),
            ("context", Self::Json(value)) => row.context = value.clone(),
            ("started_at", Self::Null) => row.started_at = None,
            ("completed_at", Self::Null) => row.completed_at = None,
            (column, value) => panic!("no raw {value:?} for column {column}"),
        }
    }
}

/// The columns of a run whose fields are all readable, as a row holds them.
fn columns_of(run: &OperationRun) -> RunColumns {
    RunColumns {
        id: run.id(),
        workspace_id: run.workspace_id(),
        tenant_id: run.tenant_id(),
        user_id: run.user_id(),
        initiator_name: run.initiator_name().to_owned(),
        run_type: run.run_type().to_owned(),
        status: run.status().readable().unwrap().to_string(),
        outcome: run.outcome().readable().unwrap().to_string(),
        started_at: *run.started_at().readable().unwrap(),
        completed_at: *run.completed_at().readable().unwrap(),
        run_identity_hash: run.identity_hash().readable().unwrap().to_string(),
        summary_counts: run.summary_counts().readable().unwrap().to_json(),
        failure_summary: run.failure_summary().readable().unwrap().to_json(),
        context: run.context().readable().unwrap().to_json(),
        created_at: run.created_at(),
        updated_at: run.updated_at(),
    }
}
