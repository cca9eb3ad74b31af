//! What each subcommand does: one module per command, each with its own clap arguments
//! and the function that runs it. `main` calls [`run`], which loads the settings the
//! command took and hands them over. The parts commands build (sources, model client,
//! pipeline, store) come from [`crate::wiring`], so no command imports another.
pub mod ask;
pub mod eval;
pub mod feedback;
pub mod golden;
pub mod index;
pub mod ingest;
pub mod insights;
pub mod keys;
pub mod queue;
pub mod trace;

use std::process::ExitCode;

use loglens_agents::pipeline::PipelineGraph;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::server::auth::Auth;
use crate::server::{AppState, serve};
use crate::telemetry::Telemetry;
use crate::wiring::{build_bots, build_service};

/// Prints the pipeline's stages and graph.
fn explain() -> anyhow::Result<ExitCode> {
    print!("{}", PipelineGraph::default().explain());
    Ok(ExitCode::SUCCESS)
}

/// Runs the parsed command line.
pub async fn run(cli: Cli, telemetry: &Telemetry) -> anyhow::Result<ExitCode> {
    // Explaining the pipeline needs no settings: a broken config file does not stop it.
    if matches!(cli.command, Command::Explain) {
        return explain();
    }
    let listen = match &cli.command {
        Command::Serve(a) => a.listen,
        Command::Ask(_)
        | Command::Ingest(_)
        | Command::Explain
        | Command::CheckConfig(_)
        | Command::Golden(_)
        | Command::Eval(_)
        | Command::Trace(_)
        | Command::Index(_)
        | Command::Keys(_)
        | Command::Queue(_)
        | Command::Feedback(_)
        | Command::Summary(_)
        | Command::Triage(_)
        | Command::Changes(_)
        | Command::Cascade(_) => None,
    };
    let config = Config::load(&cli.settings(), listen)?;
    match cli.command {
        Command::Ask(args) => ask::ask(&config, *args, telemetry).await,
        Command::Trace(args) => trace::trace(&config, args).await,
        Command::Index(args) => index::index(&config, args).await,
        Command::Keys(a) => keys::keys(&config, a.command).await,
        Command::Queue(a) => queue::queue(&config, a.command).await,
        Command::Feedback(a) => feedback::feedback(&config, a.command).await,
        Command::Summary(a) => insights::summary(&config, a).await,
        Command::Triage(a) => insights::triage(&config, a).await,
        Command::Changes(a) => insights::changes(&config, a).await,
        Command::Cascade(a) => insights::cascade(&config, a).await,
        Command::Ingest(args) => ingest::ingest(&config, args).await,
        Command::Golden(cmd) => golden::golden(&config, cmd).await,
        Command::Eval(args) => eval::eval(&config, args, telemetry).await,
        Command::Explain => explain(),
        Command::CheckConfig(_) => {
            let file = cli.global.config.as_deref().map_or_else(
                || {
                    if std::path::Path::new("loglens.toml").exists() {
                        "./loglens.toml".to_string()
                    } else {
                        "no config file".to_string()
                    }
                },
                |p| p.display().to_string(),
            );
            println!("the settings are valid ({file}, the environment and the flags)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let service = build_service(&config).await?;
            telemetry.keep_spans_in(service.store().clone());
            let auth = if args.require_api_key || config.require_api_key {
                if service
                    .store()
                    .api_keys()
                    .await?
                    .iter()
                    .all(|k| k.revoked_at.is_some())
                {
                    tracing::warn!(
                        "API keys are required but none is live: every request will be refused (loglens keys create NAME)"
                    );
                }
                Auth::required()
            } else {
                Auth::open()
            };
            let mut bot_config = config.bots.clone();
            if let Some(n) = args.workers {
                bot_config.workers = n;
            }
            let bots = build_bots(&config, service.store(), bot_config)?;
            let _workers = crate::incidents::worker::spawn(&bots, &service);
            let state = AppState {
                service,
                metrics: telemetry.registry(),
                auth,
                bots,
            };
            serve(state, config.listen, &config.cors_origins).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
