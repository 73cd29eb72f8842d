//! Legacy test data (feature `fixtures`): only this crate may name the legacy schema, so the
//! upgrade tests, the guards and the benchmark get their legacy rows and names from here.
//!
//! Everything here expects a database migrated to the baseline only
//! (`Migrator::up(db, Some(1))`).

use crate::m20260212_000003_backfill_operation_run_refs::{REFERENCES, Reference};
use crate::names::{INVENTORY_SYNC_RUNS, LEGACY_REFERENCE_COLUMNS, LEGACY_RUN_TABLES};
use crate::preflight::{DuplicateIdentity, LegacyTableStats, ReferenceStats};
use crate::sql::{self, Flavor};
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, Statement, TransactionTrait, Value,
};
use std::collections::BTreeMap;

/// The legacy run tables the cutover drops.
pub const LEGACY_TABLES: [&str; 3] = LEGACY_RUN_TABLES;

/// The legacy reference columns the cutover drops, as (table, column).
pub const LEGACY_COLUMNS: &[(&str, &str)] = &LEGACY_REFERENCE_COLUMNS;

/// Every name of the legacy run system (tables, models, columns) that must not appear outside
/// the migration crate.
pub const LEGACY_TOKENS: [&str; 9] = [
    LEGACY_RUN_TABLES[0],
    LEGACY_RUN_TABLES[1],
    LEGACY_RUN_TABLES[2],
    "InventorySyncRun",
    "EntraGroupSyncRun",
    "BackupScheduleRun",
    LEGACY_REFERENCE_COLUMNS[0].1,
    LEGACY_REFERENCE_COLUMNS[1].1,
    LEGACY_REFERENCE_COLUMNS[2].1,
];

/// What the cutover must make of the rows [`seed_legacy_edge_cases`] inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EdgeCaseExpectations {
    /// Workspace most rows live in.
    pub workspace_id: i64,
    /// Tenant most rows live in.
    pub tenant_id: i64,
    /// Finding id → expected (`baseline_operation_run_id`, `current_operation_run_id`).
    pub findings: BTreeMap<i64, (Option<i64>, Option<i64>)>,
    /// Inventory item id → expected `last_seen_operation_run_id`.
    pub inventory_items: BTreeMap<i64, Option<i64>>,
    /// Operation run id → type as seeded (before canonicalization), for every run.
    pub run_types: BTreeMap<i64, String>,
    /// Expected preflight per legacy table, in [`LEGACY_TABLES`] order.
    pub legacy_tables: Vec<LegacyTableStats>,
    /// Expected preflight of the finding baseline references.
    pub finding_baseline_refs: ReferenceStats,
    /// Expected preflight of the finding current references.
    pub finding_current_refs: ReferenceStats,
    /// Expected preflight of the inventory last-seen references.
    pub inventory_last_seen_refs: ReferenceStats,
    /// Expected duplicate active identities, ordered by (workspace, identity).
    pub duplicate_active_identities: Vec<DuplicateIdentity>,
}

/// How one seeded legacy reference relates to canonical history.
#[derive(Debug, Clone, Copy)]
enum Ref {
    /// The legacy reference is null.
    Null,
    /// Points at a legacy row bridged to an existing run (legacy id, run id).
    Mapped(i64, i64),
    /// Points at a legacy row that was deleted.
    RowMissing(i64),
    /// Points at a legacy row whose bridge is null.
    BridgeNull(i64),
    /// Points at a legacy row whose bridge names a deleted run.
    Dangling(i64),
}

impl Ref {
    fn legacy_id(self) -> Option<i64> {
        match self {
            Ref::Null => None,
            Ref::Mapped(id, _) | Ref::RowMissing(id) | Ref::BridgeNull(id) | Ref::Dangling(id) => {
                Some(id)
            }
        }
    }

    fn expected(self) -> Option<i64> {
        match self {
            Ref::Mapped(_, run) => Some(run),
            _ => None,
        }
    }

    fn count(self, stats: &mut ReferenceStats) {
        match self {
            Ref::Null => stats.legacy_ref_null += 1,
            Ref::Mapped(..) => stats.mapped += 1,
            Ref::RowMissing(_) => stats.legacy_row_missing += 1,
            Ref::BridgeNull(_) => stats.bridge_null += 1,
            Ref::Dangling(_) => stats.bridge_dangling += 1,
        }
    }
}

