//! Who may see and manage a workspace's runs.

use serde::{Deserialize, Serialize};

/// A viewer's membership in a workspace and its capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// May list and show the workspace's runs.
    pub can_view_operations: bool,
    /// May cancel the workspace's runs.
    pub can_manage_operations: bool,
}

/// A refused access, mapped by a web layer to HTTP 404 and 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessDenied {
    /// Not a member: the run (or workspace) must look as if it did not exist.
    #[error("not found")]
    NotFound,
    /// A member without the needed capability.
    #[error("forbidden")]
    Forbidden,
}

/// What the viewer wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// List and show runs.
    ViewOperations,
    /// Cancel runs; needs the view capability too, so a run is never managed by someone who
    /// may not look at it.
    ManageOperations,
}

/// Decides access from the viewer's membership in the run's workspace (`None`: not a member).
///
/// # Errors
/// [`AccessDenied::NotFound`] for a non-member, [`AccessDenied::Forbidden`] for a member
/// without the capability ([`Capability::ManageOperations`] needs both capabilities).
pub fn authorize(
    membership: Option<Membership>,
    capability: Capability,
) -> Result<(), AccessDenied> {
    let membership = membership.ok_or(AccessDenied::NotFound)?;
    let allowed = match capability {
        Capability::ViewOperations => membership.can_view_operations,
        Capability::ManageOperations => {
            membership.can_view_operations && membership.can_manage_operations
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(AccessDenied::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every membership (none, or each pair of capabilities) with each capability.
    #[test]
    fn access_table() {
        use AccessDenied::{Forbidden, NotFound};
        use Capability::{ManageOperations as Manage, ViewOperations as View};
        let member = |view, manage| {
            Some(Membership {
                can_view_operations: view,
                can_manage_operations: manage,
            })
        };
        let table = [
            // Not a member: as if the workspace did not exist.
            (None, View, Err(NotFound)),
            (None, Manage, Err(NotFound)),
            (member(false, false), View, Err(Forbidden)),
            (member(false, false), Manage, Err(Forbidden)),
            (member(true, false), View, Ok(())),
            (member(true, false), Manage, Err(Forbidden)),
            // Managing without viewing is refused, and so is viewing.
            (member(false, true), View, Err(Forbidden)),
            (member(false, true), Manage, Err(Forbidden)),
            (member(true, true), View, Ok(())),
            (member(true, true), Manage, Ok(())),
        ];
        for (membership, capability, expected) in table {
            assert_eq!(
                authorize(membership, capability),
                expected,
                "{membership:?} {capability:?}"
            );
        }
    }
}
