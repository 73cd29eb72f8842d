//! Integer id newtypes, so a tenant id can never be passed where a run id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a raw database id.
            #[must_use]
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            /// The raw database id.
            #[must_use]
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(raw: i64) -> Self {
                Self(raw)
            }
        }
    };
}

id_newtype!(
    /// A workspace: the unit of visibility; every run belongs to exactly one.
    WorkspaceId
);
id_newtype!(
    /// A customer tenant inside a workspace.
    TenantId
);
id_newtype!(
    /// A person of the host product.
    UserId
);
id_newtype!(
    /// A canonical operation run (`operation_runs.id`).
    RunId
);
id_newtype!(
    /// A backup schedule.
    BackupScheduleId
);
id_newtype!(
    /// A backup set created by a scheduled backup run.
    BackupSetId
);
id_newtype!(
    /// An inventory item seen by inventory syncs.
    InventoryItemId
);
id_newtype!(
    /// A drift finding.
    FindingId
);
