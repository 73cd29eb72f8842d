//! Tracing output on stderr: the migrations' progress while migrating, nothing else unless
//! `RUST_LOG` asks for it.

use crate::cli::Command;
use std::fmt::{self, Write as _};
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
    let _ = tracing_subscriber::registry()
        .with(StderrLines.with_filter(filter))
        .try_init();
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

impl<S: Subscriber> Layer<S> for StderrLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        eprintln!("{}", line.render(event.metadata().target()));
    }
}
