//! Output: human tables and the JSON shapes of `--json`.

use chrono::{DateTime, SecondsFormat, Utc};
use operation_runs_domain::{FailureSummary, OperationRun, RunContext, Stored, SummaryCounts};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// A plain text table with a header row, columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as text, one line per row, no trailing spaces.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths = self
            .header
            .iter()
            .map(|h| h.chars().count())
            .collect::<Vec<_>>();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let _ = write!(text, "{cell:<width$}  ");
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.header);
        line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
        for row in &self.rows {
            line(row);
        }
        out
    }
}

/// A time as printed in tables.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn optional_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), time)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stored field in a table cell: its value, or `UNREADABLE` (`runs show` says why).
fn cell<T: ToString>(stored: &Stored<T>) -> String {
    stored
        .ok()
        .map_or_else(|| "UNREADABLE".to_owned(), ToString::to_string)
}

/// A stored field in JSON: its value, or `null` (the run's `unreadable` list says why).
fn json_or_null<T>(stored: &Stored<T>, to_json: impl FnOnce(&T) -> Value) -> Value {
    stored.ok().map_or(Value::Null, to_json)
}

/// Counts as `name=value name=value`.
pub fn counts(run: &OperationRun) -> String {
    let Stored::Readable(counts) = run.summary_counts() else {
        return "UNREADABLE".to_owned();
    };
    let text = counts
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

/// The JSON form of a run.
pub fn run_json(run: &OperationRun) -> Value {
    json!({
        "id": run.id().get(),
        "workspace_id": run.workspace_id().get(),
        "tenant_id": run.tenant_id().map(|t| t.get()),
        "user_id": run.user_id().map(|u| u.get()),
        "initiator_name": run.initiator_name(),
        "type": run.run_type(),
        "status": json_or_null(&run.status(), |s| s.as_str().into()),
        "outcome": json_or_null(&run.outcome(), |o| o.as_str().into()),
        "run_identity_hash": json_or_null(run.identity_hash(), |h| h.as_str().into()),
        "summary_counts": json_or_null(run.summary_counts(), SummaryCounts::to_json),
        "failure_summary": json_or_null(run.failure_summary(), FailureSummary::to_json),
        "context": json_or_null(run.context(), RunContext::to_json),
        "started_at": json_or_null(&run.started_at(), |t| t.map(rfc3339).into()),
        "completed_at": json_or_null(&run.completed_at(), |t| t.map(rfc3339).into()),
        "created_at": rfc3339(run.created_at()),
        "updated_at": rfc3339(run.updated_at()),
        "unreadable": run.unreadable_fields().into_iter().map(|(field, u)| json!({
            "field": field,
            "stored": u.shown_raw(),
            "reason": u.reason(),
        })).collect::<Vec<_>>(),
    })
}

/// The columns of a run table.
pub const RUN_COLUMNS: [&str; 8] = [
    "ID",
    "TYPE",
    "TENANT",
    "STATUS",
    "OUTCOME",
    "CREATED",
    "INITIATOR",
    "COUNTS",
];

/// A run as a row of [`RUN_COLUMNS`].
pub fn run_row(run: &OperationRun) -> Vec<String> {
    vec![
        run.id().to_string(),
        run.run_type().to_owned(),
        run.tenant_id()
            .map_or_else(|| "-".to_owned(), |t| t.to_string()),
        cell(&run.status()),
        cell(&run.outcome()),
        time(run.created_at()),
        run.initiator_name().to_owned(),
        counts(run),
    ]
}

/// A table of runs.
pub fn runs_table<'a>(runs: impl IntoIterator<Item = &'a OperationRun>) -> Table {
    let mut table = Table::new(RUN_COLUMNS);
    for run in runs {
        table.row(run_row(run));
    }
    table
}

/// The columns of a schedule history table.
pub const HISTORY_COLUMNS: [&str; 8] = [
    "ID",
    "TYPE",
    "STATUS",
    "OUTCOME",
    "SCHEDULED FOR",
    "BACKUP SET",
    "COUNTS",
    "FAILURE",
];

