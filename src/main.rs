//! `loglens`: parse the command line, set up telemetry, run it, print any error once,
//! flush telemetry, exit.
use std::process::ExitCode;

use clap::Parser;
use loglens::cli::{Cli, Command};
use loglens::telemetry::Telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server logs what it does; a command prints its answer and logs only trouble.
    let level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    let telemetry = match Telemetry::init(cli.global.log_format, level) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match loglens::commands::run(cli, &telemetry).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}
