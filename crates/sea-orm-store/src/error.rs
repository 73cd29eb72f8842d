//! The adapter's own errors and the mapping of database errors to port errors.

use operation_runs_ports::PortError;
use sea_orm::{DbErr, SqlErr};

/// What the SeaORM adapter reports outside the ports: connection problems, and (wrapped in
/// [`PortError::Backend`]) rows it cannot read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names no supported database.
    #[error(transparent)]
    UnsupportedUrl(#[from] crate::UrlError),
    /// The database could not be reached or opened.
    #[error("cannot connect to the {backend} database `{target}`")]
    Connect {
        /// `SQLite`, `PostgreSQL` or `MariaDB`.
        backend: &'static str,
        /// The URL with any password removed.
        target: String,
        /// What the driver said.
        #[source]
        source: DbErr,
    },
    /// The database lacks migrations the store needs (names oldest first): its schema is not
    /// the one the store reads and writes, and, for example, starting a run there could insert
    /// a second active run of one identity.
    #[error(
        "the database has {} pending migration(s) the store needs ({}); apply them first (`oprun migrate up`, or `operation_runs_migration::up_checked`)",
        .0.len(),
        .0.join(", ")
    )]
    PendingMigrations(Vec<String>),
    /// The server is of a kind or version the store cannot work on (MySQL, or MariaDB older
    /// than [`MIN_MARIADB`](crate::MIN_MARIADB)); nothing was read or written.
    #[error("unsupported database server `{version}`: the store needs {needs}")]
    UnsupportedServer {
        /// What the server says it is (`SELECT VERSION()`).
        version: String,
        /// What the store needs, and why.
        needs: String,
    },
    /// The record of applied migrations could not be read.
    #[error("cannot read the database's migration history")]
    MigrationHistory(#[source] DbErr),
    /// The connection is to a database this adapter does not support (yet).
    #[error("the {0} backend is not supported by this adapter; use SQLite, PostgreSQL or MariaDB")]
    UnsupportedBackend(&'static str),
    /// A stored row breaks the schema's rules (an unknown status, malformed JSON, …).
    #[error("stored {table} row {id} cannot be read: {reason}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The row's id.
        id: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// A value does not fit the column it must be stored in.
    #[error("{0}")]
    OutOfRange(String),
    /// An operation kept losing races and gave up.
    #[error("{0}")]
    Contention(String),
}

impl From<StoreError> for PortError {
    fn from(err: StoreError) -> Self {
        PortError::backend(err)
    }
}

/// Maps a database error onto the port contract: a foreign-key violation means a referenced row
/// is missing (`NotFound`), a unique violation is a `Conflict`, anything else is a `Backend`
/// failure that keeps the cause as its source.
pub(crate) fn map_db_err(err: DbErr) -> PortError {
    match err.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(detail)) => {
            tracing::debug!(%detail, "foreign key violation reported as not found");
            PortError::NotFound
        }
        Some(SqlErr::UniqueConstraintViolation(detail)) => {
            PortError::Conflict(format!("unique constraint violated: {detail}"))
        }
        _ => match err {
            DbErr::RecordNotFound(_) => PortError::NotFound,
            other => PortError::backend(other),
        },
    }
}

/// `url` without its password, for error messages and logs.
/// The URL with any password replaced by `***`, fit for messages and logs.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!(
                "{}{user}{hidden}{}{}",
                &url[..scheme_end + 3],
                &authority[at..],
                &rest[authority_end..]
            )
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/runs?sslmode=require"),
            "postgres://app:***@db:5432/runs?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app@db/runs"),
            "postgres://app@db/runs"
        );
        assert_eq!(
            redact_url("sqlite://runs.db?mode=rwc"),
            "sqlite://runs.db?mode=rwc"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn record_not_found_is_not_found_and_other_errors_keep_their_source() {
        assert!(matches!(
            map_db_err(DbErr::RecordNotFound("x".into())),
            PortError::NotFound
        ));
        let err = map_db_err(DbErr::Custom("boom".into()));
        let PortError::Backend(source) = err else {
            panic!("expected a backend error");
        };
        assert!(source.to_string().contains("boom"));
    }
}
