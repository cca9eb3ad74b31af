//! `loglens summary | triage | changes | cascade`: read a window, print the insight as
//! text (or JSON with `--json`).
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use chrono::{DateTime, Utc};
use loglens_agents::insights::Evidence;

use crate::config::Config;
use crate::insights::{
    CascadeReport, ChangesReport, Insights, SummaryReport, TriageReport, WindowInfo,
};
use crate::option_groups::{LogArgs, LokiArgs, ModelArgs};
use crate::option_groups::{ScopeArgs, parse_time};
use clap::Args;
use loglens_tools::logs::Scope;

fn spec(w: &WindowArgs) -> anyhow::Result<Scope> {
    w.scope.scope()
}

async fn insights(config: &Config) -> anyhow::Result<Insights> {
    Ok(Insights::new(crate::wiring::agent_pipeline(config).await?))
}

fn print<T: serde::Serialize>(
    json: bool,
    report: &T,
    text: impl FnOnce(&T) -> String,
) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", text(report));
    }
    Ok(ExitCode::SUCCESS)
}

/// `loglens summary`.
pub async fn summary(config: &Config, a: SummaryArgs) -> anyhow::Result<ExitCode> {
    let r = insights(config)
        .await?
        .summary(&spec(&a.window)?, !a.no_narrate)
        .await?;
    print(a.window.json, &r, summary_text)
}

/// `loglens triage`.
pub async fn triage(config: &Config, a: TriageArgs) -> anyhow::Result<ExitCode> {
    if !(1..=100).contains(&a.limit) {
        bail!("--limit must be between 1 and 100");
    }
    let r = insights(config)
        .await?
        .triage(&spec(&a.window)?, a.limit)
        .await?;
    print(a.window.json, &r, triage_text)
}

/// `loglens changes`.
pub async fn changes(config: &Config, a: ChangesArgs) -> anyhow::Result<ExitCode> {
    if !(1..=100).contains(&a.limit) {
        bail!("--limit must be between 1 and 100");
    }
    let before = match (
        parse_time("--before-start", &a.before_start)?,
        parse_time("--before-end", &a.before_end)?,
    ) {
        (Some(s), Some(e)) => Some((s, e)),
        _ => None,
    };
    let r = insights(config)
        .await?
        .changes(&spec(&a.window)?, before, a.limit)
        .await?;
    print(a.window.json, &r, changes_text)
}

/// `loglens cascade`.
pub async fn cascade(config: &Config, a: CascadeArgs) -> anyhow::Result<ExitCode> {
    let r = insights(config).await?.cascade(&spec(&a.window)?).await?;
    print(a.window.json, &r, cascade_text)
}

fn window(w: &WindowInfo) -> String {
    let t = |t: Option<DateTime<Utc>>| {
        t.map_or("…".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        })
    };
    let span = if w.start.is_none() && w.end.is_none() {
        "all lines".to_string()
    } else {
        format!("{} → {} UTC", t(w.start), t(w.end))
    };
    format!(
        "{span} ({} lines, {} events{})",
        w.lines,
        w.events,
        if w.truncated {
            ", older lines left out"
        } else {
            ""
        }
    )
}

fn evidence(out: &mut String, ev: &[Evidence]) {
    for e in ev {
        let when = e
            .timestamp
            .map(|t| t.format("%H:%M:%S ").to_string())
            .unwrap_or_default();
        let _ = writeln!(out, "      {when}{}: {}", e.component, e.text);
    }
}

fn summary_text(r: &SummaryReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Window: {}", window(&r.window));
    if let Some(n) = &r.narrative {
        let _ = writeln!(out, "\n{}\n{}\n", n.headline, n.summary);
    }
    let _ = writeln!(out, "Measured: {}", r.digest.text);
    if let Some(e) = &r.narrative_error {
        let _ = writeln!(out, "(no written summary: {e})");
    }
    if !r.digest.components.is_empty() {
        let _ = writeln!(out, "\nComponents (lines / errors / warnings):");
        for c in &r.digest.components {
            let _ = writeln!(
                out,
                "  {:<32} {:>7} {:>6} {:>6}",
                c.component, c.lines, c.errors, c.warnings
            );
        }
    }
    if !r.digest.problems.is_empty() {
        let _ = writeln!(out, "\nTop problems:");
        for p in &r.digest.problems {
            let _ = writeln!(
                out,
                "  {}. [{}] {} ({})",
                p.rank, p.severity, p.title, p.why
            );
        }
    }
    if !r.digest.changes.is_empty() {
        let _ = writeln!(out, "\nChanges against the window before:");
        for c in &r.digest.changes {
            let _ = writeln!(out, "  {}. {:?}: {} ({})", c.rank, c.kind, c.title, c.why);
        }
    }
    out
}

