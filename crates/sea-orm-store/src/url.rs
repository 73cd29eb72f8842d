//! The database URL, parsed once: which backend it names and, for SQLite, a file or memory.

use crate::SeaOrmStore;
use crate::error::redact_url;
use sea_orm::ConnectOptions;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What a [`DatabaseUrl`] points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseTarget {
    /// A SQLite database file: `sqlite://runs.db?mode=rwc`.
    SqliteFile,
    /// A SQLite database in memory: `sqlite::memory:`, or any `sqlite:` URL with `mode=memory`.
    SqliteMemory,
    /// A PostgreSQL database: `postgres://…` or `postgresql://…`.
    Postgres,
    /// A MariaDB database: `mysql://USER[:PASSWORD]@HOST[:PORT]/DB` (MariaDB
    /// [`MIN_MARIADB`](crate::MIN_MARIADB) or later; a MySQL server is refused at connect).
    MariaDb,
}

impl DatabaseTarget {
    /// The backend's name for messages: `SQLite`, `PostgreSQL` or `MariaDB`.
    #[must_use]
    pub fn backend_name(self) -> &'static str {
        match self {
            Self::SqliteFile | Self::SqliteMemory => "SQLite",
            Self::Postgres => "PostgreSQL",
            Self::MariaDb => "MariaDB",
        }
    }

    /// Whether the backend is SQLite (a file or memory).
    #[must_use]
    pub fn is_sqlite(self) -> bool {
        matches!(self, Self::SqliteFile | Self::SqliteMemory)
    }
}

/// A URL [`SeaOrmStore`] can connect to, checked once.
///
/// It shows itself (`Display`, `Debug`) without its password; [`DatabaseUrl::as_str`] gives
/// the URL as written, to connect with.
///
/// ```
/// use operation_runs_sea_orm::{DatabaseTarget, DatabaseUrl};
///
/// let url = DatabaseUrl::parse("postgres://app:s3cret@db/ops")?;
/// assert_eq!(url.target(), DatabaseTarget::Postgres);
/// assert_eq!(url.to_string(), "postgres://app:***@db/ops");
/// let url = DatabaseUrl::parse("mysql://root@127.0.0.1:3306/ops")?;
/// assert_eq!(url.target(), DatabaseTarget::MariaDb);
/// assert!(DatabaseUrl::parse("mongodb://root@db/ops").is_err());
/// # Ok::<(), operation_runs_sea_orm::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    target: DatabaseTarget,
    sqlite_file: Option<PathBuf>,
}

