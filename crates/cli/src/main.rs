#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod db;
mod error;
mod logging;
mod output;
mod parse;
mod registry;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A bug must still end as one line on stderr and a non-zero exit, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        if is_closed_output(&message) {
            // `oprun runs list | head`: the reader has all it wants; stop quietly, as `cat` does.
            std::process::exit(i32::from(error::Exit::Ok.code()));
        }
        eprintln!("error: internal error: {}", message.replace('\n', " "));
    }));

    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::from(error::Exit::Ok.code());
        }
        Err(e) => {
            eprintln!("{}", one_line_usage_error(&e.render().to_string()));
            return ExitCode::from(error::Exit::Usage.code());
        }
    };
    logging::init(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(error::Exit::Error.code());
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::from(error::Exit::Ok.code()),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit().code())
        }
    }
}

/// clap's usage error as one line: the problem and its details, without the usage block.
fn one_line_usage_error(rendered: &str) -> String {
    let problem = rendered
        .split("\n\nUsage:")
        .next()
        .unwrap_or(rendered)
        .split("\n\nFor more information")
        .next()
        .unwrap_or(rendered);
    let flat = problem.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{flat} (see --help)")
}

/// Whether a panic is `println!` failing because the reader of stdout went away (a broken
/// pipe): the standard library panics then, since Rust ignores SIGPIPE.
fn is_closed_output(panic_message: &str) -> bool {
    panic_message.starts_with("failed printing to stdout")
        && (panic_message.contains("Broken pipe") || panic_message.contains("os error 32"))
}
