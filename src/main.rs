//! `loglens`: parse the command line, run it, print any error once, exit.
use std::process::ExitCode;

use clap::Parser;
use loglens::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    loglens::telemetry::init(cli.global.log_format, &cli.command);
    match loglens::commands::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
