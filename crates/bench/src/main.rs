#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod env;
mod raw;
mod render;
mod report;
mod results;
mod scenarios;
mod seed;
mod statement_log;

use anyhow::{Context, Result};
use clap::Parser;
use env::{Backend, Env};
use std::path::PathBuf;

/// A benchmark scenario (`all` runs every one in turn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Start,
    Progress,
    Backfill,
    History,
    Monitoring,
    #[value(name = "http_list")]
    HttpList,
    Purge,
    #[value(name = "cutover_live")]
    CutoverLive,
    All,
}

impl Scenario {
    const EACH: [Self; 8] = [
        Self::Start,
        Self::Progress,
        Self::Backfill,
        Self::History,
        Self::Monitoring,
        Self::HttpList,
        Self::Purge,
        Self::CutoverLive,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Progress => "progress",
            Self::Backfill => "backfill",
            Self::History => "history",
            Self::Monitoring => "monitoring",
            Self::HttpList => "http_list",
            Self::Purge => "purge",
            Self::CutoverLive => "cutover_live",
            Self::All => "all",
        }
    }
}

/// Operation runs against hand-written SQL: one JSON object per figure on stdout, progress on
/// stderr. Exits non-zero when a scenario fails or its two sides produced different results,
/// never because a target is missed.
#[derive(Debug, Parser)]
#[command(
    name = "operation-runs-bench",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// What to measure.
    #[arg(value_enum)]
    scenario: Option<Scenario>,
    /// Database backend.
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Scale of the generated data (see the README for what each scenario makes of it).
    #[arg(long, default_value_t = 2000)]
    rows: u64,
    /// Admin URL of PostgreSQL or MariaDB: fresh databases are created on its server and dropped
    /// afterwards [default: postgres://postgres@127.0.0.1:5432/test, or
    /// mysql://root@127.0.0.1:3306/mysql]. Not for SQLite (empty is ignored).
    #[arg(long)]
    database_url: Option<String>,
    /// Runs per statement of the `purge` scenario's batched purge (the default is the batch size
    /// `ScheduleOperations::purge` uses).
    #[arg(long, default_value_t = 5000)]
    purge_batch: u32,
    /// Also append every figure, with the run's provenance (commit, server, machine, load,
    /// settings), to DIR/<backend>.jsonl, the files BENCHMARKS.md's tables are rendered from.
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Renders BENCHMARKS.md's tables (its `<!-- generated:NAME -->` regions) from the results
    /// files; the prose between them is left as it is.
    Report {
        /// The results files' directory.
        #[arg(long, default_value = "bench-results")]
        results: PathBuf,
        /// The document to fill in.
        #[arg(long, default_value = "BENCHMARKS.md")]
        markdown: PathBuf,
        /// Only check: exit non-zero if the document differs from what the results render.
        #[arg(long)]
        check: bool,
    },
}

fn report(results: &std::path::Path, markdown: &std::path::Path, check: bool) -> Result<usize> {
    let text = std::fs::read_to_string(markdown)
        .with_context(|| format!("reading {}", markdown.display()))?;
    let (rendered, chart) = render::render(results, &text)?;
    let chart_file = render::chart_path(results);
    let chart_now = std::fs::read_to_string(&chart_file).unwrap_or_default();
    if chart_now != chart {
        if check {
            progress!(
                "{} differs from what the results render",
                chart_file.display()
            );
            return Ok(1);
        }
        std::fs::create_dir_all(results)
            .with_context(|| format!("creating {}", results.display()))?;
        std::fs::write(&chart_file, &chart)
            .with_context(|| format!("writing {}", chart_file.display()))?;
    }
    if rendered == text {
        progress!("{} is up to date", markdown.display());
        return Ok(0);
    }
    if check {
        progress!(
            "{} differs from what {} renders",
            markdown.display(),
            results.display()
        );
        return Ok(1);
    }
    std::fs::write(markdown, rendered)
        .with_context(|| format!("writing {}", markdown.display()))?;
    progress!("{} rendered from {}", markdown.display(), results.display());
    Ok(0)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(failed) => {
            progress!("{failed} scenario(s) failed");
            std::process::ExitCode::FAILURE
        }
        Err(err) => {
            progress!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<usize> {
    if let Some(Command::Report {
        results,
        markdown,
        check,
    }) = &cli.command
    {
        return report(results, markdown, *check);
    }
    let Some(scenario) = cli.scenario else {
        anyhow::bail!("name a scenario (or `all`), or `report`; see --help");
    };
    if cli.rows < 100 {
        anyhow::bail!("--rows must be at least 100");
    }
    // An empty URL counts as none, so scripts can pass one for every backend.
    let url = cli.database_url.filter(|u| !u.trim().is_empty());
    let mut env = Env::new(cli.backend, cli.rows, url)?;
    env.purge_batch = cli.purge_batch.max(1);
    let scenarios: Vec<Scenario> = match scenario {
        Scenario::All => Scenario::EACH.to_vec(),
        one => vec![one],
    };
    let probe = env.create("version").await?;
    let server = format!(
        "{} {}",
        env.backend.label(),
        env.server_version(&probe).await?
    );
    let settings = env.settings(&probe).await?;
    progress!("{} {server}, settings {settings}", env.backend.as_str());
    env.drop_db(probe).await?;
    let info = results::RunInfo::collect(server, settings);
    let mut failed = 0;
    for scenario in scenarios {
        progress!(
            "{} on {} with --rows {}",
            scenario.name(),
            env.backend.as_str(),
            env.rows
        );
        let started = std::time::Instant::now();
        let load_start = results::load_average();
        let outcome = match scenario {
            Scenario::Start => scenarios::start::run(&env).await,
            Scenario::Progress => scenarios::progress::run(&env).await,
            Scenario::Backfill => scenarios::backfill::run(&env).await,
            Scenario::History => scenarios::history::run(&env).await,
            Scenario::Monitoring => scenarios::monitoring::run(&env).await,
            Scenario::HttpList => scenarios::http_list::run(&env).await,
            Scenario::Purge => scenarios::purge::run(&env).await,
            Scenario::CutoverLive => scenarios::cutover_live::run(&env).await,
            Scenario::All => Ok(()),
        };
        let figures = env.take_figures();
        let differing: Vec<&str> = figures
            .iter()
            .filter(|f| f.same_result == Some(false))
            .map(|f| f.metric.as_str())
            .collect();
        if let Some(dir) = &cli.results {
            let run = results::ScenarioRun {
                load_start,
                load_end: results::load_average(),
                seconds: started.elapsed().as_secs_f64(),
            };
            results::append(dir, env.backend.as_str(), &info, &run, env.rows, &figures)?;
        }
        if let Err(err) = outcome {
            failed += 1;
            progress!("{} failed: {err:#}", scenario.name());
        } else if !differing.is_empty() {
            failed += 1;
            progress!(
                "{}: the two sides produced different results in {}",
                scenario.name(),
                differing.join(", ")
            );
        } else {
            progress!(
                "{} done in {:.1} s",
                scenario.name(),
                started.elapsed().as_secs_f64()
            );
        }
        if let Err(err) = env.cleanup().await {
            failed += 1;
            progress!("cleaning up after {} failed: {err:#}", scenario.name());
        }
    }
    Ok(failed)
}
