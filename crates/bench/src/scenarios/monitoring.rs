//! `monitoring`: a workspace's runs list, page 1 against page 2,000 (50 per page, keyset), or
//! the last page when there are fewer. Baseline: the hand-written keyset `SELECT`.

use super::{plan_line_using, plan_summary, plan_uses_an_index, samples, service};
use crate::env::Env;
use crate::env::{Backend, Db};
use crate::progress;
use crate::raw::{Bind, Pool, RUN_COLUMNS, fetch_runs};
use crate::report::{Figure, Samples, Target, timed};
use crate::seed::{Runs, json_literal};
use anyhow::{Result, bail};
use operation_runs_domain::{RunId, UserId, WorkspaceId};
use operation_runs_ports::{Provisioning, RunCursor, RunFilter, RunListQuery};
use operation_runs_sea_orm::SeaOrmStore;
use serde_json::json;

pub const PAGE: u32 = 50;
pub const FAR_PAGE: i64 = 2000;
const INDEX: &str = "operation_runs_workspace_id_id_idx";

/// A workspace of the monitoring scenarios, seeded: 9 in 10 of `env.rows` runs, its viewer,
/// and the keyset cursor of page [`FAR_PAGE`] (or of the last page, when there are fewer).
pub struct Watched {
    pub db: Db,
    pub store: SeaOrmStore,
    pub ws: WorkspaceId,
    pub viewer: UserId,
    pub in_workspace: i64,
    pub last_page: i64,
    /// The page the cursor leads to.
    pub far: i64,
    /// The last id of the page before `far`.
    pub cursor: i64,
}

impl Watched {
    /// The unfiltered list query of a page of `ws`'s runs: the first page, or the one after
    /// the run `after`.
    pub fn page_query(&self, after: Option<i64>) -> RunListQuery {
        RunListQuery {
            workspace_id: self.ws,
            filter: RunFilter::default(),
            after: after.map(|id| RunCursor(RunId::new(id))),
            newer_than: None,
            limit: PAGE,
        }
    }
}

