//! Cascade correlation: which failing component started it.
//!
//! When Redis dies, the cart service fails, then the frontend: three components shout,
//! one is the cause. This builds a service graph (petgraph) of who calls whom from
//!
//! - **logs**: a line of A that names B (`dial tcp redis-cart:6379`, `payment service
//!   unavailable`) is an edge A → B (A depends on B);
//! - **traces**: lines of several components that carry one `trace_id` are one request;
//!   the component that logged first called the next (A → B);
//! - **events**: warning events (BackOff, OOMKilling, Unhealthy) mark a component failing,
//!   as its error lines do.
//!
//! Then, among the failing components, the *roots* are those with no failing dependency
//! (a sink of the failing subgraph; in a cycle, the sink strongly connected component).
//! The first to fail among them is named, with the chain from each symptom down to it.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use petgraph::algo::{has_path_connecting, kosaraju_scc};
use petgraph::graph::{DiGraph, NodeIndex};
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::triage::event_severity;
use super::{Evidence, Snapshot, component, line_severity};
use crate::Severity;
use crate::evidence::signatures::workload;

/// A component's state in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ComponentState {
    /// The workload.
    pub name: String,
    /// Whether it failed (error lines or warning events).
    pub failing: bool,
    /// Its first error line or warning event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<DateTime<Utc>>,
    /// Error lines.
    pub error_lines: u64,
    /// Warning events (with repeats).
    pub warning_events: u64,
}

/// How a dependency was found.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A line of the caller names the callee.
    Log,
    /// The caller and callee logged the same trace id, the caller first.
    Trace,
}

/// `from` depends on (calls) `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dependency {
    /// The caller.
    pub from: String,
    /// The callee.
    pub to: String,
    /// How it was found.
    pub via: Via,
    /// Lines (or traces) that show it.
    pub count: u64,
    /// Up to two of them.
    pub evidence: Vec<Evidence>,
}

/// The component named as the start of the cascade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Root {
    /// The workload.
    pub component: String,
    /// When it first failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<DateTime<Utc>>,
    /// Failing components that depend on it, directly or not.
    pub affected: Vec<String>,
    /// Why this one, in words.
    pub why: String,
    /// Its first failing lines or events.
    pub evidence: Vec<Evidence>,
}

/// The service graph and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cascade {
    /// The first failing component upstream, when anything failed.
    pub root: Option<Root>,
    /// Other failing components with no failing dependency (independent problems).
    pub other_roots: Vec<String>,
    /// Every component seen, failing ones first.
    pub components: Vec<ComponentState>,
    /// The dependencies found.
    pub dependencies: Vec<Dependency>,
    /// From each failing symptom down to the root.
    pub chains: Vec<Vec<String>>,
}

static TRACE_ID: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)trace[_-]?id["']?\s*[:=]\s*["']?([0-9a-f]{16,32})\b"#).ok());

/// One line of a trace: when, and which component wrote it.
type Hop = (Option<DateTime<Utc>>, String);

/// A name without service-ish suffixes and a plural `s`: `payments` and `payment-service`
/// are both `payment`.
fn stem(name: &str) -> String {
    let mut s = name.to_ascii_lowercase();
    for suffix in ["-service", "service", "-svc", "-api", "-server"] {
        if s.len() > suffix.len() + 2
            && let Some(rest) = s.strip_suffix(suffix)
        {
            s = rest.trim_end_matches('-').to_string();
        }
    }
    if s.len() > 5
        && let Some(rest) = s.strip_suffix('s')
    {
        s = rest.to_string();
    }
    s
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| w.len() >= 3)
        .map(str::to_ascii_lowercase)
}

/// Builds the graph for a window and names the root, in four steps: who is failing
/// (with evidence), who depends on whom (log mentions and shared trace ids), the graph of
/// the failing components, and its sinks (a failing component none of whose
/// dependencies fails is where the cascade started).
pub fn cascade(window: &Snapshot) -> Cascade {
    let (states, failure_evidence) = component_states(window);
    let deps = dependencies(window, &states);
    let failing = FailingGraph::new(&states, &deps);
    let roots = failing.roots(&states);
    let root = roots
        .first()
        .map(|r| failing.explain(r, &states, &failure_evidence));
    let chains = match &root {
        Some(r) => r
            .affected
            .iter()
            .filter_map(|a| chain(&failing.graph, &failing.index, a, &r.component))
            .collect(),
        None => Vec::new(),
    };
    let mut components: Vec<ComponentState> = states.into_values().collect();
    components.sort_by(|a, b| {
        b.failing
            .cmp(&a.failing)
            .then(a.first_failure.is_none().cmp(&b.first_failure.is_none()))
            .then(a.first_failure.cmp(&b.first_failure))
            .then(a.name.cmp(&b.name))
    });
    Cascade {
        other_roots: roots.iter().skip(1).cloned().collect(),
        root,
        components,
        dependencies: deps.into_values().collect(),
        chains,
    }
}

