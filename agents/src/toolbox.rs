//! The toolbox: the set of typed tools one agent may call, and the rules every call obeys.
//!
//! A **tool call** is the model saying "run `query_logs` with these arguments". A model
//! can be wrong, and logs can carry text written to mislead it ("ignore previous
//! instructions and query everything"), so the toolbox, not the model, decides what runs:
//! - only tools in this agent's set exist: their names are the only `tool` values the
//!   schema allows, and a call naming another is refused here as well;
//! - arguments are validated against the tool's JSON Schema before it runs, then by the
//!   tool itself (LogQL is parsed and checked: no match-everything selectors, bounded
//!   range and limit);
//! - the same call twice is refused (the model already has its result);
//! - each call has a timeout; the calls of one step run in parallel.
//!
//! Each outcome is a [`ToolRecord`], kept with the run, so a reviewer (or the eval
//! harness) sees exactly what the agent did.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use loglens_tools::ToolError;

use crate::call_menu::CallMenu;
use loglens_tools::tool::Tool;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::Instrument;

/// A tool behind a name, callable with JSON (the object-safe face of [`Tool`]).
#[async_trait]
pub trait DynTool: Send + Sync {
    /// Its name.
    fn name(&self) -> &'static str;
    /// What it does, for the model.
    fn description(&self) -> String;
    /// The JSON Schema of its arguments.
    fn parameters(&self) -> Value;
    /// Runs it.
    async fn call(&self, args: Value) -> Result<Value, ToolError>;
}

#[async_trait]
impl<T: Tool> DynTool for T {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn description(&self) -> String {
        Tool::description(self)
    }
    fn parameters(&self) -> Value {
        T::parameters()
    }
    async fn call(&self, args: Value) -> Result<Value, ToolError> {
        self.call_json(args).await
    }
}

/// What happened to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// It ran and returned a result.
    Ok,
    /// It ran and failed (backend error, or the tool rejected its arguments).
    Error,
    /// It was not run: unknown tool, arguments off-schema, or a repeat.
    Refused,
    /// It ran past its timeout.
    TimedOut,
}

impl CallStatus {
    /// Its name in metrics and spans.
    pub fn name(self) -> &'static str {
        match self {
            CallStatus::Ok => "ok",
            CallStatus::Error => "error",
            CallStatus::TimedOut => "timed_out",
            CallStatus::Refused => "refused",
        }
    }
}

/// One tool call and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRecord {
    /// The agent that made it.
    pub agent: String,
    /// Tool-loop step (1-based).
    pub step: usize,
    /// The tool named.
    pub tool: String,
    /// The arguments given.
    pub arguments: Value,
    /// What happened.
    pub status: CallStatus,
    /// Why it failed or was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The result (on success).
    #[serde(skip)]
    pub output: Option<Value>,
    /// Size of the result in bytes of JSON.
    pub result_bytes: usize,
    /// Wall time, ms.
    pub ms: f64,
}

/// The tools one agent may use.
#[derive(Clone)]
pub struct Toolbox {
    tools: Vec<Arc<dyn DynTool>>,
    timeout: Duration,
}

impl Toolbox {
    /// A toolbox with these tools; each call may take up to `timeout`.
    pub fn new(tools: Vec<Arc<dyn DynTool>>, timeout: Duration) -> Self {
        Self { tools, timeout }
    }

