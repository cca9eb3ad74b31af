//! The router agent: how to investigate a question.
//!
//! A **router** decides, before any evidence is read, which retrieval to use and which
//! specialists to ask:
//! - **structured** retrieval (LogQL on Loki, or the same query over files) when the
//!   question names something a query can select: a pod, a namespace, a time window, an
//!   error; **hybrid** retrieval (vector search within a label and time pre-filter) when it
//!   is vague ("why is it slow?", "anything wrong?") and lines must be found by meaning;
//! - the **infra** specialist, the **app** specialist, or both.
//!
//! Cheap deterministic features come first ([`RouteFeatures`]): words and scope are
//! counted, and when they point one way the rules decide, at no model cost. Only when they
//! disagree (a vague question with a named pod; platform and application words alike) is
//! the model asked, with a schema whose fields are enums, so even a tiny model can only
//! pick a valid route. Every route records who decided and why.
use std::sync::LazyLock;

use loglens_tools::logs::Scope;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::evidence::Category;
use crate::llm::{CallOptions, ChatMessage, LlmClient, ModelCall};
use crate::prompts::{ROUTER, render};

/// Which retrieval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetrievalMode {
    /// LogQL (or the same filter over files).
    Structured,
    /// Label and time pre-filter, then vector search.
    Hybrid,
}

/// Which specialists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecialistChoice {
    /// The infra specialist only.
    Infra,
    /// The app specialist only.
    App,
    /// Both, in parallel.
    Both,
}

/// Who made the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecidedBy {
    /// The deterministic rules agreed.
    Rules,
    /// The rules disagreed and the model chose.
    Model,
    /// The rules disagreed and the model failed: the safe default (structured, both).
    Fallback,
}

/// What the rules saw in the question.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteFeatures {
    /// A namespace, pod, container or node was given, or the question names a pod.
    pub scoped: bool,
    /// A time window was given or the question names one.
    pub time_bounded: bool,
    /// The question names an error, status code or failure.
    pub specific_error: bool,
    /// The question is vague (slow, anything wrong, what happened).
    pub vague: bool,
    /// Platform words (node, OOM, probe, evicted, image, volume, DNS, ...).
    pub infra_terms: Vec<String>,
    /// Application words (exception, latency, database, request, 500, ...).
    pub app_terms: Vec<String>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Retrieval.
    pub retrieval: RetrievalMode,
    /// Specialists.
    pub specialists: SpecialistChoice,
    /// Why, in a sentence.
    pub reason: String,
    /// Who decided.
    pub decided_by: DecidedBy,
    /// What the rules saw.
    pub features: RouteFeatures,
}

impl Route {
    /// The rules' route for a question, or what the rules saw and why they disagree.
    pub fn by_rules(question: &str, scope: &Scope) -> Result<Route, (RouteFeatures, String)> {
        let f = features(question, scope);
        match decide_by_rules(&f) {
            Ok((retrieval, specialists, reason)) => Ok(Route {
                retrieval,
                specialists,
                reason,
                decided_by: DecidedBy::Rules,
                features: f,
            }),
            Err(conflict) => Err((f, conflict)),
        }
    }

    /// A question that names no side ("What is the root cause?") asks the side of the
    /// evidence's top candidate instead of both: a scheduling failure is the infra
    /// specialist's, a refused connection the app specialist's. Every candidate is still
    /// offered to that specialist (its own side's first), so the answer can be any of
    /// them; the run asks the model half as often. A route that named a side, or whose
    /// evidence has no candidate, stays as it is.
    pub fn side_from_evidence(mut self, top: Option<Category>) -> Self {
        let named = !(self.features.infra_terms.is_empty() && self.features.app_terms.is_empty());
        if named || self.specialists != SpecialistChoice::Both {
            return self;
        }
        let (choice, side) = match top {
            Some(Category::Infra) => (SpecialistChoice::Infra, "infra"),
            Some(Category::App) => (SpecialistChoice::App, "app"),
            None => return self,
        };
        self.specialists = choice;
        self.reason = self
            .reason
            .replace("no side named: ask both", "no side named");
        self.reason.push_str(&format!(
            "; the evidence's top candidate is {side}: ask {side}"
        ));
        self
    }
}

#[allow(clippy::expect_used)] // constant patterns, exercised by the tests
fn re(p: &str) -> Regex {
    Regex::new(p).expect("constant router pattern compiles")
}

