//! Tracing output on stderr: the migrations' progress while migrating, nothing else unless
//! `RUST_LOG` asks for it. On a terminal the backfill's progress is a bar per table (rows done,
//! total, rate, time left) with the other lines printed above the bars; elsewhere (CI logs, a
//! pipe) every event is a plain line.

use crate::cli::Command;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;
use std::sync::{Mutex, PoisonError};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// The target the migration crate reports backfill progress on.
const PROGRESS_TARGET: &str = "operation_runs_migration::progress";

/// Installs the subscriber for this command.
pub fn init(command: &Command) {
    let default = match command {
        // While migrating, show which migration runs and how far the backfill is.
        Command::Migrate(_) => {
            "operation_runs_migration=info,sea_orm_migration::migrator=info".to_owned()
        }
        Command::Demo => "operation_runs_migration=info".to_owned(),
        // Sign-ins, cancels and failures of the server; requests with `RUST_LOG=tower_http=debug`.
        Command::Serve(_) => "operation_runs_cli=info,operation_runs_http=info".to_owned(),
        _ => format!("{PROGRESS_TARGET}=info"),
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    if std::io::stderr().is_terminal() && matches!(command, Command::Migrate(_) | Command::Demo) {
        let _ = tracing_subscriber::registry()
            .with(Bars::new(ProgressDrawTarget::stderr()).with_filter(filter))
            .try_init();
    } else {
        let _ = tracing_subscriber::registry()
            .with(StderrLines.with_filter(filter))
            .try_init();
    }
}

/// Prints each event as one indented line: the message, then its fields as `name=value`.
struct StderrLines;

#[derive(Default)]
struct Line {
    message: String,
    fields: Vec<(&'static str, String)>,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields.push((field.name(), format!("{value:?}")));
        }
    }
}

impl Line {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn render(&self, target: &str) -> String {
        if target == PROGRESS_TARGET
            && let (Some(done), Some(total)) = (self.get("done"), self.get("total"))
        {
            let what = match (self.get("table"), self.get("column")) {
                (Some(table), Some(column)) => format!(" {table}.{column}"),
                (Some(table), None) => format!(" {table}"),
                _ => String::new(),
            };
            return format!("  {}{what}: {done}/{total}", self.message);
        }
        let mut out = format!("  {}", self.message);
        for (name, value) in &self.fields {
            let _ = write!(out, " {name}={value}");
        }
        out
    }
}

impl Line {
    /// `(table, done, total)` of a backfill progress event.
    fn progress(&self, target: &str) -> Option<(String, u64, u64)> {
        if target != PROGRESS_TARGET {
            return None;
        }
        Some((
            self.get("table")?.to_owned(),
            self.get("done")?.parse().ok()?,
            self.get("total")?.parse().ok()?,
        ))
    }
}

/// Progress bars for a terminal: one per backfilled table, other events as lines above them.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new(target: ProgressDrawTarget) -> Self {
        Self {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// The bar of `table`, created on its first event.
    fn bar(&self, table: &str, total: u64) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(PoisonError::into_inner);
        bars.entry(table.to_owned())
            .or_insert_with(|| {
                let style = ProgressStyle::with_template(
                    "  backfill {msg:<16} [{wide_bar}] {pos}/{len} rows, {per_sec}, {eta} left",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                let bar = self.multi.add(ProgressBar::new(total));
                bar.set_style(style);
                bar.set_message(table.to_owned());
                bar
            })
            .clone()
    }

    fn show(&self, line: &Line, target: &str) {
        match line.progress(target) {
            Some((table, done, total)) => {
                let bar = self.bar(&table, total);
                if bar.is_finished() {
                    return;
                }
                bar.set_length(total);
                bar.set_position(done);
                // A finished table's bar becomes a line above the others: a bar left behind
                // would be redrawn under every later line.
                if done >= total {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                    let _ = self.multi.println(format!(
                        "  backfill {table:<16} {done}/{total} rows in {:.1}s",
                        bar.elapsed().as_secs_f64()
                    ));
                }
            }
            None => {
                let _ = self.multi.println(line.render(target));
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for Bars {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        self.show(&line, event.metadata().target());
    }
}

impl<S: Subscriber> Layer<S> for StderrLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        eprintln!("{}", line.render(event.metadata().target()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Backfill progress moves one bar per table (the columns of a table share it), to the
    /// events' `done` and `total`; a table done is finished.
    #[test]
    fn progress_events_drive_one_bar_per_table() {
        let bars = std::sync::Arc::new(Bars::new(ProgressDrawTarget::hidden()));
        let layer = Shared(bars.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for (column, done) in [("a", 50_u64), ("b", 50), ("a", 120), ("b", 120)] {
                tracing::info!(
                    target: "operation_runs_migration::progress",
                    table = "findings",
                    column,
                    done,
                    total = 120_u64,
                    mapped = 1_u64,
                    "backfill progress"
                );
                if done == 50 {
                    let bar = bars.bar("findings", 0);
                    assert_eq!((bar.position(), bar.length()), (50, Some(120)));
                    assert!(!bar.is_finished());
                }
            }
            tracing::info!(
                target: "operation_runs_migration::progress",
                table = "inventory_items",
                done = 3_u64,
                total = 9_u64,
                "backfill progress"
            );
            tracing::info!(target: "operation_runs_migration", "not progress");
        });
        let all = bars.bars.lock().unwrap();
        assert_eq!(all.len(), 2);
        assert!(all["findings"].is_finished());
        assert_eq!(all["findings"].position(), 120);
        assert_eq!(all["inventory_items"].position(), 3);
        assert!(!all["inventory_items"].is_finished());
    }

    struct Shared(std::sync::Arc<Bars>);

    impl<S: Subscriber> Layer<S> for Shared {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            let mut line = Line::default();
            event.record(&mut line);
            self.0.show(&line, event.metadata().target());
        }
    }
}
