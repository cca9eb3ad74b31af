//! Real cases cut from a log store: `loglens golden extract`.
//!
//! Recorded incidents are few; a log store is full of real lines. The extractor turns a
//! stretch of real logs (from Loki, local files, or the Loghub-2.0 sets) into cases:
//!
//! 1. **Noise filtering.** Probe and scrape lines (`GET /healthz`, `GET /metrics`,
//!    `kube-probe`, heartbeats) are dropped, and within a window an informational
//!    message that repeats is kept at most [`MAX_INFO_REPEATS`] times, so a flood of one
//!    healthy message does not make a case.
//! 2. **Windows.** Lines are grouped by stream (the `job`, `app`, `service_name`,
//!    `container` or `pod` label, else the source) and cut into windows of consecutive
//!    lines.
//! 3. **Severity detection.** Each line's level comes from its labels (`level`,
//!    `detected_level`), a JSON or logfmt `level` field, or its first level word
//!    (`FATAL`, `ERROR`, `WARN`, ...); a window's severity is its worst line's.
//! 4. **Labels.** The worst lines are the evidence; the component is the one most of them
//!    come from (the `component` label, else the stream); the error signature is their
//!    most common template (the Drain miner's); the cause is the signature (from
//!    `agents/data/signatures.toml`) that names that failing message, else `other`.
//!    These labels are made by rules, so every such case is tagged `auto-labelled`, and the
//!    eval report scores it apart from hand-labelled ones.
//! 5. **Stratified sampling.** Windows are sampled per severity towards the dataset's
//!    aimed-at mix (INFO 25%, WARN 25%, ERROR 40%, CRITICAL 10%), seeded, so a store that
//!    is mostly healthy does not give a dataset of nothing-failing cases.
use loglens_agents::Diagnosis;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, Utc};
use loglens_agents::Severity;
use loglens_agents::evidence::SignatureLibrary;
use loglens_agents::evidence::patterns::{MinerConfig, TemplateMiner};
use loglens_agents::wording::LEVEL_WORD;
use loglens_tools::logs::LogLine;
use regex::Regex;
use std::sync::LazyLock;

use crate::case::{CaseLine, Expected, ExpectedRoute, GoldenCase, Origin};
use crate::synth::Rng;

/// An informational message repeats at most this often in one window.
pub const MAX_INFO_REPEATS: usize = 5;

/// The severity mix aimed at: INFO, WARN, ERROR, CRITICAL.
pub const TARGET_MIX: [(Severity, f64); 4] = [
    (Severity::Info, 0.25),
    (Severity::Warn, 0.25),
    (Severity::Error, 0.40),
    (Severity::Critical, 0.10),
];

/// How to cut cases.
#[derive(Debug, Clone)]
pub struct ExtractConfig {
    /// Lines per window (after noise filtering).
    pub window_lines: usize,
    /// At most this many cases.
    pub max_cases: usize,
    /// Sampling seed.
    pub seed: u64,
    /// Case ids start with this (`loki`, `loghub`).
    pub id_prefix: String,
    /// Provenance, written into every case.
    pub source: String,
    /// Licence of the lines.
    pub licence: String,
}

static NOISE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)"?(GET|HEAD) /(metrics|healthz?|readyz|livez|ready|ping|status)\b|kube-probe/|\bheartbeat\b"#,
    )
    .ok()
});

/// A probe, scrape or heartbeat line.
pub fn is_noise(text: &str) -> bool {
    NOISE.as_ref().is_some_and(|r| r.is_match(text))
}

static LEVEL_FIELD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"(?i)"?\b(?:level|lvl|severity|loglevel)"?\s*[:=]\s*"?([A-Za-z]+)"#).ok()
});

fn level_of_word(w: &str) -> Option<Severity> {
    Some(match w.to_ascii_uppercase().as_str() {
        "FATAL" | "CRITICAL" | "CRIT" | "PANIC" | "EMERG" | "EMERGENCY" | "ALERT" => {
            Severity::Critical
        }
        "ERROR" | "ERR" | "SEVERE" | "E" => Severity::Error,
        "WARNING" | "WARN" | "W" => Severity::Warn,
        "INFO" | "NOTICE" | "DEBUG" | "TRACE" | "I" | "D" => Severity::Info,
        _ => return None,
    })
}