static POD_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b[a-z0-9]+(?:-[a-z0-9]+)*-[a-z0-9]{6,10}-[a-z0-9]{5}\b|\b(?:pod|namespace|ns|container|node|deployment|service)[/ ]+[a-z0-9][a-z0-9.-]+",
    )
});
static WINDOW: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:last|past)\s+(?:\d+\s*)?(?:s|sec|seconds?|m|mins?|minutes?|h|hours?|d|days?|hour|day|week)\b|\bsince\s+\d|\bat\s+\d{1,2}:\d{2}|\b(?:yesterday|today|this morning|tonight|\d{4}-\d{2}-\d{2})\b",
    )
});
static ERROR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?i)\b(?:error|exception|fail(?:ed|ing|ure)?|crash\w*|refused|timeouts?|timed out|oom\w*|panic\w*|5\d\d|4\d\d|denied|unauthorized|forbidden|evicted|backoff|exit code \d+)\b|"[^"]{3,}""#,
    )
});
static VAGUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:slow\w*|sluggish|wrong|anything|something|what happened|issues?|problems?|healthy|weird|strange|off|degraded|acting up|broken)\b",
    )
});

const INFRA_TERMS: &[&str] = &[
    "node",
    "kubelet",
    "schedul",
    "pending",
    "evict",
    "oom",
    "memory",
    "disk",
    "pvc",
    "volume",
    "mount",
    "image",
    "pull",
    "probe",
    "liveness",
    "readiness",
    "restart",
    "crashloop",
    "dns",
    "network",
    "cni",
    "taint",
    "cordon",
    "cpu",
    "throttl",
    "quota",
    "storage",
    "certificate",
    "ingress",
    "gateway",
    "envoy",
    "replica",
];
const APP_TERMS: &[&str] = &[
    "exception",
    "latency",
    "slow",
    "5xx",
    "500",
    "502",
    "503",
    "504",
    "timeout",
    "database",
    "postgres",
    "mysql",
    "redis",
    "query",
    "request",
    "api",
    "endpoint",
    "http",
    "grpc",
    "pool",
    "deadlock",
    "stack",
    "panic",
    "null",
    "auth",
    "queue",
    "kafka",
    "cache",
    "upstream",
    "response",
    "sql",
];

