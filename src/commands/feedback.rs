//! `loglens feedback`: the feedback on answers, listed and exported as golden-case
//! candidates.
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::option_groups::StoreArgs;
use crate::store::Store;

/// `loglens feedback`.
#[derive(Debug, Args)]
pub struct FeedbackArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: FeedbackCommand,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `loglens feedback ...`.
#[derive(Debug, Subcommand)]
pub enum FeedbackCommand {
    /// Feedback, newest first: verdict, analysis, author, what was corrected.
    List {
        /// Only feedback not exported yet.
        #[arg(long)]
        pending: bool,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Write each confirmed or corrected answer not exported yet as a golden case (the
    /// lines the model saw, the person's answer) under DIR/feedback/, checked against the
    /// case schema, then mark it exported. Review them before moving them into
    /// golden/cases/.
    ///
    /// Example: loglens feedback export --out golden/candidates
    Export {
        /// Where to write.
        #[arg(long, default_value = "golden/candidates")]
        out: std::path::PathBuf,
    },
}

pub async fn feedback(config: &Config, cmd: FeedbackCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url).await?;
    let fb = crate::feedback::FeedbackStore::new(store.clone());
    match cmd {
        FeedbackCommand::List { pending, limit } => {
            for f in fb.list(pending, limit).await? {
                let fields: Vec<String> = f
                    .correction
                    .as_ref()
                    .and_then(|c| serde_json::to_value(c).ok())
                    .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
                    .unwrap_or_default();
                println!(
                    "{}\t{:?}\tanalysis {}\tby {}\t{}\t{}",
                    f.created_at,
                    f.verdict,
                    f.analysis_id,
                    f.author,
                    if fields.is_empty() {
                        "-".to_string()
                    } else {
                        format!("corrected {}", fields.join(", "))
                    },
                    f.exported_at
                        .map_or("pending".to_string(), |t| format!("exported {t}"))
                );
            }
        }
        FeedbackCommand::Export { out } => {
            let (mut written, mut skipped) = (0, 0);
            for f in fb.list(true, 10_000).await? {
                let Some(a) = store.get(&f.analysis_id).await? else {
                    skipped += 1;
                    continue;
                };
                match crate::feedback::candidate(&f, &a) {
                    Some(case) => {
                        let path = loglens_evals::case::write_case(&out, &case)?;
                        fb.mark_exported(&f.id).await?;
                        println!("{}", path.display());
                        written += 1;
                    }
                    None => skipped += 1,
                }
            }
            eprintln!(
                "{written} candidate case(s) written under {}; {skipped} feedback without a right answer to learn from (incorrect, no correction) left as it is",
                out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
