//! The queries behind the report: read only.

use super::{
    BridgeRejection, DuplicateIdentity, LegacyTableStats, MAX_LISTED_IDS, ReferenceStats,
    RejectedBridge, RowClassStats, TypeStats,
};
use crate::canonical::{canonical_type, canonical_type_sql};
use crate::legacy_rows::{RowClass, hash_upper_case};
use crate::m20260212_000003_backfill_operation_run_refs::Reference;
use crate::names::{ACTIVE, INVENTORY_SYNC_RUNS};
use crate::sql;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr, Statement};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn count(value: Option<i64>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

pub(super) async fn legacy_table_stats<C: ConnectionTrait>(
    db: &C,
    table: &str,
) -> Result<LegacyTableStats, DbErr> {
    let backend = db.get_database_backend();
    // `COUNT`, not `SUM`: MariaDB sums integers as DECIMAL.
    let sql = format!(
        "SELECT COUNT(*), \
           COUNT(CASE WHEN l.operation_run_id IS NULL THEN 1 END), \
           COUNT(CASE WHEN l.operation_run_id IS NOT NULL AND o.id IS NULL THEN 1 END) \
         FROM {table} AS l LEFT JOIN operation_runs AS o ON o.id = l.operation_run_id"
    );
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    let Some(row) = row else {
        return Ok(LegacyTableStats::new(table, 0, 0, 0));
    };
    Ok(LegacyTableStats::new(
        table,
        count(row.try_get_by_index(0)?),
        count(row.try_get_by_index(1)?),
        count(row.try_get_by_index(2)?),
    ))
}

/// The categorized rows of `reference`'s table: `id` and `category`, the fields of
/// [`ReferenceStats`] each row counts in.
fn reference_categories(
    reference: &Reference,
    canonical_present: bool,
    legacy_table_present: bool,
) -> String {
    let Reference {
        table,
        legacy,
        canonical,
        ..
    } = reference;
    let already_set = if canonical_present {
        format!("t.{canonical} IS NOT NULL")
    } else {
        "1 = 0".to_owned()
    };
    let legacy_rows = if legacy_table_present {
        INVENTORY_SYNC_RUNS.to_owned()
    } else {
        "(SELECT CAST(NULL AS BIGINT) AS id, CAST(NULL AS BIGINT) AS operation_run_id \
          WHERE 1 = 0)"
            .to_owned()
    };
    // Types as step 1 leaves them, which is what the backfill compares.
    let allowed = reference.bridge_allowed("o", "t", canonical_type_sql);
    let same_tenant = Reference::same_tenant("o", "t");
    format!(
        "SELECT t.id, CASE \
           WHEN {already_set} THEN 'already_set' \
           WHEN t.{legacy} IS NULL THEN 'legacy_ref_null' \
           WHEN l.id IS NULL THEN 'legacy_row_missing' \
           WHEN l.operation_run_id IS NULL THEN 'bridge_null' \
           WHEN o.id IS NULL THEN 'bridge_dangling' \
           WHEN {allowed} THEN 'mapped' \
           WHEN {same_tenant} THEN 'bridge_wrong_type' \
           ELSE 'bridge_foreign_tenant' END AS category \
         FROM {table} AS t \
         LEFT JOIN {legacy_rows} AS l ON l.id = t.{legacy} \
         LEFT JOIN operation_runs AS o ON o.id = l.operation_run_id"
    )
}

pub(super) async fn reference_stats<C: ConnectionTrait>(
    db: &C,
    reference: &Reference,
    legacy_table_present: bool,
) -> Result<(ReferenceStats, Vec<RejectedBridge>), DbErr> {
    let canonical_present = sql::column_exists(db, reference.table, reference.canonical).await?;
    let categories = reference_categories(reference, canonical_present, legacy_table_present);
    let backend = db.get_database_backend();
    let sql = format!("SELECT c.category, COUNT(*) FROM ({categories}) AS c GROUP BY c.category");
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    let mut stats = ReferenceStats::default();
    for row in rows {
        let category: String = row.try_get_by_index(0)?;
        let n = count(row.try_get_by_index(1)?);
        match category.as_str() {
            "already_set" => stats.already_set = n,
            "legacy_ref_null" => stats.legacy_ref_null = n,
            "legacy_row_missing" => stats.legacy_row_missing = n,
            "bridge_null" => stats.bridge_null = n,
            "bridge_dangling" => stats.bridge_dangling = n,
            "bridge_foreign_tenant" => stats.bridge_foreign_tenant = n,
            "bridge_wrong_type" => stats.bridge_wrong_type = n,
            _ => stats.mapped = n,
        }
    }
    let mut rejected = Vec::new();
    for (reason, category, rows) in [
        (
            BridgeRejection::AnotherTenant,
            "bridge_foreign_tenant",
            stats.bridge_foreign_tenant,
        ),
        (
            BridgeRejection::WrongType,
            "bridge_wrong_type",
            stats.bridge_wrong_type,
        ),
    ] {
        if rows == 0 {
            continue;
        }
        let ids = db
            .query_all_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT c.id FROM ({categories}) AS c WHERE c.category = '{category}' \
                     ORDER BY c.id LIMIT {MAX_LISTED_IDS}"
                ),
            ))
            .await?
            .iter()
            .map(|row| row.try_get_by_index::<i64>(0))
            .collect::<Result<Vec<_>, _>>()?;
        rejected.push(RejectedBridge {
            table: reference.table.to_owned(),
            column: reference.canonical.to_owned(),
            reason,
            rows,
            ids,
        });
    }
    Ok((stats, rejected))
}

