//! Backup schedules and sets: soft deletion and purge.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{BackupScheduleId, TenantId, WorkspaceId};
use operation_runs_ports::PortError;
use operation_runs_tests::{TestStore, on_every_store};

async fn backup_sets_soft_delete_and_purge(store: TestStore) {
    let f = fixture(store).await;
    let schedule = f.schedule("nightly", 2).await;
    assert_eq!(schedule.keep_last, 2);
    assert_eq!(schedule.workspace_id, f.ws);
    assert_eq!(schedule.tenant_id, f.tenant);
    assert_eq!(f.store.get_schedule(schedule.id).await.unwrap(), schedule);
    let other = f.schedule("weekly", 0).await;

    let mut sets = Vec::new();
    for d in 0..4 {
        sets.push(
            f.store
                .create_set(
                    schedule.id,
                    &format!("set {d}"),
                    10 + d as u64,
                    t0() + Duration::days(d),
                )
                .await
                .unwrap(),
        );
    }
    let foreign = f
        .store
        .create_set(other.id, "other", 1, t0())
        .await
        .unwrap();
    assert_eq!(sets[1].item_count, 11);
    assert_eq!(sets[1].schedule_id, schedule.id);
    assert_eq!(sets[1].created_at, t0() + Duration::days(1));
    assert_eq!(sets[1].deleted_at, None);

    let listed = f.store.list_sets(schedule.id, false).await.unwrap();
    assert_eq!(
        listed,
        sets.iter().rev().cloned().collect::<Vec<_>>(),
        "newest first"
    );

    // Only the schedule's own, not yet deleted sets change.
    let deleted_at = t0() + Duration::days(5);
    let n = f
        .store
        .soft_delete_sets(
            schedule.id,
            &[sets[0].id, sets[1].id, foreign.id],
            deleted_at,
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let n = f
        .store
        .soft_delete_sets(
            schedule.id,
            &[sets[1].id, sets[2].id],
            deleted_at + Duration::days(3),
        )
        .await
        .unwrap();
    assert_eq!(n, 1, "an already deleted set keeps its deletion time");
    assert_eq!(
        f.store
            .soft_delete_sets(schedule.id, &[], deleted_at)
            .await
            .unwrap(),
        0
    );
    let live = f.store.list_sets(schedule.id, false).await.unwrap();
    assert_eq!(
        live.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![sets[3].id]
    );
    let with_deleted = f.store.list_sets(schedule.id, true).await.unwrap();
    assert_eq!(with_deleted.len(), 4);
    assert_eq!(with_deleted[2].deleted_at, Some(deleted_at));
    assert_eq!(
        f.store.list_sets(other.id, false).await.unwrap(),
        vec![foreign.clone()]
    );

    // Purge: deleted strictly before the cutoff.
    assert_eq!(f.purge_sets(schedule.id, deleted_at).await, (0, 0));
    let cutoff = deleted_at + Duration::days(1);
    assert_eq!(f.purge_sets(schedule.id, cutoff).await, (2, 2));
    let left = f.store.list_sets(schedule.id, true).await.unwrap();
    assert_eq!(
        left.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![sets[3].id, sets[2].id]
    );
    assert_eq!(f.purge_sets(schedule.id, cutoff).await, (0, 0));
    assert_eq!(
        f.store.list_sets(other.id, true).await.unwrap(),
        vec![foreign]
    );

    for (ws, tenant) in [
        (f.ws, TenantId::new(424_242)),
        (WorkspaceId::new(424_242), f.tenant),
    ] {
        let r = f.store.create_backup_schedule(ws, tenant, "x", 1).await;
        assert!(matches!(r, Err(PortError::NotFound)), "{r:?}");
    }
    let missing = BackupScheduleId::new(424_242);
    assert!(matches!(
        f.store.get_schedule(missing).await,
        Err(PortError::NotFound)
    ));
    assert!(matches!(
        f.store.create_set(missing, "x", 1, t0()).await,
        Err(PortError::NotFound)
    ));
    assert!(matches!(
        f.store.create_set(schedule.id, "x", u64::MAX, t0()).await,
        Err(PortError::CountOverflow(_))
    ));
}

on_every_store!(backup_sets_soft_delete_and_purge,);
