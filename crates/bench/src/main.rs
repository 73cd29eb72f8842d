#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod env;
mod raw;
mod report;
mod scenarios;
mod seed;

use anyhow::Result;
use clap::Parser;
use env::{Backend, Env};

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
/// stderr. Exits non-zero when a scenario fails, never because a target is missed.
#[derive(Debug, Parser)]
#[command(name = "operation-runs-bench", version)]
struct Cli {
    /// What to measure.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Database backend.
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Scale of the generated data (see the README for what each scenario makes of it).
    #[arg(long, default_value_t = 2000)]
    rows: u64,
    /// PostgreSQL admin URL: fresh databases are created on its server and dropped afterwards
    /// [default: postgres://postgres@127.0.0.1:5432/test]. Not for SQLite (empty is ignored).
    #[arg(long)]
    database_url: Option<String>,
    /// Runs per statement of the `purge` scenario's batched purge (the default is the batch size
    /// `ScheduleOperations::purge` uses).
    #[arg(long, default_value_t = 5000)]
    purge_batch: u32,
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
    if cli.rows < 100 {
        anyhow::bail!("--rows must be at least 100");
    }
    // An empty URL counts as none, so scripts can pass one for every backend.
    let url = cli.database_url.filter(|u| !u.trim().is_empty());
    let mut env = Env::new(cli.backend, cli.rows, url)?;
    env.purge_batch = cli.purge_batch.max(1);
    let scenarios: Vec<Scenario> = match cli.scenario {
        Scenario::All => Scenario::EACH.to_vec(),
        one => vec![one],
    };
    let probe = env.create("version").await?;
    progress!(
        "{} {}",
        env.backend.as_str(),
        env.server_version(&probe).await?
    );
    env.drop_db(probe).await?;
    let mut failed = 0;
    for scenario in scenarios {
        progress!(
            "{} on {} with --rows {}",
            scenario.name(),
            env.backend.as_str(),
            env.rows
        );
        let started = std::time::Instant::now();
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
        if let Err(err) = outcome {
            failed += 1;
            progress!("{} failed: {err:#}", scenario.name());
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