/// A line's level: from its labels, a `level` field, or its first level word; lines with
/// none are informational unless they show a stack trace's head.
pub fn detect_level(line: &LogLine) -> Severity {
    for l in ["level", "detected_level", "severity"] {
        if let Some(s) = line.label(l).and_then(level_of_word) {
            return s;
        }
    }
    if let Some(s) = LEVEL_FIELD
        .as_ref()
        .and_then(|r| r.captures(&line.text))
        .and_then(|c| level_of_word(&c[1]))
    {
        return s;
    }
    if let Some(s) = LEVEL_WORD
        .as_ref()
        .and_then(|r| r.find(&line.text))
        .and_then(|m| level_of_word(m.as_str()))
    {
        return s;
    }
    let t = &line.text;
    if t.starts_with("Traceback (most recent call last)")
        || t.starts_with("panic: ")
        || t.contains("Exception in thread")
    {
        return Severity::Error;
    }
    Severity::Info
}

pub use loglens_agents::wording::message_part;

/// The stream a line belongs to, for windowing.
pub fn group_key(line: &LogLine) -> String {
    for l in ["job", "app", "service_name", "container", "pod"] {
        if let Some(v) = line.label(l) {
            return v.to_string();
        }
    }
    line.source.clone()
}

/// Consecutive lines of one stream.
#[derive(Debug, Clone)]
pub struct Window {
    /// The stream.
    pub group: String,
    /// Its lines, noise dropped.
    pub lines: Vec<LogLine>,
}

/// Groups, filters noise, and cuts windows of `size` lines (the last, shorter one is kept
/// when it is at least half a window).
pub fn windows(lines: &[LogLine], size: usize) -> Vec<Window> {
    let size = size.max(2);
    let mut groups: BTreeMap<String, Vec<&LogLine>> = BTreeMap::new();
    for l in lines {
        if !is_noise(&l.text) {
            groups.entry(group_key(l)).or_default().push(l);
        }
    }
    let mut out = Vec::new();
    for (group, mut ls) in groups {
        ls.sort_by_key(|l| (l.timestamp, l.line_no));
        let mut current: Vec<LogLine> = Vec::new();
        let mut repeats: HashMap<String, usize> = HashMap::new();
        for l in ls {
            if detect_level(l) == Severity::Info {
                let key = loglens_agents::evidence::patterns::tokenize(&l.text).join(" ");
                let n = repeats.entry(key).or_default();
                *n += 1;
                if *n > MAX_INFO_REPEATS {
                    continue;
                }
            }
            current.push(l.clone());
            if current.len() == size {
                out.push(Window {
                    group: group.clone(),
                    lines: std::mem::take(&mut current),
                });
                repeats.clear();
            }
        }
        if current.len() * 2 >= size {
            out.push(Window {
                group,
                lines: current,
            });
        }
    }
    out
}

