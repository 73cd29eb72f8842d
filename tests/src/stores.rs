//! Stores for the generic suites: one harness per backend, and the list every generic test
//! runs on (`on_every_store!`).

use crate::{Backend, TestDb};
use operation_runs_domain::{OperationRun, WorkspaceId};
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
            workspace_id: workspace,
            filter,
            after: None,
            newer_than: None,
            limit: 10_000,
        })
        .await
        .unwrap();
    assert!(page.next.is_none(), "more runs than a test should hold");
    page.runs
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