/// Every component the window shows (by its lines and its warning events), whether it
/// is failing (an error line, or an event of error severity), since when, and up to
/// three pieces of evidence of its failure.
fn component_states(
    window: &Snapshot,
) -> (
    BTreeMap<String, ComponentState>,
    BTreeMap<String, Vec<Evidence>>,
) {
    let mut states: BTreeMap<String, ComponentState> = BTreeMap::new();
    let mut failure_evidence: BTreeMap<String, Vec<Evidence>> = BTreeMap::new();
    let state = |states: &mut BTreeMap<String, ComponentState>, name: &str| {
        states
            .entry(name.to_string())
            .or_insert_with(|| ComponentState {
                name: name.to_string(),
                failing: false,
                first_failure: None,
                error_lines: 0,
                warning_events: 0,
            });
    };
    for l in &window.lines {
        let c = component(l);
        state(&mut states, &c);
        if line_severity(&l.text).is_some_and(|s| s >= Severity::Error)
            && let Some(s) = states.get_mut(&c)
        {
            s.failing = true;
            s.error_lines += 1;
            if let Some(t) = l.timestamp {
                s.first_failure = Some(s.first_failure.map_or(t, |f| f.min(t)));
            }
            let ev = failure_evidence.entry(c).or_default();
            if ev.len() < 3 && !ev.iter().any(|e| e.text == l.text) {
                ev.push(Evidence::line(l));
            }
        }
    }
    for e in window.events.iter().filter(|e| e.is_warning()) {
        let c = workload(&e.name);
        state(&mut states, &c);
        if event_severity(&e.reason) >= Severity::Error
            && let Some(s) = states.get_mut(&c)
        {
            s.failing = true;
            s.warning_events += u64::from(e.count.max(1));
            if let Some(t) = e.last_seen {
                s.first_failure = Some(s.first_failure.map_or(t, |f| f.min(t)));
            }
            let ev = failure_evidence.entry(c).or_default();
            if ev.len() < 3 {
                ev.push(Evidence::event(e));
            }
        }
    }
    (states, failure_evidence)
}

/// Dependencies, keyed by (from, to, how seen).
type Dependencies = BTreeMap<(String, String, Via), Dependency>;

/// Counts one sighting of `from` depending on `to` (with up to two lines of evidence).
fn add_dependency(deps: &mut Dependencies, from: &str, to: &str, via: Via, ev: Option<Evidence>) {
    let d = deps
        .entry((from.to_string(), to.to_string(), via))
        .or_insert_with(|| Dependency {
            from: from.to_string(),
            to: to.to_string(),
            via,
            count: 0,
            evidence: Vec::new(),
        });
    d.count += 1;
    if let Some(e) = ev
        && d.evidence.len() < 2
        && !d.evidence.iter().any(|x| x.text == e.text)
    {
        d.evidence.push(e);
    }
}

/// Who depends on whom: a component whose line names another (by name or by its stem,
/// `cartservice` for `cart`), and, for lines that share a trace id, the component that
/// logged first calling the next.
fn dependencies(window: &Snapshot, states: &BTreeMap<String, ComponentState>) -> Dependencies {
    let by_stem: BTreeMap<String, String> = states
        .keys()
        .filter(|n| stem(n).len() >= 4)
        .map(|n| (stem(n), n.clone()))
        .collect();
    let mut deps = Dependencies::new();
    for l in &window.lines {
        let from = component(l);
        let mut named = BTreeSet::new();
        for w in words(&l.text) {
            let target = states
                .get_key_value(w.as_str())
                .map(|(k, _)| k.clone())
                .or_else(|| by_stem.get(&stem(&w)).cloned());
            if let Some(to) = target
                && to != from
            {
                named.insert(to);
            }
        }
        for to in named {
            add_dependency(&mut deps, &from, &to, Via::Log, Some(Evidence::line(l)));
        }
    }
    let mut traces: BTreeMap<String, Vec<Hop>> = BTreeMap::new();
    for l in &window.lines {
        let id = l.label("trace_id").map(str::to_string).or_else(|| {
            TRACE_ID
                .as_ref()
                .and_then(|r| r.captures(&l.text))
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_ascii_lowercase())
        });
        if let Some(id) = id {
            traces
                .entry(id)
                .or_default()
                .push((l.timestamp, component(l)));
        }
    }
    for (_, mut hops) in traces {
        hops.sort_by_key(|h| h.0);
        let mut order: Vec<String> = Vec::new();
        for (_, c) in hops {
            if order.last() != Some(&c) && !order.contains(&c) {
                order.push(c);
            }
        }
        for pair in order.windows(2) {
            add_dependency(&mut deps, &pair[0], &pair[1], Via::Trace, None);
        }
    }
    deps
}

