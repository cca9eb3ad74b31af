//! Pattern-mining benchmark on Loghub-2.0's 2k sets (`tests/fixtures/loghub2_2k`, or
//! `LOGLENS_LOGHUB_DIR`): grouping accuracy (GA), parsing accuracy (PA) and throughput of
//! the template miner per system. `scripts/bench-patterns.sh` runs it and the `drain3`
//! Python package on the same files in one run and prints both.
//!
//! GA (Loghub): a line counts when the set of lines in its mined template equals the set
//! in its true template. PA: a line counts when its mined template text equals the true
//! template (runs of spaces collapsed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use loglens_agents::evidence::{MinerConfig, TemplateMiner};

fn normalize(t: &str) -> String {
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// (content, true template) per line.
fn load(path: &Path) -> Vec<(String, String)> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = r.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (c, t) = (col("Content"), col("EventTemplate"));
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[c].to_string(), rec[t].to_string())
        })
        .collect()
}

fn accuracy(truth: &[String], predicted: &[usize], templates: &[String]) -> (f64, f64) {
    let mut true_groups: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut pred_groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, (t, p)) in truth.iter().zip(predicted).enumerate() {
        true_groups.entry(t).or_default().push(i);
        pred_groups.entry(*p).or_default().push(i);
    }
    let mut grouped = 0usize;
    let mut parsed = 0usize;
    for (i, (t, p)) in truth.iter().zip(predicted).enumerate() {
        if pred_groups[p] == true_groups[t.as_str()] {
            grouped += 1;
        }
        if normalize(&templates[*p]) == normalize(t) {
            parsed += 1;
        }
        let _ = i;
    }
    let n = truth.len().max(1) as f64;
    (grouped as f64 / n, parsed as f64 / n)
}

/// Each true template whose lines were not grouped alone, with the mined templates its
/// lines went to (`LOGLENS_BENCH_ERRORS=<system>`): where the miner splits or merges.
fn print_errors(truth: &[String], predicted: &[usize], templates: &[String]) {
    let mut by_truth: HashMap<&str, HashMap<usize, usize>> = HashMap::new();
    let mut by_pred: HashMap<usize, HashMap<&str, usize>> = HashMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        *by_truth.entry(t).or_default().entry(*p).or_default() += 1;
        *by_pred.entry(*p).or_default().entry(t).or_default() += 1;
    }
    let mut wrong: Vec<_> = by_truth
        .iter()
        .filter(|(_, ps)| ps.len() > 1 || ps.keys().any(|p| by_pred[p].len() > 1))
        .collect();
    wrong.sort_by_key(|(t, ps)| (std::cmp::Reverse(ps.values().sum::<usize>()), **t));
    let mut texts: HashMap<(&str, &str), usize> = HashMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        if normalize(&templates[*p]) != normalize(t) {
            *texts
                .entry((t.as_str(), templates[*p].as_str()))
                .or_default() += 1;
        }
    }
    let mut texts: Vec<_> = texts.into_iter().collect();
    texts.sort_by_key(|(k, n)| (std::cmp::Reverse(*n), *k));
    for ((t, p), n) in texts {
        println!("TEXT {n:>5} {t}\n       mined {p}");
    }
    for (t, ps) in wrong {
        println!("TRUE {:>5} {t}", ps.values().sum::<usize>());
        for (p, n) in ps {
            println!(
                "  got {n:>5} {}  (mined group of {})",
                templates[*p],
                by_pred[p].values().sum::<usize>()
            );
        }
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let dir = std::env::var_os("LOGLENS_LOGHUB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/loghub2_2k")
        });
    let reps: usize = std::env::var("LOGLENS_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let defaults = MinerConfig::default();
    let cfg = MinerConfig {
        depth: env_or("LOGLENS_MINER_DEPTH", defaults.depth),
        similarity: env_or("LOGLENS_MINER_SIMILARITY", defaults.similarity),
        ..defaults
    };
    println!(
        "system      lines   GA     PA     lines/s   (loglens miner: Drain depth {}, similarity {}, word slots; {reps} repetitions for speed)",
        cfg.depth, cfg.similarity
    );
    let (mut ga_sum, mut pa_sum, mut systems) = (0.0, 0.0, 0);
    for system in ["HDFS", "OpenStack", "Spark", "Zookeeper"] {
        let path = dir
            .join(system)
            .join(format!("{system}_2k.log_structured_corrected.csv"));
        if std::env::var("LOGLENS_BENCH_ONLY").is_ok_and(|only| only != system) {
            continue;
        }
        if !path.exists() {
            eprintln!("skip {system}: {} not found", path.display());
            continue;
        }
        let rows = load(&path);
        let mut miner = TemplateMiner::new(cfg.clone());
        let predicted: Vec<usize> = rows.iter().map(|(c, _)| miner.add(c)).collect();
        miner.settle();
        let predicted: Vec<usize> = predicted.into_iter().map(|id| miner.group(id)).collect();
        let standing = miner.templates();
        // Indexed by group id (standing templates are in id order).
        let mut templates = vec![String::new(); standing.last().map_or(0, |t| t.id + 1)];
        for t in &standing {
            templates[t.id] = t.text();
        }
        if std::env::var("LOGLENS_BENCH_DUMP").as_deref() == Ok(system) {
            for t in &standing {
                println!("{:>6} {}", t.size, t.text());
            }
        }
        let truth: Vec<String> = rows.iter().map(|(_, t)| t.clone()).collect();
        let (ga, pa) = accuracy(&truth, &predicted, &templates);
        if std::env::var("LOGLENS_BENCH_ERRORS").as_deref() == Ok(system) {
            print_errors(&truth, &predicted, &templates);
        }

        let started = Instant::now();
        let mut sink = 0usize;
        for _ in 0..reps {
            let mut m = TemplateMiner::new(cfg.clone());
            for (c, _) in &rows {
                sink = sink.wrapping_add(m.add(c));
            }
            m.settle();
        }
        let secs = started.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        let rate = (rows.len() * reps) as f64 / secs;
        println!(
            "{system:<11} {:>5}   {ga:.3}  {pa:.3}  {rate:>9.0}",
            rows.len()
        );
        ga_sum += ga;
        pa_sum += pa;
        systems += 1;
    }
    if systems > 0 {
        println!(
            "mean                {:.3}  {:.3}",
            ga_sum / systems as f64,
            pa_sum / systems as f64
        );
    }
}
