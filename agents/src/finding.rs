//! The extraction schema.
//!
//! A **schema** is the contract between loglens and the model: the model may only write
//! JSON that matches it, and llama.cpp enforces that while it samples (the schema becomes
//! a grammar). Two types live here:
//! - [`ModelFinding`], what the model writes. Its evidence is a list of line numbers from
//!   the prompt, bounded by how many lines were sent, so the model cannot cite a line that
//!   does not exist. Every string has a `maxLength` (884 characters in all), and the reply's
//!   token limit (1024) is above that sum, so a small model cannot run on until the limit
//!   cuts its JSON in half.
//! - [`Finding`], what loglens returns: the same fields, with each evidence number
//!   resolved to the exact log line (source, line number, time, text).
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How bad it is, ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Worth knowing, nothing is broken.
    Info,
    /// Degraded or at risk.
    Warn,
    /// Something is failing.
    Error,
    /// An outage or data loss.
    Critical,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Critical => "CRITICAL",
        })
    }
}

/// Most evidence lines a finding may cite.
pub const MAX_EVIDENCE: usize = 8;

/// The JSON the model writes. Fields are in the order the model writes them: evidence
/// first, so it picks the lines before it explains them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelFinding {
    /// Numbers of the log lines (as numbered in the prompt) that show the problem.
    #[schemars(length(min = 1, max = 8))]
    pub evidence: Vec<u32>,
    /// The failing message with ids and numbers left out, e.g. "connection refused to redis".
    #[schemars(length(min = 1, max = 120))]
    pub error_signature: String,
    /// The service, pod or part of the system at fault.
    #[schemars(length(min = 1, max = 64))]
    pub component: String,
    /// Why it happens, in one sentence.
    #[schemars(length(min = 1, max = 200))]
    pub root_cause: String,
    /// How bad it is.
    pub severity: Severity,
    /// What is going on, in two or three sentences.
    #[schemars(length(min = 1, max = 300))]
    pub summary: String,
    /// What to do next.
    #[schemars(length(min = 1, max = 200))]
    pub action: String,
    /// How sure, 0 to 100.
    #[schemars(range(min = 0, max = 100))]
    pub confidence: u8,
}

/// The schema the specialists answer in, built from the evidence: `cause` is one of the
/// candidate signatures or `other`, and `component` one of the components seen (free text
/// when none was seen). Otherwise [`finding_schema`].
pub fn evidence_schema(lines: usize, causes: &[String], components: &[String]) -> Value {
    let base = finding_schema(lines);
    let mut props = serde_json::Map::new();
    let mut choices: Vec<Value> = causes.iter().map(|c| json!(c)).collect();
    choices.push(json!("other"));
    props.insert("cause".into(), json!({ "enum": choices }));
    if let Some(p) = base["properties"].as_object() {
        for (k, v) in p {
            props.insert(k.clone(), v.clone());
        }
    }
    if !components.is_empty() {
        props.insert("component".into(), json!({ "enum": components }));
    }
    let mut required: Vec<Value> = vec![json!("cause")];
    required.extend(base["required"].as_array().cloned().unwrap_or_default());
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// The fields a model fills in [`AnswerMode::Choose`](crate::specialist::AnswerMode):
/// the choices, not the prose.
pub const CHOICE_FIELDS: &[&str] = &["cause", "evidence", "component", "severity", "confidence"];

/// [`evidence_schema`] cut down to [`CHOICE_FIELDS`]: the model picks the cause, the
/// lines, the component and the severity; loglens words the rest from what it picked
/// ([`crate::wording`]). A choice is a few dozen tokens where a full finding is hundreds,
/// which is what a small model on a CPU can afford, and it cannot write a wrong sentence.
///
/// `severities` bounds the severities offered: a model that only chooses may not rate
/// the problem above what the evidence itself states (its lines' levels and the candidate
/// signatures' severities), so a window of informational lines cannot be called an
/// outage, nor below what it shows (the top candidate's severity), so a log line that
/// asks for a lower severity cannot get it.
pub fn choice_schema(
    lines: usize,
    causes: &[String],
    components: &[String],
    severities: &std::ops::RangeInclusive<Severity>,
) -> Value {
    let mut schema = evidence_schema(lines, causes, components);
    if let Some(props) = schema["properties"].as_object_mut() {
        props.retain(|k, _| CHOICE_FIELDS.contains(&k.as_str()));
        let allowed: Vec<Value> = [
            Severity::Info,
            Severity::Warn,
            Severity::Error,
            Severity::Critical,
        ]
        .into_iter()
        .filter(|s| severities.contains(s))
        .map(|s| json!(s.to_string()))
        .collect();
        props.insert("severity".into(), json!({ "enum": allowed }));
    }
    if let Some(required) = schema["required"].as_array_mut() {
        required.retain(|k| k.as_str().is_some_and(|k| CHOICE_FIELDS.contains(&k)));
    }
    schema
}

/// What a model writes in [`AnswerMode::Choose`](crate::specialist::AnswerMode).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    /// A candidate signature's id, or `other`.
    pub cause: String,
    /// Numbers of the lines that show it.
    pub evidence: Vec<u32>,
    /// The component at fault.
    pub component: String,
    /// How bad it is.
    pub severity: Severity,
    /// How sure, 0 to 100.
    pub confidence: u8,
}

