//! `loglens trace ID`: a stored run, step by step, from the spans kept in the database.
//!
//! This is agent-trace review without Tempo: which route was chosen, what was retrieved,
//! which tools each specialist called with which arguments, what each model call cost in
//! tokens and time, how consensus voted. The same spans are in Tempo when an OTLP endpoint
//! is configured; the trace id is the same in both.
use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;

use crate::config::Config;
use crate::option_groups::StoreArgs;
use crate::store::Store;
use crate::telemetry::span_store::SpanRow;
use clap::Args;

/// Attributes shown on a span's line, with the short name they are shown under.
const SHOWN: &[(&str, &str)] = &[
    ("http.response.status_code", "status"),
    ("loglens.status", "status"),
    ("loglens.route.retrieval", "retrieval"),
    ("loglens.route.specialists", "specialists"),
    ("loglens.route.decided_by", "by"),
    ("loglens.retrieval.lines", "lines"),
    ("loglens.retrieval.events", "events"),
    ("loglens.evidence.candidates", "candidates"),
    ("loglens.evidence.patterns", "patterns"),
    ("loglens.evidence.lines_shown", "shown"),
    ("loglens.schema", "schema"),
    ("loglens.attempt", "attempt"),
    ("gen_ai.usage.input_tokens", "in"),
    ("gen_ai.usage.output_tokens", "out"),
    ("loglens.tokens_per_second", "tok/s"),
    ("gen_ai.response.finish_reasons", "finish"),
    ("loglens.tool.status", "status"),
    ("loglens.tool.result_bytes", "bytes"),
    ("gen_ai.tool.call.arguments", "args"),
    ("loglens.tool_calls", "tool_calls"),
    ("loglens.fallback", "fallback"),
    ("loglens.finding.root_cause", "answer"),
    ("loglens.consensus.agreement", "agreement"),
    ("loglens.consensus.root_cause", "answer"),
    ("error.type", "error"),
];

/// Runs `loglens trace`.
pub async fn trace(config: &Config, args: TraceArgs) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url).await?;
    let id = args.id.trim().to_ascii_lowercase();
    let (trace_id, analysis) = if is_trace_id(&id) {
        (id.clone(), store.analysis_by_trace(&id).await?)
    } else {
        match store.get(&args.id).await? {
            Some(a) => match a.trace_id.clone() {
                Some(t) => (t, Some(a)),
                None => bail!(
                    "analysis {} was not traced (it ran before traces were kept)",
                    a.id
                ),
            },
            None => bail!(
                "{:?} is neither a trace id (32 hex digits) nor a stored analysis id",
                args.id
            ),
        }
    };
    let spans = store.spans(&trace_id).await?;
    if spans.is_empty() {
        bail!(
            "no spans stored for trace {trace_id} in {}",
            config.database_url
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&spans)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("trace {trace_id}");
    if let Some(a) = &analysis {
        println!(
            "analysis {} · {} · {} · {:?}",
            a.id,
            a.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            a.status,
            a.question
        );
    }
    print!("{}", tree(&spans));
    Ok(ExitCode::SUCCESS)
}

fn is_trace_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The spans as an indented tree, children in start order; a span whose parent is not
/// stored is shown as a root.
pub fn tree(spans: &[SpanRow]) -> String {
    let ids: std::collections::HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: BTreeMap<Option<&str>, Vec<&SpanRow>> = BTreeMap::new();
    for s in spans {
        let parent = s.parent_span_id.as_deref().filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(s);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| (s.start_unix_ns, s.span_id.clone()));
    }
    let mut out = String::new();
    let roots = children.get(&None).cloned().unwrap_or_default();
    for root in roots {
        out.push_str(&line(root));
        out.push('\n');
        walk(root, &children, "", &mut out);
    }
    out
}