/// Inserts rows and returns their ids, with backend-specific placeholders.
struct Seeder<'a, C: ConnectionTrait> {
    db: &'a C,
    flavor: Flavor,
}

impl<C: ConnectionTrait> Seeder<'_, C> {
    /// `sql` uses `?` placeholders; they become `$n` on PostgreSQL.
    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        let sql = match self.flavor {
            Flavor::Sqlite => sql.to_owned(),
            Flavor::Postgres => {
                let mut out = String::with_capacity(sql.len() + 8);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push_str(&format!("${n}"));
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        };
        Statement::from_sql_and_values(self.db.get_database_backend(), sql, values)
    }

    async fn insert(&self, sql: &str, values: Vec<Value>) -> Result<i64, DbErr> {
        let row = self
            .db
            .query_one_raw(self.statement(&format!("{sql} RETURNING id"), values))
            .await?
            .ok_or_else(|| DbErr::RecordNotInserted)?;
        row.try_get_by_index(0)
    }

    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
        Ok(self
            .db
            .execute_raw(self.statement(sql, values))
            .await?
            .rows_affected())
    }

    async fn run(
        &self,
        workspace: i64,
        tenant: i64,
        run_type: &str,
        status: &str,
        identity: u64,
        context: &str,
    ) -> Result<i64, DbErr> {
        let now = sql::now(self.flavor);
        let (outcome, started, completed) = match status {
            "queued" => ("pending", "NULL", "NULL"),
            "running" => ("pending", now, "NULL"),
            _ => ("succeeded", now, now),
        };
        self.insert(
            &format!(
                "INSERT INTO operation_runs (workspace_id, tenant_id, initiator_name, type, status, \
                 outcome, run_identity_hash, context, started_at, completed_at) \
                 VALUES (?, ?, 'system', ?, ?, ?, ?, {}, {started}, {completed})",
                sql::literal(context)
            ),
            vec![
                workspace.into(),
                tenant.into(),
                run_type.into(),
                status.into(),
                outcome.into(),
                format!("{identity:064x}").into(),
            ],
        )
        .await
    }

    async fn legacy_inventory_run(
        &self,
        workspace: i64,
        tenant: i64,
        bridge: Option<i64>,
    ) -> Result<i64, DbErr> {
        self.insert(
            "INSERT INTO inventory_sync_runs (workspace_id, tenant_id, status, items_seen, \
             operation_run_id) VALUES (?, ?, 'succeeded', 3, ?)",
            vec![workspace.into(), tenant.into(), bridge.into()],
        )
        .await
    }
}

