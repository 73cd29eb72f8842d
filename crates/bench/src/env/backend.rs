//! The database servers a run can measure, and their SQL dialects' placeholders.

use super::abbreviate;
use anyhow::{Result, bail};

/// The database server a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// SQLite files in a temporary directory.
    Sqlite,
    /// PostgreSQL: databases created on the server of the admin URL.
    Postgres,
    /// MariaDB: databases created on the server of the admin URL.
    Mariadb,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Mariadb => "mariadb",
        }
    }

    /// The server's name as the report prints it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
            Self::Mariadb => "MariaDB",
        }
    }

    /// The admin URL used when `--database-url` is not given.
    pub(super) fn default_admin_url(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => Some("postgres://postgres@127.0.0.1:5432/test"),
            Self::Mariadb => Some("mysql://root@127.0.0.1:3306/mysql"),
        }
    }

    /// `sql` with PostgreSQL's `$n` placeholders turned into SQLite's numbered `?n` or
    /// MariaDB's positional `?`. A `?` binds the next value in order, so on MariaDB the
    /// placeholders must read `$1`, `$2`, … each once, in order: SQL that reuses or reorders
    /// them is an error here rather than values bound to the wrong places (write that SQL
    /// for MariaDB separately, binding a reused value twice).
    pub fn sql(self, sql: &str) -> Result<String> {
        match self {
            Self::Postgres => Ok(sql.to_owned()),
            Self::Sqlite => Ok(rewrite_placeholders(sql, |_| None).0),
            Self::Mariadb => {
                let (out, order) = rewrite_placeholders(sql, |_| Some(String::new()));
                let sequential = order.iter().enumerate().all(|(i, n)| *n == i + 1);
                if !sequential {
                    bail!(
                        "placeholders {order:?} are not $1, $2, … in order, which MariaDB's \
                         positional `?` needs: {}",
                        abbreviate(sql)
                    );
                }
                Ok(out)
            }
        }
    }
}

/// Replaces every `$n` outside quotes by `?` followed by `digits(n)` (or by `n` itself when
/// that is `None`); returns the SQL and the placeholder numbers in the order they appear.
fn rewrite_placeholders(
    sql: &str,
    digits: impl Fn(usize) -> Option<String>,
) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '$' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut number = String::new();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                number.push(d);
            }
            let n: usize = number.parse().unwrap_or(0);
            order.push(n);
            out.push('?');
            out.push_str(&digits(n).unwrap_or(number));
        } else {
            out.push(c);
        }
    }
    (out, order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_for_sqlite() {
        assert_eq!(
            Backend::Sqlite
                .sql("a = $1 AND b = $12 AND c = '$x'")
                .unwrap(),
            "a = ?1 AND b = ?12 AND c = '$x'"
        );
        assert_eq!(Backend::Postgres.sql("a = $1").unwrap(), "a = $1");
    }

    #[test]
    fn placeholders_become_positional_for_mariadb_only_in_order() {
        assert_eq!(
            Backend::Mariadb
                .sql("a = $1 AND b = $2 AND c = '$3' AND d IN ($3, $4)")
                .unwrap(),
            "a = ? AND b = ? AND c = '$3' AND d IN (?, ?)"
        );
        // `?` binds in order: a reused or reordered placeholder would bind the wrong value.
        assert!(Backend::Mariadb.sql("a = $1 AND b = $1").is_err());
        assert!(Backend::Mariadb.sql("a = $2 AND b = $1").is_err());
        assert!(Backend::Mariadb.sql("a = $2").is_err());
        assert_eq!(Backend::Mariadb.sql("SELECT 1").unwrap(), "SELECT 1");
    }
}
