//! Every route × every kind of viewer × {existing, missing, another workspace's} target: the
//! status and the body. A 404 is byte-for-byte the answer of a URL that does not exist.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use axum::http::{Method, StatusCode};
use operation_runs_domain::RunId;
use support::{Answer, Who, World, get, seeded, send};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Existing,
    Missing,
    Foreign,
}

const TARGETS: [Target; 3] = [Target::Existing, Target::Missing, Target::Foreign];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Page,
    Api,
}

impl Surface {
    fn prefix(self) -> &'static str {
        match self {
            Self::Page => "",
            Self::Api => "/api",
        }
    }
}

/// What a URL that does not exist answers on a surface.
async fn unknown(world: &World, surface: Surface, who: Who) -> Answer {
    get(
        &world.app,
        &format!("{}/no/such/page", surface.prefix()),
        who,
    )
    .await
}

/// Checks one answer against the expected status, with the body each status must have.
async fn check(
    world: &World,
    surface: Surface,
    who: Who,
    answer: &Answer,
    expected: StatusCode,
    what: &str,
) {
    assert_eq!(answer.status, expected, "{what}: {}", answer.body);
    match (expected, surface) {
        (StatusCode::NOT_FOUND, _) => {
            let unknown = unknown(world, surface, who).await;
            assert_eq!(answer.body, unknown.body, "{what}: 404 body differs");
            assert_eq!(
                answer.headers, unknown.headers,
                "{what}: 404 headers differ"
            );
        }
        (StatusCode::UNAUTHORIZED, Surface::Api) => {
            assert_eq!(answer.json()["error"], "unauthorized", "{what}");
            assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{what}");
        }
        (StatusCode::UNAUTHORIZED, Surface::Page) => {
            assert!(answer.body.contains("Sign in to see operations"), "{what}");
        }
        (StatusCode::FORBIDDEN, Surface::Api) => {
            assert_eq!(answer.json()["error"], "forbidden", "{what}");
        }
        (StatusCode::FORBIDDEN, Surface::Page) => {
            assert!(answer.body.contains("<h1>Forbidden</h1>"), "{what}");
        }
        _ => {}
    }
}

fn run_expectation(who: Who, target: Target) -> StatusCode {
    match (who, target) {
        (Who::Anonymous, _) => StatusCode::UNAUTHORIZED,
        (_, Target::Missing | Target::Foreign) | (Who::NonMember, _) => StatusCode::NOT_FOUND,
        (Who::NoView, Target::Existing) => StatusCode::FORBIDDEN,
        (Who::Viewer | Who::Manager, Target::Existing) => StatusCode::OK,
    }
}

/// One request of a route's table: on which surface, by whom, for which target.
#[derive(Debug, Clone, Copy)]
struct Case {
    surface: Surface,
    who: Who,
    target: Target,
}

/// Every surface × every kind of viewer × every target.
fn every_case() -> impl Iterator<Item = Case> {
    [Surface::Page, Surface::Api]
        .into_iter()
        .flat_map(|surface| {
            Who::ALL.into_iter().flat_map(move |who| {
                TARGETS.into_iter().map(move |target| Case {
                    surface,
                    who,
                    target,
                })
            })
        })
}

/// The run a target names: `world`'s running run, a run id no run has, or another
/// workspace's run.
fn run_of(world: &World, target: Target) -> RunId {
    match target {
        Target::Existing => world.running,
        Target::Missing => world.missing,
        Target::Foreign => world.foreign,
    }
}

/// The id a target names: `existing`, an id no row has, or `foreign` (another workspace's).
fn id_of(target: Target, existing: i64, foreign: i64) -> i64 {
    match target {
        Target::Existing => existing,
        Target::Missing => 999_999,
        Target::Foreign => foreign,
    }
}

/// For every case: GETs `uri(case)` from `world`, checks the answer against `expected(case)`
/// with [`check`], and hands an OK answer to `when_ok`.
async fn get_every_case(
    world: &World,
    uri: impl Fn(Case) -> String,
    expected: impl Fn(Case) -> StatusCode,
    when_ok: impl Fn(Case, &Answer),
) {
    for case in every_case() {
        let uri = uri(case);
        let answer = get(&world.app, &uri, case.who).await;
        let expected = expected(case);
        let what = format!("{:?} {uri}", case.who);
        check(world, case.surface, case.who, &answer, expected, &what).await;
        if expected == StatusCode::OK {
            when_ok(case, &answer);
        }
    }
}

#[tokio::test]
async fn showing_a_run() {
    let world = seeded().await;
    get_every_case(
        &world,
        |case| {
            format!(
                "{}/workspaces/{}/operations/{}",
                case.surface.prefix(),
                world.ws,
                run_of(&world, case.target)
            )
        },
        |case| run_expectation(case.who, case.target),
        |Case {
             surface,
             who,
             target,
         },
         answer| {
            let run = run_of(&world, target);
            match surface {
                Surface::Api => {
                    let json = answer.json();
                    assert_eq!(json["id"], run.get());
                    assert_eq!(json["status"], "running");
                    assert_eq!(json["summary_counts"]["processed"], 12);
                    assert_eq!(json["cancellable"], who == Who::Manager);
                }
                Surface::Page => {
                    assert!(answer.body.contains(&format!("Run #{run}")));
                    assert_eq!(
                        answer.body.contains("Cancel this run"),
                        who == Who::Manager,
                        "{who:?}: the cancel button is for managers"
                    );
                }
            }
        },
    )
    .await;
}