/// A kind word before a name (`pod web-1`, `deployment checkout`).
static KIND_THEN_NAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:pod|deployment|deploy|service|svc|job|cronjob|statefulset|daemonset|replicaset|workload|app)[/ ]+`?([a-z0-9][a-z0-9.-]*[a-z0-9])",
    )
});

/// A Kubernetes-style name with a dash (`user-api`, `payment-processing-worker`), or one
/// in backticks.
static DASHED_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"`([a-z0-9][a-z0-9.-]*[a-z0-9])`|\b([a-z][a-z0-9]*(?:-[a-z0-9]+)+)\b"));

/// A name said to be a namespace (`in staging-63 namespace`, `namespace app-12`, `-n x`).
static NAMESPACE_NAME: LazyLock<[Regex; 2]> = LazyLock::new(|| {
    [
        re(r"(?i)\b([a-z0-9][a-z0-9-]*)\s+(?:namespace|ns)\b"),
        re(r"(?i)(?:\bnamespace|\bns|-n)[/ ]+([a-z0-9][a-z0-9-]*)"),
    ]
});

/// The workloads a question names, in order (a pod's name is read as its workload:
/// `web-7f9c8d6b5-abcde` is `web`); names said to be namespaces are left out. Used where
/// the evidence names no component: the question's subject is the best guess then.
pub fn named_workloads(question: &str) -> Vec<String> {
    let namespaces: Vec<&str> = NAMESPACE_NAME
        .iter()
        .flat_map(|r| r.captures_iter(question))
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str())
        .collect();
    let mut out: Vec<String> = Vec::new();
    let named = KIND_THEN_NAME
        .captures_iter(question)
        .filter_map(|c| c.get(1))
        .chain(
            DASHED_NAME
                .captures_iter(question)
                .filter_map(|c| c.get(1).or_else(|| c.get(2))),
        );
    for m in named {
        let name = m.as_str();
        if namespaces.contains(&name) {
            continue;
        }
        let w = crate::evidence::signatures::workload(name);
        if !w.is_empty() && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// Reads the features of a question.
pub fn features(question: &str, scope: &Scope) -> RouteFeatures {
    let lower = question.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    // A term matches the start of a word: "restart" finds "restarting", "oom" finds
    // "oomkilled", but "api" does not find "rapid".
    let terms = |list: &[&str]| -> Vec<String> {
        list.iter()
            .filter(|t| words.iter().any(|w| w.starts_with(*t)))
            .map(|t| (*t).to_string())
            .collect()
    };
    RouteFeatures {
        scoped: scope.names_labels() || POD_NAME.is_match(&lower),
        time_bounded: scope.has_window() || WINDOW.is_match(question),
        specific_error: ERROR.is_match(question),
        vague: VAGUE.is_match(question),
        infra_terms: terms(INFRA_TERMS),
        app_terms: terms(APP_TERMS),
    }
}

/// The rules' decision, or `None` with the reason they disagree.
pub fn decide_by_rules(
    f: &RouteFeatures,
) -> Result<(RetrievalMode, SpecialistChoice, String), String> {
    let narrow = f.scoped || f.time_bounded || f.specific_error;
    let retrieval = match (narrow, f.vague) {
        (true, true) => {
            return Err("the question is vague but also names a scope, window or error".into());
        }
        (false, true) => RetrievalMode::Hybrid,
        _ => RetrievalMode::Structured,
    };
    let (i, a) = (f.infra_terms.len(), f.app_terms.len());
    let specialists = match (i, a) {
        (0, 0) => SpecialistChoice::Both,
        (_, 0) => SpecialistChoice::Infra,
        (0, _) => SpecialistChoice::App,
        (i, a) if i >= 2 * a && i >= 2 => SpecialistChoice::Infra,
        (i, a) if a >= 2 * i && a >= 2 => SpecialistChoice::App,
        _ => {
            return Err(format!(
                "platform words ({}) and application words ({}) both appear",
                f.infra_terms.join(", "),
                f.app_terms.join(", ")
            ));
        }
    };
    let why_retrieval = match retrieval {
        RetrievalMode::Hybrid => "vague question with nothing to select by: find lines by meaning",
        RetrievalMode::Structured if narrow => "the question names what to select",
        RetrievalMode::Structured => "nothing vague to search by meaning: the default error filter",
    };
    let why_specialists = match specialists {
        SpecialistChoice::Infra => format!("platform words: {}", f.infra_terms.join(", ")),
        SpecialistChoice::App => format!("application words: {}", f.app_terms.join(", ")),
        SpecialistChoice::Both => "no side named: ask both".to_string(),
    };
    Ok((
        retrieval,
        specialists,
        format!("{why_retrieval}; {why_specialists}"),
    ))
}

#[derive(Deserialize)]
struct ModelRoute {
    retrieval: RetrievalMode,
    specialists: SpecialistChoice,
    reason: String,
}

/// Routes questions.
#[derive(Clone)]
pub struct Router {
    llm: LlmClient,
}

impl Router {
    /// A router that asks `llm` when the rules disagree.
    pub fn new(llm: LlmClient) -> Self {
        Self { llm }
    }

    /// Decides; returns the route and the model calls made (none when the rules agreed).
    pub async fn route(&self, question: &str, scope: &Scope) -> (Route, Vec<ModelCall>) {
        let (f, conflict) = match Route::by_rules(question, scope) {
            Ok(route) => return (route, Vec::new()),
            Err(seen) => seen,
        };
        let schema = json!({
            "type": "object",
            "properties": {
                "retrieval": { "enum": ["structured", "hybrid"] },
                "specialists": { "enum": ["infra", "app", "both"] },
                "reason": { "type": "string", "minLength": 1, "maxLength": 160 }
            },
            "required": ["retrieval", "specialists", "reason"],
            "additionalProperties": false
        });
        let scope_text = format!(
            "labels given: {}, time window given: {}",
            scope.names_labels(),
            scope.has_window()
        );
        let features_text = format!(
            "{conflict}; scoped={}, time_bounded={}, specific_error={}, vague={}",
            f.scoped, f.time_bounded, f.specific_error, f.vague
        );
        let messages = vec![
            ChatMessage::system(ROUTER.system),
            ChatMessage::user(render(
                ROUTER.user,
                &[
                    ("question", question.trim()),
                    ("scope", &scope_text),
                    ("features", &features_text),
                ],
            )),
        ];
        let options = CallOptions {
            max_tokens: Some(160),
            temperature: Some(0.0),
            seed: None,
        };
        match self
            .llm
            .complete_json_with::<ModelRoute>(&messages, "route", &schema, None, options)
            .await
        {
            Ok(reply) => (
                Route {
                    retrieval: reply.value.retrieval,
                    specialists: reply.value.specialists,
                    reason: format!(
                        "{} (rules disagreed: {conflict})",
                        reply.value.reason.trim()
                    ),
                    decided_by: DecidedBy::Model,
                    features: f,
                },
                reply.calls,
            ),
            Err(e) => (
                Route {
                    retrieval: RetrievalMode::Structured,
                    specialists: SpecialistChoice::Both,
                    reason: format!(
                        "rules disagreed ({conflict}) and the model could not decide ({e}): structured, both"
                    ),
                    decided_by: DecidedBy::Fallback,
                    features: f,
                },
                Vec::new(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(q: &str, scope: &Scope) -> Result<(RetrievalMode, SpecialistChoice, String), String> {
        decide_by_rules(&features(q, scope))
    }

    fn by_rules(q: &str) -> Route {
        Route::by_rules(q, &Scope::default()).unwrap_or_else(|(_, e)| panic!("{e}"))
    }

    #[test]
    fn a_question_that_names_no_side_takes_the_evidences() {
        let neutral = by_rules("Service Availability Disruption. What is the root cause?");
        assert_eq!(neutral.specialists, SpecialistChoice::Both);
        let r = neutral.clone().side_from_evidence(Some(Category::Infra));
        assert_eq!(r.specialists, SpecialistChoice::Infra);
        assert!(
            r.reason
                .ends_with("the evidence's top candidate is infra: ask infra"),
            "{}",
            r.reason
        );
        assert_eq!(
            neutral
                .clone()
                .side_from_evidence(Some(Category::App))
                .specialists,
            SpecialistChoice::App
        );
        // No candidate: both, as the rules said.
        assert_eq!(
            neutral.side_from_evidence(None).specialists,
            SpecialistChoice::Both
        );
        // A question that names a side keeps it, whatever the evidence says.
        let named = by_rules("Why was the pod OOMKilled?");
        assert_eq!(named.specialists, SpecialistChoice::Infra);
        assert_eq!(
            named.side_from_evidence(Some(Category::App)).specialists,
            SpecialistChoice::Infra
        );
    }

    #[test]
    fn the_workloads_a_question_names() {
        for (q, want) in [
            (
                "post last 10 logs that contain \"ERROR\" from user-api in staging-63 namespace",
                vec!["user-api"],
            ),
            (
                "Why is there high latency with the customer-orders deployment?",
                vec!["customer-orders"],
            ),
            (
                "Alert: KubePodCrashLooping for pod payment-processing-worker-747ccfb9db-pd6wz in namespace default. Investigate.",
                vec!["payment-processing-worker"],
            ),
            (
                "What is the issue with job java-api-checker in namespace app-12",
                vec!["java-api-checker"],
            ),
            ("why is checkout slow?", vec![]),
            ("Why did pod `web` restart?", vec!["web"]),
        ] {
            assert_eq!(named_workloads(q), want, "{q}");
        }
    }

    #[test]
    fn named_and_platform_questions_go_structured_to_infra() {
        let (r, s, _) = rules(
            "why was pod cartservice-7f96948897-abcde OOMKilled?",
            &Scope::default(),
        )
        .unwrap();
        assert_eq!((r, s), (RetrievalMode::Structured, SpecialistChoice::Infra));
        let (r, s, _) = rules(
            "which node evicted pods in the last 2h and why?",
            &Scope::default(),
        )
        .unwrap();
        assert_eq!((r, s), (RetrievalMode::Structured, SpecialistChoice::Infra));
    }

    #[test]
    fn application_errors_go_to_app() {
        let (r, s, why) = rules(
            "what is throwing the NullPointerException in the api?",
            &Scope::default(),
        )
        .unwrap();
        assert_eq!(
            (r, s),
            (RetrievalMode::Structured, SpecialistChoice::App),
            "{why}"
        );
    }

    #[test]
    fn vague_questions_go_hybrid() {
        let (r, _, _) = rules("is anything wrong?", &Scope::default()).unwrap();
        assert_eq!(r, RetrievalMode::Hybrid);
    }

    #[test]
    fn conflicts_are_left_to_the_model() {
        // Vague ("slow") yet scoped by a filter.
        assert!(
            rules(
                "why is checkout slow?",
                &Scope {
                    namespace: Some("shop".into()),
                    ..Scope::default()
                }
            )
            .is_err()
        );
        // Platform and application words in balance.
        assert!(rules("database pod restarting", &Scope::default()).is_err());
    }

    #[test]
    fn no_words_means_both_specialists_on_the_error_filter() {
        let (r, s, _) = rules("explain these logs", &Scope::default()).unwrap();
        assert_eq!((r, s), (RetrievalMode::Structured, SpecialistChoice::Both));
    }
}
