//! `loglens keys`: API keys for the HTTP API, made, listed and revoked.
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::option_groups::StoreArgs;
use crate::store::Store;

/// `loglens keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `loglens keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it, once: only its SHA-256 is stored.
    ///
    /// Example: loglens keys create slack-bot --rate 30
    Create {
        /// What or who the key is for.
        name: String,
        /// Requests a minute before the server answers 429.
        #[arg(long, default_value_t = 60)]
        rate: u32,
    },
    /// List keys (id, name, rate, created, revoked); never the keys themselves.
    List,
    /// Revoke a key by its id (from `keys list`); it is refused from then on.
    Revoke {
        /// The key's id.
        id: String,
    },
}

pub async fn keys(config: &Config, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url).await?;
    match cmd {
        KeysCommand::Create { name, rate } => {
            if name.trim().is_empty() || rate == 0 {
                bail!("a key needs a name and a rate of at least 1 a minute");
            }
            let (record, secret) = store.create_api_key(name.trim(), rate).await?;
            eprintln!(
                "key {} for {:?}, {} requests a minute; it is shown only now:",
                record.id, record.name, record.rate_per_minute
            );
            println!("{secret}");
        }
        KeysCommand::List => {
            for k in store.api_keys().await? {
                println!(
                    "{}\t{}\t{}/min\tcreated {}\t{}",
                    k.id,
                    k.name,
                    k.rate_per_minute,
                    k.created_at,
                    k.revoked_at
                        .map_or("live".to_string(), |r| format!("revoked {r}"))
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !store.revoke_api_key(&id).await? {
                bail!("no live key with id {id} (see loglens keys list)");
            }
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