/// Seeds a baseline-migrated database with every legacy edge case the cutover must handle and
/// returns what the preflight must report and what every reference must hold afterwards.
///
/// Covered: legacy runs whose bridge is null, dangling (its run deleted) or valid, in all three
/// legacy tables; references to a legacy row that is gone; null references; findings with only
/// one side mappable; inventory items whose canonical reference is already set (kept); every
/// built-in dotted type, an unknown dotted type, canonical types (registered and not); two
/// identities with several active runs (plus a same-identity run in another workspace and a
/// completed one, which are not duplicates).
///
/// # Errors
/// Any database error (for example when the database is not at the baseline).
pub async fn seed_legacy_edge_cases(
    db: &impl ConnectionTrait,
) -> Result<EdgeCaseExpectations, DbErr> {
    let s = Seeder {
        db,
        flavor: sql::flavor(db)?,
    };
    let ws = s
        .insert("INSERT INTO workspaces (name) VALUES ('Contoso')", vec![])
        .await?;
    let ws2 = s
        .insert("INSERT INTO workspaces (name) VALUES ('Fabrikam')", vec![])
        .await?;
    let tenant = s
        .insert(
            "INSERT INTO tenants (workspace_id, name) VALUES (?, 'contoso-main')",
            vec![ws.into()],
        )
        .await?;
    let tenant2 = s
        .insert(
            "INSERT INTO tenants (workspace_id, name) VALUES (?, 'fabrikam-main')",
            vec![ws2.into()],
        )
        .await?;
    let schedule = s
        .insert(
            "INSERT INTO backup_schedules (workspace_id, tenant_id, name) VALUES (?, ?, 'nightly')",
            vec![ws.into(), tenant.into()],
        )
        .await?;

    let mut run_types = BTreeMap::new();
    let mut identity = 1000_u64;
    let mut completed_run = |run_type: &'static str| {
        identity += 1;
        (run_type, identity)
    };
    // One completed run per stored type worth covering.
    let mut by_type = BTreeMap::new();
    for run_type in [
        "inventory.sync",
        "entra_group.sync",
        "directory_groups.sync",
        "backup_schedule.run",
        "backup_schedule.run_now",
        "backup_schedule.retry",
        "backup_schedule.retention",
        "backup_schedule.purge",
        "drift.generate",
        "custom.report.export",
        "inventory_sync",
        "backup_schedule_run",
        "legacy_cleanup",
    ] {
        let (run_type, identity) = completed_run(run_type);
        let context = if run_type.starts_with("backup_schedule") {
            format!("{{\"backup_schedule_id\": {schedule}}}")
        } else {
            "{}".to_owned()
        };
        let id = s
            .run(ws, tenant, run_type, "completed", identity, &context)
            .await?;
        run_types.insert(id, run_type.to_owned());
        by_type.insert(run_type, id);
    }
    let run = |t: &str| by_type.get(t).copied().ok_or(DbErr::RecordNotInserted);
    let (inv_dotted, inv_canonical) = (run("inventory.sync")?, run("inventory_sync")?);

    // Runs that legacy bridges point at, then deleted: their bridges dangle.
    let mut deleted = Vec::new();
    for n in 0..2 {
        let id = s
            .run(ws, tenant, "inventory_sync", "completed", 900 + n, "{}")
            .await?;
        s.exec("DELETE FROM operation_runs WHERE id = ?", vec![id.into()])
            .await?;
        deleted.push(id);
    }

    // Duplicate active identities: A has three active runs (and an older completed one), B two.
    // The same identity active once in another workspace, and C active once, are not duplicates.
    let (hash_a, hash_b, hash_c) = (7001_u64, 7002_u64, 7003_u64);
    let mut active = |id: i64, t: &str| {
        run_types.insert(id, t.to_owned());
        id
    };
    let a0 = s
        .run(ws, tenant, "inventory_sync", "completed", hash_a, "{}")
        .await?;
    active(a0, "inventory_sync");
    let a1 = active(
        s.run(ws, tenant, "inventory_sync", "queued", hash_a, "{}")
            .await?,
        "inventory_sync",
    );
    let a2 = active(
        s.run(ws, tenant, "inventory_sync", "running", hash_a, "{}")
            .await?,
        "inventory_sync",
    );
    let a3 = active(
        s.run(ws, tenant, "inventory_sync", "queued", hash_a, "{}")
            .await?,
        "inventory_sync",
    );
    let b_context = format!("{{\"backup_schedule_id\": {schedule}}}");
    let b1 = active(
        s.run(
            ws,
            tenant,
            "backup_schedule.run_now",
            "running",
            hash_b,
            &b_context,
        )
        .await?,
        "backup_schedule.run_now",
    );
    let b2 = active(
        s.run(
            ws,
            tenant,
            "backup_schedule.run_now",
            "running",
            hash_b,
            &b_context,
        )
        .await?,
        "backup_schedule.run_now",
    );
    let other_ws = active(
        s.run(ws2, tenant2, "inventory_sync", "running", hash_a, "{}")
            .await?,
        "inventory_sync",
    );
    let single = active(
        s.run(ws, tenant, "drift.generate", "queued", hash_c, "{}")
            .await?,
        "drift.generate",
    );
    let _ = (other_ws, single);
    let mut duplicate_active_identities = vec![
        DuplicateIdentity {
            workspace_id: ws,
            run_identity_hash: format!("{hash_a:064x}"),
            kept_run_id: a3,
            superseded_run_ids: vec![a1, a2],
        },
        DuplicateIdentity {
            workspace_id: ws,
            run_identity_hash: format!("{hash_b:064x}"),
            kept_run_id: b2,
            superseded_run_ids: vec![b1],
        },
    ];
    duplicate_active_identities.sort_by(|x, y| {
        (x.workspace_id, &x.run_identity_hash).cmp(&(y.workspace_id, &y.run_identity_hash))
    });

    // Legacy inventory sync runs.
    let l_dotted = s.legacy_inventory_run(ws, tenant, Some(inv_dotted)).await?;
    let l_canonical = s
        .legacy_inventory_run(ws, tenant, Some(inv_canonical))
        .await?;
    let l_bridge_null = s.legacy_inventory_run(ws, tenant, None).await?;
    let l_dangling = s.legacy_inventory_run(ws, tenant, Some(deleted[0])).await?;
    let l_gone = s.legacy_inventory_run(ws, tenant, Some(inv_dotted)).await?;
    s.exec(
        "DELETE FROM inventory_sync_runs WHERE id = ?",
        vec![l_gone.into()],
    )
    .await?;

    // Legacy entra group sync runs and backup schedule runs (nothing references them; their
    // unbridged history is what the preflight must report).
    for bridge in [Some(run("entra_group.sync")?), None, Some(deleted[1])] {
        s.insert(
            "INSERT INTO entra_group_sync_runs (workspace_id, tenant_id, status, groups_seen, \
             operation_run_id) VALUES (?, ?, 'succeeded', 12, ?)",
            vec![ws.into(), tenant.into(), bridge.into()],
        )
        .await?;
    }
    let now = sql::now(s.flavor);
    for bridge in [Some(run("backup_schedule.run")?), None, Some(deleted[0])] {
        s.insert(
            &format!(
                "INSERT INTO backup_schedule_runs (backup_schedule_id, tenant_id, status, \
                 scheduled_for, operation_run_id) VALUES (?, ?, 'succeeded', {now}, ?)"
            ),
            vec![schedule.into(), tenant.into(), bridge.into()],
        )
        .await?;
    }

    let mapped_dotted = Ref::Mapped(l_dotted, inv_dotted);
    let mapped_canonical = Ref::Mapped(l_canonical, inv_canonical);
    let (gone, bridge_null, dangling) = (
        Ref::RowMissing(l_gone),
        Ref::BridgeNull(l_bridge_null),
        Ref::Dangling(l_dangling),
    );

    // Findings: every combination worth telling apart, including one-side-mappable ones.
    let finding_cases = [
        (tenant, mapped_dotted, mapped_canonical),
        (tenant, bridge_null, mapped_dotted),
        (tenant, mapped_dotted, dangling),
        (tenant, gone, mapped_canonical),
        (tenant, Ref::Null, Ref::Null),
        (tenant, Ref::Null, bridge_null),
        (tenant, dangling, Ref::Null),
        (tenant, gone, gone),
        (tenant2, mapped_canonical, mapped_dotted),
    ];
    let (mut findings, mut baseline_stats, mut current_stats) = (
        BTreeMap::new(),
        ReferenceStats::default(),
        ReferenceStats::default(),
    );
    for (n, (tenant_id, baseline, current)) in finding_cases.into_iter().enumerate() {
        let workspace_id = if tenant_id == tenant { ws } else { ws2 };
        let id = s
            .insert(
                "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change, \
                 baseline_run_id, current_run_id) VALUES (?, ?, ?, 'modified', ?, ?)",
                vec![
                    workspace_id.into(),
                    tenant_id.into(),
                    format!("subject-{n}").into(),
                    baseline.legacy_id().into(),
                    current.legacy_id().into(),
                ],
            )
            .await?;
        baseline.count(&mut baseline_stats);
        current.count(&mut current_stats);
        findings.insert(id, (baseline.expected(), current.expected()));
    }

    // Inventory items: (legacy reference, canonical reference already written by new code).
    let item_cases = [
        (mapped_dotted, None),
        (mapped_canonical, None),
        (bridge_null, None),
        (dangling, None),
        (gone, None),
        (Ref::Null, None),
        (mapped_dotted, Some(inv_canonical)),
        (Ref::Null, Some(inv_canonical)),
        (bridge_null, Some(inv_dotted)),
    ];
    let (mut inventory_items, mut item_stats) = (BTreeMap::new(), ReferenceStats::default());
    for (n, (legacy, already)) in item_cases.into_iter().enumerate() {
        let id = s
            .insert(
                "INSERT INTO inventory_items (workspace_id, tenant_id, external_id, kind, \
                 display_name, last_seen_run_id, last_seen_operation_run_id) \
                 VALUES (?, ?, ?, 'device', ?, ?, ?)",
                vec![
                    ws.into(),
                    tenant.into(),
                    format!("item-{n}").into(),
                    format!("Item {n}").into(),
                    legacy.legacy_id().into(),
                    already.into(),
                ],
            )
            .await?;
        match already {
            Some(run) => {
                item_stats.already_set += 1;
                inventory_items.insert(id, Some(run));
            }
            None => {
                legacy.count(&mut item_stats);
                inventory_items.insert(id, legacy.expected());
            }
        }
    }

    Ok(EdgeCaseExpectations {
        workspace_id: ws,
        tenant_id: tenant,
        findings,
        inventory_items,
        run_types,
        legacy_tables: vec![
            LegacyTableStats::new(LEGACY_RUN_TABLES[0], 4, 1, 1),
            LegacyTableStats::new(LEGACY_RUN_TABLES[1], 3, 1, 1),
            LegacyTableStats::new(LEGACY_RUN_TABLES[2], 3, 1, 1),
        ],
        finding_baseline_refs: baseline_stats,
        finding_current_refs: current_stats,
        inventory_last_seen_refs: item_stats,
        duplicate_active_identities,
    })
}