impl DatabaseUrl {
    /// Parses `url`: `sqlite:…` (a file, or memory with `:memory:` or `mode=memory`),
    /// `postgres://…` or `postgresql://…`, or `mysql://…` (MariaDB).
    ///
    /// Only the kind of URL is checked here; what the driver makes of the rest (a host that
    /// does not answer, an unknown SQLite parameter) is reported when connecting.
    ///
    /// # Errors
    /// [`UrlError::Unsupported`] for any other URL.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let target = if url.starts_with("sqlite:") {
            if url.contains(":memory:") || url.contains("mode=memory") {
                DatabaseTarget::SqliteMemory
            } else {
                DatabaseTarget::SqliteFile
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DatabaseTarget::Postgres
        } else if url.starts_with("mysql://") {
            DatabaseTarget::MariaDb
        } else {
            return Err(UrlError::Unsupported {
                url: redact_url(url),
            });
        };
        // Read as SQLite itself reads the URL, so checks on the file and the open agree on
        // relative paths and escapes.
        let sqlite_file = (target == DatabaseTarget::SqliteFile)
            .then(|| SqliteConnectOptions::from_str(url).ok())
            .flatten()
            .map(|options| options.get_filename().to_path_buf())
            .filter(|path| !path.as_os_str().is_empty());
        Ok(Self {
            url: url.to_owned(),
            target,
            sqlite_file,
        })
    }

    /// What the URL points at.
    #[must_use]
    pub fn target(&self) -> DatabaseTarget {
        self.target
    }

    /// The file a SQLite file URL names, as SQLite will open it (a relative path is read from
    /// the current directory); `None` for other URLs, or one the driver cannot read.
    #[must_use]
    pub fn sqlite_file(&self) -> Option<&Path> {
        self.sqlite_file.as_deref()
    }

    /// The same server and credentials with another database:
    /// `postgres://app@db/ops?sslmode=require` becomes `postgres://app@db/NAME?sslmode=require`.
    /// `None` for SQLite, whose URLs name a file rather than a database on a server.
    ///
    /// For tools that create databases next to the one they were given (test suites, the
    /// bench); `name` is put in as it is, so it must be a plain database name.
    ///
    /// ```
    /// use operation_runs_sea_orm::DatabaseUrl;
    ///
    /// let admin = DatabaseUrl::parse("mysql://root@127.0.0.1:3306/mysql?ssl-mode=DISABLED")?;
    /// let scratch = admin.with_database("scratch_1").expect("a server URL");
    /// assert_eq!(scratch.as_str(), "mysql://root@127.0.0.1:3306/scratch_1?ssl-mode=DISABLED");
    /// assert!(DatabaseUrl::parse("sqlite::memory:")?.with_database("x").is_none());
    /// # Ok::<(), operation_runs_sea_orm::UrlError>(())
    /// ```
    #[must_use]
    pub fn with_database(&self, name: &str) -> Option<Self> {
        if self.target.is_sqlite() {
            return None;
        }
        let (base, query) = match self.url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (self.url.as_str(), None),
        };
        let authority = base.find("://").map_or(0, |i| i + 3);
        let path = base[authority..]
            .find('/')
            .map_or(base.len(), |i| authority + i);
        let mut url = format!("{}/{name}", &base[..path]);
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        Some(Self {
            url,
            target: self.target,
            sqlite_file: None,
        })
    }

    /// The URL as written, password included: to connect with, never to show.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL with any password replaced by `***`, fit for messages and logs.
    #[must_use]
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }

    /// The connection options [`SeaOrmStore::connect`] uses for this URL.
    ///
    /// A SQLite file is opened in WAL mode with a busy timeout of
    /// [`SQLITE_BUSY_TIMEOUT`](crate::SQLITE_BUSY_TIMEOUT), so several processes (workers,
    /// cron jobs, `oprun`) can share it: readers run beside the writer, and writers queue
    /// instead of failing with "database is locked". An in-memory SQLite database keeps
    /// exactly one connection open for the life of the pool (it *is* the database; a second
    /// connection would see another, empty one). On every backend a pooled connection is
    /// pinged before use only once it has been idle for
    /// [`PING_IF_IDLE_FOR`](crate::PING_IF_IDLE_FOR), not on every checkout.
    #[must_use]
    pub fn connect_options(&self) -> ConnectOptions {
        let mut options = ConnectOptions::new(self.url.clone());
        // sqlx pings every connection it hands out by default. Every statement outside a
        // transaction checks one out, so that ping is a second round trip per statement (the
        // bench's `ping_on_every_checkout` figure measures it). The failure it guards against,
        // a connection the server, a proxy or a firewall dropped while it sat idle, happens to
        // idle connections, so only those are pinged; a connection that fails anyway is
        // discarded by the pool and the call reports a backend error.
        options
            .sqlx_logging(false)
            .test_before_acquire_if_idle_for(crate::PING_IF_IDLE_FOR);
        match self.target {
            DatabaseTarget::SqliteMemory => {
                options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            }
            DatabaseTarget::SqliteFile => {
                options.map_sqlx_sqlite_opts(SeaOrmStore::shared_sqlite_file);
            }
            // sqlx sets the session's `time_zone` to UTC (DATETIME columns hold UTC) and
            // `PIPES_AS_CONCAT`; the server's REPEATABLE READ default is kept.
            DatabaseTarget::Postgres | DatabaseTarget::MariaDb => {}
        }
        options
    }
}

