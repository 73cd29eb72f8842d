#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[macro_use]
mod validated;

pub mod access;
pub mod context;
pub mod counts;
pub mod failure;
pub mod identity;
pub mod ids;
pub mod run;
pub mod run_type;
pub mod stored;

pub use access::{AccessDenied, Capability, Membership, authorize};
pub use context::{ContextError, RunContext};
pub use counts::{CountError, CountName, MAX_COUNT, SummaryCounts};
pub use failure::{Failure, FailureCode, FailureError, FailureSummary, sanitize_message};
pub use identity::{IdentityError, IdentityHash};
pub use ids::{
    BackupScheduleId, BackupSetId, FindingId, InventoryItemId, RunId, TenantId, UserId, WorkspaceId,
};
pub use run::{
    NewOperationRun, OperationRun, RunColumns, RunOutcome, RunRecord, RunState, RunStatus,
    Transition, TransitionError, UnknownValue,
};
pub use run_type::{
    BUILTIN_LEGACY_SPELLINGS, RegistryError, RunScope, RunType, RunTypeDescriptor, RunTypeError,
    RunTypeRegistry, UnknownRunType, canonicalize, is_canonical,
};
pub use stored::{Stored, Unreadable};