/// What [`seed_legacy_at_scale`] inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScaleSeed {
    /// Legacy inventory sync runs inserted.
    pub legacy_runs: u64,
    /// Operation runs inserted (the bridged, non-dangling share of the legacy runs).
    pub operation_runs: u64,
    /// Inventory items inserted.
    pub inventory_items: u64,
    /// Findings inserted.
    pub findings: u64,
}

fn series(flavor: Flavor, n: u64) -> String {
    match flavor {
        Flavor::Postgres => {
            format!("WITH s(g) AS (SELECT generate_series(1::bigint, {n}::bigint))")
        }
        Flavor::Sqlite => {
            format!(
                "WITH RECURSIVE s(g) AS (SELECT 1 WHERE {n} >= 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n})"
            )
        }
    }
}

/// Seeds a large legacy database set-based (`generate_series` on PostgreSQL, a recursive CTE on
/// SQLite) for benchmarks: `legacy_runs` legacy inventory sync runs (1 in 10 with a null bridge,
/// 1 in 20 bridged to a run that does not exist, the rest bridged to an existing run of type
/// `inventory.sync` or `inventory_sync`), `items` inventory items and `findings` findings
/// referencing them (some null, some pointing at legacy rows that are gone; 1 item in 11 already
/// has a canonical reference).
///
/// # Errors
/// Any database error (for example when the database is not at the baseline).
pub async fn seed_legacy_at_scale(
    db: &impl ConnectionTrait,
    items: u64,
    findings: u64,
    legacy_runs: u64,
) -> Result<ScaleSeed, DbErr> {
    let flavor = sql::flavor(db)?;
    let s = Seeder { db, flavor };
    let ws = s
        .insert("INSERT INTO workspaces (name) VALUES ('Scale')", vec![])
        .await?;
    let tenant = s
        .insert(
            "INSERT INTO tenants (workspace_id, name) VALUES (?, 'scale-tenant')",
            vec![ws.into()],
        )
        .await?;
    let max = |table: &str| format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
    let r0 = sql::scalar_i64(db, &max("operation_runs"), vec![])
        .await?
        .unwrap_or(0);
    let l0 = sql::scalar_i64(db, &max(INVENTORY_SYNC_RUNS), vec![])
        .await?
        .unwrap_or(0);
    let i0 = sql::scalar_i64(db, &max("inventory_items"), vec![])
        .await?
        .unwrap_or(0);
    let f0 = sql::scalar_i64(db, &max("findings"), vec![])
        .await?
        .unwrap_or(0);
    let n = legacy_runs.max(1);
    let hash = match flavor {
        Flavor::Postgres => "md5(g::text) || md5((g + 1)::text)",
        Flavor::Sqlite => "printf('%064x', g)",
    };
    // Legacy run g is bridged to run r0 + g, which exists unless g % 20 = 0 (dangling).
    let operation_runs = s
        .exec(
            &format!(
                "{} INSERT INTO operation_runs (id, workspace_id, tenant_id, initiator_name, type, \
                 status, outcome, run_identity_hash, started_at, completed_at) \
                 SELECT {r0} + g, {ws}, {tenant}, 'scheduler', \
                   CASE WHEN g % 2 = 0 THEN 'inventory.sync' ELSE 'inventory_sync' END, \
                   'completed', 'succeeded', {hash}, {now}, {now} \
                 FROM s WHERE g % 20 <> 0",
                series(flavor, n),
                now = sql::now(flavor)
            ),
            vec![],
        )
        .await?;
    s.exec(
        &format!(
            "{} INSERT INTO inventory_sync_runs (id, workspace_id, tenant_id, status, items_seen, \
             operation_run_id) \
             SELECT {l0} + g, {ws}, {tenant}, 'succeeded', g % 100, \
               CASE WHEN g % 10 = 1 THEN NULL ELSE {r0} + g END \
             FROM s",
            series(flavor, n)
        ),
        vec![],
    )
    .await?;
    // Item i references legacy run 1 + i % n; 1 in 7 has no reference, 1 in 13 points past the
    // legacy table (row gone), 1 in 11 already carries a canonical reference (run r0 + 1).
    let inventory_items = s
        .exec(
            &format!(
                "{} INSERT INTO inventory_items (id, workspace_id, tenant_id, external_id, kind, \
                 display_name, last_seen_run_id, last_seen_operation_run_id) \
                 SELECT {i0} + g, {ws}, {tenant}, 'item-' || g, 'device', 'Item ' || g, \
                   CASE WHEN g % 7 = 0 THEN NULL \
                        WHEN g % 13 = 0 THEN {l0} + {n} + g \
                        ELSE {l0} + 1 + g % {n} END, \
                   CASE WHEN g % 11 = 0 THEN {r0} + 1 ELSE NULL END \
                 FROM s",
                series(flavor, items)
            ),
            vec![],
        )
        .await?;
    let findings = s
        .exec(
            &format!(
                "{} INSERT INTO findings (id, workspace_id, tenant_id, subject_external_id, change, \
                 baseline_run_id, current_run_id) \
                 SELECT {f0} + g, {ws}, {tenant}, 'item-' || g, 'modified', \
                   CASE WHEN g % 9 = 0 THEN NULL ELSE {l0} + 1 + g % {n} END, \
                   CASE WHEN g % 17 = 0 THEN {l0} + {n} + g ELSE {l0} + 1 + (g * 7) % {n} END \
                 FROM s",
                series(flavor, findings)
            ),
            vec![],
        )
        .await?;
    if flavor == Flavor::Postgres {
        // Explicit ids do not advance identity sequences.
        for table in [
            "operation_runs",
            INVENTORY_SYNC_RUNS,
            "inventory_items",
            "findings",
        ] {
            db.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            ))
            .await?;
        }
    }
    Ok(ScaleSeed {
        legacy_runs: n,
        operation_runs,
        inventory_items,
        findings,
    })
}

