//! Where a scheduled backup gets its content: injected by the host (or a test).

use chrono::{DateTime, Utc};
use operation_runs_domain::{Failure, FailureSummary};
use operation_runs_ports::BackupSchedule;
use std::error::Error;
use std::fmt;
use std::future::Future;

/// What one backup produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupContent {
    /// How many items the new backup set holds.
    pub item_count: u64,
    /// Items that could not be backed up; if any, the run completes as `partially_succeeded`.
    pub failures: FailureSummary,
}

impl BackupContent {
    /// A complete backup of `item_count` items.
    #[must_use]
    pub fn items(item_count: u64) -> Self {
        Self {
            item_count,
            failures: FailureSummary::new(),
        }
    }

    /// Adds a failure (so the backup is partial).
    #[must_use]
    pub fn with_failure(mut self, failure: Failure) -> Self {
        self.failures.push(failure);
        self
    }
}

/// Why a backup source produced nothing; the run completes as `failed` with a sanitized
/// message of it.
#[derive(Debug)]
pub struct BackupSourceError(Box<dyn Error + Send + Sync>);

impl BackupSourceError {
    /// Wraps any error (or a message).
    pub fn new(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self(source.into())
    }
}

impl fmt::Display for BackupSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Error for BackupSourceError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// Produces the content of one scheduled backup: the host's real backup job, or a stand-in in
/// tests and demos (see [`source_fn`]).
pub trait BackupSource: Send + Sync {
    /// Backs up the schedule's tenant for the given scheduled time.
    fn back_up(
        &self,
        schedule: &BackupSchedule,
        scheduled_for: DateTime<Utc>,
    ) -> impl Future<Output = Result<BackupContent, BackupSourceError>> + Send;
}

/// A [`BackupSource`] made of a synchronous closure; see [`source_fn`].
#[derive(Clone, Copy)]
pub struct FnSource<F>(F);

impl<F> fmt::Debug for FnSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnSource")
    }
}

/// A backup source from a closure, handy for demos and tests:
///
/// ```
/// use operation_runs_schedule_history::{BackupContent, BackupSourceError, source_fn};
///
/// let ok = source_fn(|_schedule, _at| Ok(BackupContent::items(12)));
/// let failing = source_fn(|_schedule, _at| Err(BackupSourceError::new("tenant unreachable")));
/// # let _ = (ok, failing);
/// ```
pub fn source_fn<F>(f: F) -> FnSource<F>
where
    F: Fn(&BackupSchedule, DateTime<Utc>) -> Result<BackupContent, BackupSourceError> + Send + Sync,
{
    FnSource(f)
}

impl<F> BackupSource for FnSource<F>
where
    F: Fn(&BackupSchedule, DateTime<Utc>) -> Result<BackupContent, BackupSourceError> + Send + Sync,
{
    fn back_up(
        &self,
        schedule: &BackupSchedule,
        scheduled_for: DateTime<Utc>,
    ) -> impl Future<Output = Result<BackupContent, BackupSourceError>> + Send {
        std::future::ready((self.0)(schedule, scheduled_for))
    }
}
