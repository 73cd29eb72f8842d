//! What a run measured with: the pool's options and the server's settings.

use super::{Backend, Db, Env};
use anyhow::{Context, Result};
use sea_orm::{ConnectionTrait, Statement};

impl Env {
    /// The settings a run measured with: the pool as opened (the product's options) and the
    /// server's or file's settings that matter for the figures.
    pub async fn settings(&self, db: &Db) -> Result<serde_json::Value> {
        use serde_json::json;
        let mut out = serde_json::Map::new();
        let (max, ping) = match self.backend {
            Backend::Postgres => {
                let o = db.pg()?.options();
                (o.get_max_connections(), o.get_test_before_acquire())
            }
            Backend::Sqlite => {
                let o = db.sqlite()?.options();
                (o.get_max_connections(), o.get_test_before_acquire())
            }
            Backend::Mariadb => {
                let o = db.my()?.options();
                (o.get_max_connections(), o.get_test_before_acquire())
            }
        };
        out.insert("pool_max_connections".into(), json!(max));
        out.insert("test_before_acquire".into(), json!(ping));
        let idle_ping = self
            .options(&db.name)?
            .get_test_before_acquire_if_idle_for()
            .map(|d| d.as_secs());
        out.insert("ping_if_idle_for_s".into(), json!(idle_ping));
        out.insert("purge_batch".into(), json!(self.purge_batch));
        let queries: &[(&str, &str)] = match self.backend {
            Backend::Postgres => &[
                ("shared_buffers", "SELECT current_setting('shared_buffers')"),
                ("work_mem", "SELECT current_setting('work_mem')"),
                ("max_wal_size", "SELECT current_setting('max_wal_size')"),
                (
                    "synchronous_commit",
                    "SELECT current_setting('synchronous_commit')",
                ),
                ("fsync", "SELECT current_setting('fsync')"),
                ("autovacuum", "SELECT current_setting('autovacuum')"),
            ],
            Backend::Sqlite => &[
                ("journal_mode", "PRAGMA journal_mode"),
                ("synchronous", "PRAGMA synchronous"),
                ("busy_timeout_ms", "PRAGMA busy_timeout"),
            ],
            // As text: the server's unsigned integers do not decode as `i64`.
            Backend::Mariadb => &[
                (
                    "innodb_buffer_pool_size",
                    "SELECT CAST(@@innodb_buffer_pool_size AS CHAR)",
                ),
                (
                    "innodb_flush_log_at_trx_commit",
                    "SELECT CAST(@@innodb_flush_log_at_trx_commit AS CHAR)",
                ),
                ("sync_binlog", "SELECT CAST(@@sync_binlog AS CHAR)"),
                ("log_bin", "SELECT CAST(@@log_bin AS CHAR)"),
                // `transaction_isolation` is only an alias from 11.1 on.
                (
                    "transaction_isolation",
                    "SELECT CAST(@@tx_isolation AS CHAR)",
                ),
            ],
        };
        for (key, sql) in queries {
            let row = db
                .conn
                .query_one_raw(Statement::from_string(
                    db.conn.get_database_backend(),
                    (*sql).to_owned(),
                ))
                .await
                .with_context(|| format!("reading {key}"))?;
            let value = match row {
                Some(row) => row
                    .try_get_by_index::<String>(0)
                    .map(serde_json::Value::from)
                    .or_else(|_| row.try_get_by_index::<i64>(0).map(serde_json::Value::from))?,
                None => serde_json::Value::Null,
            };
            let value = match (*key, value.as_i64()) {
                ("synchronous", Some(level)) => json!(
                    ["OFF", "NORMAL", "FULL", "EXTRA"]
                        .get(usize::try_from(level).unwrap_or(9))
                        .copied()
                        .unwrap_or("?")
                ),
                _ => value,
            };
            out.insert((*key).to_owned(), value);
        }
        Ok(serde_json::Value::Object(out))
    }

    /// The server's version, for the report.
    pub async fn server_version(&self, db: &Db) -> Result<String> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT current_setting('server_version')",
            Backend::Sqlite => "SELECT sqlite_version()",
            Backend::Mariadb => "SELECT VERSION()",
        };
        let row = db
            .conn
            .query_one_raw(Statement::from_string(
                db.conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await?;
        Ok(match row {
            Some(row) => row.try_get_by_index::<String>(0)?,
            None => String::new(),
        })
    }
}
