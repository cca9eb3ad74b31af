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
use loglens_evals::{combine, extract};
use loglens_tools::logs::loki::{LokiClient, LokiLogSource};
use loglens_tools::logs::{LogFilter, LogSource};
use std::path::PathBuf;

use crate::cli::{EvalArgs, EvalVariant, GoldenCommand};
use crate::config::Config;

/// `loglens golden ...`.
pub async fn golden(config: &Config, cmd: GoldenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GoldenCommand::Import {
            cloudopsbench,
            holmesgpt,
            out,
        } => {
            let lib = SignatureLibrary::builtin()?;
            let mut cases = Vec::new();
            if let Some(dir) = &cloudopsbench {
                cases.extend(loglens_evals::import::cloudopsbench::import_all(dir, &lib).await?);
            }
            if let Some(dir) = &holmesgpt {
                cases.extend(loglens_evals::import::holmesgpt::import_all(dir)?);
            }
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
        GoldenCommand::Extract {
            loghub,
            query,
            since,
            max_lines,
            window_lines,
            max_cases,
            seed,
            prefix,
            out,
        } => {
            let lib = SignatureLibrary::builtin()?;
            let (lines, default_prefix, source, licence) = match &loghub {
                Some(dir) => (
                    extract::loghub_lines(dir)?,
                    "loghub",
                    "logpai/loghub-2.0@8046b14:2k_dataset (lines with their Level and Component columns); labels: loglens golden extract (auto)".to_string(),
                    "Loghub: free for research and academic use; cite Loghub (ISSRE'23) and Loghub-2.0 (ISSTA'24)".to_string(),
                ),
                None => {
                    let lines = read_store(config, query.as_deref(), &since, max_lines).await?;
                    let (what, licence) = if config.log_paths.is_empty() {
                        ("loki", "the log owner's")
                    } else {
                        ("files", "the log owner's")
                    };
                    (
                        lines,
                        what,
                        format!(
                            "{what} {} over the last {since}; labels: loglens golden extract (auto)",
                            query.as_deref().unwrap_or("(every stream)")
                        ),
                        licence.to_string(),
                    )
                }
            };
            let prefix = prefix.unwrap_or_else(|| default_prefix.to_string());
            let cfg = extract::ExtractConfig {
                window_lines,
                max_cases,
                seed,
                id_prefix: prefix.clone(),
                source,
                licence,
            };
            let cases = extract::extract(&lines, &lib, &cfg);
            let out = out.unwrap_or_else(|| PathBuf::from("golden/cases").join(&prefix));
            for c in &cases {
                write_case(&out, c)?;
            }
            let mut mix: BTreeMap<String, usize> = BTreeMap::new();
            for c in &cases {
                *mix.entry(c.expected.severity.to_string()).or_default() += 1;
            }
            let mix: Vec<String> = mix.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!(
                "{} lines → {} cases ({}) in {}",
                lines.len(),
                cases.len(),
                mix.join(", "),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        GoldenCommand::Combine {
            pool,
            cases,
            real_share,
            seed,
        } => {
            if !(0.0..1.0).contains(&real_share) || real_share == 0.0 {
                bail!("--real-share must be above 0 and below 1, got {real_share}");
            }
            let all = load_cases(&cases)?;
            let real: Vec<_> = all
                .into_iter()
                .filter(|c| c.origin == loglens_evals::case::Origin::Real)
                .collect();
            let pool = load_cases(&pool)?;
            let chosen = combine::choose_synthetic(&real, pool, real_share, seed);
            let dir = cases.join("synthetic");
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("clearing {}", dir.display()))?;
            }
            for c in &chosen {
                write_case(&cases, c)?;
            }
            let total = real.len() + chosen.len();
            println!(
                "{} real + {} synthetic = {total} cases ({:.0}% real)",
                real.len(),
                chosen.len(),
                100.0 * real.len() as f64 / total.max(1) as f64
            );
            Ok(ExitCode::SUCCESS)
        }
        GoldenCommand::Analyze { cases } => {
            let cases = load_cases(&cases)?;
            print!("{}", analyze(&cases)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The dataset's make-up, as `golden analyze` prints it.
fn analyze(cases: &[loglens_evals::GoldenCase]) -> anyhow::Result<String> {
    let mut tally: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for c in cases {
        let origin = serde_json::to_value(c.origin)?
            .as_str()
            .unwrap_or("?")
            .to_string();
        let source = c.id.split('/').next().unwrap_or("?").to_string();
        let labels = if c.tags.iter().any(|t| t == "auto-labelled") {
            "auto (by rules)"
        } else if c.origin == loglens_evals::case::Origin::Synthetic {
            "template"
        } else {
            "by hand"
        };
        for (k, v) in [
            ("origin", origin),
            ("source", source),
            ("labels", labels.to_string()),
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
    let n = cases.len().max(1) as f64;
    let mut out = format!("{} cases, all fit golden/case.schema.json\n", cases.len());
    for (k, counts) in &tally {
        let parts: Vec<String> = counts
            .iter()
            .map(|(v, c)| format!("{v} {c} ({:.0}%)", 100.0 * *c as f64 / n))
            .collect();
        out.push_str(&format!("  {k:<9} {}\n", parts.join(", ")));
    }
    let aim: Vec<String> = extract::TARGET_MIX
        .iter()
        .map(|(s, share)| format!("{s} {:.0}%", share * 100.0))
        .collect();
    out.push_str(&format!("  aimed at  {}\n", aim.join(", ")));
    let mut lines: Vec<usize> = cases.iter().map(|c| c.logs.len()).collect();
    lines.sort_unstable();
    let events: usize = cases.iter().map(|c| c.events.len()).sum();
    out.push_str(&format!(
        "  lines     median {} per case, max {}; events {:.1} per case\n",
        lines.get(lines.len() / 2).copied().unwrap_or(0),
        lines.last().copied().unwrap_or(0),
        events as f64 / n
    ));
    Ok(out)
}

/// Lines from the configured store (Loki or --logs) for `golden extract`.
async fn read_store(
    config: &Config,
    query: Option<&str>,
    since: &str,
    max_lines: usize,
) -> anyhow::Result<Vec<loglens_tools::logs::LogLine>> {
    let since = loglens_tools::logs::parse_since(since)
        .with_context(|| format!("--since {since}: expected a duration such as 30m, 24h, 7d"))?;
    let source: Arc<dyn LogSource> = match (&config.loki, config.log_paths.is_empty()) {
        (Some(loki), true) => {
            Arc::new(LokiLogSource::new(LokiClient::new(loki.clone())?).with_max_lines(max_lines))
        }
        _ => crate::commands::log_source(config)?,
    };
    let logql = query
        .map(|q| {
            loglens_tools::logs::logql::parse(q)
                .map(Arc::new)
                .map_err(|e| anyhow::anyhow!("--query {q}: {e}"))
        })
        .transpose()?;
    let end = chrono::Utc::now();
    let filter = LogFilter {
        logql,
        start: Some(end - since),
        end: Some(end),
        ..LogFilter::default()
    };
    Ok(source.query(&filter).await?)
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