/// The dependency graph restricted to the failing components (petgraph).
struct FailingGraph {
    graph: DiGraph<String, ()>,
    index: BTreeMap<String, NodeIndex>,
    failing: BTreeSet<String>,
}

impl FailingGraph {
    fn new(states: &BTreeMap<String, ComponentState>, deps: &Dependencies) -> Self {
        let mut all: DiGraph<String, ()> = DiGraph::new();
        let mut all_index: BTreeMap<String, NodeIndex> = BTreeMap::new();
        for name in states.keys() {
            all_index.insert(name.clone(), all.add_node(name.clone()));
        }
        for d in deps.values() {
            if let (Some(&a), Some(&b)) = (all_index.get(&d.from), all_index.get(&d.to))
                && all.find_edge(a, b).is_none()
            {
                all.add_edge(a, b, ());
            }
        }
        let failing: BTreeSet<String> = states
            .values()
            .filter(|s| s.failing)
            .map(|s| s.name.clone())
            .collect();
        let mut graph: DiGraph<String, ()> = DiGraph::new();
        let mut index: BTreeMap<String, NodeIndex> = BTreeMap::new();
        for f in &failing {
            index.insert(f.clone(), graph.add_node(f.clone()));
        }
        for e in all.edge_indices() {
            if let Some((a, b)) = all.edge_endpoints(e)
                && let (Some(&fa), Some(&fb)) = (index.get(&all[a]), index.get(&all[b]))
            {
                graph.add_edge(fa, fb, ());
            }
        }
        Self {
            graph,
            index,
            failing,
        }
    }

    /// The roots, most affected first: a failing component in a strongly connected
    /// component with no edge out to another failing one (in a cycle, the member that
    /// failed first).
    fn roots(&self, states: &BTreeMap<String, ComponentState>) -> Vec<String> {
        let mut roots: Vec<String> = Vec::new();
        for scc in kosaraju_scc(&self.graph) {
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let leaves = scc
                .iter()
                .all(|&n| self.graph.neighbors(n).all(|m| members.contains(&m)));
            if leaves {
                let first = scc
                    .iter()
                    .map(|&n| self.graph[n].clone())
                    .min_by(|a, b| by_first_failure(states, a, b));
                roots.extend(first);
            }
        }
        roots.sort_by(|a, b| {
            self.affected(b)
                .len()
                .cmp(&self.affected(a).len())
                .then_with(|| by_first_failure(states, a, b))
        });
        roots
    }

    /// The failing components that reach `root` through the graph.
    fn affected(&self, root: &str) -> Vec<String> {
        let Some(&r) = self.index.get(root) else {
            return Vec::new();
        };
        self.failing
            .iter()
            .filter(|f| f.as_str() != root)
            .filter(|f| {
                self.index
                    .get(*f)
                    .is_some_and(|&n| has_path_connecting(&self.graph, n, r, None))
            })
            .cloned()
            .collect()
    }

    /// The root `r`, what it took down with it, and why it is the root, in words.
    fn explain(
        &self,
        r: &str,
        states: &BTreeMap<String, ComponentState>,
        failure_evidence: &BTreeMap<String, Vec<Evidence>>,
    ) -> Root {
        let affected = self.affected(r);
        let first_failure = states.get(r).and_then(|s| s.first_failure);
        let when = first_failure
            .map(|t| format!(" at {}", t.format("%H:%M:%S")))
            .unwrap_or_default();
        let why = if affected.is_empty() {
            format!("{r} failed{when} and none of the components it depends on was failing")
        } else {
            format!(
                "{r} failed{when} with no failing dependency of its own; {} depend{} on it and failed too",
                affected.join(", "),
                if affected.len() == 1 { "s" } else { "" }
            )
        };
        Root {
            component: r.to_string(),
            first_failure,
            affected,
            why,
            evidence: failure_evidence.get(r).cloned().unwrap_or_default(),
        }
    }
}

fn by_first_failure(
    states: &BTreeMap<String, ComponentState>,
    a: &str,
    b: &str,
) -> std::cmp::Ordering {
    let t = |n: &str| states.get(n).and_then(|s| s.first_failure);
    match (t(a), t(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
    .then_with(|| a.cmp(b))
}

/// The shortest path from `from` to `to` in the failing graph (breadth first).
fn chain(
    g: &DiGraph<String, ()>,
    idx: &BTreeMap<String, NodeIndex>,
    from: &str,
    to: &str,
) -> Option<Vec<String>> {
    let (&s, &t) = (idx.get(from)?, idx.get(to)?);
    let mut prev: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([s]);
    let mut seen = BTreeSet::from([s]);
    while let Some(n) = queue.pop_front() {
        if n == t {
            let mut path = vec![g[t].clone()];
            let mut cur = t;
            while let Some(&p) = prev.get(&cur) {
                path.push(g[p].clone());
                cur = p;
            }
            path.reverse();
            return Some(path);
        }
        for m in g.neighbors(n) {
            if seen.insert(m) {
                prev.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