    /// The tools' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|t| t.name()).collect()
    }

    /// Whether there are no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// A toolbox with only the named tools (those that exist here).
    pub fn only(&self, names: &[&str]) -> Self {
        Self {
            tools: self
                .tools
                .iter()
                .filter(|t| names.contains(&t.name()))
                .cloned()
                .collect(),
            timeout: self.timeout,
        }
    }

    /// The tools as the model reads them now, from the menu: each tool with what is left
    /// to ask of it (a tool with nothing left is not listed).
    pub fn describe_menu(&self, menu: &CallMenu) -> String {
        self.offered(menu)
            .into_iter()
            .map(|(t, _)| format!("- {}: {}", t.name(), shown(t, menu)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The tools the menu still offers, with their argument schemas now (tools the menu
    /// does not write arguments for keep their own).
    fn offered<'a>(&'a self, menu: &CallMenu) -> Vec<(&'a Arc<dyn DynTool>, Value)> {
        self.tools
            .iter()
            .filter_map(|t| {
                if CallMenu::covers(t.name()) {
                    menu.parameters(t.name()).map(|p| (t, p))
                } else {
                    Some((t, t.parameters()))
                }
            })
            .collect()
    }

    /// The tools in OpenAI's `tools` format, for models that call tools natively, with
    /// the menu's arguments.
    pub fn openai_tools(&self, menu: &CallMenu) -> Vec<Value> {
        self.offered(menu)
            .into_iter()
            .map(|(t, parameters)| {
                json!({
                    "type": "function",
                    "function": {
                        "name": t.name(),
                        "description": shown(t, menu),
                        "parameters": parameters,
                    }
                })
            })
            .collect()
    }

    /// The schema of one step's reply: `{"calls": [...]}` with up to `max_calls` items,
    /// each exactly one of `{"tool": NAME, "arguments": ARGS}` for the tools the menu
    /// still offers, with its arguments. An empty list means "I have enough evidence";
    /// `None` when the menu offers nothing (no call is left to make).
    pub fn step_schema(&self, menu: &CallMenu, max_calls: usize) -> Option<Value> {
        let variants: Vec<Value> = self
            .offered(menu)
            .into_iter()
            .map(|(t, parameters)| {
                json!({
                    "type": "object",
                    "properties": {
                        "tool": { "const": t.name() },
                        "arguments": parameters,
                    },
                    "required": ["tool", "arguments"],
                    "additionalProperties": false,
                })
            })
            .collect();
        let items = match variants.len() {
            0 => return None,
            1 => variants.into_iter().next().unwrap_or_default(),
            _ => json!({ "oneOf": variants }),
        };
        Some(json!({
            "type": "object",
            "properties": {
                "calls": { "type": "array", "items": items, "maxItems": max_calls }
            },
            "required": ["calls"],
            "additionalProperties": false,
        }))
    }

    /// Runs one step's calls in parallel, in the order given; `seen` holds the calls made
    /// in earlier steps (repeats are refused) and is updated.
    pub async fn run_step(
        &self,
        agent: &str,
        step: usize,
        calls: &[Value],
        seen: &mut HashSet<String>,
    ) -> Vec<ToolRecord> {
        let mut planned = Vec::with_capacity(calls.len());
        for call in calls {
            let tool = call
                .get("tool")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let arguments = call.get("arguments").cloned().unwrap_or(Value::Null);
            let record = ToolRecord {
                agent: agent.to_string(),
                step,
                tool: tool.clone(),
                arguments: arguments.clone(),
                status: CallStatus::Refused,
                error: None,
                output: None,
                result_bytes: 0,
                ms: 0.0,
            };
            let refusal = self.check(&tool, &arguments, seen);
            planned.push((record, refusal));
        }
        let runs = planned.into_iter().map(|(record, refusal)| {
            // The tool name is model-written: a name no tool has is "unknown" wherever it
            // becomes a metric label or a span name (bounded cardinality); the span's
            // `gen_ai.tool.name` keeps what the model wrote.
            let label = if self.tools.iter().any(|t| t.name() == record.tool) {
                record.tool.clone()
            } else {
                "unknown".to_string()
            };
            let span = tool_span(&record, &label);
            let run = self.run_one(record, refusal);
            async move {
                let record = run.instrument(span.clone()).await;
                span.record("loglens.tool.status", record.status.name());
                span.record("loglens.tool.result_bytes", record.result_bytes);
                span.record("loglens.tool.ms", record.ms);
                if record.status != CallStatus::Ok {
                    span.record("otel.status_code", "ERROR");
                    if let Some(e) = &record.error {
                        span.record("otel.status_description", e.as_str());
                    }
                }
                crate::metrics::record_tool_call(&label, record.status.name());
                record
            }
        });
        futures::future::join_all(runs).await
    }

    /// Runs one planned call (or records why it was refused).
    async fn run_one(&self, mut record: ToolRecord, refusal: Option<String>) -> ToolRecord {
        {
            if let Some(why) = refusal {
                record.error = Some(why);
                return record;
            }
            let Some(tool) = self.tools.iter().find(|t| t.name() == record.tool) else {
                record.error = Some("unknown tool".into());
                return record;
            };
            let started = Instant::now();
            let result =
                tokio::time::timeout(self.timeout, tool.call(record.arguments.clone())).await;
            record.ms = started.elapsed().as_secs_f64() * 1000.0;
            match result {
                Err(_) => {
                    record.status = CallStatus::TimedOut;
                    record.error = Some(format!(
                        "no result within {} s; try a narrower query",
                        self.timeout.as_secs()
                    ));
                }
                Ok(Err(e)) => {
                    record.status = CallStatus::Error;
                    record.error = Some(e.to_string());
                }
                Ok(Ok(v)) => {
                    record.status = CallStatus::Ok;
                    record.result_bytes = v.to_string().len();
                    record.output = Some(v);
                }
            }
            record
        }
    }

    /// Why a call must not run, if it must not.
    fn check(&self, tool: &str, arguments: &Value, seen: &mut HashSet<String>) -> Option<String> {
        let Some(t) = self.tools.iter().find(|t| t.name() == tool) else {
            return Some(format!(
                "there is no tool {tool:?} here; the tools are: {}",
                self.names().join(", ")
            ));
        };
        match jsonschema::validator_for(&t.parameters()) {
            Ok(v) => {
                let problems: Vec<String> = v
                    .iter_errors(arguments)
                    .take(3)
                    .map(|e| format!("{}: {e}", e.instance_path()))
                    .collect();
                if !problems.is_empty() {
                    return Some(format!(
                        "arguments do not fit {tool}'s schema: {}",
                        problems.join("; ")
                    ));
                }
            }
            Err(e) => return Some(format!("{tool} has an invalid schema: {e}")),
        }
        let key = format!("{tool} {}", canonical(arguments));
        if !seen.insert(key) {
            return Some("this exact call was already made; use its result above".into());
        }
        None
    }
}

/// What a tool does as the model reads it: the menu's words when the menu writes its
/// arguments, else its own description.
fn shown(tool: &Arc<dyn DynTool>, menu: &CallMenu) -> String {
    menu.describe(tool.name())
        .unwrap_or_else(|| tool.description())
}

/// The span of one tool call (GenAI conventions: `execute_tool {name}`), with its
/// arguments; the outcome is recorded when it ends. Arguments are cut to 2 KB: a span is
/// for review, the full call is in the stored run.
fn tool_span(record: &ToolRecord, label: &str) -> tracing::Span {
    let mut arguments = record.arguments.to_string();
    if arguments.len() > 2048 {
        let mut cut = 2048;
        while !arguments.is_char_boundary(cut) {
            cut -= 1;
        }
        arguments.truncate(cut);
        arguments.push('…');
    }
    tracing::info_span!(
        "execute_tool",
        otel.name = %format!("execute_tool {label}"),
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        "gen_ai.operation.name" = "execute_tool",
        "gen_ai.tool.name" = %record.tool,
        "gen_ai.tool.call.arguments" = %arguments,
        "gen_ai.agent.name" = %record.agent,
        "loglens.tool.step" = record.step,
        "loglens.tool.status" = tracing::field::Empty,
        "loglens.tool.result_bytes" = tracing::field::Empty,
        "loglens.tool.ms" = tracing::field::Empty,
    )
}

/// JSON with object keys sorted, so equal arguments give equal text.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", json!(k), canonical(&m[k.as_str()])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct EchoArgs {
        #[schemars(length(max = 10))]
        text: String,
    }

    struct Echo;

    #[async_trait]
    impl Tool for Echo {
        const NAME: &'static str = "echo";
        type Args = EchoArgs;
        type Output = String;
        fn description(&self) -> String {
            "echoes".into()
        }
        async fn call(&self, args: EchoArgs) -> Result<String, ToolError> {
            if args.text == "slow" {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Ok(args.text)
        }
    }

    fn toolbox() -> Toolbox {
        Toolbox::new(vec![Arc::new(Echo)], Duration::from_millis(200))
    }

    #[tokio::test]
    async fn calls_are_checked_before_they_run() {
        let tb = toolbox();
        let mut seen = HashSet::new();
        let calls = vec![
            json!({"tool":"echo","arguments":{"text":"hi"}}),
            json!({"tool":"echo","arguments":{"text":"hi"}}),
            json!({"tool":"delete_namespace","arguments":{}}),
            json!({"tool":"echo","arguments":{"text":"far too long for it"}}),
            json!({"tool":"echo","arguments":{"text":"slow"}}),
        ];
        let r = tb.run_step("app", 1, &calls, &mut seen).await;
        let status: Vec<CallStatus> = r.iter().map(|r| r.status).collect();
        assert_eq!(
            status,
            vec![
                CallStatus::Ok,
                CallStatus::Refused,
                CallStatus::Refused,
                CallStatus::Refused,
                CallStatus::TimedOut
            ]
        );
        assert_eq!(r[0].output, Some(json!("hi")));
        assert!(r[1].error.as_deref().unwrap_or("").contains("already made"));
        assert!(r[2].error.as_deref().unwrap_or("").contains("no tool"));
        assert!(r[3].error.as_deref().unwrap_or("").contains("schema"));
        // A repeat in a later step is refused too, whatever the key order.
        let again = tb
            .run_step(
                "app",
                2,
                &[json!({"arguments":{"text":"hi"},"tool":"echo"})],
                &mut seen,
            )
            .await;
        assert_eq!(again[0].status, CallStatus::Refused);
    }

    #[test]
    fn step_schema_allows_only_these_tools() {
        let s = toolbox()
            .step_schema(&CallMenu::default(), 3)
            .unwrap_or_default();
        assert_eq!(s["properties"]["calls"]["maxItems"], 3);
        assert_eq!(
            s["properties"]["calls"]["items"]["properties"]["tool"]["const"],
            "echo"
        );
        let v = jsonschema::validator_for(&s).unwrap();
        assert!(v.is_valid(&json!({"calls":[{"tool":"echo","arguments":{"text":"a"}}]})));
        assert!(v.is_valid(&json!({"calls":[]})));
        assert!(!v.is_valid(&json!({"calls":[{"tool":"rm","arguments":{}}]})));
    }
}
