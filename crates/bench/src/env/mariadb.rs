//! What the bench's databases need on MariaDB: copies without `TEMPLATE`, statistics, warm
//! pools and a settled disk.

use super::Db;
use anyhow::{Context, Result, bail};
use sqlx::{Connection, MySqlConnection};

/// `name` quoted as a MariaDB identifier.
fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The column list of an `INSERT … SELECT` copying a table: every column but the generated
/// ones, which MariaDB computes and refuses values for. `columns` are `(name, generated?)`
/// in table order.
fn copied_columns(columns: &[(String, bool)]) -> String {
    columns
        .iter()
        .filter(|(_, generated)| !generated)
        .map(|(name, _)| quoted(name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SHOW CREATE TABLE` of every base table of `schema`, in name order.
async fn definitions(c: &mut MySqlConnection, schema: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for table in tables(c, schema).await? {
        let (_, ddl): (String, String) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SHOW CREATE TABLE {}.{}",
            quoted(schema),
            quoted(&table)
        )))
        .fetch_one(&mut *c)
        .await
        .with_context(|| format!("reading the definition of {schema}.{table}"))?;
        out.push((table, ddl));
    }
    Ok(out)
}

async fn tables(c: &mut MySqlConnection, schema: &str) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    )
    .bind(schema)
    .fetch_all(&mut *c)
    .await
    .with_context(|| format!("listing the tables of {schema}"))
}

async fn exec(c: &mut MySqlConnection, sql: String) -> Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&mut *c)
        .await
        .with_context(|| format!("running {}", super::abbreviate(&sql)))?;
    Ok(())
}

/// Copies database `source` into a new database `copy` (MariaDB has no `CREATE DATABASE …
/// TEMPLATE`): each table created from its original's `SHOW CREATE TABLE` (columns, generated
/// columns, indexes, checks, foreign keys, and the `AUTO_INCREMENT` counter, so that both
/// sides hand out the same ids), then its rows copied with one `INSERT … SELECT` of the
/// columns that are not generated. Foreign key checks are off for this session, so the tables
/// can be created and filled in any order. Every table's `SHOW CREATE TABLE` must then read
/// exactly as the original's: a copy is what the migrations built, or the bench stops.
pub async fn copy_database(admin_url: &str, source: &str, copy: &str) -> Result<()> {
    let mut c = MySqlConnection::connect(admin_url)
        .await
        .context("connecting to the admin URL")?;
    let (charset, collation): (String, String) = sqlx::query_as(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
         FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(source)
    .fetch_one(&mut c)
    .await
    .with_context(|| format!("reading database {source}"))?;
    let others: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'BASE TABLE') \
              + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?) \
              + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)",
    )
    .bind(source)
    .bind(source)
    .bind(source)
    .fetch_one(&mut c)
    .await
    .context("looking for views, triggers and routines")?;
    if others > 0 {
        bail!("{source} has views, triggers or routines, which the copy would leave out");
    }
    exec(
        &mut c,
        format!(
            "CREATE DATABASE {} CHARACTER SET {charset} COLLATE {collation}",
            quoted(copy)
        ),
    )
    .await?;
    exec(&mut c, "SET SESSION foreign_key_checks = 0".to_owned()).await?;
    exec(&mut c, format!("USE {}", quoted(copy))).await?;
    let from = quoted(source);
    for (table, ddl) in definitions(&mut c, source).await? {
        // The original's own definition, not `CREATE TABLE … LIKE`: `LIKE` leaves the foreign
        // keys out, and adding them afterwards would create the indexes InnoDB makes for them
        // in another order than the migrations did. Its references name tables of the same
        // database, which is now the copy.
        exec(&mut c, ddl).await?;
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT COLUMN_NAME, IS_GENERATED FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        )
        .bind(source)
        .bind(&table)
        .fetch_all(&mut c)
        .await
        .with_context(|| format!("reading the columns of {table}"))?;
        let columns: Vec<(String, bool)> = columns
            .into_iter()
            .map(|(name, generated)| (name, generated != "NEVER"))
            .collect();
        let list = copied_columns(&columns);
        let t = quoted(&table);
        exec(
            &mut c,
            format!("INSERT INTO {t} ({list}) SELECT {list} FROM {from}.{t}"),
        )
        .await?;
    }
    let want = definitions(&mut c, source).await?;
    let got = definitions(&mut c, copy).await?;
    c.close().await.ok();
    if want != got {
        let first = want.iter().zip(&got).find(|(a, b)| a != b).map(|(a, b)| {
            let line = a.1.lines().zip(b.1.lines()).find(|(x, y)| x != y);
            format!("{}: {line:?}", a.0)
        });
        bail!(
            "the copy of {source} differs from it in its tables' definitions ({} tables against \
             {}; first difference: {first:?})",
            got.len(),
            want.len()
        );
    }
    Ok(())
}

