//! The scenarios and what they share.

pub mod backfill;
pub mod cutover_live;
pub mod history;
pub mod http_list;
pub mod monitoring;
pub mod progress;
pub mod purge;
pub mod start;

use crate::env::{Db, Env};
use crate::report::{Figure, Samples};
use anyhow::{Context, Result};
use operation_runs_domain::{RunTypeRegistry, TenantId, WorkspaceId};
use operation_runs_ports::Provisioning;
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_service::{OperationRunService, ServicePorts, StartRequest};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrent tasks of the contended scenarios.
pub const TASKS: usize = 16;

/// Timed operations per side of a latency comparison: enough for a stable median and p95, few
/// enough that the smoke run stays quick.
pub fn samples(rows: u64) -> usize {
    usize::try_from((rows / 4).clamp(160, 2000)).unwrap_or(2000)
}

/// The product's use cases over the SeaORM adapter, wired as a host service would.
pub fn service(store: &SeaOrmStore) -> OperationRunService {
    let store = Arc::new(store.clone());
    OperationRunService::new(
        ServicePorts::from_store(store),
        RunTypeRegistry::with_builtins(),
    )
}

/// A fresh migrated database with one workspace and one tenant of it: where the scenarios of
/// a single workspace start.
pub async fn one_tenant(
    env: &Env,
    label: &str,
) -> Result<(Db, SeaOrmStore, WorkspaceId, TenantId)> {
    let db = env.create_migrated(label).await?;
    let store = db.store();
    let workspace = store.create_workspace("bench").await?;
    let tenant = store.create_tenant(workspace, "bench-tenant").await?;
    Ok((db, store, workspace, tenant))
}

/// The start of an inventory sync of `tenant` by `initiator`: the run the lifecycle scenarios
/// start, `identity` telling their runs apart.
pub fn inventory_sync(
    workspace: WorkspaceId,
    tenant: TenantId,
    initiator: &str,
    identity: serde_json::Value,
) -> StartRequest {
    StartRequest::new(workspace, "inventory_sync", initiator)
        .tenant(tenant)
        .identity(identity)
}

/// Worker counts of the throughput figures.
pub const WORKERS: [usize; 4] = [1, 4, 16, 64];

/// Rounds per side of a throughput figure: the sides take turns in short rounds, so that a
/// change in the machine's load or the disk's latency (it is shared) hits both alike.
pub const ROUNDS: usize = 4;

/// The rounds of throughput figure `k`: `(round, product side?)` pairs, the sides taking turns
/// and the one going first alternating from round to round.
pub fn rounds(k: usize) -> impl Iterator<Item = (usize, bool)> {
    (0..ROUNDS).flat_map(move |r| {
        let first = (k + r).is_multiple_of(2);
        [(r, first), (r, !first)]
    })
}

/// `TASKS` tasks each running `per_task` operations at once; each operation's latency and the
/// wall time of the whole burst.
pub async fn contended<F, Fut>(per_task: usize, op: F) -> Result<(Samples, Duration)>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    concurrent(TASKS, per_task, op).await
}

/// `tasks` tasks each running `per_task` operations (`op(task, i)`) at once; each operation's
/// latency and the wall time of the whole burst.
pub async fn concurrent<F, Fut>(tasks: usize, per_task: usize, op: F) -> Result<(Samples, Duration)>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let start = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            for i in 0..per_task {
                let began = Instant::now();
                op(task, i).await?;
                samples.push(began.elapsed());
            }
            Ok::<_, anyhow::Error>(samples)
        }));
    }
    let mut all = Samples::default();
    for handle in handles {
        all.extend(handle.await.context("a bench task panicked")??);
    }
    Ok((all, start.elapsed()))
}

/// Operations per worker of a throughput figure: about as many operations in all as a
/// latency figure has samples, at least 8 per worker.
pub fn per_worker(rows: u64, workers: usize) -> usize {
    (samples(rows) / workers).max(8)
}

/// Figure `throughput_{workers}_workers` of `scenario`, from each side's samples and wall
/// time: `median_us` is the wall time per operation (the inverse of the throughput), so the
/// ratio says how much longer an operation takes ours.
pub fn throughput_figure(
    env: &Env,
    scenario: &'static str,
    workers: usize,
    [(ours, ours_wall), (baseline, baseline_wall)]: &[(Samples, Duration); 2],
) -> Figure {
    let metric = format!("throughput_{workers}_workers");
    let per_op = |s: &Samples, wall: Duration| wall.as_secs_f64() * 1e6 / s.len().max(1) as f64;
    let mut f = Figure::new(scenario, env.backend, env.rows, &metric);
    f.median_us = per_op(ours, *ours_wall);
    f.baseline_median_us = Some(per_op(baseline, *baseline_wall));
    f.extra("workers", serde_json::json!(workers))
        .extra(
            "throughput_per_s",
            serde_json::json!(throughput(ours.len(), *ours_wall)),
        )
        .extra(
            "baseline_throughput_per_s",
            serde_json::json!(throughput(baseline.len(), *baseline_wall)),
        )
        .extra(
            "latency_median_us",
            serde_json::json!((ours.median() * 10.0).round() / 10.0),
        )
        .extra(
            "baseline_latency_median_us",
            serde_json::json!((baseline.median() * 10.0).round() / 10.0),
        )
        .extra("samples", serde_json::json!(ours.len().min(baseline.len())))
}

/// Operations per second.
pub fn throughput(ops: usize, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs > 0.0 {
        (ops as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// The first line of a query plan that names `index`, if any.
pub fn plan_line_using<'a>(plan: &'a str, index: &str) -> Option<&'a str> {
    plan.lines().map(str::trim).find(|l| l.contains(index))
}

/// Whether a plan (PostgreSQL `EXPLAIN`, SQLite `EXPLAIN QUERY PLAN` or MariaDB `EXPLAIN
/// FORMAT=JSON`, which names a `"key"` only for a table read through an index) reads through
/// an index rather than scanning the table.
pub fn plan_uses_an_index(plan: &str) -> bool {
    plan.contains("\"key\":")
        || plan.contains("Index Scan")
        || plan.contains("Index Only Scan")
        || plan.contains("USING INDEX")
        || plan.contains("USING COVERING INDEX")
        || plan.contains("USING INTEGER PRIMARY KEY")
        || plan.contains("USING PRIMARY KEY")
}

/// A plan on one line, for notes.
pub fn plan_summary(plan: &str) -> String {
    plan.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(4)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// FNV-1a over 64-bit values: a stable fingerprint of a whole result (every id and reference)
/// that two sides can be compared by without keeping both in memory.
#[derive(Debug, Clone, Copy)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    pub fn add(&mut self, value: Option<i64>) {
        // NULL and every integer get distinct encodings.
        let bytes = match value {
            None => [0xff; 9],
            Some(v) => {
                let mut b = [0; 9];
                b[1..].copy_from_slice(&v.to_le_bytes());
                b
            }
        };
        for byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The alternating order of one-shot repetitions: the product first in even ones.
pub fn product_first(rep: usize) -> bool {
    rep.is_multiple_of(2)
}

/// Repetitions of each side of a one-shot job.
pub const REPS: usize = 3;
