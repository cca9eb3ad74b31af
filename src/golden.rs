//! `loglens golden ...` and `loglens eval`: the dataset and the harness (issue 6).
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use loglens_agents::evidence::SignatureLibrary;
use loglens_agents::llm::LlmClient;
use loglens_evals::case::{load_cases, write_case};
use loglens_evals::replay::{Variant, replay};
use loglens_evals::score::{markdown, metrics, score_case};

use crate::cli::{EvalArgs, EvalVariant, GoldenCommand};
use crate::config::Config;

/// `loglens golden ...`.
pub async fn golden(cmd: GoldenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GoldenCommand::Import { cloudopsbench, out } => {
            let lib = SignatureLibrary::builtin()?;
            let cases =
                loglens_evals::import::cloudopsbench::import_all(&cloudopsbench, &lib).await?;
            for c in &cases {
                let path = write_case(&out, c)?;
                println!(
                    "{}  {} lines, {} events  → {}",
                    c.id,
                    c.logs.len(),
                    c.events.len(),
                    path.display()
                );
            }
            println!("{} cases imported", cases.len());
            Ok(ExitCode::SUCCESS)
        }
        GoldenCommand::Synth {
            per_template,
            seed,
            out,
        } => {
            let templates = loglens_evals::synth::templates(loglens_evals::synth::TEMPLATES)?;
            let cases = loglens_evals::synth::synthesize(&templates, per_template, seed);
            for c in &cases {
                write_case(&out, c)?;
            }
            println!(
                "{} synthetic cases from {} templates (seed {seed}) in {}",
                cases.len(),
                templates.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        GoldenCommand::Check { cases } => {
            let cases = load_cases(&cases)?;
            let mut tally: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
            for c in &cases {
                let origin = serde_json::to_value(c.origin)?
                    .as_str()
                    .unwrap_or("?")
                    .to_string();
                for (k, v) in [
                    ("origin", origin),
                    ("severity", c.expected.severity.to_string()),
                    (
                        "route",
                        format!(
                            "{}/{}",
                            c.expected.route.retrieval, c.expected.route.specialists
                        ),
                    ),
                    ("cause", c.expected.cause.clone()),
                ] {
                    *tally.entry(k).or_default().entry(v).or_default() += 1;
                }
            }
            println!("{} cases, all fit golden/case.schema.json", cases.len());
            for (k, counts) in tally {
                let parts: Vec<String> = counts.iter().map(|(v, n)| format!("{v} {n}")).collect();
                println!("  {k:<9} {}", parts.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `loglens eval`.
pub async fn eval(config: &Config, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let mut cases = load_cases(&args.cases)?;
    if let Some(only) = &args.only {
        cases.retain(|c| c.id.contains(only.as_str()));
    }
    if cases.is_empty() {
        bail!("no cases under {}", args.cases.display());
    }
    let variant = match args.variant {
        EvalVariant::Evidence => Variant::Evidence,
        EvalVariant::Agents => Variant::Agents,
        EvalVariant::Baseline => Variant::Baseline,
    };
    let llm = match variant {
        Variant::Evidence => None,
        _ => {
            let llm = LlmClient::new(config.llm.clone())?;
            llm.ready()
                .await
                .context("the model server must be up for this variant")?;
            Some(llm)
        }
    };
    let library = Arc::new(SignatureLibrary::builtin()?);
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(cases.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}") {
        bar.set_style(style);
    }
    let mut runs = Vec::new();
    let mut scores = Vec::new();
    for c in &cases {
        bar.set_message(c.id.clone());
        let run = replay(c, variant, llm.as_ref(), &config.pipeline, &library).await?;
        scores.push(score_case(c, &run));
        runs.push(run);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let m = metrics(&scores, &runs);
    let out = args.out.unwrap_or_else(|| {
        std::path::PathBuf::from(".loglens/evals").join(format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            variant.name()
        ))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let report = markdown(variant.name(), &m, &scores);
    std::fs::write(out.join("report.md"), &report)?;
    std::fs::write(
        out.join("run.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "variant": variant.name(),
            "model": llm.as_ref().map(|l| l.config().model.clone()),
            "metrics": m,
            "cases": scores,
            "runs": runs,
        }))?,
    )?;
    let mut csv = String::from("case,answered,cause,component,severity,route,failure\n");
    for s in &scores {
        csv.push_str(&format!(
            "{},{},{},{},{},{},\"{}\"\n",
            s.case,
            s.answered,
            s.cause,
            s.component,
            s.severity,
            s.route.map_or(String::new(), |r| r.to_string()),
            s.failure.as_deref().unwrap_or("").replace('"', "'")
        ));
    }
    std::fs::write(out.join("cases.csv"), csv)?;
    print!("{report}");
    println!("\nreport: {}", out.display());
    Ok(ExitCode::SUCCESS)
}