/// `ANALYZE TABLE` of every table of `db`: fresh persistent statistics, the same on two copies.
pub async fn analyze_tables(db: &Db) -> Result<()> {
    let pool = db.my()?;
    let mut c = pool.acquire().await.context("analyzing tables")?;
    let names = tables(&mut c, &db.name).await?;
    if names.is_empty() {
        return Ok(());
    }
    let list = names
        .iter()
        .map(|t| quoted(t))
        .collect::<Vec<_>>()
        .join(", ");
    // `ANALYZE TABLE` answers with a result set: reported problems are rows, not errors.
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("ANALYZE TABLE {list}")))
            .fetch_all(&mut *c)
            .await
            .context("ANALYZE TABLE")?;
    if let Some(bad) = rows.iter().find(|r| r.2 == "error") {
        bail!("ANALYZE TABLE {}: {}", bad.0, bad.3);
    }
    Ok(())
}

/// Opens every connection of the pool up front (as on PostgreSQL: no measurement pays for
/// connecting), and reads every table once through its primary key, so that neither side's
/// first statements pay for bringing the tables into the buffer pool.
pub async fn warm(db: &Db) -> Result<()> {
    let pool = db.my()?;
    let mut held = super::hold_every_connection(pool, "SELECT 1").await?;
    let Some(c) = held.first_mut() else {
        return Ok(());
    };
    for table in tables(c, &db.name).await? {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {} FORCE INDEX (PRIMARY)",
            quoted(&table)
        )))
        .execute(&mut **c)
        .await
        .with_context(|| format!("reading {table}"))?;
    }
    Ok(())
}

/// Writes the dirty pages of the `databases`' tables to disk (`FLUSH TABLES … FOR EXPORT`,
/// which InnoDB implements by flushing those tablespaces), as PostgreSQL's `CHECKPOINT` does
/// before a one-shot measurement: the side measured next does not pay for writing back the
/// copies made before it. InnoDB offers no server-wide checkpoint command, and the server may
/// be shared, so only the bench's own tables are flushed. Best effort, like the checkpoint.
pub async fn settle(admin_url: &str, databases: &[String]) -> Result<()> {
    let mut c = MySqlConnection::connect(admin_url)
        .await
        .context("connecting to the admin URL")?;
    let mut all = Vec::new();
    for db in databases {
        for table in tables(&mut c, db).await? {
            all.push(format!("{}.{}", quoted(db), quoted(&table)));
        }
    }
    if !all.is_empty() {
        let flushed = exec(
            &mut c,
            format!("FLUSH TABLES {} FOR EXPORT", all.join(", ")),
        )
        .await;
        exec(&mut c, "UNLOCK TABLES".to_owned()).await?;
        if let Err(e) = flushed {
            crate::progress!("could not flush the tables before measuring: {e:#}");
        }
    }
    c.close().await.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_columns_are_not_copied() {
        let columns = [
            ("id".to_owned(), false),
            ("run_identity_hash".to_owned(), false),
            ("active_identity_hash".to_owned(), true),
            ("context".to_owned(), false),
            ("backup_schedule_key".to_owned(), true),
        ];
        assert_eq!(
            copied_columns(&columns),
            "`id`, `run_identity_hash`, `context`"
        );
        assert_eq!(quoted("a`b"), "`a``b`");
    }
}