impl FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        Self::parse(url)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("url", &self.redacted())
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Why a string is not a [`DatabaseUrl`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL names no supported database.
    #[error(
        "unsupported database URL `{url}`: expected `sqlite:…` (e.g. `sqlite://runs.db?mode=rwc`), `postgres://…` or `mysql://…` (MariaDB)"
    )]
    Unsupported {
        /// The URL, password replaced by `***`.
        url: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    #[test]
    fn each_kind_of_url_is_told_apart() {
        for (url, target) in [
            ("sqlite://runs.db?mode=rwc", DatabaseTarget::SqliteFile),
            ("sqlite:runs.db", DatabaseTarget::SqliteFile),
            ("sqlite::memory:", DatabaseTarget::SqliteMemory),
            ("sqlite://x?mode=memory", DatabaseTarget::SqliteMemory),
            ("postgres://app@db/ops", DatabaseTarget::Postgres),
            ("postgresql://app@db:5432/ops", DatabaseTarget::Postgres),
            ("mysql://root@127.0.0.1:3306/ops", DatabaseTarget::MariaDb),
            ("mysql://app:pw@db/ops", DatabaseTarget::MariaDb),
        ] {
            let parsed = DatabaseUrl::parse(url).unwrap();
            assert_eq!(parsed.target(), target, "{url}");
            assert_eq!(parsed.as_str(), url);
            assert_eq!(parsed.target().is_sqlite(), url.starts_with("sqlite"));
        }
        assert_eq!(DatabaseTarget::SqliteMemory.backend_name(), "SQLite");
        assert_eq!(DatabaseTarget::Postgres.backend_name(), "PostgreSQL");
        assert_eq!(DatabaseTarget::MariaDb.backend_name(), "MariaDB");
    }

    #[test]
    fn only_idle_connections_are_pinged_before_use() {
        for url in [
            "sqlite://runs.db?mode=rwc",
            "sqlite::memory:",
            "postgres://app@db/ops",
        ] {
            let options = DatabaseUrl::parse(url).unwrap().connect_options();
            assert!(!options.get_test_before_acquire(), "{url}");
            assert_eq!(
                options.get_test_before_acquire_if_idle_for(),
                Some(crate::PING_IF_IDLE_FOR),
                "{url}"
            );
        }
    }

    #[test]
    fn other_urls_are_refused_without_their_password() {
        for url in [
            "mongodb://root:pw@localhost/runs",
            "MYSQL://root:pw@localhost/runs",
            "runs.db",
            "",
            "SQLITE::memory:",
        ] {
            let err = DatabaseUrl::parse(url).unwrap_err();
            let UrlError::Unsupported { url: shown } = &err;
            assert!(!shown.contains(":pw@"), "{shown}");
            let message = err.to_string();
            assert!(message.contains("sqlite:") && message.contains("postgres://"));
            assert!(message.contains("mysql://"), "{message}");
            assert!(!message.contains(":pw@"), "{message}");
            assert!(matches!(
                StoreError::from(err),
                StoreError::UnsupportedUrl(_)
            ));
        }
    }

    #[test]
    fn a_sqlite_file_is_read_as_sqlite_reads_it() {
        let url = DatabaseUrl::parse("sqlite://data/runs%20db.sqlite?mode=rwc").unwrap();
        assert_eq!(url.sqlite_file(), Some(Path::new("data/runs db.sqlite")));
        let url = DatabaseUrl::parse("sqlite:///tmp/runs.db").unwrap();
        assert_eq!(url.sqlite_file(), Some(Path::new("/tmp/runs.db")));
        for no_file in ["sqlite::memory:", "postgres://app@db/runs.db"] {
            assert_eq!(DatabaseUrl::parse(no_file).unwrap().sqlite_file(), None);
        }
        // A parameter the driver refuses: still SQLite, the open will say what is wrong.
        let url = DatabaseUrl::parse("sqlite://runs.db?mode=sideways").unwrap();
        assert_eq!(url.target(), DatabaseTarget::SqliteFile);
        assert_eq!(url.sqlite_file(), None);
    }

    #[test]
    fn another_database_on_the_same_server_keeps_credentials_and_query() {
        for (url, want) in [
            (
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
                "postgres://postgres@127.0.0.1:5432/x?sslmode=disable",
            ),
            ("postgres://u@h", "postgres://u@h/x"),
            (
                "mysql://root@127.0.0.1:3306/mysql",
                "mysql://root@127.0.0.1:3306/x",
            ),
            (
                "mysql://u:p%40w@db:3306/?ssl-mode=DISABLED",
                "mysql://u:p%40w@db:3306/x?ssl-mode=DISABLED",
            ),
            ("mysql://root@h:3306", "mysql://root@h:3306/x"),
        ] {
            let moved = DatabaseUrl::parse(url).unwrap().with_database("x").unwrap();
            assert_eq!(moved.as_str(), want);
            assert_eq!(moved.target(), DatabaseUrl::parse(url).unwrap().target());
        }
        for sqlite in ["sqlite::memory:", "sqlite://runs.db?mode=rwc"] {
            assert!(
                DatabaseUrl::parse(sqlite)
                    .unwrap()
                    .with_database("x")
                    .is_none()
            );
        }
    }

    #[test]
    fn it_never_shows_its_password() {
        let url: DatabaseUrl = "postgres://app:s3cret@db:5432/ops?sslmode=require"
            .parse()
            .unwrap();
        let shown = "postgres://app:***@db:5432/ops?sslmode=require";
        assert_eq!(url.to_string(), shown);
        assert_eq!(url.redacted(), shown);
        let debug = format!("{url:?}");
        assert!(
            debug.contains(shown) && !debug.contains("s3cret"),
            "{debug}"
        );
        assert!(url.as_str().contains("s3cret"), "connecting needs it");
    }

    #[test]
    fn in_memory_sqlite_keeps_one_connection_and_files_are_shared() {
        let memory = DatabaseUrl::parse("sqlite::memory:")
            .unwrap()
            .connect_options();
        assert_eq!(memory.get_max_connections(), Some(1));
        assert_eq!(memory.get_min_connections(), Some(1));
        let file = DatabaseUrl::parse("sqlite://runs.db")
            .unwrap()
            .connect_options();
        assert_eq!(file.get_max_connections(), None, "the pool's default");
    }
}