/// The canonical references set, over `findings` and `inventory_items` (both columns of a
/// finding count). Expects the canonical columns to exist.
///
/// # Errors
/// Any database error.
pub async fn canonical_references_set(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let mut set = 0;
    for r in &REFERENCES {
        let n = sql::scalar_i64(
            db,
            &format!("SELECT COUNT({}) FROM {}", r.canonical, r.table),
            vec![],
        )
        .await?
        .unwrap_or(0);
        set += u64::try_from(n).unwrap_or(0);
    }
    Ok(set)
}

/// The best hand-written SQL for the job of cutover step 3, as a baseline for the migration's
/// batched backfill, on a database at step 2: in one transaction, one `UPDATE … FROM` per table
/// over the whole table, writing each row at most once (`findings`' two references in one
/// statement, through outer joins; SQLite 3.33+ has `UPDATE … FROM` too), then what step 3 adds
/// after its backfill: on PostgreSQL the finding foreign keys (when missing), and the indexes on
/// the finding references. Returns the references written (counted before and after the
/// transaction; time [`run_hand_written_backfill`] alone to leave the counting out).
///
/// # Errors
/// Any database error.
pub async fn hand_written_backfill(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let before = canonical_references_set(db).await?;
    run_hand_written_backfill(db).await?;
    Ok(canonical_references_set(db).await?.saturating_sub(before))
}