/// The schema sent to the model for a prompt holding `lines` numbered log lines: evidence
/// items are integers from 1 to `lines`.
pub fn finding_schema(lines: usize) -> Value {
    let settings =
        schemars::generate::SchemaSettings::draft07().with(|s| s.inline_subschemas = true);
    let schema = settings
        .into_generator()
        .into_root_schema_for::<ModelFinding>();
    let mut v = schema.to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
        obj.remove("description");
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    let lines = lines.max(1);
    v["properties"]["evidence"] = json!({
        "type": "array",
        "items": { "type": "integer", "minimum": 1, "maximum": lines },
        "minItems": 1,
        "maxItems": MAX_EVIDENCE.min(lines),
    });
    v["properties"]["confidence"] = json!({ "type": "integer", "minimum": 0, "maximum": 100 });
    v
}

/// A log line as loglens shows and stores it: where it is, and what it said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineRef {
    /// Its number in the prompt (1-based), which the model cites.
    pub n: usize,
    /// File path or Loki stream it came from.
    pub source: String,
    /// 1-based line number in that source.
    pub line_no: u64,
    /// Its time, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
    /// Its labels (namespace, pod, container, node, ...).
    pub labels: BTreeMap<String, String>,
    /// The text as sent to the model (secrets masked, overlong lines clipped).
    pub text: String,
    /// How many similar lines were collapsed into this one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub similar: usize,
    /// Why hybrid retrieval chose it (recency, meaning, or both); absent for lines chosen
    /// by time alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<crate::retrieval::Chosen>,
}

