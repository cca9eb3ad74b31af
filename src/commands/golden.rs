//! `loglens golden ...`: making and checking the golden dataset (issue 6).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use loglens_agents::evidence::SignatureLibrary;
use loglens_evals::case::{load_cases, write_case};
use loglens_evals::{combine, extract};
use loglens_tools::logs::loki::{LokiClient, LokiLogSource};
use loglens_tools::logs::{LogFilter, LogSource};

use crate::config::Config;
use crate::option_groups::{LogArgs, LokiArgs};
use clap::Subcommand;

/// `loglens golden ...`: each subcommand is one function below.
pub async fn golden(config: &Config, cmd: GoldenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GoldenCommand::Import {
            cloudopsbench,
            holmesgpt,
            out,
        } => import(cloudopsbench.as_deref(), holmesgpt.as_deref(), &out).await,
        GoldenCommand::Synth {
            per_template,
            seed,
            out,
        } => synth(per_template, seed, &out),
        GoldenCommand::Extract(args) => extract_cases(config, args).await,
        GoldenCommand::Combine {
            pool,
            cases,
            real_share,
            seed,
        } => combine_cases(&pool, &cases, real_share, seed),
        GoldenCommand::Analyze { cases, sources } => analyze_cases(&cases, sources.as_deref()),
    }
}