fn time_text(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "the start".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// The most common template of the worst lines (`worst`: their indexes), and its first
/// line.
fn top_template(w: &Window, worst: &[usize]) -> (String, Option<String>) {
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut sizes: HashMap<usize, (usize, usize)> = HashMap::new(); // cluster → (count, first line)
    let ids: Vec<usize> = worst
        .iter()
        .map(|i| miner.add(message_part(&w.lines[*i].text)))
        .collect();
    miner.settle();
    for (i, id) in worst.iter().zip(ids) {
        sizes.entry(miner.group(id)).or_insert((0, *i)).0 += 1;
    }
    let top = sizes
        .iter()
        .max_by_key(|(_, (n, first))| (*n, std::cmp::Reverse(*first)))
        .map(|(c, (n, first))| (*c, *n, *first));
    let template = top.map(|(c, _, _)| miner.template(c)).unwrap_or_default();
    let example = top.map(|(_, _, first)| w.lines[first].text.clone());
    (template, example)
}

/// The component most of the worst lines come from (the window's group when they name
/// none).
fn main_component(w: &Window, worst: &[usize]) -> String {
    let mut comps: BTreeMap<String, usize> = BTreeMap::new();
    for i in worst {
        let l = &w.lines[*i];
        let c = l
            .label("component")
            .map_or_else(|| w.group.clone(), str::to_string);
        *comps.entry(c).or_default() += 1;
    }
    comps
        .iter()
        .max_by_key(|(c, n)| (**n, std::cmp::Reverse((*c).clone())))
        .map_or_else(|| w.group.clone(), |(c, _)| c.clone())
}

/// One of a few phrasings of "what went wrong in this window?", drawn with `rng`.
fn question(w: &Window, rng: &mut Rng) -> String {
    let t0 = time_text(w.lines.first().and_then(|l| l.timestamp));
    let t1 = time_text(w.lines.last().and_then(|l| l.timestamp));
    let questions = [
        format!("What went wrong in {} between {t0} and {t1}?", w.group),
        format!(
            "Is anything failing in {} from {t0} to {t1}? If so, why?",
            w.group
        ),
        format!(
            "Summarize the problems in the {} logs between {t0} and {t1}.",
            w.group
        ),
    ];
    questions[rng.below(questions.len())].clone()
}

/// One window as an auto-labelled case.
pub fn label_window(
    w: &Window,
    number: usize,
    library: &SignatureLibrary,
    cfg: &ExtractConfig,
    rng: &mut Rng,
) -> GoldenCase {
    let levels: Vec<Severity> = w.lines.iter().map(detect_level).collect();
    let severity = levels.iter().copied().max().unwrap_or(Severity::Info);
    let worst: Vec<usize> = (0..w.lines.len())
        .filter(|i| levels[*i] == severity)
        .collect();
    let failing = severity > Severity::Info;

    let (template, example) = top_template(w, &worst);
    let component = main_component(w, &worst);

    let signature = if failing {
        example.as_deref().and_then(|e| library.match_line(e))
    } else {
        None
    };
    let cause = signature.map_or_else(|| "other".to_string(), |s| s.id.clone());
    let specialists = match signature.map(|s| s.category) {
        Some(loglens_agents::evidence::Category::Infra) => "infra",
        Some(loglens_agents::evidence::Category::App) => "app",
        None => "both",
    };
    let question = question(w, rng);
    let n_worst = worst.len();
    let (root_cause, error_signature, summary, action) = if failing {
        (
            match signature {
                Some(s) => format!("{}: {component} logs \"{template}\".", s.title),
                None => format!("{component} logs \"{template}\"."),
            },
            template.clone(),
            format!(
                "{n_worst} {severity} line(s) of {} in {}, most from {component}: \"{template}\".",
                w.lines.len(),
                w.group
            ),
            signature.map_or_else(
                || format!("Look into {component}: find what makes it log \"{template}\"."),
                |s| s.action.clone(),
            ),
        )
    } else {
        (
            "Nothing is failing: only informational lines.".to_string(),
            "none".to_string(),
            format!(
                "{} informational lines in {}, no warnings or errors.",
                w.lines.len(),
                w.group
            ),
            "Nothing to do.".to_string(),
        )
    };
    let logs: Vec<CaseLine> = w
        .lines
        .iter()
        .map(|l| CaseLine::new(l.timestamp, &l.labels, &l.text))
        .collect();
    let slug: String = w
        .group
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    GoldenCase {
        id: format!("{}/{slug}-{number:03}", cfg.id_prefix),
        origin: Origin::Real,
        source: cfg.source.clone(),
        licence: cfg.licence.clone(),
        question,
        filters: loglens_tools::logs::Scope::default(),
        logs,
        events: Vec::new(),
        state: Default::default(),
        expected: Expected {
            route: ExpectedRoute {
                retrieval: "structured".into(),
                specialists: specialists.into(),
            },
            cause,
            diagnosis: Diagnosis {
                root_cause,
                severity,
                component,
                detail: None,
                error_signature,
                summary,
                action,
            },
            evidence: if failing { worst } else { Vec::new() },
        },
        tags: vec![
            "auto-labelled".into(),
            cfg.id_prefix.clone(),
            w.group.to_lowercase(),
        ],
    }
}

/// Samples at most `max` cases, per severity towards [`TARGET_MIX`]: each severity gets
/// its share of `max`, what a scarce severity cannot fill goes to the others, and within
/// a severity the windows are drawn evenly across streams, seeded.
pub fn stratified(cases: Vec<GoldenCase>, max: usize, seed: u64) -> Vec<GoldenCase> {
    let mut rng = Rng::new(seed);
    let mut by_sev: BTreeMap<Severity, Vec<GoldenCase>> = BTreeMap::new();
    for c in cases {
        by_sev
            .entry(c.expected.diagnosis.severity)
            .or_default()
            .push(c);
    }
    // Shuffle each stratum (Fisher-Yates), then interleave streams so one stream does
    // not take a stratum.
    for v in by_sev.values_mut() {
        for i in (1..v.len()).rev() {
            let j = rng.below(i + 1);
            v.swap(i, j);
        }
        let mut per_stream: BTreeMap<String, Vec<GoldenCase>> = BTreeMap::new();
        for c in v.drain(..) {
            per_stream
                .entry(c.tags.last().cloned().unwrap_or_default())
                .or_default()
                .push(c);
        }
        let mut queues: Vec<std::collections::VecDeque<GoldenCase>> =
            per_stream.into_values().map(Into::into).collect();
        while queues.iter().any(|q| !q.is_empty()) {
            for q in &mut queues {
                if let Some(c) = q.pop_front() {
                    v.push(c);
                }
            }
        }
    }
    let total: usize = by_sev.values().map(Vec::len).sum();
    let max = max.min(total);
    // Quotas by the target mix, then hand out what scarce strata leave over.
    let mut quota: BTreeMap<Severity, usize> = TARGET_MIX
        .iter()
        .map(|(s, share)| {
            let have = by_sev.get(s).map_or(0, Vec::len);
            (*s, ((max as f64 * share).round() as usize).min(have))
        })
        .collect();
    let mut left = max.saturating_sub(quota.values().sum());
    while left > 0 {
        let mut gave = false;
        for (s, _) in TARGET_MIX.iter().rev() {
            let have = by_sev.get(s).map_or(0, Vec::len);
            let q = quota.entry(*s).or_default();
            if left > 0 && *q < have {
                *q += 1;
                left -= 1;
                gave = true;
            }
        }
        if !gave {
            break;
        }
    }
    let mut out = Vec::new();
    for (s, v) in by_sev {
        out.extend(v.into_iter().take(quota.get(&s).copied().unwrap_or(0)));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Windows → labelled → sampled.
pub fn extract(
    lines: &[LogLine],
    library: &SignatureLibrary,
    cfg: &ExtractConfig,
) -> Vec<GoldenCase> {
    let mut rng = Rng::new(cfg.seed);
    let mut numbers: HashMap<String, usize> = HashMap::new();
    let cases: Vec<GoldenCase> = windows(lines, cfg.window_lines)
        .iter()
        .map(|w| {
            let n = numbers.entry(w.group.clone()).or_default();
            *n += 1;
            label_window(w, *n, library, cfg, &mut rng)
        })
        .collect();
    stratified(cases, cfg.max_cases, cfg.seed)
}

/// The Loghub-2.0 sets (`<System>/<System>_2k.log_structured_corrected.csv`) as log
/// lines: the text rebuilt as `date time level component: content`, labels `job` (the
/// system), `component` and `level` from the dataset's own columns.
pub fn loghub_lines(dir: &Path) -> anyhow::Result<Vec<LogLine>> {
    let mut systems: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    systems.sort();
    let mut out = Vec::new();
    for sys in systems {
        let name = sys
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let path = sys.join(format!("{name}_2k.log_structured_corrected.csv"));
        if !path.exists() {
            continue;
        }
        let mut reader =
            csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
        let headers = reader.headers()?.clone();
        let col = |n: &str| headers.iter().position(|h| h == n);
        let (date, time, level, comp, content) = (
            col("Date"),
            col("Time"),
            col("Level"),
            col("Component"),
            col("Content"),
        );
        for (i, rec) in reader.records().enumerate() {
            let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
            let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
            let (d, t, lvl, cp, text) = (get(date), get(time), get(level), get(comp), get(content));
            let mut labels = BTreeMap::new();
            labels.insert("job".to_string(), name.clone());
            if !cp.is_empty() {
                labels.insert("component".to_string(), cp.clone());
            }
            if !lvl.is_empty() {
                labels.insert("level".to_string(), lvl.clone());
            }
            out.push(LogLine {
                source: path.display().to_string(),
                line_no: i as u64 + 1,
                timestamp: loghub_time(&d, &t),
                labels,
                text: format!("{d} {t} {lvl} {cp}: {text}"),
                truncated_bytes: 0,
            });
        }
    }
    Ok(out)
}

/// Loghub's date and time columns: `081109`/`203615` (HDFS), `17/06/09`/`20:10:40`
/// (Spark), `2017-05-16`/`00:00:00.008` (OpenStack), `2015-07-29`/`17:41:44,747`
/// (Zookeeper).
fn loghub_time(date: &str, time: &str) -> Option<DateTime<Utc>> {
    // HDFS's columns lost their leading zeros in the CSV (`81109` is 2008-11-09).
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let joined = if digits(date) && digits(time) {
        format!("{date:0>6} {time:0>6}")
    } else {
        format!("{date} {}", time.replace(',', "."))
    };
    ["%y%m%d %H%M%S", "%y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&joined, f).ok())
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests;