/// The transaction of [`hand_written_backfill`], without counting what it wrote.
///
/// # Errors
/// Any database error.
pub async fn run_hand_written_backfill(db: &DatabaseConnection) -> Result<(), DbErr> {
    let flavor = sql::flavor(db)?;
    let findings: Vec<&Reference> = REFERENCES
        .iter()
        .filter(|r| r.table == "findings")
        .collect();
    let items: Vec<&Reference> = REFERENCES
        .iter()
        .filter(|r| r.table == "inventory_items")
        .collect();
    let ([b, c], [i]) = (findings.as_slice(), items.as_slice()) else {
        return Err(DbErr::Custom("unexpected reference columns".to_owned()));
    };
    // `findings`: a row gets written when either reference maps; a reference already set stays.
    let mapped = format!(
        "SELECT f.id, CASE WHEN f.{bc} IS NULL THEN ob.id END AS b, \
           CASE WHEN f.{cc} IS NULL THEN oc.id END AS c \
         FROM findings AS f \
         LEFT JOIN inventory_sync_runs AS lb ON lb.id = f.{bl} \
         LEFT JOIN operation_runs AS ob ON ob.id = lb.operation_run_id \
         LEFT JOIN inventory_sync_runs AS lc ON lc.id = f.{cl} \
         LEFT JOIN operation_runs AS oc ON oc.id = lc.operation_run_id",
        bc = b.canonical,
        cc = c.canonical,
        bl = b.legacy,
        cl = c.legacy,
    );
    let mut statements = vec![
        format!(
            "UPDATE findings AS t SET {bc} = COALESCE(t.{bc}, m.b), {cc} = COALESCE(t.{cc}, m.c) \
             FROM ({mapped}) AS m WHERE t.id = m.id AND (m.b IS NOT NULL OR m.c IS NOT NULL)",
            bc = b.canonical,
            cc = c.canonical,
        ),
        format!(
            "UPDATE inventory_items AS t SET {ic} = l.operation_run_id \
             FROM inventory_sync_runs AS l JOIN operation_runs AS o ON o.id = l.operation_run_id \
             WHERE l.id = t.{il} AND t.{ic} IS NULL",
            ic = i.canonical,
            il = i.legacy,
        ),
    ];
    if flavor == Flavor::Postgres {
        for (name, column) in sql::FINDINGS_CANONICAL_FOREIGN_KEYS {
            if !sql::postgres_constraint_exists(db, "findings", name).await? {
                statements.push(format!(
                    "ALTER TABLE findings ADD CONSTRAINT {name} FOREIGN KEY ({column}) \
                     REFERENCES operation_runs (id) ON DELETE SET NULL"
                ));
            }
        }
    }
    statements.extend(sql::findings_canonical_indexes());
    // One transaction, as the migration: on SQLite a commit per statement would also
    // checkpoint the write-ahead log after each of them.
    let transaction = db.begin().await?;
    sql::exec_all(&transaction, &statements).await?;
    transaction.commit().await
}

