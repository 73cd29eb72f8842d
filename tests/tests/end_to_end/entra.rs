//! 2. An Entra group sync with a partial failure.

use super::*;

pub(crate) const BEARER_TOKEN: &str = "sk-live-0123456789abcdefBEARER";
pub(crate) const CLIENT_SECRET: &str = "Qx7~client-secret-value-42";
pub(crate) const PASSWORD: &str = "hunter2-the-password";
pub(crate) const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX3ZhbHVl";

pub(crate) async fn entra_group_sync_partial_failure(db: TestDb) {
    let w = world(db).await;
    let run = w
        .run(
            w.ws,
            w.tenant,
            "entra_group_sync",
            json!({"scope": "all_groups"}),
            Fate::Running,
        )
        .await
        .id();
    w.service
        .record_progress(
            run,
            &[
                ("total", 120),
                ("groups_seen", 120),
                ("members_seen", 3400),
                ("succeeded", 60),
                ("failed", 60),
            ],
        )
        .await
        .unwrap();

    // 60 groups failed; the first ones carry secrets the directory echoed back.
    let graph = code("graph_request_failed");
    let mut failures = FailureSummary::new();
    failures.push(Failure::new(
        graph.clone(),
        &format!("GET /groups/g-0 failed\nAuthorization: Bearer {BEARER_TOKEN}\tretry later"),
    ));
    failures.push(Failure::new(
        code("token_refresh_failed"),
        &format!("POST /token: client_secret={CLIENT_SECRET}&grant_type=client_credentials"),
    ));
    failures.push(Failure::new(
        graph.clone(),
        &format!("graph rejected the token {JWT} (expired)\u{0}\u{7}"),
    ));
    // A failure a remote worker reported as JSON.
    let reported: Failure = serde_json::from_value(json!({
        "code": "worker_failed",
        "message": format!("worker login with password={PASSWORD} failed"),
    }))
    .unwrap();
    failures.push(reported);
    for i in 4..60 {
        failures.push(Failure::new(
            graph.clone(),
            &format!("group g-{i} could not be read"),
        ));
    }
    assert_eq!((failures.failures().len(), failures.omitted()), (50, 10));

    let (stored, completed_at) = w
        .complete_later(run, secs(90), RunOutcome::PartiallySucceeded, failures)
        .await;
    assert_eq!(stored.run_type, "entra_group_sync");
    assert_eq!(stored.status, "completed");
    assert_eq!(stored.outcome, "partially_succeeded");
    assert_eq!(stored.completed_at, Some(completed_at));
    assert_eq!(
        stored.summary_counts,
        json!({"total": 120, "groups_seen": 120, "members_seen": 3400, "succeeded": 60, "failed": 60})
    );

    // No secret reached the database.
    let mut secrets = vec![BEARER_TOKEN, CLIENT_SECRET, PASSWORD, JWT];
    secrets.extend(JWT.split('.'));
    for secret in secrets {
        assert!(
            !stored.failure_text.contains(secret),
            "`{secret}` is stored: {}",
            stored.failure_text
        );
    }
    let entries = stored.failure_summary.as_array().unwrap();
    let message = |i: usize| entries[i]["message"].as_str().unwrap();
    assert_eq!(
        message(0),
        "GET /groups/g-0 failed Authorization: Bearer [REDACTED] retry later"
    );
    assert_eq!(
        message(1),
        "POST /token: client_secret=[REDACTED]&grant_type=client_credentials"
    );
    assert_eq!(message(2), "graph rejected the token [REDACTED] (expired)");
    assert_eq!(message(3), "worker login with password=[REDACTED] failed");
    assert_eq!(entries[0]["code"], "graph_request_failed");
    assert_eq!(entries[1]["code"], "token_refresh_failed");
    assert_eq!(entries[3]["code"], "worker_failed");
    assert_eq!(message(49), "group g-49 could not be read");
    for entry in &entries[..50] {
        assert!(
            !entry["message"]
                .as_str()
                .unwrap()
                .chars()
                .any(char::is_control)
        );
    }

    // Bounded: 50 failures stored, the 10 others counted in a final marker.
    assert_eq!(entries.len(), 51);
    assert_eq!(entries[50]["code"], "failures_omitted");
    assert_eq!(entries[50]["count"], 10);

    let read = w.store.get(run).await.unwrap();
    assert_eq!(
        read.failure_summary().readable().unwrap().failures().len(),
        50
    );
    assert_eq!(read.failure_summary().readable().unwrap().omitted(), 10);
    assert_eq!(read.outcome(), RunOutcome::PartiallySucceeded);
}
