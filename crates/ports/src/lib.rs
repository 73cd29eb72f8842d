#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod directory;
mod error;
mod inventory;
mod model;
mod runs;
mod schedule;
#[cfg(any(test, feature = "mock"))]
pub mod testing;

pub use directory::{Provisioning, WorkspaceDirectory};
pub use error::{PortError, StartError, StartRefusal};
pub use inventory::{FindingRepository, InventoryRepository};
pub use model::*;
pub use runs::{RunLifecycle, RunQueries};
pub use schedule::{BackupRepository, ScheduleRunHistory};

#[cfg(any(test, feature = "mock"))]
pub use directory::{MockProvisioning, MockWorkspaceDirectory};
#[cfg(any(test, feature = "mock"))]
pub use inventory::{MockFindingRepository, MockInventoryRepository};
#[cfg(any(test, feature = "mock"))]
pub use runs::{MockRunLifecycle, MockRunQueries};
#[cfg(any(test, feature = "mock"))]
pub use schedule::{MockBackupRepository, MockScheduleRunHistory};

use chrono::{DateTime, Utc};

/// Declares [`RunStore`] over the role traits, listed once, and implements it for every type
/// that implements them all.
macro_rules! run_store {
    ($($role:ident),+) => {
        /// Every port a store backs, joined: what a backend (the SeaORM store, the in-memory
        /// store) implements, so one value wires every use case. Implemented automatically for
        /// any type that implements all the role traits.
        pub trait RunStore: $($role +)+ {}

        impl<T: $($role +)+> RunStore for T {}
    };
}

run_store!(
    RunLifecycle,
    RunQueries,
    ScheduleRunHistory,
    InventoryRepository,
    FindingRepository,
    BackupRepository,
    WorkspaceDirectory,
    Provisioning
);

/// The time, injectable so tests control it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