/// The legacy row-by-row backfill, as the slow baseline: reads `chunk` ids at a time, then looks
/// up each bridge and updates each row with its own statements. Expects the canonical columns to
/// exist. Returns the rows updated.
///
/// # Errors
/// Any database error.
pub async fn row_by_row_backfill(db: &impl ConnectionTrait, chunk: u64) -> Result<u64, DbErr> {
    let flavor = sql::flavor(db)?;
    let s = Seeder { db, flavor };
    let chunk = i64::try_from(chunk.max(1)).unwrap_or(i64::MAX);
    let mut updated = 0;
    for r in &REFERENCES {
        let (table, legacy, canonical) = (r.table, r.legacy, r.canonical);
        let mut last = 0_i64;
        loop {
            let rows = db
                .query_all_raw(s.statement(
                    &format!(
                        "SELECT id, {legacy} FROM {table} WHERE id > ? AND {canonical} IS NULL \
                         ORDER BY id LIMIT ?"
                    ),
                    vec![last.into(), chunk.into()],
                ))
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let id: i64 = row.try_get_by_index(0)?;
                last = id;
                let Some(legacy_id) = row.try_get_by_index::<Option<i64>>(1)? else {
                    continue;
                };
                let bridge = db
                    .query_one_raw(s.statement(
                        "SELECT l.operation_run_id FROM inventory_sync_runs AS l \
                         JOIN operation_runs AS o ON o.id = l.operation_run_id WHERE l.id = ?",
                        vec![legacy_id.into()],
                    ))
                    .await?;
                let Some(bridge) = bridge else { continue };
                let run: i64 = bridge.try_get_by_index(0)?;
                updated += s
                    .exec(
                        &format!("UPDATE {table} SET {canonical} = ? WHERE id = ?"),
                        vec![run.into(), id.into()],
                    )
                    .await?;
            }
        }
    }
    Ok(updated)
}
