//! Scan benchmark (issue 21): the file source's line-filter scan against ripgrep, paired.
//!
//! Two generated files of `LOGLENS_BENCH_SCAN_MIB` MiB (1024 by default), plain text and
//! JSON lines, each with `ERROR` in 1% of its lines and `WARN` in another 10%. For each
//! file, match rate and thread count (one: against `rg -j1`; all cores: against `rg`),
//! both run as whole processes, one right after the other, for `LOGLENS_BENCH_ROUNDS`
//! rounds (3 by default); the table gives the median of the rounds' speed ratios
//! (ripgrep's wall time over loglens's: 1.0 is as fast) and loglens's peak memory.
//!
//! loglens runs what the `query_logs` tool runs: `{filename=...} |= "ERROR"` with a limit
//! of 1,000 lines, so it keeps the newest 1,000 and counts the rest; ripgrep counts
//! (`rg -c`). Both counts must agree. The loglens side is this binary run again with
//! `--scan-once`, so its peak memory (`VmHWM`) is its own.
//!
//! The files sit in the page cache as they were written (small pages, as a log being
//! written has), or with `LOGLENS_BENCH_SCAN_REREAD=1` dropped from it and read back (huge
//! pages, as a log read from disk has; see [`reread_from_disk`]).
//!
//! Run with `scripts/bench-scan.sh` (release build; installs ripgrep when missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use loglens_tools::logs::{FileLogSource, LogFilter, logql};

/// Lines `query_logs` keeps at most.
const LIMIT: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--scan-once") {
        scan_once(&args[i + 1..]);
        return;
    }
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mib = env("LOGLENS_BENCH_SCAN_MIB", 1024);
    let rounds = env("LOGLENS_BENCH_ROUNDS", 3) as usize;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "plain",
            write_file(&dir.path().join("plain.log"), mib, false),
        ),
        (
            "JSON lines",
            write_file(&dir.path().join("json.log"), mib, true),
        ),
    ];
    let reread = std::env::var("LOGLENS_BENCH_SCAN_REREAD").is_ok_and(|v| v == "1");
    // How much of the files the page cache holds in huge pages: the state ripgrep's speed
    // depends on most, which the kernel does not always give a file read back (this
    // machine's reclaim also splits them), so the figures say which state they are from.
    let huge_before = file_huge_pages_mib();
    if reread {
        for (_, (path, _)) in &files {
            reread_from_disk(path);
        }
    }
    let huge = file_huge_pages_mib().saturating_sub(huge_before);
    let me = std::env::current_exe().unwrap();
    println!(
        "scan benchmark: {mib} MiB files, {cores} cores, {rounds} paired rounds, limit {LIMIT}, \
         page cache: {}, {huge} of {} MiB in huge pages (FileHugePages)",
        if reread {
            "read back from disk"
        } else {
            "as written"
        },
        2 * mib
    );
    println!(
        "{:<11} {:>6} {:>8}  {:>12} {:>12} {:>14}  {:>10}  rounds",
        "file", "match", "threads", "loglens MiB/s", "rg MiB/s", "ratio (median)", "peak MiB"
    );
    for (kind, (path, lines)) in &files {
        let size = std::fs::metadata(path).unwrap().len() as f64 / (1024.0 * 1024.0);
        for (needle, rate) in [("ERROR", "1%"), ("WARN", "10%")] {
            for threads in [1, cores] {
                let (mut ratios, mut ours_t, mut rg_t, mut peak) = (vec![], vec![], vec![], 0u64);
                for _ in 0..rounds {
                    let started = Instant::now();
                    let out = Command::new(&me)
                        .args(["--scan-once", &path.display().to_string(), needle])
                        .arg(threads.to_string())
                        .output()
                        .unwrap();
                    let ours = started.elapsed().as_secs_f64();
                    let text = String::from_utf8_lossy(&out.stdout);
                    let mut f = text.split_whitespace();
                    let matched: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                    peak = peak.max(f.next().and_then(|v| v.parse().ok()).unwrap_or(0));

                    let started = Instant::now();
                    let out = Command::new("rg")
                        .args(["-c", &format!("-j{threads}"), needle])
                        .arg(path)
                        .output()
                        .expect("ripgrep (rg) is installed: scripts/bench-scan.sh installs it");
                    let theirs = started.elapsed().as_secs_f64();
                    let counted: u64 = String::from_utf8_lossy(&out.stdout)
                        .trim()
                        .parse()
                        .unwrap_or(0);
                    assert_eq!(matched, counted, "{kind} {needle}: loglens and rg disagree");
                    assert!(
                        matched > (*lines / 200),
                        "{kind} {needle}: {matched} matches"
                    );
                    ratios.push(theirs / ours);
                    ours_t.push(ours);
                    rg_t.push(theirs);
                }
                let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
                println!(
                    "{kind:<11} {rate:>6} {threads:>8}  {:>12.0} {:>12.0} {:>14.2}  {:>10.1}  {}",
                    size / median(&ours_t),
                    size / median(&rg_t),
                    median(&ratios),
                    peak as f64 / 1024.0,
                    shown.join(" ")
                );
            }
        }
    }
}

