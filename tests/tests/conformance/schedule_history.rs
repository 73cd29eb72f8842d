//! A backup schedule's history: scoped by workspace, schedule, type and outcome; keyset pages.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{OperationRun, RunId, RunOutcome, RunType};
use operation_runs_ports::ScheduleHistoryQuery;
use operation_runs_tests::{TestStore, on_every_store};

async fn schedule_history_is_scoped_by_workspace_schedule_type_and_outcome(store: TestStore) {
    let f = fixture(store).await;
    let s1 = f.schedule("nightly", 3).await;
    let s1_id = s1.id.get();
    let types = RunType::BACKUP_SCHEDULE_TYPES;
    let mut mine = Vec::new();
    for n in 0..9 {
        let outcome = match n % 3 {
            0 => Some(RunOutcome::Succeeded),
            1 => Some(RunOutcome::Failed),
            _ => None,
        };
        let at = t0() + Duration::minutes(n);
        mine.push(
            history_run(
                &f,
                (f.ws, Some(f.tenant)),
                s1_id,
                types[(n % 3) as usize].clone(),
                n,
                at,
                outcome,
            )
            .await,
        );
        // Noise: another schedule, another workspace with the same schedule id, and a
        // non-schedule type carrying the same schedule id.
        history_run(
            &f,
            (f.ws, Some(f.tenant)),
            s1_id + 1,
            RunType::BACKUP_SCHEDULE_RUN,
            n,
            at,
            None,
        )
        .await;
        history_run(
            &f,
            (f.ws, Some(f.tenant)),
            s1_id,
            RunType::INVENTORY_SYNC,
            n,
            at,
            None,
        )
        .await;
    }
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    history_run(
        &f,
        (ws2, None),
        s1_id,
        RunType::BACKUP_SCHEDULE_RUN,
        0,
        t0(),
        None,
    )
    .await;
    let query =
        |run_types: Vec<RunType>, outcomes: Vec<RunOutcome>, after, limit| ScheduleHistoryQuery {
            workspace_id: f.ws,
            schedule_id: s1.id,
            run_types,
            outcomes,
            after,
            limit,
        };
    let ids = |runs: &[&HistoryRun]| runs.iter().rev().map(|r| r.id).collect::<Vec<_>>();
    // The ids on the first page (of up to 100) of the history of these types and outcomes.
    let first_page_ids = |run_types, outcomes| {
        let query = query(run_types, outcomes, None, 100);
        let store = f.store.clone();
        async move {
            let page = store.schedule_history(&query).await.unwrap();
            page.runs
                .iter()
                .map(OperationRun::id)
                .collect::<Vec<RunId>>()
        }
    };

    let page = f
        .store
        .schedule_history(&query(types.to_vec(), vec![], None, 100))
        .await
        .unwrap();
    assert!(page.next.is_none());
    let got: Vec<RunId> = page.runs.iter().map(OperationRun::id).collect();
    assert_eq!(got, ids(&mine.iter().collect::<Vec<_>>()));

    let only_runs: Vec<&HistoryRun> = mine
        .iter()
        .filter(|r| r.run_type == RunType::BACKUP_SCHEDULE_RUN)
        .collect();
    assert_eq!(
        first_page_ids(vec![RunType::BACKUP_SCHEDULE_RUN], vec![]).await,
        ids(&only_runs)
    );

    let failed_or_pending: Vec<&HistoryRun> = mine
        .iter()
        .filter(|r| matches!(r.outcome, RunOutcome::Failed | RunOutcome::Pending))
        .collect();
    assert_eq!(
        first_page_ids(
            types.to_vec(),
            vec![RunOutcome::Failed, RunOutcome::Pending]
        )
        .await,
        ids(&failed_or_pending)
    );

    // Keyset pages of 4: 9 runs, then 5, then 1 — with nothing lost or repeated.
    let any_listed = vec![
        RunOutcome::Succeeded,
        RunOutcome::Failed,
        RunOutcome::Pending,
    ];
    let mut after = None;
    let mut walked = Vec::new();
    let mut pages = 0;
    loop {
        let page = f
            .store
            .schedule_history(&query(types.to_vec(), any_listed.clone(), after, 4))
            .await
            .unwrap();
        pages += 1;
        walked.extend(page.runs.iter().map(OperationRun::id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(walked, ids(&mine.iter().collect::<Vec<_>>()));

    // The other workspace sees only its own run under the same schedule id.
    let other = f
        .store
        .schedule_history(&ScheduleHistoryQuery {
            workspace_id: ws2,
            ..query(types.to_vec(), vec![], None, 100)
        })
        .await
        .unwrap();
    assert_eq!(other.runs.len(), 1);
    assert_eq!(other.runs[0].workspace_id(), ws2);
}

on_every_store!(schedule_history_is_scoped_by_workspace_schedule_type_and_outcome,);
