//! loglens's own diagnostic logs, to stderr, levels from `RUST_LOG`
//! (default: `warn` for one-shot commands, `info` for the server).
use tracing_subscriber::EnvFilter;

use crate::cli::{Command, LogFormat};

/// Installs the global subscriber.
pub fn init(format: LogFormat, command: &Command) {
    let default = match command {
        Command::Serve(_) => "info",
        Command::Ask(_)
        | Command::Ingest(_)
        | Command::Explain
        | Command::Golden(_)
        | Command::Eval(_) => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
