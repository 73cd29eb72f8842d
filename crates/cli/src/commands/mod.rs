//! One module per command group.

mod demo;
mod migrate;
mod preflight;
mod reap;
mod runs;
mod schedules;
mod serve;
mod tokens;
mod types;

use crate::cli::{Cli, Command};
use crate::error::CliResult;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> CliResult {
    let global = &cli.global;
    match cli.command {
        Command::Demo => demo::run(global).await,
        Command::Migrate(command) => migrate::run(global, command).await,
        Command::Preflight(args) => preflight::run(global, &args).await,
        Command::Runs(command) => runs::run(global, command).await,
        Command::Schedules(command) => schedules::run(global, command).await,
        Command::Reap(args) => reap::run(global, &args).await,
        Command::Serve(args) => serve::run(global, &args).await,
        Command::Tokens(command) => tokens::run(global, command).await,
        Command::Types => types::run(global),
    }
}