/// Seeds a database named after `scenario` for a list of a workspace's runs.
pub async fn seed_watched(env: &Env, scenario: &str) -> Result<Watched> {
    let b = env.backend;
    let db = env.create_migrated(scenario).await?;
    let store = db.store();
    let ws = store.create_workspace("watched").await?;
    let other = store.create_workspace("other").await?;
    let tenant = store.create_tenant(ws, "watched-tenant").await?;
    let other_tenant = store.create_tenant(other, "other-tenant").await?;
    let viewer = UserId::new(1);
    store.add_member(ws, viewer, true, false).await?;
    progress!(
        "{scenario}: seeding {} runs (1 in 10 of another workspace)",
        env.rows
    );
    Runs {
        workspace: format!(
            "CASE WHEN g % 10 = 0 THEN {} ELSE {} END",
            other.get(),
            ws.get()
        ),
        tenant: format!(
            "CASE WHEN g % 10 = 0 THEN {} ELSE {} END",
            other_tenant.get(),
            tenant.get()
        ),
        run_type: "CASE g % 3 WHEN 0 THEN 'inventory_sync' WHEN 1 THEN 'entra_group_sync' \
                   ELSE 'drift_generate' END"
            .to_owned(),
        context: json_literal(b, r#"{"trigger": "scheduled"}"#),
        ..Runs::simple(b, env.rows, ws.get(), tenant.get())
    }
    .insert(&db)
    .await?;
    db.analyze().await?;

    let in_workspace = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM operation_runs WHERE workspace_id = {}",
            ws.get()
        ))
        .await?;
    let last_page = (in_workspace + i64::from(PAGE) - 1) / i64::from(PAGE);
    let far = FAR_PAGE.min(last_page);
    if far < 2 {
        bail!("too few runs for a second page");
    }
    // The keyset cursor of page `far`: the last id of the page before it.
    let cursor = db
        .scalar(&format!(
            "SELECT id FROM operation_runs WHERE workspace_id = {} ORDER BY id DESC \
             LIMIT 1 OFFSET {}",
            ws.get(),
            (far - 1) * i64::from(PAGE) - 1
        ))
        .await?;
    db.warm().await?;
    Ok(Watched {
        db,
        store,
        ws,
        viewer,
        in_workspace,
        last_page,
        far,
        cursor,
    })
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let w = seed_watched(env, "monitoring").await?;
    let (store, ws, viewer, far, cursor) = (&w.store, w.ws, w.viewer, w.far, w.cursor);
    let service = service(store);
    let pool = Pool::of(&w.db)?;
    let first_sql = b.sql(&format!(
        "SELECT {RUN_COLUMNS} FROM operation_runs WHERE workspace_id = $1 \
         ORDER BY id DESC LIMIT {}",
        PAGE + 1
    ))?;
    // What a MariaDB expert writes for a cursor page: left alone, MariaDB walks the workspace
    // from its newest run down to the cursor (see the product's `list_select`).
    let hint = match b {
        Backend::Mariadb => format!(" FORCE INDEX ({INDEX})"),
        Backend::Postgres | Backend::Sqlite => String::new(),
    };
    let next_sql = b.sql(&format!(
        "SELECT {RUN_COLUMNS} FROM operation_runs{hint} WHERE workspace_id = $1 AND id < $2 \
         ORDER BY id DESC LIMIT {}",
        PAGE + 1
    ))?;
    let n = samples(env.rows);
    progress!(
        "monitoring: page 1 and page {far} of {}, {n} reads per side",
        w.last_page
    );
    let mut s = [
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    ];
    let mut same = [true, true];
    for i in 0..n + 10 {
        let warm = i < 10;
        for (k, after) in [(0, None), (2, Some(cursor))] {
            let (page, d) = timed(service.list_runs(viewer, &w.page_query(after))).await;
            let page = page?;
            if !warm {
                s[k].push(d);
            }
            let (rows, d) = timed(match after {
                None => fetch_runs(&pool, &first_sql, vec![Bind::I64(ws.get())]),
                Some(c) => fetch_runs(&pool, &next_sql, vec![Bind::I64(ws.get()), Bind::I64(c)]),
            })
            .await;
            let rows = rows?;
            if !warm {
                s[k + 1].push(d);
            }
            let ids: Vec<i64> = page.runs.iter().map(|r| r.id().get()).collect();
            let want: Vec<i64> = rows.iter().take(PAGE as usize).map(|r| r.id).collect();
            same[k / 2] &= ids == want && !ids.is_empty();
        }
    }
    let plan = store.explain_list(&w.page_query(Some(cursor))).await?;
    let index = if plan_line_using(&plan, INDEX).is_some() {
        format!("uses {INDEX}")
    } else if plan_uses_an_index(&plan) {
        format!("uses another index than {INDEX}")
    } else {
        "uses NO index".to_owned()
    };
    let far_metric = if far == FAR_PAGE {
        format!("page_{far}")
    } else {
        format!("page_{far}_last")
    };
    let ours_note = "ours = OperationRunService::list_runs (membership check + keyset SELECT); \
                     baseline = the keyset SELECT alone (on MariaDB with FORCE INDEX on a cursor \
                     page, as the product); every page's run ids compared in order";
    env.emit(
        &Figure::new("monitoring", b, env.rows, "page_1")
            .compare(&s[0], &s[1])
            .same(same[0])
            .note(ours_note),
    );
    env.emit(
        &Figure::new("monitoring", b, env.rows, &far_metric)
            .compare(&s[2], &s[3])
            .same(same[1])
            .note(ours_note),
    );
    env.emit(
        &Figure::new(
            "monitoring",
            b,
            env.rows,
            &format!("{far_metric}_vs_page_1"),
        )
        .compare(&s[2], &s[0])
        .target(Target::at_most(1.5, "ratio <= 1.5 (page N / page 1)"))
        .extra("page", json!(far))
        .extra("runs_in_workspace", json!(w.in_workspace))
        .note(format!(
            "both sides are the product's list; baseline column = page 1; hand-written \
                 page {far}/page 1 = {:.3}",
            s[3].median() / s[1].median().max(f64::MIN_POSITIVE)
        ))
        .note(format!(
            "plan of page {far} {index}: {}",
            plan_summary(&plan)
        )),
    );
    env.drop_db(w.db).await?;
    if !(same[0] && same[1]) {
        bail!("the product's pages differ from the hand-written ones");
    }
    Ok(())
}
