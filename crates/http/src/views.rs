//! The pages' markup. maud escapes every interpolated value, so stored text (a failure message,
//! an initiator's name, a context value) can only ever render as text. Links are relative, so
//! the pages work under whatever prefix the host mounts the router.

use crate::error::Refusal;
use crate::load::ListPage;
use crate::params::HistoryParams;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use operation_runs_domain::{
    OperationRun, RunOutcome, RunStatus, RunType, RunTypeRegistry, Stored, Unreadable,
};
use operation_runs_ports::{BackupSchedule, BackupSet, CappedCount, RunPage};

/// The one stylesheet, inline and allowed by its hash in the Content-Security-Policy.
pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;\
text-align:left;vertical-align:top}th{background:#f4f4f4}.failed,.cancelled{color:#a00}\
.succeeded{color:#060}.partially_succeeded{color:#a60}form.filters label{margin-right:.75rem}\
nav a{margin-right:1rem}pre{background:#f8f8f8;padding:.5rem;overflow:auto}.muted{color:#666}\
.unreadable{color:#a00}";

/// Longest first-failure message shown in a list row.
const LIST_MESSAGE_CHARS: usize = 160;

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Operations" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn optional_time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), time)
}

/// A stored field that breaks today's rules: marked, with the reason on hover; the stored value
/// is in the run page's "Unreadable fields" table.
fn unreadable(unreadable: &Unreadable) -> Markup {
    html! { span.unreadable title=(unreadable.reason()) { "unreadable" } }
}

fn stored_text<T: std::fmt::Display>(stored: &Stored<T>) -> Markup {
    match stored {
        Stored::Readable(value) => html! { (value) },
        Stored::Unreadable(u) => unreadable(u),
    }
}

fn stored_time(stored: &Stored<Option<DateTime<Utc>>>) -> Markup {
    match stored {
        Stored::Readable(at) => html! { (optional_time(*at)) },
        Stored::Unreadable(u) => unreadable(u),
    }
}

/// A time the timeline can use: stored and readable.
fn known_time(stored: Stored<Option<DateTime<Utc>>>) -> Option<DateTime<Utc>> {
    stored.ok().copied().flatten()
}

/// `1h 2m 3s`, `4m 5s`, `6s`, `120 ms`.
/// A capped count for people: `1,234`, or `10,000+` past the cap.
fn capped(count: CappedCount) -> String {
    let grouped = |n: u64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(digit);
        }
        out
    };
    match count {
        CappedCount::Exact(n) => grouped(n),
        CappedCount::MoreThan(cap) => format!("{}+", grouped(cap)),
    }
}

pub(crate) fn duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let total = (to - from).num_milliseconds().max(0);
    if total < 1_000 {
        return format!("{total} ms");
    }
    let seconds = total / 1_000;
    let (h, m, s) = (seconds / 3_600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

fn truncated(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

fn counts_inline(run: &OperationRun) -> Markup {
    match run.summary_counts() {
        Stored::Readable(counts) => html! {
            (counts
                .iter()
                .map(|(name, value)| format!("{name} {value}"))
                .collect::<Vec<_>>()
                .join(" · "))
        },
        Stored::Unreadable(u) => unreadable(u),
    }
}

fn outcome_cell(run: &OperationRun) -> Markup {
    match run.outcome() {
        Stored::Readable(outcome) => html! { span class=(outcome.as_str()) { (outcome.as_str()) } },
        Stored::Unreadable(u) => unreadable(&u),
    }
}

fn first_failure(run: &OperationRun) -> Markup {
    match run.failure_summary() {
        Stored::Readable(summary) => html! {
            @if let Some(failure) = summary.failures().first() {
                code { (failure.code().as_str()) } ": " (truncated(failure.message(), LIST_MESSAGE_CHARS))
            }
        },
        Stored::Unreadable(u) => unreadable(u),
    }
}

fn select(name: &str, label: &str, options: &[&str], chosen: Option<&str>) -> Markup {
    html! {
        label {
            (label) " "
            select name=(name) {
                option value="" { "any" }
                @for option in options {
                    option value=(option) selected[chosen == Some(*option)] { (option) }
                }
            }
        }
    }
}

/// A page's runs, a row each under the header cells `head`, or `empty` when there are none.
fn runs_table(
    runs: &[OperationRun],
    empty: &str,
    head: Markup,
    row: impl Fn(&OperationRun) -> Markup,
) -> Markup {
    html! {
        @if runs.is_empty() {
            p.muted { (empty) }
        } @else {
            table {
                thead { tr { (head) } }
                tbody { @for run in runs { tr { (row(run)) } } }
            }
        }
    }
}

/// A workspace's operations.
pub(crate) fn list_page(list: &ListPage, registry: &RunTypeRegistry) -> Markup {
    let (workspace, params, page) = (list.workspace.get(), &list.params, &list.page);
    let f = &params.filter;
    let types: Vec<&str> = registry.iter().map(|d| d.id().as_str()).collect();
    let statuses: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
    let outcomes: Vec<&str> = RunOutcome::ALL.iter().map(|o| o.as_str()).collect();
    let input_time = |at: Option<DateTime<Utc>>| {
        at.map(|at| at.format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default()
    };
    let head = html! {
        th { "Run" } th { "Type" } th { "Tenant" } th { "Status" } th { "Outcome" }
        th { "Started by" } th { "Created" } th { "Duration" } th { "Counts" } th { "First failure" }
    };
    let runs = runs_table(&page.runs, "No operations match.", head, |run| {
        html! {
            td { a href={ "operations/" (run.id()) } { "#" (run.id()) } }
            td { (run.run_type()) }
            td { (run.tenant_id().map(|t| t.to_string()).unwrap_or_default()) }
            td { (stored_text(&run.status())) }
            td { (outcome_cell(run)) }
            td { (run.initiator_name()) }
            td { (time(run.created_at())) }
            td { @if let (Some(start), Some(end)) = (known_time(run.started_at()), known_time(run.completed_at())) { (duration(start, end)) } }
            td { (counts_inline(run)) }
            td { (first_failure(run)) }
        }
    });
    let body = html! {
        h1 { "Operations of workspace " (workspace) }
        form.filters method="get" {
            (select("type", "Type", &types, f.run_type.as_deref()))
            (select("status", "Status", &statuses, f.status.map(RunStatus::as_str)))
            (select("outcome", "Outcome", &outcomes, f.outcome.map(RunOutcome::as_str)))
            label { "Tenant " input type="number" name="tenant" min="1"
                value=[f.tenant_id.map(|t| t.get())]; }
            label { "From " input type="datetime-local" name="from" value=(input_time(f.created_from)); }
            label { "Before " input type="datetime-local" name="before" value=(input_time(f.created_before)); }
            button type="submit" { "Filter" }
        }
        p.counts {
            "Queued " (capped(list.counts.queued)) " · Running " (capped(list.counts.running))
            " · Completed " (capped(list.counts.completed))
        }
        (runs)
        nav {
            @if let Some(newer) = list.newer() {
                a href={ "?" (params.query_at(None)) } rel="first" { "« Newest" }
                " "
                a href={ "?" (params.query_newer(newer)) } rel="prev" { "‹ Newer" }
            }
            @if let Some(older) = list.older() {
                a href={ "?" (params.query_at(Some(older))) } rel="next" { "Older »" }
            }
        }
    };
    layout(&format!("Workspace {workspace}"), body)
}

/// One run.
pub(crate) fn run_page(run: &OperationRun, registered: bool, cancellable: bool) -> Markup {
    let body = html! {
        nav { a href="../operations" { "« Operations" } }
        h1 { "Run #" (run.id()) " · " (run.run_type()) }
        table {
            tbody {
                tr { th { "Workspace" } td { (run.workspace_id()) } }
                tr { th { "Tenant" } td { (run.tenant_id().map(|t| t.to_string()).unwrap_or_else(|| "—".to_owned())) } }
                tr { th { "Type" } td { (run.run_type())
                    @if !registered { " " span.muted { "(not registered here)" } } } }
                tr { th { "Status" } td { (stored_text(&run.status())) } }
                tr { th { "Outcome" } td { (outcome_cell(run)) } }
                tr { th { "Started by" } td { (run.initiator_name())
                    @if let Some(user) = run.user_id() { " (user " (user) ")" } } }
                tr { th { "Identity" } td { code { (stored_text(run.identity_hash())) } } }
                tr { th { "Created" } td { (time(run.created_at())) } }
                tr { th { "Started" } td { (stored_time(&run.started_at())) } }
                tr { th { "Completed" } td { (stored_time(&run.completed_at())) } }
                tr { th { "Last heartbeat" } td { (time(run.updated_at())) } }
            }
        }
        h2 { "Timeline" }
        (timeline(run))
        @if cancellable {
            form method="post" action={ (run.id()) "/cancel" } {
                button type="submit" { "Cancel this run" }
            }
        }
        (unreadable_fields(run))
        h2 { "Counts" }
        @match run.summary_counts() {
            Stored::Unreadable(u) => p { (unreadable(u)) }
            Stored::Readable(counts) if counts.is_empty() => p.muted { "No counts recorded." }
            Stored::Readable(counts) => table {
                thead { tr { th { "Count" } th { "Value" } } }
                tbody { @for (name, value) in counts.iter() {
                    tr { td { (name.as_str()) } td { (value) } }
                } }
            }
        }
        h2 { "Failures" }
        @match run.failure_summary() {
            Stored::Unreadable(u) => p { (unreadable(u)) }
            Stored::Readable(summary) if summary.is_empty() => p.muted { "No failures." }
            Stored::Readable(summary) => {
                table {
                    thead { tr { th { "Code" } th { "Message" } } }
                    tbody { @for failure in summary.failures() {
                        tr { td { code { (failure.code().as_str()) } } td { (failure.message()) } }
                    } }
                }
                @if summary.omitted() > 0 {
                    p { (summary.omitted()) " more failures were counted but not kept." }
                }
            }
        }
        h2 { "Context" }
        @match run.context() {
            Stored::Unreadable(u) => p { (unreadable(u)) }
            Stored::Readable(context) => pre {
                (serde_json::to_string_pretty(&context.to_json()).unwrap_or_default())
            }
        }
    };
    layout(&format!("Run {}", run.id()), body)
}

/// Fields of a legacy row that break today's rules: what the row holds (redacted) and why.
fn unreadable_fields(run: &OperationRun) -> Markup {
    let fields = run.unreadable_fields();
    html! {
        @if !fields.is_empty() {
            h2.unreadable { "Unreadable fields" }
            p { "This run was stored without today's validation; these fields are shown as stored." }
            table {
                thead { tr { th { "Field" } th { "Why" } th { "Stored value" } } }
                tbody { @for (field, u) in &fields {
                    tr { td { code { (field) } } td { (u.reason()) } td { code { (u.shown_raw()) } } }
                } }
            }
        }
    }
}

/// queued → running → completed, with how long each step took.
fn timeline(run: &OperationRun) -> Markup {
    let created = run.created_at();
    let outcome = run.outcome();
    html! {
        ol {
            li { "queued at " (time(created)) }
            @if let Some(started) = known_time(run.started_at()) {
                li { "running at " (time(started)) " after " (duration(created, started)) " in the queue" }
                @if let Some(completed) = known_time(run.completed_at()) {
                    li { "completed (" (stored_text(&outcome)) ") at " (time(completed))
                        " after " (duration(started, completed)) " running" }
                } @else {
                    li { "running for " (duration(started, run.updated_at())) " at the last heartbeat" }
                }
            } @else if let Some(completed) = known_time(run.completed_at()) {
                li { "completed (" (stored_text(&outcome)) ") at " (time(completed))
                    " after " (duration(created, completed)) " without running" }
            }
        }
    }
}

/// A backup schedule's history with the sets its runs made.
pub(crate) fn history_page(
    schedule: &BackupSchedule,
    params: &HistoryParams,
    page: &RunPage,
    sets: &[BackupSet],
) -> Markup {
    let types: Vec<&str> = RunType::BACKUP_SCHEDULE_TYPES
        .iter()
        .map(RunType::as_str)
        .collect();
    let outcomes: Vec<&str> = RunOutcome::ALL.iter().map(|o| o.as_str()).collect();
    let head = html! {
        th { "Run" } th { "Type" } th { "Status" } th { "Outcome" } th { "Created" }
        th { "Backup set" } th { "First failure" }
    };
    let runs = runs_table(&page.runs, "No runs.", head, |run| {
        html! {
            td { a href={ "../../operations/" (run.id()) } { "#" (run.id()) } }
            td { (run.run_type()) }
            td { (stored_text(&run.status())) }
            td { (outcome_cell(run)) }
            td { (time(run.created_at())) }
            td { (backup_set(run, sets)) }
            td { (first_failure(run)) }
        }
    });
    let body = html! {
        h1 { "History of backup schedule " (schedule.name) }
        p.muted { "Schedule #" (schedule.id) " · tenant " (schedule.tenant_id)
            " · keeps the sets of the newest " (schedule.keep_last) " successful runs" }
        form.filters method="get" {
            (select("type", "Type", &types, params.run_type.as_ref().map(RunType::as_str)))
            (select("outcome", "Outcome", &outcomes, params.outcome.map(RunOutcome::as_str)))
            button type="submit" { "Filter" }
        }
        (runs)
        nav {
            @if params.cursor.is_some() {
                a href={ "?" (params.query_at(None)) } rel="first" { "« Newest" }
            }
            @if let Some(next) = page.next {
                a href={ "?" (params.query_at(Some(next))) } rel="next" { "Older »" }
            }
        }
    };
    layout(&format!("Schedule {}", schedule.name), body)
}

fn backup_set(run: &OperationRun, sets: &[BackupSet]) -> Markup {
    let id = match run.context() {
        Stored::Readable(context) => context.backup_set_id(),
        Stored::Unreadable(u) => return unreadable(u),
    };
    let Some(id) = id else {
        return html! {};
    };
    match sets.iter().find(|s| s.id == id) {
        Some(set) => html! {
            (set.name) " (" (set.item_count) " items)"
            @if let Some(deleted) = set.deleted_at { " " span.muted { "deleted " (time(deleted)) } }
        },
        None => html! { "#" (id) " " span.muted { "(purged)" } },
    }
}

/// `reason` with a capital letter and a full stop.
fn sentence(reason: &str) -> String {
    let mut chars = reason.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

/// The page of a refusal. A 404 says nothing but "not found", so all 404s look alike.
pub(crate) fn error_page(refusal: &Refusal) -> Markup {
    let (title, text) = match refusal {
        Refusal::NotFound => ("Not found", "There is nothing here.".to_owned()),
        Refusal::Unauthorized => ("Sign in", "Sign in to see operations.".to_owned()),
        Refusal::Forbidden(reason) => ("Forbidden", sentence(reason)),
        Refusal::BadRequest(reason) => ("Bad request", reason.clone()),
        Refusal::Conflict(reason) => ("Conflict", reason.clone()),
        Refusal::Internal => (
            "Error",
            "Something went wrong; it has been logged.".to_owned(),
        ),
    };
    layout(title, html! { h1 { (title) } p { (text) } })
}

/// The front door of a server with the token sign-in: open a workspace's operations.
pub(crate) fn home_page() -> Markup {
    layout(
        "Operations",
        html! {
            h1 { "Operations" }
            form method="get" action="open" {
                label { "Workspace " input type="number" name="workspace" min="1" required; }
                button type="submit" { "Open" }
            }
            p { a href="sign-in" { "Sign in" } }
            form method="post" action="sign-out" { button type="submit" { "Sign out" } }
        },
    )
}

/// The token sign-in form.
pub(crate) fn sign_in_page(next: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(error) = error { p.failed { (error) } }
            form method="post" action="sign-in" {
                input type="hidden" name="next" value=(next);
                label { "API token " input type="password" name="token" autocomplete="off" required; }
                button type="submit" { "Sign in" }
            }
            p.muted { "Create a token with " code { "oprun tokens create --user ID" } "." }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_in_groups_of_three_and_past_the_cap_with_a_plus() {
        assert_eq!(capped(CappedCount::Exact(0)), "0");
        assert_eq!(capped(CappedCount::Exact(999)), "999");
        assert_eq!(capped(CappedCount::Exact(1_234)), "1,234");
        assert_eq!(capped(CappedCount::Exact(1_234_567)), "1,234,567");
        assert_eq!(capped(CappedCount::MoreThan(10_000)), "10,000+");
    }
}