/// `golden import`: recorded real incidents as cases.
async fn import(
    cloudopsbench: Option<&Path>,
    holmesgpt: Option<&Path>,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let lib = SignatureLibrary::builtin()?;
    let mut cases = Vec::new();
    if let Some(dir) = cloudopsbench {
        let imported = loglens_evals::import::cloudopsbench::import_all(dir, &lib).await?;
        for (folder, why) in &imported.skipped {
            eprintln!("skipped {folder}: {why}");
        }
        cases.extend(imported.cases);
    }
    if let Some(dir) = holmesgpt {
        cases.extend(loglens_evals::import::holmesgpt::import_all(dir)?);
    }
    for c in &cases {
        let path = write_case(out, c)?;
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

/// `golden synth`: synthetic cases from the templates.
fn synth(per_template: usize, seed: u64, out: &Path) -> anyhow::Result<ExitCode> {
    let templates = loglens_evals::synth::templates(loglens_evals::synth::TEMPLATES)?;
    let cases = loglens_evals::synth::synthesize(&templates, per_template, seed);
    for c in &cases {
        write_case(out, c)?;
    }
    println!(
        "{} synthetic cases from {} templates (seed {seed}) in {}",
        cases.len(),
        templates.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `golden extract`: auto-labelled real cases from a log store.
async fn extract_cases(config: &Config, args: ExtractArgs) -> anyhow::Result<ExitCode> {
    let ExtractArgs {
        loghub,
        query,
        since,
        max_lines,
        window_lines,
        max_cases,
        seed,
        prefix,
        out,
        ..
    } = args;
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
    let out = out.unwrap_or_else(|| PathBuf::from("golden/cases"));
    for c in &cases {
        write_case(&out, c)?;
    }
    let mut mix: BTreeMap<String, usize> = BTreeMap::new();
    for c in &cases {
        *mix.entry(c.expected.diagnosis.severity.to_string())
            .or_default() += 1;
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

/// `golden combine`: synthetic cases added to the real ones at a share.
fn combine_cases(
    pool: &Path,
    cases: &Path,
    real_share: f64,
    seed: u64,
) -> anyhow::Result<ExitCode> {
    if !(0.0..1.0).contains(&real_share) || real_share == 0.0 {
        bail!("--real-share must be above 0 and below 1, got {real_share}");
    }
    let all = load_cases(cases)?;
    let real: Vec<_> = all
        .into_iter()
        .filter(|c| c.origin == loglens_evals::case::Origin::Real)
        .collect();
    let pool = load_cases(pool)?;
    let chosen = combine::choose_synthetic(&real, pool, real_share, seed);
    let dir = cases.join("synthetic");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    for c in &chosen {
        write_case(cases, c)?;
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

/// `golden analyze`: the dataset checked and described.
fn analyze_cases(cases: &Path, sources: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cases = load_cases(cases)?;
    print!("{}", analyze(&cases)?);
    if let Some(path) = sources {
        std::fs::write(path, sources_table(&cases))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("provenance table written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The provenance table: one row per (origin, source, licence), with the cases in it.
fn sources_table(cases: &[loglens_evals::GoldenCase]) -> String {
    let mut groups: BTreeMap<(String, String, String), Vec<&str>> = BTreeMap::new();
    for c in cases {
        let origin = match c.origin {
            loglens_evals::case::Origin::Real => "real",
            loglens_evals::case::Origin::Synthetic => "synthetic",
        };
        // Synthetic cases of one template, and auto-extracted windows of one stream, share
        // a row.
        let key_source = if c.origin == loglens_evals::case::Origin::Synthetic
            || c.tags.iter().any(|t| t == "auto-labelled")
        {
            let stem = c.id.rsplit_once('-').map_or(c.id.as_str(), |(s, _)| s);
            format!("{}|{stem}", c.source)
        } else {
            format!("{}|{}", c.source, c.id)
        };
        groups
            .entry((origin.to_string(), key_source, c.licence.clone()))
            .or_default()
            .push(&c.id);
    }
    let mut out = String::from(
        "# Sources of the golden cases\n\n\
         Every case says where it comes from and under which licence (`source`, `licence` in\n\
         its file). This table is the same, grouped: one row per real recorded case, one per\n\
         extracted stream and one per synthetic template. Written by\n\
         `loglens golden analyze --sources golden/SOURCES.md`.\n\n\
         | case(s) | origin | source | licence |\n|---|---|---|---|\n",
    );
    for ((origin, key, licence), mut ids) in groups {
        ids.sort_unstable();
        let source = key.split_once('|').map_or(key.as_str(), |(s, _)| s);
        let which = match ids.as_slice() {
            [one] => format!("`{one}`"),
            [first, .., last] => format!("`{first}` … `{last}` ({})", ids.len()),
            [] => String::new(),
        };
        out.push_str(&format!("| {which} | {origin} | {source} | {licence} |\n"));
    }
    out
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
            ("severity", c.expected.diagnosis.severity.to_string()),
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
        _ => crate::wiring::log_source(config)?,
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

/// `loglens golden ...`.
// Parsed once per process: a large variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum GoldenCommand {
    /// Turn recorded real incidents into golden cases: Cloud-OpsBench fault cases
    /// (folders with metadata.json and raw_data/) and HolmesGPT replays
    /// (replay_subset.jsonl, with the hand labels in golden/labels/holmesgpt.toml).
    ///
    /// Example: loglens golden import --cloudopsbench ../shared/data/cloudopsbench --holmesgpt ../shared/data/holmesgpt
    Import {
        /// A folder of Cloud-OpsBench case folders.
        #[arg(long, value_name = "DIR", required_unless_present = "holmesgpt")]
        cloudopsbench: Option<PathBuf>,
        /// A folder holding HolmesGPT's replay_subset.jsonl.
        #[arg(long, value_name = "DIR")]
        holmesgpt: Option<PathBuf>,
        /// Where the cases go.
        #[arg(long, default_value = "golden/cases", value_name = "DIR")]
        out: PathBuf,
    },
    /// Make synthetic cases from the failure templates in golden/templates.toml (noise,
    /// decoys and wording varied by a seeded generator: the same seed, the same cases).
    ///
    /// Example: loglens golden synth --per-template 5 --seed 1
    Synth {
        /// Cases per template.
        #[arg(long, default_value_t = 5)]
        per_template: usize,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the cases go.
        #[arg(long, default_value = "golden/cases", value_name = "DIR")]
        out: PathBuf,
    },
    /// Cut auto-labelled real cases from a log store: Loki (--loki-url), local files
    /// (--logs), or the Loghub-2.0 sets (--loghub). Drops probe/scrape noise, detects
    /// each line's severity, cuts windows per stream, labels each window from its worst
    /// lines, and samples per severity towards the dataset's mix.
    ///
    /// Example: loglens golden extract --loghub ../shared/data/loghub2_2k --max-cases 90
    /// Example: loglens golden extract --loki-url http://loki:3100 --query '{namespace="shop"}' --since 24h
    Extract(ExtractArgs),
    /// Add synthetic cases from a pool (what `golden synth --out POOL` wrote) to the real
    /// cases: as many as keep the real share at --real-share, chosen to bring the
    /// severity mix towards INFO 25%, WARN 25%, ERROR 40%, CRITICAL 10%, rotating over
    /// templates; duplicates skipped. Replaces `<cases>/synthetic/`.
    ///
    /// Example: loglens golden combine --pool .loglens/synth-pool --real-share 0.7
    Combine {
        /// The synthetic pool.
        #[arg(long, value_name = "DIR")]
        pool: PathBuf,
        /// The dataset (its real cases are kept; its synthetic/ folder is rewritten).
        #[arg(long, default_value = "golden/cases", value_name = "DIR")]
        cases: PathBuf,
        /// The share of real cases to keep.
        #[arg(long, default_value_t = 0.7)]
        real_share: f64,
        /// Selection seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Check every case against golden/case.schema.json and print the dataset's make-up:
    /// origin, source, severity (against the aimed-at mix), route, cause, auto-labelled
    /// cases, lines and events per case.
    #[command(alias = "check")]
    Analyze {
        /// The cases.
        #[arg(long, default_value = "golden/cases", value_name = "DIR")]
        cases: PathBuf,
        /// Also write the provenance table (a row per source and licence) to this file,
        /// e.g. golden/SOURCES.md.
        #[arg(long, value_name = "FILE")]
        sources: Option<PathBuf>,
    },
}

/// `golden extract`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// Local files to read (instead of Loki).
    #[command(flatten)]
    pub logs: LogArgs,
    /// Loki.
    #[command(flatten)]
    pub loki: LokiArgs,
    /// A folder of Loghub-2.0 sets (`<System>/<System>_2k.log_structured_corrected.csv`).
    #[arg(long, value_name = "DIR")]
    pub loghub: Option<PathBuf>,
    /// A LogQL query selecting what to read (Loki or files); default: every stream.
    #[arg(long)]
    pub query: Option<String>,
    /// How far back to read (Loki or files), e.g. 24h, 7d.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// At most this many lines read from Loki (its max_entries_limit_per_query is
    /// 5000 by default).
    #[arg(long, default_value_t = 5000)]
    pub max_lines: usize,
    /// Lines per case window (after noise filtering).
    #[arg(long, default_value_t = 40)]
    pub window_lines: usize,
    /// At most this many cases.
    #[arg(long, default_value_t = 100)]
    pub max_cases: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Case ids start with this (default: loghub or loki).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Where the cases go (each under its id: `<DIR>/<prefix>/...`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}
