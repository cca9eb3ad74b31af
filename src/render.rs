//! The human-readable answer printed by `loglens ask`.
use std::fmt::Write;

use loglens_agents::events::AgentEvent;
use loglens_agents::toolbox::CallStatus;

use crate::store::AnalysisRecord;

/// One agent event as a line to print (if it deserves one) and a status for the spinner.
pub fn agent_event(e: &AgentEvent) -> (Option<String>, String) {
    match e {
        AgentEvent::Route(r) => (
            Some(
                format!(
                    "route: {:?} retrieval, {:?} specialist(s), decided by {:?}: {}",
                    r.retrieval, r.specialists, r.decided_by, r.reason
                )
                .to_lowercase(),
            ),
            "reading logs and events".into(),
        ),
        AgentEvent::Evidence {
            matched,
            lines,
            candidates,
            patterns,
        } => (
            Some(format!(
                "evidence: {matched} lines matched, {} shown; {patterns} patterns; candidates: {}",
                lines.len(),
                if candidates.is_empty() {
                    "none".to_string()
                } else {
                    candidates.join(", ")
                }
            )),
            "specialists are investigating".into(),
        ),
        AgentEvent::ToolCall(t) => {
            let outcome = match t.status {
                CallStatus::Ok => format!("ok, {} bytes", t.result_bytes),
                other => format!(
                    "{}: {}",
                    format!("{other:?}").to_lowercase(),
                    t.error.as_deref().unwrap_or("")
                ),
            };
            let args: String = t.arguments.to_string().chars().take(160).collect();
            (
                Some(format!(
                    "  {} step {}: {} {args} → {outcome}",
                    t.agent, t.step, t.tool
                )),
                format!("{} is investigating", t.agent),
            )
        }
        AgentEvent::Finding {
            agent,
            sample,
            finding,
            weighed,
        } => (
            Some(format!(
                "  {agent}#{sample}: {} ({}, {}, {:.0}%){}",
                finding.cause.as_deref().unwrap_or("other"),
                finding.diagnosis.component,
                finding.diagnosis.severity,
                finding.confidence * 100.0,
                weighed
                    .as_deref()
                    .map(|w| format!("; {w}"))
                    .unwrap_or_default()
            )),
            "waiting for the other specialists".into(),
        ),
        AgentEvent::AgentFailed {
            agent,
            sample,
            error,
        } => (
            Some(format!("  {agent}#{sample} failed: {error}")),
            "waiting for the other specialists".into(),
        ),
        AgentEvent::Consensus(c) => (
            Some(format!(
                "consensus: {} opinion(s), agreement {:.0}%{}",
                c.opinions,
                c.agreement * 100.0,
                if c.disagreements.is_empty() {
                    String::new()
                } else {
                    format!("; disagreed on {}", c.disagreements.join("; "))
                }
            )),
            "storing the answer".into(),
        ),
    }
}

/// Renders a record as text: the finding, its evidence lines, then what it cost.
pub fn record(r: &AnalysisRecord) -> String {
    let mut s = String::new();
    let Some(f) = &r.finding else {
        let _ = writeln!(s, "No answer: {}", r.error.as_deref().unwrap_or(&r.status));
        return s;
    };
    if let Some(cause) = &f.cause {
        let detail = f.diagnosis.detail.as_deref().map(|d| format!(" ({d})"));
        let _ = writeln!(s, "Cause:       {cause}{}", detail.unwrap_or_default());
    }
    let _ = writeln!(s, "Root cause:  {}", f.diagnosis.root_cause);
    let _ = writeln!(
        s,
        "Severity:    {}    Component: {}    Confidence: {:.0}%",
        f.diagnosis.severity,
        f.diagnosis.component,
        f.confidence * 100.0
    );
    let _ = writeln!(s, "Signature:   {}", f.diagnosis.error_signature);
    let _ = writeln!(s, "Summary:     {}", f.diagnosis.summary);
    let _ = writeln!(s, "Action:      {}", f.diagnosis.action);
    if f.evidence.is_empty() {
        let _ = writeln!(s, "Evidence:    none cited");
    } else {
        let _ = writeln!(s, "Evidence:");
    }
    evidence_lines(&mut s, &f.evidence);
    if let Some(d) = &r.details {
        run_details(&mut s, d);
    }
    let _ = writeln!(
        s,
        "\n{} pipeline · {} lines sent ({} matched) · model {} · prompt {} · {} call(s), {} tokens in, {} out, {:.0} tok/s · {:.1}s ({:.1}s in the model) · id {}",
        r.pipeline,
        r.retrieved.len(),
        r.matched_lines,
        r.model,
        r.prompt_version,
        r.model_calls,
        r.prompt_tokens,
        r.completion_tokens,
        r.tokens_per_second,
        r.latency_ms / 1000.0,
        r.model_ms / 1000.0,
        r.id
    );
    if let Some(t) = &r.trace_id {
        let _ = writeln!(s, "Every step of this run: loglens trace {t}");
    }
    s
}

/// The cited lines: number, origin, time and stream, then the text (cut at 240 chars).
fn evidence_lines(s: &mut String, evidence: &[loglens_agents::LineRef]) {
    for l in evidence {
        let time = l
            .timestamp
            .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        let stream = ["pod", "container", "app"]
            .iter()
            .find_map(|k| l.labels.get(*k))
            .map_or("", String::as_str);
        let text: String = l.text.chars().take(240).collect();
        let more = if l.text.chars().count() > 240 {
            "…"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  [{}] {}:{}  {}  {}",
            l.n, l.source, l.line_no, time, stream
        );
        let _ = writeln!(s, "      {text}{more}");
    }
}

/// What the stored details say about the run: its path (and why no tool rounds), lines
/// withheld as addressed to the model, the retrieval's note, the specialists'
/// disagreements.
fn run_details(s: &mut String, d: &serde_json::Value) {
    if let Some(path) = d["path"].as_array() {
        let steps: Vec<String> = path
            .iter()
            .map(|p| {
                let stage = p["stage"].as_str().unwrap_or("?");
                match p["status"].as_str() {
                    Some("ran") => stage.to_string(),
                    Some(other) => format!("{stage} ({other})"),
                    None => stage.to_string(),
                }
            })
            .collect();
        let _ = writeln!(s, "Path:        {}", steps.join(" → "));
        // Said once: the specialists answered without tool rounds, and why.
        if let Some(note) = path
            .iter()
            .filter_map(|p| p["note"].as_str())
            .find_map(|n| n.split_once("no tool rounds").map(|(_, why)| why))
        {
            let _ = writeln!(s, "Tools:       no tool rounds{note}");
        }
    }
    if let Some(w) = d["withheld"].as_array()
        && !w.is_empty()
    {
        let _ = writeln!(
            s,
            "Withheld:    {} line(s) that address the model were kept from it and from the answer:",
            w.len()
        );
        for x in w.iter().take(5) {
            let _ = writeln!(
                s,
                "  {}:{} ({}): {}",
                x["source"].as_str().unwrap_or("?"),
                x["line_no"],
                x["reason"].as_str().unwrap_or("?"),
                x["text"].as_str().unwrap_or_default()
            );
        }
    }
    if let Some(note) = d["retrieval"]["note"].as_str() {
        let _ = writeln!(s, "Retrieval:   {note}");
    }
    if let Some(dis) = d["consensus"]["disagreements"].as_array()
        && !dis.is_empty()
    {
        let _ = writeln!(s, "Disagreed:");
        for x in dis {
            let _ = writeln!(s, "  {}", x.as_str().unwrap_or_default());
        }
    }
}
