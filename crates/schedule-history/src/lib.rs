#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod error;
mod history;
mod operations;
mod purge;
mod retention;
mod source;

pub use error::ScheduleError;
pub use history::{
    DEFAULT_PAGE_SIZE, HistoryQuery, LatestRuns, MAX_PAGE_SIZE, ScheduleHistory, SchedulePorts,
};
pub use operations::{
    BackupReport, Execution, FAILURE_BACKUP, FAILURE_DUPLICATE, FAILURE_PURGE, FAILURE_RETENTION,
    Mode, PurgeReport, RetentionReport, ScheduleOperations, ScheduleRequest, Trigger,
};
pub use purge::{PurgePlan, PurgePolicy};
pub use retention::{LeftReason, LeftSet, RetentionDecision, RetentionPlan, RunSet, SkippedRun};
pub use source::{BackupContent, BackupSource, BackupSourceError, FnSource, source_fn};