#[tokio::test]
async fn listing_a_workspace() {
    let world = seeded().await;
    get_every_case(
        &world,
        |case| {
            let ws = id_of(case.target, world.ws.get(), world.other_ws.get());
            format!("{}/workspaces/{ws}/operations", case.surface.prefix())
        },
        // The one who is not a member of `ws` manages the other workspace.
        |Case { who, target, .. }| match (who, target) {
            (Who::NonMember, Target::Foreign) => StatusCode::OK,
            (_, Target::Foreign) if who != Who::Anonymous => StatusCode::NOT_FOUND,
            _ => run_expectation(who, target),
        },
        |Case {
             surface,
             who,
             target,
         },
         answer| {
            let expected_runs: Vec<i64> = if target == Target::Foreign {
                vec![world.foreign.get()]
            } else {
                vec![world.backup.get(), world.failed.get(), world.running.get()]
            };
            match surface {
                Surface::Api => {
                    let ids: Vec<i64> = answer.json()["runs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r["id"].as_i64().unwrap())
                        .collect();
                    assert_eq!(ids, expected_runs, "{who:?}: newest first");
                }
                Surface::Page => {
                    for id in expected_runs {
                        assert!(answer.links_to_run(id));
                    }
                }
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_schedules_history() {
    let world = seeded().await;
    get_every_case(
        &world,
        |case| {
            let schedule = id_of(
                case.target,
                world.schedule.get(),
                world.foreign_schedule.get(),
            );
            format!(
                "{}/workspaces/{}/backup-schedules/{schedule}/history",
                case.surface.prefix(),
                world.ws
            )
        },
        // Membership is decided before the schedule is looked up, so a member without the view
        // capability is refused whatever the schedule.
        |Case { who, target, .. }| match (who, target) {
            (Who::NoView, _) => StatusCode::FORBIDDEN,
            _ => run_expectation(who, target),
        },
        |case, answer| match case.surface {
            Surface::Api => {
                let json = answer.json();
                assert_eq!(json["schedule_name"], "Nightly");
                assert_eq!(json["runs"][0]["type"], "backup_schedule_run");
                assert_eq!(json["runs"][0]["backup_set"]["name"], "nightly-set-1");
                assert_eq!(json["runs"][0]["backup_set"]["item_count"], 42);
            }
            Surface::Page => {
                assert!(answer.body.contains("Nightly"));
                assert!(answer.body.contains("nightly-set-1 (42 items)"));
            }
        },
    )
    .await;
}

#[tokio::test]
async fn cancelling_a_run() {
    for Case {
        surface,
        who,
        target,
    } in every_case()
    {
        // Each case gets its own world: a successful cancel changes the run.
        let world = seeded().await;
        let run = run_of(&world, target);
        let uri = format!(
            "{}/workspaces/{}/operations/{run}/cancel",
            surface.prefix(),
            world.ws
        );
        let answer = send(&world.app, Method::POST, &uri, who).await;
        let expected = match (who, target, surface) {
            (Who::Viewer, Target::Existing, _) => StatusCode::FORBIDDEN,
            (Who::Manager, Target::Existing, Surface::Page) => StatusCode::SEE_OTHER,
            _ => run_expectation(who, target),
        };
        let what = format!("{who:?} POST {uri}");
        check(&world, surface, who, &answer, expected, &what).await;
        let status = |id| {
            let service = world.service.clone();
            async move {
                let manager = Who::Manager.user().unwrap();
                let ws = if id == world.foreign {
                    world.other_ws
                } else {
                    world.ws
                };
                match service.show_run(manager, ws, id).await {
                    Ok(run) => Some(run.outcome().readable().unwrap().as_str()),
                    Err(_) => None,
                }
            }
        };
        let cancelled = expected.is_success() || expected == StatusCode::SEE_OTHER;
        if target == Target::Existing {
            let outcome = status(world.running).await;
            assert_eq!(
                outcome,
                Some(if cancelled { "cancelled" } else { "pending" }),
                "{what}"
            );
        }
        if target == Target::Foreign {
            // Another workspace's run is never touched, whoever asks.
            let manager = Who::NonMember.user().unwrap();
            let run = world
                .service
                .show_run(manager, world.other_ws, run)
                .await
                .unwrap();
            assert_eq!(
                run.outcome().readable().unwrap().as_str(),
                "pending",
                "{what}"
            );
        }
        match (expected, surface) {
            (StatusCode::OK, _) => {
                assert_eq!(answer.json()["outcome"], "cancelled");
            }
            (StatusCode::SEE_OTHER, _) => {
                assert_eq!(
                    answer.header("location"),
                    Some(format!("../{run}").as_str())
                );
            }
            (StatusCode::FORBIDDEN, Surface::Api) if who == Who::Viewer => {
                assert!(answer.error_message().contains("manage"));
            }
            _ => {}
        }
    }
}
