//! Fresh databases for the scenarios: created, copied and dropped by the bench itself.

mod backend;
mod mariadb;
mod settings;

pub use backend::Backend;

use crate::report::Figure;
use crate::statement_log::StatementLog;
use anyhow::{Context, Result, bail};
use operation_runs_migration::{Migrator, MigratorTrait};
use operation_runs_sea_orm::{DatabaseUrl, SeaOrmStore};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// One benchmark database with a SeaORM connection (the product's path) whose sqlx pool also
/// serves the hand-written baselines, so both go through the same connections.
pub struct Db {
    pub backend: Backend,
    /// Database name (PostgreSQL, MariaDB) or file path (SQLite).
    pub name: String,
    pub conn: DatabaseConnection,
    pub log: Arc<StatementLog>,
}

impl Db {
    pub fn store(&self) -> SeaOrmStore {
        SeaOrmStore::from_connection(self.conn.clone())
    }

    pub fn pg(&self) -> Result<&sqlx::PgPool> {
        match self.backend {
            Backend::Postgres => Ok(self.conn.get_postgres_connection_pool()),
            _ => bail!("not a PostgreSQL database"),
        }
    }

    pub fn sqlite(&self) -> Result<&sqlx::SqlitePool> {
        match self.backend {
            Backend::Sqlite => Ok(self.conn.get_sqlite_connection_pool()),
            _ => bail!("not a SQLite database"),
        }
    }

    pub fn my(&self) -> Result<&sqlx::MySqlPool> {
        match self.backend {
            Backend::Mariadb => Ok(self.conn.get_mysql_connection_pool()),
            _ => bail!("not a MariaDB database"),
        }
    }

    /// Runs set-up SQL (never timed), `$n` placeholders are not allowed here.
    pub async fn exec(&self, sql: &str) -> Result<u64> {
        Ok(self
            .conn
            .execute_unprepared(sql)
            .await
            .with_context(|| format!("executing {}", abbreviate(sql)))?
            .rows_affected())
    }

    /// The first column of the first row as an integer (0 for no row or NULL).
    pub async fn scalar(&self, sql: &str) -> Result<i64> {
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                self.conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .with_context(|| format!("querying {}", abbreviate(sql)))?;
        match row {
            Some(row) => Ok(row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0)),
            None => Ok(0),
        }
    }

    /// Refreshes the planner's statistics, as autovacuum (or InnoDB's background statistics)
    /// would have on a live server.
    pub async fn analyze(&self) -> Result<()> {
        match self.backend {
            Backend::Postgres => {
                self.exec("ANALYZE").await?;
            }
            Backend::Mariadb => mariadb::analyze_tables(self).await?,
            Backend::Sqlite => {}
        }
        Ok(())
    }

    /// Opens every connection of the pool up front, as in a running service, so that no
    /// measurement pays for connecting: sqlx hands a connection back to the pool in a
    /// background task, so a statement right after another would otherwise often open a new
    /// one. (SQLite's pool is a single connection, opened with the pool.)
    pub async fn warm(&self) -> Result<()> {
        match self.backend {
            Backend::Postgres => {
                let pool = self.conn.get_postgres_connection_pool();
                hold_every_connection(pool, "SELECT COUNT(*) FROM pg_class").await?;
            }
            Backend::Mariadb => mariadb::warm(self).await?,
            Backend::Sqlite => {}
        }
        Ok(())
    }

    pub async fn migrate(&self) -> Result<()> {
        Migrator::up(&self.conn, None)
            .await
            .context("running the migrations")
    }
}

/// Opens every connection of `pool` and runs `probe` on each, holding them all meanwhile so
/// that the pool cannot hand the same one out twice; the connections, still held.
async fn hold_every_connection<DB>(
    pool: &sqlx::Pool<DB>,
    probe: &'static str,
) -> Result<Vec<sqlx::pool::PoolConnection<DB>>>
where
    DB: sqlx::Database,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        let mut c = pool.acquire().await.context("warming the pool")?;
        sqlx::query(probe)
            .execute(&mut *c)
            .await
            .context("warming the pool")?;
        held.push(c);
    }
    Ok(held)
}

