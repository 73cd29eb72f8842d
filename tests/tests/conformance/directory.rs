//! Memberships and tenant look-ups.

use crate::support::*;
use operation_runs_domain::{Membership, TenantId, UserId, WorkspaceId};
use operation_runs_ports::PortError;
use operation_runs_tests::{TestStore, on_every_store};

async fn memberships_and_tenant_lookups(store: TestStore) {
    let f = fixture(store).await;
    let viewer = UserId::new(1);
    let manager = UserId::new(2);
    f.store.add_member(f.ws, viewer, true, false).await.unwrap();
    f.store.add_member(f.ws, manager, true, true).await.unwrap();
    assert_eq!(
        f.store.membership(f.ws, viewer).await.unwrap(),
        Some(Membership {
            can_view_operations: true,
            can_manage_operations: false
        })
    );
    assert_eq!(
        f.store.membership(f.ws, manager).await.unwrap(),
        Some(Membership {
            can_view_operations: true,
            can_manage_operations: true
        })
    );
    // Updating a member's capabilities.
    f.store
        .add_member(f.ws, viewer, false, false)
        .await
        .unwrap();
    assert_eq!(
        f.store.membership(f.ws, viewer).await.unwrap(),
        Some(Membership {
            can_view_operations: false,
            can_manage_operations: false
        })
    );
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    assert_eq!(f.store.membership(ws2, manager).await.unwrap(), None);
    assert_eq!(
        f.store.membership(f.ws, UserId::new(3)).await.unwrap(),
        None
    );
    assert_eq!(
        f.store
            .membership(WorkspaceId::new(424_242), viewer)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        f.store
            .add_member(WorkspaceId::new(424_242), viewer, true, true)
            .await,
        Err(PortError::NotFound)
    ));

    assert_eq!(
        f.store.tenant_workspace(f.tenant).await.unwrap(),
        Some(f.ws)
    );
    let t2 = f
        .store
        .create_tenant(ws2, "fabrikam.example")
        .await
        .unwrap();
    assert_eq!(f.store.tenant_workspace(t2).await.unwrap(), Some(ws2));
    assert_eq!(
        f.store
            .tenant_workspace(TenantId::new(424_242))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        f.store.create_tenant(WorkspaceId::new(424_242), "x").await,
        Err(PortError::NotFound)
    ));
}

on_every_store!(memberships_and_tenant_lookups,);
