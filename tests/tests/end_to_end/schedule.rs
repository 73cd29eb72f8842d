//! 4. A schedule's life: backups, retention, purge, history.

use super::*;

pub(crate) fn day(n: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, n, 2, 0, 0).unwrap()
}

/// `(id, type)` of a schedule's whole history, newest first, read page by page.
pub(crate) async fn history_of(
    ops: &ScheduleOperations,
    ws: WorkspaceId,
    schedule: BackupScheduleId,
) -> Vec<(RunId, String)> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = ops
            .history()
            .page(&HistoryQuery::new(ws, schedule).after(after).limit(2))
            .await
            .unwrap();
        out.extend(page.runs.iter().map(|r| (r.id(), r.run_type().to_owned())));
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

/// `(set id, soft-deleted?)` of a schedule's sets, as stored.
pub(crate) async fn stored_sets(db: &TestDb, schedule: BackupScheduleId) -> Vec<(i64, bool)> {
    column_pairs(
        db,
        &format!(
            "SELECT id, deleted_at IS NOT NULL FROM backup_sets \
             WHERE backup_schedule_id = {} ORDER BY id",
            schedule.get()
        ),
    )
    .await
}

pub(crate) fn performed<R: std::fmt::Debug>(execution: Execution<R>) -> (OperationRun, R) {
    match execution {
        Execution::Performed { run, report } => (run, report),
        other => panic!("expected the operation to be performed, got {other:?}"),
    }
}

/// The scheduler's backup of `schedule` for day `n`, a minute into it, from `source`: its run
/// and its set.
async fn backup_on<S: operation_runs_schedule_history::BackupSource>(
    w: &World,
    ops: &ScheduleOperations,
    schedule: BackupScheduleId,
    n: u32,
    source: &S,
) -> (OperationRun, BackupSetId) {
    w.clock.set(day(n) + Duration::minutes(1));
    let request = ScheduleRequest::new(w.ws, schedule, day(n));
    let (run, report) = performed(ops.run_backup(&request, source).await.unwrap());
    (run, report.set.id)
}

