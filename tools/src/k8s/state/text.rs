//! The text of `kubectl` output: table rows by column name, `key=value` labels,
//! `READY` ratios, `describe` blocks and their sections.

use std::collections::BTreeMap;

use super::{ContainerState, ServicePort};
use crate::k8s::parse::{cell, columns};

/// The rows of a fixed-width table as maps from column name to cell.
pub(super) fn table(text: &str, names: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let cols = columns(header, names);
    if cols.first().copied().flatten() != Some(0) {
        return Vec::new();
    }
    // Each column ends where the next present one starts.
    let mut present: Vec<(usize, &str)> = cols
        .iter()
        .zip(names)
        .filter_map(|(c, n)| c.map(|c| (c, *n)))
        .collect();
    present.sort_unstable();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // Every asked-for column is in the row (empty when the header lacks it): a
            // table of another shape under a known command reads as blanks, not a panic.
            let mut row: BTreeMap<String, String> = names
                .iter()
                .map(|n| (n.to_string(), String::new()))
                .collect();
            for (i, (start, name)) in present.iter().enumerate() {
                let end = present.get(i + 1).map(|(s, _)| *s);
                row.insert(name.to_string(), cell(l, Some(*start), end));
            }
            row
        })
        .collect()
}

pub(super) fn labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub(super) fn selector_of(row: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    row.get("SELECTOR")
        .and_then(|s| some(s))
        .map(|s| labels(&s))
        .unwrap_or_default()
}

pub(super) fn ratio(text: &str) -> (u32, u32) {
    text.split_once('/')
        .map(|(a, b)| (a.trim().parse().unwrap_or(0), b.trim().parse().unwrap_or(0)))
        .unwrap_or((0, 0))
}

pub(super) fn number(text: &str) -> u32 {
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub(super) fn some(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty() && t != "<none>" && t != "<unset>").then(|| t.to_string())
}

/// `Field:   value` of a describe block (first match, at any indent).
pub(super) fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(name))
        .map(str::trim)
}

/// The objects a recorded `get` printed as JSON or YAML (not a table).
pub(super) fn recorded_objects(out: &str) -> Option<serde_json::Value> {
    let t = out.trim_start();
    if t.starts_with('{') {
        serde_json::from_str(out).ok()
    } else if t.starts_with("apiVersion:") || t.starts_with("---") || t.starts_with("items:") {
        crate::k8s::yaml::objects(out)
    } else {
        None
    }
}

pub(super) fn find_or_push<T>(
    v: &mut Vec<T>,
    pred: impl Fn(&T) -> bool,
    make: impl FnOnce() -> T,
) -> &mut T {
    let i = match v.iter().position(pred) {
        Some(i) => i,
        None => {
            v.push(make());
            v.len() - 1
        }
    };
    &mut v[i]
}

pub(super) fn upsert<T>(v: &mut Vec<T>, item: T, same: impl Fn(&T, &T) -> bool) {
    match v.iter_mut().find(|o| same(o, &item)) {
        Some(o) => *o = item,
        None => v.push(item),
    }
}

/// Several objects' `describe` output, one block each (a block starts at `Name:`).
pub(super) fn split_describe(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("Name:") {
            starts.push(at);
        }
        at += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| &text[s..starts.get(i + 1).copied().unwrap_or(text.len())])
        .collect()
}

/// `Ready  False|Unknown  <times...>  Reason  Message` → `Reason: Message` when not True.
pub(super) fn condition_reason(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let status = words.get(1)?;
    if *status == "True" {
        return None;
    }
    // Times are `Mon, 02 Jan 2006 15:04:05 -0700` (6 words) twice; reason and message follow.
    let rest = words.get(14..).map(|w| w.join(" ")).unwrap_or_default();
    Some(
        format!("Ready {status}: {rest}")
            .trim_end_matches(": ")
            .to_string(),
    )
}

pub(super) fn describe_containers(block: &str) -> Vec<ContainerState> {
    let mut out: Vec<ContainerState> = Vec::new();
    let mut inside = false;
    let mut in_env = false;
    for l in block.lines() {
        if !l.starts_with(' ') {
            inside = l.starts_with("Containers:");
            in_env = false;
            continue;
        }
        if !inside {
            continue;
        }
        let indent = l.len() - l.trim_start().len();
        let t = l.trim();
        if indent == 2 && t.ends_with(':') && !t.contains(' ') {
            out.push(ContainerState {
                name: t.trim_end_matches(':').to_string(),
                ..ContainerState::default()
            });
            continue;
        }
        let Some(c) = out.last_mut() else { continue };
        if indent == 4 {
            in_env = t.trim_end_matches(':') == "Environment";
        } else if in_env && indent > 4 {
            if let Some((k, v)) = t.split_once(':') {
                c.env.push((k.trim().to_string(), v.trim().to_string()));
            }
            continue;
        }
        if let Some(p) = t.strip_prefix("Port:").or_else(|| t.strip_prefix("Ports:")) {
            for spec in p.split(',') {
                if let Some((port, proto)) = spec.trim().split_once('/')
                    && let Ok(port) = port.trim().parse()
                {
                    c.ports.push((port, proto.trim().to_string()));
                }
            }
        } else if let Some(p) = t.strip_prefix("Liveness:") {
            c.liveness = Some(p.trim().to_string());
        } else if let Some(p) = t.strip_prefix("Readiness:") {
            c.readiness = Some(p.trim().to_string());
        }
    }
    out
}

/// `Port: name 6379/TCP` then `TargetPort: 6380/TCP`, per port.
pub(super) fn describe_service_ports(block: &str) -> Vec<ServicePort> {
    let mut out: Vec<ServicePort> = Vec::new();
    for l in block.lines() {
        if let Some(p) = l.strip_prefix("Port:") {
            let spec = p.split_whitespace().last().unwrap_or("");
            let (port, proto) = spec.split_once('/').unwrap_or((spec, "TCP"));
            out.push(ServicePort {
                port: port.parse().unwrap_or(0),
                target: port.to_string(),
                protocol: proto.to_string(),
            });
        } else if let Some(t) = l.strip_prefix("TargetPort:")
            && let Some(last) = out.last_mut()
        {
            let spec = t.trim();
            let (target, proto) = spec.split_once('/').unwrap_or((spec, &last.protocol));
            last.target = target.to_string();
            last.protocol = proto.to_string();
        }
    }
    out
}