fn abbreviate(sql: &str) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.len() > 160 {
        let cut: String = one_line.chars().take(160).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// Creates, copies and drops the databases of one bench process.
pub struct Env {
    pub backend: Backend,
    pub rows: u64,
    /// Batch size of the `purge` scenario.
    pub purge_batch: u32,
    admin_url: String,
    dir: Option<tempfile::TempDir>,
    prefix: String,
    live: Mutex<Vec<String>>,
    /// The figures emitted since the last [`Env::take_figures`].
    figures: Mutex<Vec<Figure>>,
}

impl Env {
    pub fn new(backend: Backend, rows: u64, database_url: Option<String>) -> Result<Self> {
        let prefix = format!("oprun_bench_{}", std::process::id());
        match backend {
            Backend::Postgres | Backend::Mariadb => Ok(Self {
                backend,
                rows,
                purge_batch: 5000,
                admin_url: database_url
                    .or_else(|| backend.default_admin_url().map(str::to_owned))
                    .unwrap_or_default(),
                dir: None,
                prefix,
                live: Mutex::default(),
                figures: Mutex::default(),
            }),
            Backend::Sqlite => {
                if database_url.is_some() {
                    bail!(
                        "--database-url is for PostgreSQL and MariaDB; SQLite databases are temporary files \
                         (set TMPDIR to choose where)"
                    );
                }
                Ok(Self {
                    backend,
                    rows,
                    purge_batch: 5000,
                    admin_url: String::new(),
                    dir: Some(
                        tempfile::Builder::new()
                            .prefix(&prefix)
                            .tempdir()
                            .context("creating a temporary directory")?,
                    ),
                    prefix,
                    live: Mutex::default(),
                    figures: Mutex::default(),
                })
            }
        }
    }

    /// Prints a figure as one JSON line on stdout and keeps it for the results file.
    pub fn emit(&self, figure: &Figure) {
        println!("{}", figure.to_json());
        self.figures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(figure.clone());
    }

    /// The figures emitted since the last call.
    pub fn take_figures(&self) -> Vec<Figure> {
        std::mem::take(&mut *self.figures.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sqlite_path(&self, name: &str) -> Result<PathBuf> {
        match &self.dir {
            Some(dir) => Ok(dir.path().join(format!("{name}.db"))),
            None => bail!("no directory for SQLite files"),
        }
    }

    fn url_of(&self, name: &str) -> Result<String> {
        match self.backend {
            Backend::Postgres | Backend::Mariadb => DatabaseUrl::parse(&self.admin_url)?
                .with_database(name)
                .map(|url| url.as_str().to_owned())
                .context("a server URL names a database"),
            Backend::Sqlite => Ok(format!(
                "sqlite://{}?mode=rwc",
                self.sqlite_path(name)?.display()
            )),
        }
    }

    async fn admin(&self, sql: &str) -> Result<()> {
        let mut options = ConnectOptions::new(self.admin_url.clone());
        options.max_connections(1).sqlx_logging(false);
        let admin = Database::connect(options)
            .await
            .context("connecting to the admin URL")?;
        let result = admin.execute_unprepared(sql).await;
        admin.close().await.ok();
        result.with_context(|| format!("running `{sql}` on the admin URL"))?;
        Ok(())
    }

    /// Lets the disk catch up before a one-shot measurement, so that it does not pay for writing
    /// back what came before it (copying databases, the other side's run): on PostgreSQL a
    /// `CHECKPOINT` (best effort: it needs a privileged role), on MariaDB a flush of the bench's
    /// tables, on SQLite an `fsync` of every file of the run's directory.
    pub async fn settle(&self) -> Result<()> {
        match self.backend {
            Backend::Postgres => {
                if let Err(e) = self.admin("CHECKPOINT").await {
                    crate::progress!("could not checkpoint before measuring: {e:#}");
                }
            }
            Backend::Mariadb => {
                let live = self.live().clone();
                mariadb::settle(&self.admin_url, &live).await?;
            }
            Backend::Sqlite => {
                if let Some(dir) = &self.dir {
                    for entry in std::fs::read_dir(dir.path()).context("listing SQLite files")? {
                        let path = entry.context("listing SQLite files")?.path();
                        if path.is_file() {
                            std::fs::File::open(&path)
                                .and_then(|f| f.sync_all())
                                .with_context(|| format!("syncing {}", path.display()))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The product's connection options for a bench database, unchanged: what
    /// `SeaOrmStore::connect` opens (pool size, the idle ping, SQLite's WAL and busy timeout).
    /// Both sides run on this pool, so the figures describe the configuration users get.
    pub fn options(&self, name: &str) -> Result<ConnectOptions> {
        SeaOrmStore::connect_options(&self.url_of(name)?)
            .with_context(|| format!("connection options of bench database {name}"))
    }

    async fn open(&self, name: &str) -> Result<Db> {
        let options = self.options(name)?;
        let mut conn = Database::connect(options)
            .await
            .with_context(|| format!("connecting to bench database {name}"))?;
        let log = Arc::new(StatementLog::default());
        let hook = Arc::clone(&log);
        conn.set_metric_callback(move |info| hook.record(info));
        Ok(Db {
            backend: self.backend,
            name: name.to_owned(),
            conn,
            log,
        })
    }

    /// A fresh, empty database.
    pub async fn create(&self, label: &str) -> Result<Db> {
        let name = format!("{}_{label}", self.prefix);
        match self.backend {
            Backend::Postgres => {
                self.admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                self.admin(&format!("CREATE DATABASE \"{name}\"")).await?;
                self.live().push(name.clone());
            }
            Backend::Mariadb => {
                self.admin(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await?;
                self.admin(&format!("CREATE DATABASE `{name}`")).await?;
                self.live().push(name.clone());
            }
            Backend::Sqlite => {
                remove_sqlite_files(&self.sqlite_path(&name)?);
            }
        }
        self.open(&name).await
    }

    /// A fresh database with every migration applied.
    pub async fn create_migrated(&self, label: &str) -> Result<Db> {
        let db = self.create(label).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Copies `db` (closed for the copy, then reopened) into one new database per label, so
    /// a scenario and its baseline start from byte-identical data.
    pub async fn fork(&self, db: Db, labels: &[&str]) -> Result<(Db, Vec<Db>)> {
        let source = db.name.clone();
        db.conn
            .close()
            .await
            .context("closing a database to copy it")?;
        let mut copies = Vec::new();
        for label in labels {
            let name = format!("{}_{label}", self.prefix);
            match self.backend {
                Backend::Postgres => {
                    self.admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await?;
                    // FILE_COPY copies the files instead of WAL-logging every block: much
                    // faster for a large template, but it checkpoints twice, which dominates
                    // for a small one.
                    let strategy = if self.rows >= 200_000 {
                        "FILE_COPY"
                    } else {
                        "WAL_LOG"
                    };
                    self.admin(&format!(
                        "CREATE DATABASE \"{name}\" TEMPLATE \"{source}\" STRATEGY {strategy}"
                    ))
                    .await?;
                    self.live().push(name.clone());
                }
                Backend::Mariadb => {
                    self.admin(&format!("DROP DATABASE IF EXISTS `{name}`"))
                        .await?;
                    self.live().push(name.clone());
                    mariadb::copy_database(&self.admin_url, &source, &name).await?;
                }
                Backend::Sqlite => {
                    let from = self.sqlite_path(&source)?;
                    let to = self.sqlite_path(&name)?;
                    remove_sqlite_files(&to);
                    std::fs::copy(&from, &to).with_context(|| {
                        format!("copying {} to {}", from.display(), to.display())
                    })?;
                }
            }
            copies.push(self.open(&name).await?);
        }
        Ok((self.open(&source).await?, copies))
    }

    /// A second pool on the database of `db` with sqlx's default of pinging every connection
    /// it hands out (the product pings only connections idle for a while), to measure what
    /// that ping costs.
    pub async fn reopen_pinging(&self, db: &Db) -> Result<Db> {
        let mut options = ConnectOptions::new(self.url_of(&db.name)?);
        options.sqlx_logging(false).test_before_acquire(true);
        if self.backend == Backend::Sqlite {
            options.map_sqlx_sqlite_opts(SeaOrmStore::shared_sqlite_file);
        }
        let conn = Database::connect(options)
            .await
            .with_context(|| format!("connecting to bench database {}", db.name))?;
        Ok(Db {
            backend: self.backend,
            name: db.name.clone(),
            conn,
            log: Arc::new(StatementLog::default()),
        })
    }

    /// A second pool on the database of `db`, as another process would open (for example the
    /// application writing while an operator migrates).
    pub async fn reopen(&self, db: &Db) -> Result<Db> {
        self.open(&db.name).await
    }

    /// Closes and removes a database.
    pub async fn drop_db(&self, db: Db) -> Result<()> {
        db.conn.close().await.ok();
        match self.backend {
            Backend::Postgres => {
                self.admin(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    db.name
                ))
                .await?;
                self.live().retain(|n| n != &db.name);
            }
            Backend::Mariadb => {
                self.admin(&format!("DROP DATABASE IF EXISTS `{}`", db.name))
                    .await?;
                self.live().retain(|n| n != &db.name);
            }
            Backend::Sqlite => remove_sqlite_files(&self.sqlite_path(&db.name)?),
        }
        Ok(())
    }

    /// Drops whatever a failed scenario left behind.
    pub async fn cleanup(&self) -> Result<()> {
        let names: Vec<String> = std::mem::take(&mut *self.live());
        for name in names {
            let sql = match self.backend {
                Backend::Mariadb => format!("DROP DATABASE IF EXISTS `{name}`"),
                _ => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            };
            self.admin(&sql).await?;
        }
        if let Some(dir) = &self.dir
            && let Ok(entries) = std::fs::read_dir(dir.path())
        {
            for entry in entries.flatten() {
                std::fs::remove_file(entry.path()).ok();
            }
        }
        Ok(())
    }

    /// Settles one copy before a one-shot measurement, the same way for both sides:
    /// `VACUUM ANALYZE` on PostgreSQL (hint bits set, visibility map and statistics fresh, as
    /// autovacuum leaves a live table), a truncating WAL checkpoint on SQLite, `ANALYZE TABLE`
    /// of every table on MariaDB (the copies' statistics are otherwise whatever InnoDB sampled
    /// while they were filled).
    pub async fn vacuum(&self, db: &Db) -> Result<()> {
        match self.backend {
            Backend::Postgres => {
                db.exec("VACUUM ANALYZE").await?;
            }
            Backend::Sqlite => {
                db.exec("PRAGMA wal_checkpoint(TRUNCATE)").await?;
            }
            Backend::Mariadb => mariadb::analyze_tables(db).await?,
        };
        Ok(())
    }
}

fn remove_sqlite_files(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        std::fs::remove_file(PathBuf::from(file)).ok();
    }
}