pub(super) async fn type_stats<C: ConnectionTrait>(
    db: &C,
    allowed_types: &BTreeSet<String>,
) -> Result<(Vec<TypeStats>, Vec<TypeStats>), DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT type, COUNT(*) FROM operation_runs GROUP BY type ORDER BY type",
        ))
        .await?;
    let (mut dotted, mut unregistered) = (Vec::new(), Vec::new());
    for row in rows {
        let stored: String = row.try_get_by_index(0)?;
        let stats = TypeStats {
            canonical: canonical_type(&stored).into_owned(),
            rows: count(row.try_get_by_index(1)?),
            stored,
        };
        if !allowed_types.contains(&stats.canonical) {
            unregistered.push(stats.clone());
        }
        if stats.stored.contains('.') {
            dotted.push(stats);
        }
    }
    Ok((dotted, unregistered))
}

pub(super) async fn duplicate_identities<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<DuplicateIdentity>, DbErr> {
    // Identities as step 6 sees them: step 1 has lower-cased the upper-case hashes.
    let lowered = (hash_upper_case().predicate)(sql::flavor(db)?);
    let sql = format!(
        "WITH a AS (SELECT r.id, r.workspace_id, \
           CASE WHEN {lowered} THEN lower(r.run_identity_hash) ELSE r.run_identity_hash END \
             AS run_identity_hash \
           FROM operation_runs AS r WHERE r.{ACTIVE}) \
         SELECT a.workspace_id, a.run_identity_hash, a.id FROM a \
         JOIN (SELECT workspace_id, run_identity_hash FROM a \
               GROUP BY workspace_id, run_identity_hash HAVING COUNT(*) > 1) AS d \
           ON d.workspace_id = a.workspace_id AND d.run_identity_hash = a.run_identity_hash \
         ORDER BY a.workspace_id, a.run_identity_hash, a.id"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    let mut groups: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
    for row in rows {
        let workspace_id: i64 = row.try_get_by_index(0)?;
        let hash: String = row.try_get_by_index(1)?;
        let id: i64 = row.try_get_by_index(2)?;
        groups.entry((workspace_id, hash)).or_default().push(id);
    }
    Ok(groups
        .into_iter()
        .filter_map(|((workspace_id, run_identity_hash), mut ids)| {
            let kept_run_id = ids.pop()?;
            Some(DuplicateIdentity {
                workspace_id,
                run_identity_hash,
                kept_run_id,
                superseded_run_ids: ids,
            })
        })
        .collect())
}

/// The rows of `operation_runs` in each of `classes`: those with any, in the order given.
pub(super) async fn row_classes<C: ConnectionTrait>(
    db: &C,
    classes: &[RowClass],
) -> Result<Vec<RowClassStats>, DbErr> {
    let flavor = sql::flavor(db)?;
    let mut out = Vec::new();
    for class in classes {
        let predicate = (class.predicate)(flavor);
        out.extend(row_class(db, class.column, class.class, &predicate).await?);
    }
    Ok(out)
}

/// The rows of `operation_runs AS r` matching `predicate`, as one class of `column`; `None` if
/// there are none.
pub(super) async fn row_class<C: ConnectionTrait>(
    db: &C,
    column: &str,
    class: &str,
    predicate: &str,
) -> Result<Option<RowClassStats>, DbErr> {
    let rows = count(
        sql::scalar_i64(
            db,
            &format!("SELECT COUNT(*) FROM operation_runs AS r WHERE {predicate}"),
            vec![],
        )
        .await?,
    );
    if rows == 0 {
        return Ok(None);
    }
    let ids = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT r.id FROM operation_runs AS r WHERE {predicate} \
                 ORDER BY r.id LIMIT {MAX_LISTED_IDS}"
            ),
        ))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(RowClassStats {
        table: "operation_runs".to_owned(),
        column: column.to_owned(),
        class: class.to_owned(),
        rows,
        ids,
    }))
}
