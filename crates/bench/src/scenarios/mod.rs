//! The seven scenarios and what they share.

pub mod backfill;
pub mod cutover_live;
pub mod history;
pub mod monitoring;
pub mod progress;
pub mod purge;
pub mod start;

use crate::report::Samples;
use anyhow::{Context, Result};
use operation_runs_domain::RunTypeRegistry;
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_service::{OperationRunService, ServicePorts};
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

/// `TASKS` tasks each running `per_task` operations at once; each operation's latency and the
/// wall time of the whole burst.
pub async fn contended<F, Fut>(per_task: usize, op: F) -> Result<(Samples, Duration)>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let start = Instant::now();
    let mut handles = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
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

/// Whether a plan (PostgreSQL `EXPLAIN` or SQLite `EXPLAIN QUERY PLAN`) reads through an index
/// rather than scanning the table.
pub fn plan_uses_an_index(plan: &str) -> bool {
    plan.contains("Index Scan")
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