fn triage_text(r: &TriageReport) -> String {
    let mut out = format!("Window: {}\n", window(&r.window));
    if r.items.is_empty() {
        out.push_str("No errors, warnings or warning events.\n");
    }
    for i in &r.items {
        let _ = writeln!(out, "\n{}. [{}] {}", i.rank, i.severity, i.title);
        let _ = writeln!(
            out,
            "   {} — in {} (score {:.1})",
            i.why,
            i.components.join(", "),
            i.score
        );
        if let Some(a) = &i.action {
            let _ = writeln!(out, "   action: {a}");
        }
        evidence(&mut out, &i.evidence);
    }
    out
}

fn changes_text(r: &ChangesReport) -> String {
    let mut out = format!(
        "Before: {}\nAfter:  {}\n",
        window(&r.before),
        window(&r.after)
    );
    if r.changes.is_empty() {
        out.push_str("Nothing changed.\n");
    }
    for c in &r.changes {
        let _ = writeln!(out, "\n{}. {:?}: {}", c.rank, c.kind, c.title);
        let _ = writeln!(out, "   {} — in {}", c.why, c.components.join(", "));
        evidence(&mut out, &c.evidence);
    }
    out
}

fn cascade_text(r: &CascadeReport) -> String {
    let c = &r.cascade;
    let mut out = format!("Window: {}\n", window(&r.window));
    match &c.root {
        Some(root) => {
            let _ = writeln!(out, "\nStarted at: {}\n  {}", root.component, root.why);
            evidence(&mut out, &root.evidence);
            for chain in &c.chains {
                let _ = writeln!(out, "  {}", chain.join(" → "));
            }
            if !c.other_roots.is_empty() {
                let _ = writeln!(
                    out,
                    "Other failing components with no failing dependency: {}",
                    c.other_roots.join(", ")
                );
            }
        }
        None => out.push_str("\nNo component is failing.\n"),
    }
    let deps: Vec<String> = c
        .dependencies
        .iter()
        .map(|d| format!("{} → {} ({:?}, {}×)", d.from, d.to, d.via, d.count))
        .collect();
    if !deps.is_empty() {
        let _ = writeln!(out, "\nDependencies seen:\n  {}", deps.join("\n  "));
    }
    out
}

/// The scope and window of an insight (every line, not only errors; without --since or
/// --start, every line the source has).
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// Labels and time window.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Logs and events.
    #[command(flatten)]
    pub logs: LogArgs,
    /// Loki.
    #[command(flatten)]
    pub loki: LokiArgs,
}

/// `loglens summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Scope and window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// Only the measured digest; do not ask the model to write it up.
    #[arg(long)]
    pub no_narrate: bool,
    /// The model server (for the written summary).
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `loglens triage`.
#[derive(Debug, Args)]
pub struct TriageArgs {
    /// Scope and window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// How many problems.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

/// `loglens changes`.
#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// Scope and the later window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// The earlier window's start (RFC 3339), with --before-end.
    #[arg(long, requires = "before_end")]
    pub before_start: Option<String>,
    /// The earlier window's end (RFC 3339).
    #[arg(long, requires = "before_start")]
    pub before_end: Option<String>,
    /// How many changes.
    #[arg(long, default_value_t = 15)]
    pub limit: usize,
}

/// `loglens cascade`.
#[derive(Debug, Args)]
pub struct CascadeArgs {
    /// Scope and window.
    #[command(flatten)]
    pub window: WindowArgs,
}