fn walk(
    span: &SpanRow,
    children: &BTreeMap<Option<&str>, Vec<&SpanRow>>,
    prefix: &str,
    out: &mut String,
) {
    let Some(kids) = children.get(&Some(span.span_id.as_str())) else {
        return;
    };
    for (i, kid) in kids.iter().enumerate() {
        let last = i + 1 == kids.len();
        out.push_str(prefix);
        out.push_str(if last { "└─ " } else { "├─ " });
        out.push_str(&line(kid));
        out.push('\n');
        let deeper = format!("{prefix}{}", if last { "   " } else { "│  " });
        walk(kid, children, &deeper, out);
    }
}

fn line(s: &SpanRow) -> String {
    let mut parts = vec![s.name.clone(), duration(s.duration_ms())];
    for (key, short) in SHOWN {
        if let Some(v) = s.attributes.get(*key) {
            let text = match v {
                serde_json::Value::String(t) => t.clone(),
                serde_json::Value::Number(n) if n.is_f64() => {
                    format!("{:.2}", n.as_f64().unwrap_or_default())
                }
                other => other.to_string(),
            };
            if !text.is_empty() {
                parts.push(format!("{short}={text}"));
            }
        }
    }
    if s.status.starts_with("error") {
        parts.push(s.status.clone());
    }
    parts.join("  ")
}

fn duration(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(
        id: u64,
        parent: Option<u64>,
        start: i64,
        name: &str,
        attrs: serde_json::Value,
    ) -> SpanRow {
        SpanRow {
            trace_id: "a".repeat(32),
            span_id: format!("{id:016x}"),
            parent_span_id: parent.map(|p| format!("{p:016x}")),
            name: name.into(),
            kind: "internal".into(),
            start_unix_ns: start,
            end_unix_ns: start + 1_500_000,
            status: "unset".into(),
            attributes: attrs,
        }
    }

    #[test]
    fn tree_nests_children_in_start_order_and_shows_key_attributes() {
        let spans = vec![
            span(
                3,
                Some(1),
                30,
                "consensus",
                serde_json::json!({"loglens.consensus.agreement": 1.0}),
            ),
            span(1, None, 0, "invoke_agent loglens", serde_json::json!({})),
            span(2, Some(1), 10, "invoke_agent infra", serde_json::json!({})),
            span(
                4,
                Some(2),
                11,
                "chat m",
                serde_json::json!({"gen_ai.usage.input_tokens": 812, "gen_ai.usage.output_tokens": 40}),
            ),
            span(
                5,
                Some(2),
                12,
                "execute_tool logql_query",
                serde_json::json!({"gen_ai.tool.call.arguments": "{\"query\":\"{app=\\\"x\\\"}\"}", "loglens.tool.status": "ok"}),
            ),
            // Parent not stored: shown as a root, not lost.
            span(9, Some(77), 50, "orphan", serde_json::json!({})),
        ];
        let t = tree(&spans);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 6, "{t}");
        assert!(lines[0].starts_with("invoke_agent loglens  1.5 ms"), "{t}");
        assert!(lines[1].starts_with("├─ invoke_agent infra"), "{t}");
        assert!(
            lines[2].starts_with("│  ├─ chat m") && lines[2].contains("in=812  out=40"),
            "{t}"
        );
        assert!(
            lines[3].starts_with("│  └─ execute_tool logql_query")
                && lines[3].contains("status=ok")
                && lines[3].contains("args={\"query\""),
            "{t}"
        );
        assert!(
            lines[4].starts_with("└─ consensus") && lines[4].contains("agreement=1.00"),
            "{t}"
        );
        assert!(lines[5].starts_with("orphan"), "{t}");
    }

    #[test]
    fn ids_are_told_apart() {
        assert!(is_trace_id("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(!is_trace_id("7c0e2a4e-1b7f-4a43-9f57-0a5d2c1e9b11"));
        assert!(!is_trace_id("4bf92f3577b34da6a3ce929d0e0e473z"));
    }
}

/// `loglens trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// A trace id (32 hex digits) or an analysis id.
    pub id: String,
    /// Print the spans as JSON instead of a tree.
    #[arg(long)]
    pub json: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}
