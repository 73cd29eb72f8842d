//! 6. The stale-run reaper.

use super::*;

pub(crate) async fn stale_runs_are_reaped(db: TestDb) {
    let w = world(db).await;
    let threshold = Duration::minutes(30);
    let identity = |n: i64| json!({"n": n});
    let done = Fate::Completed(RunOutcome::Succeeded);

    // At t0: a run left running, one left queued, one that keeps its heartbeat, and a
    // completed one.
    let stale = w
        .own_run("inventory_sync", identity(1), Fate::Running)
        .await;
    let stale_queued = w.own_run("inventory_sync", identity(2), Fate::Queued).await;
    let beating = w
        .own_run("inventory_sync", identity(3), Fate::Running)
        .await;
    let completed = w.own_run("inventory_sync", identity(4), done).await;

    w.clock.advance(Duration::minutes(20));
    w.service
        .record_progress(beating, &[("items_seen", 5)])
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(5));
    let fresh = w
        .run(
            w.ws,
            w.tenant,
            "entra_group_sync",
            identity(5),
            Fate::Running,
        )
        .await
        .id();

    // Nothing is stale yet at the threshold itself.
    w.clock.set(t0() + threshold);
    let report = w.service.reap_stale(threshold, 100).await.unwrap();
    assert!(report.reaped.is_empty(), "{report:?}");

    let untouched_before = [
        w.stored(beating).await,
        w.stored(fresh).await,
        w.stored(completed).await,
    ];
    let reaped_at = w.clock.set(t0() + threshold + Duration::minutes(1));
    let report = w.service.reap_stale(threshold, 100).await.unwrap();
    let reaped: BTreeSet<RunId> = report.reaped.iter().copied().collect();
    assert_eq!(reaped, BTreeSet::from([stale, stale_queued]));
    assert!(report.lost_races.is_empty());

    for id in [stale, stale_queued] {
        let run = w.stored(id).await;
        assert_eq!(run.status, "completed");
        assert_eq!(run.outcome, "failed");
        assert_eq!(run.completed_at, Some(reaped_at));
        let failures = run.failure_summary.as_array().unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0]["code"], "run_stale");
    }
    assert_eq!(w.stored(stale).await.started_at, Some(t0()));
    assert_eq!(w.stored(stale_queued).await.started_at, None);

    let untouched_after = [
        w.stored(beating).await,
        w.stored(fresh).await,
        w.stored(completed).await,
    ];
    assert_eq!(untouched_after, untouched_before);
    assert_eq!(untouched_after[0].status, "running");
    assert_eq!(untouched_after[1].status, "running");
    assert_eq!(untouched_after[2].outcome, "succeeded");

    // A reaped run is final: its worker's late writes are refused and change nothing.
    let late = w
        .service
        .complete(stale, RunOutcome::Succeeded, FailureSummary::new())
        .await;
    assert!(late.is_err(), "{late:?}");
    assert_eq!(w.stored(stale).await.outcome, "failed");

    // Reaping again finds nothing new.
    let again = w.service.reap_stale(threshold, 100).await.unwrap();
    assert!(again.reaped.is_empty(), "{again:?}");
}