/// A table of a schedule's runs.
pub fn history_table<'a>(runs: impl IntoIterator<Item = &'a OperationRun>) -> Table {
    let mut table = Table::new(HISTORY_COLUMNS);
    for run in runs {
        let (scheduled_for, backup_set) = match run.context() {
            Stored::Readable(context) => (
                optional_time(context.scheduled_for()),
                context
                    .backup_set_id()
                    .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            ),
            Stored::Unreadable(_) => ("UNREADABLE".to_owned(), "UNREADABLE".to_owned()),
        };
        table.row([
            run.id().to_string(),
            run.run_type().to_owned(),
            cell(&run.status()),
            cell(&run.outcome()),
            scheduled_for,
            backup_set,
            counts(run),
            first_failure(run),
        ]);
    }
    table
}

/// The first failure as `code: message`, `-` without failures.
pub fn first_failure(run: &OperationRun) -> String {
    let Stored::Readable(summary) = run.failure_summary() else {
        return "UNREADABLE".to_owned();
    };
    summary.failures().first().map_or_else(
        || "-".to_owned(),
        |f| format!("{}: {}", f.code(), f.message()),
    )
}

/// A run, field by field.
pub fn run_details(run: &OperationRun) -> String {
    let mut table = Vec::<(&str, String)>::new();
    table.push(("id", run.id().to_string()));
    table.push(("type", run.run_type().to_owned()));
    table.push(("workspace", run.workspace_id().to_string()));
    table.push((
        "tenant",
        run.tenant_id()
            .map_or_else(|| "-".to_owned(), |t| t.to_string()),
    ));
    table.push(("status", run.status().to_string()));
    table.push(("outcome", run.outcome().to_string()));
    table.push((
        "initiator",
        match run.user_id() {
            Some(user) => format!("{} (user {user})", run.initiator_name()),
            None => run.initiator_name().to_owned(),
        },
    ));
    table.push(("identity", cell(run.identity_hash())));
    table.push(("counts", counts(run)));
    table.push((
        "context",
        run.context()
            .ok()
            .map_or_else(|| "UNREADABLE".to_owned(), |c| c.to_json().to_string()),
    ));
    table.push(("created", time(run.created_at())));
    let stored_time = |t: Stored<Option<DateTime<Utc>>>| match t {
        Stored::Readable(t) => optional_time(t),
        Stored::Unreadable(_) => "UNREADABLE".to_owned(),
    };
    table.push(("started", stored_time(run.started_at())));
    table.push(("completed", stored_time(run.completed_at())));
    table.push(("updated", time(run.updated_at())));
    let no_failures = FailureSummary::new();
    let failures = run.failure_summary().ok().unwrap_or(&no_failures);
    if run
        .failure_summary()
        .is_readable_and(FailureSummary::is_empty)
    {
        table.push(("failures", "-".to_owned()));
    }
    let mut out = String::new();
    for (name, value) in table {
        let _ = writeln!(out, "{name:<10} {value}");
    }
    // Fields a legacy row holds against today's rules: what it holds (redacted) and why.
    for (field, u) in run.unreadable_fields() {
        let _ = writeln!(
            out,
            "{:<10} {field} is unreadable ({}): {}",
            "unreadable",
            u.reason(),
            u.shown_raw()
        );
    }
    for failure in failures.failures() {
        let _ = writeln!(
            out,
            "{:<10} {}: {}",
            "failure",
            failure.code(),
            failure.message()
        );
    }
    if failures.omitted() > 0 {
        let _ = writeln!(
            out,
            "{:<10} {} more not stored",
            "failure",
            failures.omitted()
        );
    }
    out
}

/// Prints a page of runs as `table` renders them (or `no runs`), then how to get the next page.
pub fn print_page(
    runs: &[OperationRun],
    table: fn(&[OperationRun]) -> Table,
    next: Option<String>,
) {
    if runs.is_empty() {
        println!("no runs");
    } else {
        print!("{}", table(runs).render());
    }
    if let Some(next) = next {
        println!("more: --cursor {next}");
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        // Serializing a `Value` or a derived struct cannot fail; say so rather than panic.
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn tables_pad_columns_and_trim_lines() {
        let mut table = Table::new(["ID", "NAME"]);
        table.row(["1", "inventory_sync"]);
        table.row(["12", "x"]);
        assert_eq!(
            table.render(),
            "ID  NAME\n--  --------------\n1   inventory_sync\n12  x\n"
        );
    }
}