#[cfg(test)]
impl LineRef {
    /// Line `n` of `f.log` with this text, for tests.
    pub(crate) fn numbered(n: usize, text: &str) -> Self {
        Self {
            n,
            source: "f.log".into(),
            line_no: n as u64,
            timestamp: None,
            labels: Default::default(),
            text: text.into(),
            similar: 0,
            why: None,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What is wrong, why, and what to do: the fields an answer ([`Finding`]) and a golden
/// case's label (`Expected` in `evals/src/case.rs`) share, declared once. Both flatten
/// it, so their JSON keeps these fields at the top level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Diagnosis {
    /// Why it happens.
    pub root_cause: String,
    /// How bad it is.
    pub severity: Severity,
    /// The part of the system at fault.
    pub component: String,
    /// Which kind of the cause the evidence shows (`untolerated_taint` under
    /// `scheduling_failure`), when the signature library names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The failing message, normalized.
    pub error_signature: String,
    /// What is going on.
    pub summary: String,
    /// What to do next.
    pub action: String,
}

/// The answer: what is wrong, why, what to do, and the exact lines that show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// The known failure signature chosen as the cause (`oom_killed`, ...), or `other`;
    /// absent for the baseline analysis, which has no candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// What is wrong, why, and what to do.
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
    /// The lines the answer rests on, in prompt order.
    pub evidence: Vec<LineRef>,
    /// How sure, 0.0 to 1.0.
    pub confidence: f32,
}

impl Finding {
    /// Resolves the model's line numbers against the lines that were sent. Numbers out of
    /// range (impossible under the schema, but the schema is not trusted) and repeats are
    /// dropped.
    pub fn resolve(model: ModelFinding, sent: &[LineRef]) -> Self {
        let evidence = resolve_lines(&model.evidence, sent);
        Self {
            cause: None,
            diagnosis: Diagnosis {
                root_cause: model.root_cause,
                severity: model.severity,
                component: model.component,
                detail: None,
                error_signature: model.error_signature,
                summary: model.summary,
                action: model.action,
            },
            evidence,
            confidence: f32::from(model.confidence.min(100)) / 100.0,
        }
    }
}

/// The lines that cited numbers stand for, in line order, each once; numbers of lines
/// that were not sent are dropped.
pub fn resolve_lines(numbers: &[u32], sent: &[LineRef]) -> Vec<LineRef> {
    resolve_first_lines(numbers, sent, usize::MAX)
}

/// [`resolve_lines`] keeping at most `most` lines, the first in `numbers`' order (so what
/// comes first is never cut for what comes after), then in prompt order.
pub fn resolve_first_lines(numbers: &[u32], sent: &[LineRef], most: usize) -> Vec<LineRef> {
    let mut evidence: Vec<LineRef> = Vec::new();
    for n in numbers {
        if evidence.len() >= most {
            break;
        }
        if let Some(line) = sent.iter().find(|l| l.n == *n as usize)
            && !evidence.iter().any(|e| e.n == line.n)
        {
            evidence.push(line.clone());
        }
    }
    evidence.sort_by_key(|l| l.n);
    evidence
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_offers_only_the_choices_and_the_severities_the_evidence_supports() {
        let causes = vec!["oom_killed".to_string()];
        let components = vec!["cart".to_string()];
        let s = choice_schema(4, &causes, &components, &(Severity::Info..=Severity::Warn));
        let props: Vec<&String> = s["properties"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        assert_eq!(props.len(), CHOICE_FIELDS.len());
        assert!(props.iter().all(|k| CHOICE_FIELDS.contains(&k.as_str())));
        assert_eq!(s["properties"]["severity"]["enum"], json!(["INFO", "WARN"]));
        assert_eq!(
            s["properties"]["cause"]["enum"],
            json!(["oom_killed", "other"])
        );
        assert_eq!(s["properties"]["evidence"]["items"]["maximum"], 4);
        let s = choice_schema(
            4,
            &causes,
            &components,
            &(Severity::Error..=Severity::Error),
        );
        assert_eq!(s["properties"]["severity"]["enum"], json!(["ERROR"]));
        let s = choice_schema(
            4,
            &causes,
            &components,
            &(Severity::Info..=Severity::Critical),
        );
        assert_eq!(
            s["properties"]["severity"]["enum"],
            json!(["INFO", "WARN", "ERROR", "CRITICAL"])
        );
        // Every required field is offered.
        let required: Vec<&str> = s["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(required.len(), CHOICE_FIELDS.len());
    }

    #[test]
    fn schema_bounds_evidence_by_lines_sent() {
        let s = finding_schema(5);
        assert_eq!(s["properties"]["evidence"]["items"]["maximum"], 5);
        assert_eq!(s["properties"]["evidence"]["maxItems"], 5);
        assert_eq!(s["properties"]["root_cause"]["maxLength"], 200);
        let total: u64 = s["properties"]
            .as_object()
            .map(|p| p.values().filter_map(|v| v["maxLength"].as_u64()).sum())
            .unwrap_or(0);
        assert!(
            total + 140 <= u64::from(crate::llm::LlmConfig::default().max_tokens),
            "the default reply budget must cover every string at its longest ({total} chars)"
        );
        assert_eq!(s["additionalProperties"], false);
        let required: Vec<&str> = s["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(required.len(), 8);
        assert!(
            !s.to_string().contains("$ref"),
            "inlined for llama.cpp's grammar converter"
        );
    }

    #[test]
    fn schema_enforces_severity_enum_and_rejects_extra_fields() {
        let s = finding_schema(3);
        let v = jsonschema::validator_for(&s).unwrap_or_else(|_| unreachable!());
        let good = json!({"evidence":[1],"error_signature":"e","component":"c","root_cause":"r","severity":"ERROR","summary":"s","action":"a","confidence":50});
        assert!(v.is_valid(&good));
        let mut bad = good.clone();
        bad["severity"] = json!("BAD");
        assert!(!v.is_valid(&bad));
        let mut bad = good.clone();
        bad["evidence"] = json!([4]);
        assert!(!v.is_valid(&bad));
        let mut bad = good;
        bad["extra"] = json!(1);
        assert!(!v.is_valid(&bad));
    }

    #[test]
    fn resolve_maps_numbers_to_lines_and_drops_bad_ones() {
        let sent: Vec<LineRef> = (1..=3)
            .map(|n| LineRef {
                n,
                source: "f".into(),
                line_no: n as u64 * 10,
                timestamp: None,
                labels: BTreeMap::new(),
                text: format!("l{n}"),
                similar: 0,
                why: None,
            })
            .collect();
        let m = ModelFinding {
            evidence: vec![3, 1, 3, 9],
            error_signature: "e".into(),
            component: "c".into(),
            root_cause: "r".into(),
            severity: Severity::Error,
            summary: "s".into(),
            action: "a".into(),
            confidence: 80,
        };
        let f = Finding::resolve(m, &sent);
        let lines: Vec<u64> = f.evidence.iter().map(|l| l.line_no).collect();
        assert_eq!(lines, vec![10, 30]);
        assert!((f.confidence - 0.8).abs() < 1e-6);
    }
}
