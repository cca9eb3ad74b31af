//! `loglens`: parse the command line, set up telemetry, run it, print any error once,
//! flush telemetry, exit.
use std::process::ExitCode;

use clap::Parser;
use loglens::cli::Cli;
use loglens::telemetry::Telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match Telemetry::init(cli.global.log_format, &cli.command) {
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