/// One scan as `query_logs` runs it; prints the lines matched and the peak memory (KiB).
/// `--scan-once FILE NEEDLE THREADS`: `|= "NEEDLE"`, or for a NEEDLE of `~REGEX`,
/// `|~ "REGEX"` (by hand, to time a regex filter).
fn scan_once(args: &[String]) {
    let (path, needle, threads) = (&args[0], &args[1], args[2].parse().unwrap());
    let name = Path::new(path).file_name().unwrap().to_string_lossy();
    let filter_stage = match needle.strip_prefix('~') {
        Some(re) => format!(r#"|~ "{re}""#),
        None => format!(r#"|= "{needle}""#),
    };
    let query = logql::parse(&format!(r#"{{filename="{name}"}} {filter_stage}"#)).unwrap();
    let filter = LogFilter {
        logql: Some(Arc::new(query)),
        ..LogFilter::default()
    };
    let source = FileLogSource::new(vec![path.into()]).with_scan_threads(threads);
    let newest = source.scan_newest(&filter, Some(LIMIT)).unwrap();
    assert_eq!(newest.lines.len() as u64, newest.matched.min(LIMIT as u64));
    let peak_kib = proc_kib("/proc/self/status", "VmHWM:");
    println!("{} {peak_kib}", newest.matched);
}

/// Writes a log of about `mib` MiB: `ERROR` in every 100th line, `WARN` in every 10th
/// (other) line. Returns the path and the number of lines.
fn write_file(path: &Path, mib: u64, json: bool) -> (std::path::PathBuf, u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut written, mut n) = (0u64, 0u64);
    while written < mib * 1024 * 1024 {
        let level = if n % 100 == 0 {
            "ERROR"
        } else if n % 10 == 1 {
            "WARN"
        } else {
            "INFO"
        };
        let ts = format!(
            "2025-03-01T{:02}:{:02}:{:02}.{:03}Z",
            10 + (n / 3_600_000) % 10,
            (n / 60_000) % 60,
            (n / 1000) % 60,
            n % 1000
        );
        let line = if json {
            format!(
                "{{\"ts\":\"{ts}\",\"level\":\"{level}\",\"pod\":\"cart-7c9d-{}\",\"msg\":\"request path=/api/cart/{n} method=GET status={} took={}ms\"}}\n",
                n % 7,
                if level == "INFO" { 200 } else { 503 },
                n % 900
            )
        } else {
            format!(
                "{ts} {level} request path=/api/cart/{n} method=GET status={} took={}ms user=u{}\n",
                if level == "INFO" { 200 } else { 503 },
                n % 900,
                n % 5000
            )
        };
        f.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        n += 1;
    }
    f.flush().unwrap();
    (path.to_path_buf(), n)
}

/// Drops `path` from the page cache (`dd iflag=nocache`) and reads it back: the kernel's
/// read-ahead then caches it in huge pages, as it does a log read from disk, where a file
/// just written line by line sits in small ones. ripgrep maps huge pages whole and runs
/// up to twice as fast on them (docs/benchmarks.md), so the two states are measured apart.
fn reread_from_disk(path: &Path) {
    let dropped = Command::new("dd")
        .arg(format!("if={}", path.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()
        .unwrap();
    assert!(dropped.success(), "dd could not drop {}", path.display());
    let mut f = std::fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut std::io::sink()).unwrap();
}

/// `FileHugePages` of `/proc/meminfo`, MiB (0 where it cannot be read).
fn file_huge_pages_mib() -> u64 {
    proc_kib("/proc/meminfo", "FileHugePages:") / 1024
}

/// The `key` line's kilobytes in a `/proc` file of `key  N kB` lines (0 where it cannot
/// be read).
fn proc_kib(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
