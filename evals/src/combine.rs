//! Combining real and synthetic cases into one dataset: `loglens golden combine`.
//!
//! Real cases are all kept: they are the point. Synthetic cases come from a pool (what
//! `loglens golden synth` wrote) and are chosen to do two things: keep the real share at
//! what is asked (about 70%), and bring the severity mix as close as they can to the one
//! aimed at ([`crate::extract::TARGET_MIX`]), since real data is mostly healthy or merely
//! warning. Within a severity, picks rotate over templates so no one failure mode fills
//! the synthetic part. A synthetic case whose lines are identical to a case already in
//! the set is a duplicate and skipped.
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use loglens_agents::Severity;

use crate::case::{GoldenCase, Origin};
use crate::extract::TARGET_MIX;
use crate::synth::Rng;

/// A hash of a case's lines, for duplicates.
pub fn content_hash(c: &GoldenCase) -> u64 {
    let mut h = DefaultHasher::new();
    for l in &c.logs {
        l.line.hash(&mut h);
    }
    for e in &c.events {
        e.message.hash(&mut h);
    }
    h.finish()
}

/// How many synthetic cases keep the real share at `real_share`.
pub fn synthetic_count(real: usize, real_share: f64) -> usize {
    if real_share <= 0.0 || real_share >= 1.0 {
        return 0;
    }
    ((real as f64) * (1.0 - real_share) / real_share).round() as usize
}

/// Chooses synthetic cases from `pool` to go with `real` (see the module docs).
pub fn choose_synthetic(
    real: &[GoldenCase],
    pool: Vec<GoldenCase>,
    real_share: f64,
    seed: u64,
) -> Vec<GoldenCase> {
    let want = synthetic_count(real.len(), real_share);
    let seen: HashSet<u64> = real.iter().map(content_hash).collect();
    let mut rng = Rng::new(seed);
    // Per severity: queues per template, shuffled, rotated.
    let mut strata: BTreeMap<Severity, Vec<VecDeque<GoldenCase>>> = BTreeMap::new();
    {
        let mut by: BTreeMap<Severity, BTreeMap<String, Vec<GoldenCase>>> = BTreeMap::new();
        let mut pool_seen = HashSet::new();
        for c in pool {
            if c.origin != Origin::Synthetic {
                continue;
            }
            let h = content_hash(&c);
            if seen.contains(&h) || !pool_seen.insert(h) {
                continue;
            }
            // Synthetic tags are ["synthetic", <template id>].
            let template = c.tags.get(1).cloned().unwrap_or_default();
            by.entry(c.expected.diagnosis.severity)
                .or_default()
                .entry(template)
                .or_default()
                .push(c);
        }
        for (sev, templates) in by {
            let mut queues = Vec::new();
            for (_, mut v) in templates {
                for i in (1..v.len()).rev() {
                    let j = rng.below(i + 1);
                    v.swap(i, j);
                }
                queues.push(VecDeque::from(v));
            }
            // Rotate the template order too.
            for i in (1..queues.len()).rev() {
                let j = rng.below(i + 1);
                queues.swap(i, j);
            }
            strata.insert(sev, queues);
        }
    }
    let total = real.len() + want;
    let mut have: BTreeMap<Severity, usize> = BTreeMap::new();
    for c in real {
        *have.entry(c.expected.diagnosis.severity).or_default() += 1;
    }
    let mut turn: BTreeMap<Severity, usize> = BTreeMap::new();
    let mut out = Vec::new();
    while out.len() < want {
        // The severity furthest below its target that still has cases.
        let next = TARGET_MIX
            .iter()
            .filter(|(s, _)| {
                strata
                    .get(s)
                    .is_some_and(|q| q.iter().any(|q| !q.is_empty()))
            })
            .max_by(|(a, sa), (b, sb)| {
                let gap = |s: &Severity, share: f64| {
                    share * total as f64 - have.get(s).copied().unwrap_or(0) as f64
                };
                gap(a, *sa).total_cmp(&gap(b, *sb))
            })
            .map(|(s, _)| *s);
        let Some(sev) = next else { break };
        let Some(queues) = strata.get_mut(&sev) else {
            break;
        };
        let t = turn.entry(sev).or_default();
        // The next template (in rotation) with a case left.
        let n = queues.len();
        let mut picked = None;
        for k in 0..n {
            let i = (*t + k) % n;
            if let Some(c) = queues[i].pop_front() {
                *t = i + 1;
                picked = Some(c);
                break;
            }
        }
        let Some(c) = picked else { break };
        *have.entry(sev).or_default() += 1;
        out.push(c);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The make-up of a set of cases: counts per severity, and the share of each.
pub fn severity_mix(cases: &[GoldenCase]) -> BTreeMap<Severity, usize> {
    let mut m = BTreeMap::new();
    for c in cases {
        *m.entry(c.expected.diagnosis.severity).or_default() += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{TEMPLATES, synthesize, templates};

    fn real(sev: &str, n: usize) -> Vec<GoldenCase> {
        (0..n)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "id": format!("loki/x-{sev}-{i}"), "origin": "real", "source": "s", "licence": "l",
                    "question": "q", "logs": [{"line": format!("{sev} line {i}")}],
                    "expected": {"route": {"retrieval": "structured", "specialists": "both"},
                        "cause": "other", "root_cause": "r", "severity": sev, "component": "c",
                        "error_signature": "e", "summary": "s", "action": "a"}
                }))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn synthetic_cases_keep_the_share_and_fill_scarce_severities() {
        // Real data: healthy and warning only.
        let mut reals = real("INFO", 30);
        reals.extend(real("WARN", 30));
        let pool = synthesize(&templates(TEMPLATES).unwrap(), 5, 1);
        let chosen = choose_synthetic(&reals, pool.clone(), 0.5, 1);
        assert_eq!(chosen.len(), 60);
        let mix = severity_mix(&chosen);
        // Every pick goes to the severities real data lacks.
        assert_eq!(mix.get(&Severity::Info), None);
        assert_eq!(mix.get(&Severity::Warn), None);
        // 120 cases aim at 48 ERROR and 12 CRITICAL.
        assert_eq!(mix.get(&Severity::Error), Some(&48));
        assert_eq!(mix.get(&Severity::Critical), Some(&12));
        // Several templates, not one.
        let templates: HashSet<&String> = chosen.iter().filter_map(|c| c.tags.get(1)).collect();
        assert!(templates.len() >= 8, "{}", templates.len());
        // Seeded.
        assert_eq!(
            chosen.iter().map(|c| &c.id).collect::<Vec<_>>(),
            choose_synthetic(&reals, pool, 0.5, 1)
                .iter()
                .map(|c| &c.id)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn duplicates_of_cases_in_the_set_are_skipped() {
        let pool = synthesize(&templates(TEMPLATES).unwrap(), 1, 1);
        let mut reals = real("INFO", 7);
        let mut dup = pool[0].clone();
        dup.origin = Origin::Real;
        reals.push(dup);
        let chosen = choose_synthetic(&reals, pool.clone(), 0.5, 1);
        assert!(
            chosen
                .iter()
                .all(|c| content_hash(c) != content_hash(&pool[0]))
        );
    }
}
