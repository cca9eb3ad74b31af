//! The golden case format.
//!
//! A case is one question about one incident: the log lines (and Kubernetes events) it
//! needs, the scope it comes with, and the answer an analyst would give: the route, the
//! cause (a signature id, or `other`), root cause, severity, component, error signature,
//! summary, action, and which lines show it. `golden/case.schema.json` is the contract;
//! every case is checked against it when loaded.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use loglens_agents::Diagnosis;
use loglens_tools::k8s::K8sEvent;
use loglens_tools::logs::Scope;
use serde::{Deserialize, Serialize};

/// The JSON Schema every case file satisfies.
pub const CASE_SCHEMA: &str = include_str!("../../golden/case.schema.json");

/// Real data or made from a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// From a recorded incident.
    Real,
    /// From a failure template.
    Synthetic,
}

/// One log line of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseLine {
    /// When, if the line has a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Stream labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The text.
    pub line: String,
}

impl CaseLine {
    /// A line with its time (written as RFC 3339), labels and text.
    pub fn new(
        timestamp: Option<chrono::DateTime<chrono::Utc>>,
        labels: &BTreeMap<String, String>,
        text: &str,
    ) -> Self {
        Self {
            timestamp: timestamp.map(|t| t.to_rfc3339()),
            labels: labels.clone(),
            line: text.to_string(),
        }
    }
}

/// The expected route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedRoute {
    /// `structured` or `hybrid`.
    pub retrieval: String,
    /// `infra`, `app` or `both`.
    pub specialists: String,
}

/// The ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    /// The route.
    pub route: ExpectedRoute,
    /// Signature id or `other`.
    pub cause: String,
    /// What is wrong, why, and what to do: the fields of a [`loglens_agents::Finding`], declared once.
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
    /// Indexes into `logs` of the lines that show the cause.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<usize>,
}

/// A golden case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenCase {
    /// Unique id.
    pub id: String,
    /// Real or synthetic.
    pub origin: Origin,
    /// Provenance.
    pub source: String,
    /// Licence of the data.
    pub licence: String,
    /// The question.
    pub question: String,
    /// Its scope: labels only (the case schema allows no window or text filter; the
    /// replay sets the window from the case's lines).
    #[serde(default)]
    pub filters: Scope,
    /// The lines.
    pub logs: Vec<CaseLine>,
    /// Kubernetes events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<K8sEvent>,
    /// Recorded kubectl output (command → output): the cluster's state, read into a
    /// [`loglens_tools::k8s::ClusterState`] at replay.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state: BTreeMap<String, String>,
    /// The answer.
    pub expected: Expected,
    /// Free tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Checks a case's JSON against the schema, then reads it.
pub fn parse_case(text: &str, origin: &Path) -> anyhow::Result<GoldenCase> {
    let value: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("{} is not JSON", origin.display()))?;
    let schema: serde_json::Value =
        serde_json::from_str(CASE_SCHEMA).context("golden/case.schema.json is not JSON")?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| anyhow::anyhow!("golden/case.schema.json: {e}"))?;
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .take(5)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if !problems.is_empty() {
        bail!(
            "{} does not fit the case schema: {}",
            origin.display(),
            problems.join("; ")
        );
    }
    let case: GoldenCase =
        serde_json::from_value(value).with_context(|| format!("reading {}", origin.display()))?;
    if let Some(&bad) = case
        .expected
        .evidence
        .iter()
        .find(|&&i| i >= case.logs.len())
    {
        bail!(
            "{}: expected evidence line {bad} is past the case's {} lines",
            origin.display(),
            case.logs.len()
        );
    }
    Ok(case)
}

/// Every `*.json` case under `dir` (recursively), sorted by id; ids must be unique.
pub fn load_cases(dir: &Path) -> anyhow::Result<Vec<GoldenCase>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    let mut cases = Vec::with_capacity(files.len());
    for f in files {
        cases.push(parse_case(&read_case_text(&f)?, &f)?);
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = cases.windows(2).find(|w| w[0].id == w[1].id) {
        bail!("case id {} is used twice", w[0].id);
    }
    Ok(cases)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in entries {
        let path = e?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".json") || n.ends_with(".json.gz"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// A case file's text: `.json` as it is, `.json.gz` gunzipped.
pub fn read_case_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|x| x == "gz") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .with_context(|| format!("{} is not gzip'd UTF-8", path.display()))?;
        Ok(text)
    } else {
        String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))
    }
}

/// Cases larger than this are written gzip'd (`.json.gz`): recorded cluster state and
/// hundreds of lines per container would make the golden set hundreds of megabytes.
const GZIP_ABOVE: usize = 64 * 1024;

/// Writes a case to `dir/<id>.json`, or `dir/<id>.json.gz` when it is large (folders
/// from the id's slashes).
pub fn write_case(dir: &Path, case: &GoldenCase) -> anyhow::Result<PathBuf> {
    let text = serde_json::to_string_pretty(case)? + "\n";
    let gzip = text.len() > GZIP_ABOVE;
    let path = dir.join(format!("{}.json{}", case.id, if gzip { ".gz" } else { "" }));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    parse_case(&text, &path)?;
    // One form per case: a re-import must not leave the other one behind.
    let other = dir.join(format!("{}.json{}", case.id, if gzip { "" } else { ".gz" }));
    if other.exists() {
        std::fs::remove_file(&other).with_context(|| format!("removing {}", other.display()))?;
    }
    let bytes = if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, text.as_bytes())?;
        enc.finish()?
    } else {
        text.into_bytes()
    };
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case_json() -> serde_json::Value {
        serde_json::json!({
            "id": "synthetic/x-1", "origin": "synthetic", "source": "test", "licence": "Apache-2.0",
            "question": "why?", "logs": [{"line": "ERROR boom"}],
            "expected": {"route": {"retrieval": "structured", "specialists": "app"}, "cause": "other",
                "root_cause": "boom", "severity": "ERROR", "component": "api", "error_signature": "boom",
                "summary": "s", "action": "a", "evidence": [0]}
        })
    }

    #[test]
    fn cases_are_checked_against_the_schema() {
        let p = Path::new("c.json");
        assert!(parse_case(&case_json().to_string(), p).is_ok());
        let mut bad = case_json();
        bad["expected"]["severity"] = "FATAL".into();
        let err = parse_case(&bad.to_string(), p).unwrap_err().to_string();
        assert!(err.contains("/expected/severity"), "{err}");
        let mut bad = case_json();
        bad["expected"]["evidence"] = serde_json::json!([3]);
        let err = parse_case(&bad.to_string(), p).unwrap_err().to_string();
        assert!(err.contains("past the case's 1 lines"), "{err}");
    }

    #[test]
    fn write_then_load_round_trips_and_ids_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let case: GoldenCase = serde_json::from_value(case_json()).unwrap();
        write_case(dir.path(), &case).unwrap();
        let loaded = load_cases(dir.path()).unwrap();
        assert_eq!(loaded, vec![case.clone()]);
        std::fs::write(
            dir.path().join("dup.json"),
            serde_json::to_string(&case).unwrap(),
        )
        .unwrap();
        assert!(
            load_cases(dir.path())
                .unwrap_err()
                .to_string()
                .contains("used twice")
        );
    }
}
