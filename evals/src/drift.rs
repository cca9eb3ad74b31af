//! Comparing runs, and flagging drift.
//!
//! A model upgrade, a prompt edit or a new signature can make answers worse without any
//! test failing. Each eval run is compared with the **last good run** of the same variant
//! over the same cases (stored in the database); a metric that got worse by more than a
//! threshold is **drift**. A run with drift is stored as not good, so the next run is
//! still compared with the last good one (drift cannot creep in one small step at a
//! time), and `loglens eval --fail-on-drift` exits non-zero, which is what a nightly
//! CronJob alerts on.
//!
//! Quality metrics are shares in [0, 1]: drift is an absolute drop (default 0.05, five
//! points). Latency is compared relatively: drift is p95 growing by more than a factor
//! (default 1.0, i.e. doubling), since wall time on a shared machine is noisy.
use serde::{Deserialize, Serialize};

use crate::score::Metrics;

/// When a change is drift.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DriftThresholds {
    /// Largest allowed absolute drop of a quality metric.
    pub quality: f64,
    /// Largest allowed relative rise of p95 latency.
    pub latency: f64,
}

impl Default for DriftThresholds {
    fn default() -> Self {
        Self {
            quality: 0.05,
            latency: 1.0,
        }
    }
}

/// One metric in two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The metric.
    pub metric: String,
    /// In the earlier run.
    pub before: f64,
    /// In the later run.
    pub after: f64,
    /// `after - before`.
    pub delta: f64,
    /// Whether higher is better.
    pub higher_is_better: bool,
    /// Worse by more than the threshold.
    pub drifted: bool,
}

/// The metrics compared, with whether higher is better.
pub fn key_metrics(m: &Metrics) -> Vec<(String, f64, bool)> {
    let mut v = vec![
        ("answered".to_string(), m.answered, true),
        ("cause_accuracy".into(), m.cause_accuracy, true),
        ("component_accuracy".into(), m.component_accuracy, true),
        ("severity_accuracy".into(), m.severity_accuracy, true),
        ("signature_accuracy".into(), m.signature_accuracy, true),
        ("root_cause_match".into(), m.root_cause_match, true),
        ("summary_rouge_l".into(), m.summary_rouge_l, true),
    ];
    if let Some(r) = m.router_accuracy {
        v.push(("router_accuracy".into(), r, true));
    }
    for (name, f) in &m.fields {
        v.push((format!("{name}_f1"), f.f1, true));
    }
    if m.retrieval.cases > 0 {
        v.push(("retrieval_precision".into(), m.retrieval.precision, true));
        v.push(("retrieval_recall".into(), m.retrieval.recall, true));
        v.push(("retrieval_mrr".into(), m.retrieval.mrr, true));
        v.push(("retrieval_ndcg".into(), m.retrieval.ndcg, true));
    }
    v.push(("latency_p95_ms".into(), m.latency_ms.p95, false));
    v
}

/// Every key metric of `before` and `after`, with drift marked.
pub fn compare(before: &Metrics, after: &Metrics, th: DriftThresholds) -> Vec<Delta> {
    let b = key_metrics(before);
    let a = key_metrics(after);
    let mut out = Vec::new();
    for (name, av, higher) in a {
        let Some((_, bv, _)) = b.iter().find(|(n, _, _)| *n == name) else {
            continue;
        };
        let drifted = if higher {
            *bv - av > th.quality + 1e-12
        } else {
            // Latency: relative, and only past a floor of 50 ms so timer noise on
            // millisecond runs is not drift.
            av > bv * (1.0 + th.latency) && av - bv > 50.0
        };
        out.push(Delta {
            metric: name,
            before: *bv,
            after: av,
            delta: av - bv,
            higher_is_better: higher,
            drifted,
        });
    }
    out
}

/// A stable hash of the case ids (FNV-1a, 64 bits), so runs over different case sets are
/// never compared.
pub fn case_set_hash<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort_unstable();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for id in ids {
        for b in id.bytes().chain(std::iter::once(b'\n')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The comparison as a Markdown table.
pub fn markdown(a: &str, b: &str, deltas: &[Delta]) -> String {
    let mut s = format!("| metric | {a} | {b} | delta | |\n|---|---|---|---|---|\n");
    for d in deltas {
        let better = if d.higher_is_better {
            d.delta > 0.0
        } else {
            d.delta < 0.0
        };
        let mark = if d.drifted {
            "DRIFT"
        } else if d.delta.abs() < 1e-9 {
            ""
        } else if better {
            "better"
        } else {
            "worse"
        };
        s.push_str(&format!(
            "| {} | {:.3} | {:.3} | {:+.3} | {mark} |\n",
            d.metric, d.before, d.after, d.delta
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_past_the_threshold_is_drift_and_a_small_one_is_not() {
        let before = Metrics {
            cause_accuracy: 0.80,
            severity_accuracy: 0.70,
            ..Metrics::default()
        };
        let mut after = before.clone();
        after.cause_accuracy = 0.70;
        after.severity_accuracy = 0.67;
        let d = compare(&before, &after, DriftThresholds::default());
        let get = |n: &str| d.iter().find(|x| x.metric == n).unwrap();
        assert!(get("cause_accuracy").drifted);
        assert!(!get("severity_accuracy").drifted);
        assert!((get("cause_accuracy").delta + 0.10).abs() < 1e-9);
        // Better is never drift.
        let d = compare(&after, &before, DriftThresholds::default());
        assert!(d.iter().all(|x| !x.drifted));
        let md = markdown("a", "b", &d);
        assert!(
            md.contains("| cause_accuracy | 0.700 | 0.800 | +0.100 | better |"),
            "{md}"
        );
    }

    #[test]
    fn latency_drifts_only_when_it_doubles_past_a_floor() {
        let mut before = Metrics::default();
        before.latency_ms.p95 = 1000.0;
        let mut after = before.clone();
        after.latency_ms.p95 = 1900.0;
        let th = DriftThresholds::default();
        let lat = |d: Vec<Delta>| {
            d.into_iter()
                .find(|x| x.metric == "latency_p95_ms")
                .unwrap()
        };
        assert!(!lat(compare(&before, &after, th)).drifted);
        after.latency_ms.p95 = 2100.0;
        assert!(lat(compare(&before, &after, th)).drifted);
        // 5 ms → 20 ms is noise, not drift.
        before.latency_ms.p95 = 5.0;
        after.latency_ms.p95 = 20.0;
        assert!(!lat(compare(&before, &after, th)).drifted);
    }

    #[test]
    fn the_case_set_hash_ignores_order() {
        assert_eq!(case_set_hash(["a", "b"]), case_set_hash(["b", "a"]));
        assert_ne!(case_set_hash(["a", "b"]), case_set_hash(["a", "c"]));
    }
}