pub(crate) async fn schedule_life(db: TestDb) {
    let w = world(db).await;
    let schedule = w
        .store
        .create_backup_schedule(w.ws, w.tenant, "Nightly", 2)
        .await
        .unwrap();
    let ops = ScheduleOperations::new(
        w.service.clone(),
        SchedulePorts::from_store(Arc::new(w.store.clone())),
    );
    let request = |at: DateTime<Utc>| ScheduleRequest::new(w.ws, schedule.id, at);
    let ok = source_fn(|_, _| Ok(BackupContent::items(40)));
    let partial = source_fn(|_, _| {
        Ok(BackupContent::items(39).with_failure(Failure::new(
            code("item_unreadable"),
            "policy p-7 could not be exported",
        )))
    });
    let failing = source_fn(|_, _| {
        Err(BackupSourceError::new(
            "tenant unreachable: login with password=hunter2 refused",
        ))
    });

    // Day 1 and 2: two good backups; then a purge that finds nothing to do yet.
    let (b1, s1) = backup_on(&w, &ops, schedule.id, 1, &ok).await;
    let (b2, s2) = backup_on(&w, &ops, schedule.id, 2, &ok).await;
    let policy = PurgePolicy::new(Duration::days(7), Duration::days(2));
    w.clock.set(day(2) + Duration::hours(1));
    let (p0, report) = performed(
        ops.purge(&request(day(2)), policy, Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!((report.sets_purged, report.runs_purged), (0, 0));

    // Day 3: the backup fails (the source cannot reach the tenant): no set.
    w.clock.set(day(3) + Duration::minutes(1));
    let error = ops
        .run_backup(&request(day(3)), &failing)
        .await
        .unwrap_err();
    let b3 = match &error {
        ScheduleError::OperationFailed { run, failure, .. } => {
            assert_eq!(failure.code().as_str(), "backup_failed");
            run.id()
        }
        other => panic!("expected the backup to fail, got {other:?}"),
    };
    let stored_b3 = w.stored(b3).await;
    assert_eq!(
        (stored_b3.status.as_str(), stored_b3.outcome.as_str()),
        ("completed", "failed")
    );
    assert!(stored_b3.context.get("backup_set_id").is_none());
    assert_eq!(stored_b3.context["backup_schedule_id"], schedule.id.get());
    assert_eq!(stored_b3.failure_summary[0]["code"], "backup_failed");
    assert!(!stored_b3.failure_text.contains("hunter2"));

    // Retention with exactly keep-last successful runs deletes nothing.
    w.clock.set(day(3) + Duration::hours(1));
    let (r1, report) = performed(
        ops.apply_retention(&request(day(3)), Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!(report.sets_soft_deleted, 0);
    assert_eq!(report.plan.kept, run_sets(&[(s2, b2.id()), (s1, b1.id())]));

    // Day 4 and 5: a good backup and a partial one.
    let (b4, s4) = backup_on(&w, &ops, schedule.id, 4, &ok).await;
    let (b5, s5) = backup_on(&w, &ops, schedule.id, 5, &partial).await;
    assert_eq!(b5.outcome(), RunOutcome::PartiallySucceeded);
    assert_eq!(
        w.stored(b5.id()).await.context["backup_set_id"],
        s5.get(),
        "the run records its set"
    );
    assert_eq!(
        w.stored(b4.id()).await.summary_counts,
        json!({"sets_created": 1, "items_backed_up": 40})
    );
    // The scheduler firing day 4 again redoes nothing.
    let sets_before = stored_sets(&w.db, schedule.id).await;
    match ops.run_backup(&request(day(4)), &ok).await.unwrap() {
        Execution::AlreadyCompleted(run) => assert_eq!(run.id(), b4.id()),
        other => panic!("expected the day-4 backup to be done already, got {other:?}"),
    }
    assert_eq!(stored_sets(&w.db, schedule.id).await, sets_before);

    // Retention keeps the sets of the newest 2 successful runs (b5, b4) and soft-deletes the
    // older ones (b2, b1); the failed b3 has no set and is simply not counted. The plan is shown
    // first (dry run: nothing recorded, nothing changed).
    w.clock.set(day(5) + Duration::hours(1));
    let runs_before = w.count("SELECT COUNT(*) FROM operation_runs").await;
    let dry = match ops
        .apply_retention(&request(day(5)), Mode::DryRun)
        .await
        .unwrap()
    {
        Execution::DryRun(dry) => dry,
        other => panic!("expected a dry run, got {other:?}"),
    };
    assert_eq!(
        w.count("SELECT COUNT(*) FROM operation_runs").await,
        runs_before
    );
    assert!(
        stored_sets(&w.db, schedule.id)
            .await
            .iter()
            .all(|(_, deleted)| !deleted)
    );
    let printed = dry.plan.to_string();
    assert!(printed.contains("soft-delete 2 sets"), "{printed}");

    let (r2, report) = performed(
        ops.apply_retention(&request(day(5)), Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!(report.plan, dry.plan);
    assert_eq!(report.plan.successful_runs, 4);
    assert_eq!(report.plan.kept, run_sets(&[(s5, b5.id()), (s4, b4.id())]));
    assert_eq!(
        report.plan.to_soft_delete,
        run_sets(&[(s2, b2.id()), (s1, b1.id())])
    );
    assert!(report.plan.left.is_empty());
    assert_eq!(report.sets_soft_deleted, 2);
    assert_eq!(
        stored_sets(&w.db, schedule.id).await,
        vec![
            (s1.get(), true),
            (s2.get(), true),
            (s4.get(), false),
            (s5.get(), false)
        ]
    );
    assert_eq!(
        w.stored(r2.id()).await.summary_counts,
        json!({"sets_kept": 2, "sets_soft_deleted": 2})
    );

    // Before the grace period has passed, a purge would remove no set.
    w.clock.set(day(5) + Duration::days(6));
    let early = match ops
        .purge(&request(day(11)), policy, Mode::DryRun)
        .await
        .unwrap()
    {
        Execution::DryRun(early) => early,
        other => panic!("expected a dry run, got {other:?}"),
    };
    assert_eq!(early.sets_purged, 0);

    // After the grace period: the soft-deleted sets go for good, and the history older than
    // the oldest run whose set still exists (b4), except the newest run of each type.
    w.clock.set(day(5) + Duration::days(7) + Duration::hours(2));
    let (p1, report) = performed(
        ops.purge(&request(day(12)), policy, Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!(report.sets_purged, 2);
    assert_eq!(report.runs_purged, 5, "{}", report.plan);
    assert_eq!(
        report.plan.held_back_by,
        Some(RunSet {
            set: s4,
            run: b4.id()
        })
    );
    assert_eq!(
        stored_sets(&w.db, schedule.id).await,
        vec![(s4.get(), false), (s5.get(), false)]
    );
    let stored_p1 = w.stored(p1.id()).await;
    assert_eq!(
        (stored_p1.status.as_str(), stored_p1.outcome.as_str()),
        ("completed", "succeeded")
    );
    assert_eq!(
        stored_p1.summary_counts,
        json!({"sets_purged": 2, "runs_purged": 5})
    );
    for gone in [b1.id(), b2.id(), p0.id(), b3, r1.id()] {
        assert!(!run_exists(&w.db, gone).await, "run {gone} was not purged");
    }

    // The history now: exactly these runs, newest first.
    let history = history_of(&ops, w.ws, schedule.id).await;
    assert_eq!(
        history,
        vec![
            (p1.id(), "backup_schedule_purge".to_owned()),
            (r2.id(), "backup_schedule_retention".to_owned()),
            (b5.id(), "backup_schedule_run".to_owned()),
            (b4.id(), "backup_schedule_run".to_owned()),
        ]
    );
    let latest = ops.history().latest(w.ws, schedule.id).await.unwrap();
    assert_eq!(latest.backup.map(|r| r.id()), Some(b5.id()));
    assert_eq!(latest.retention.map(|r| r.id()), Some(r2.id()));
    assert_eq!(latest.purge.map(|r| r.id()), Some(p1.id()));
    assert_eq!(latest.successful_backup.map(|r| r.id()), Some(b5.id()));

    // The tenant is offboarded: the host deletes the remaining sets. Once they are past the
    // grace period, a purge removes them and every run older than the window — except the
    // newest run of each type, which survives although it is older than the window and its
    // set is gone.
    w.clock.set(day(13));
    assert_eq!(
        w.store
            .soft_delete_sets(schedule.id, &[s4, s5], day(13))
            .await
            .unwrap(),
        2
    );
    w.clock.set(day(20) + Duration::hours(1));
    let (p2, report) = performed(
        ops.purge(&request(day(20)), policy, Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!(report.plan.held_back_by, None);
    assert_eq!(report.sets_purged, 2);
    assert_eq!(report.runs_purged, 2, "{}", report.plan);
    assert!(stored_sets(&w.db, schedule.id).await.is_empty());
    for gone in [b4.id(), p1.id()] {
        assert!(!run_exists(&w.db, gone).await, "run {gone} was not purged");
    }
    assert!(b5.created_at() < report.plan.window_cutoff);
    assert!(r2.created_at() < report.plan.window_cutoff);
    assert_eq!(
        history_of(&ops, w.ws, schedule.id).await,
        vec![
            (p2.id(), "backup_schedule_purge".to_owned()),
            (r2.id(), "backup_schedule_retention".to_owned()),
            (b5.id(), "backup_schedule_run".to_owned()),
        ]
    );
    let b5_now = w.stored(b5.id()).await;
    assert_eq!(b5_now.outcome, "partially_succeeded");
    assert_eq!(b5_now.context["backup_set_id"], s5.get());
}
