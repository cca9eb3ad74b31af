//! The pipeline's stages as a [`petgraph`] graph: what `loglens explain` prints.
//!
//! The run itself is a straight sequence of stage functions (`super::AgentPipeline::run`);
//! the graph describes it: which stage feeds which, and that the two specialists share a
//! layer and run in parallel.
use std::collections::BTreeSet;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

/// A stage of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Decide retrieval and specialists.
    Router,
    /// Read lines and events.
    Retrieval,
    /// Signatures, patterns, line choice.
    Evidence,
    /// The infra specialist.
    Infra,
    /// The app specialist.
    App,
    /// Merge the findings.
    Consensus,
}

impl Stage {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stage::Router => {
                "rules on the question's words and scope; the model (enum schema) when they disagree"
            }
            Stage::Retrieval => {
                "LogQL / file filter over the window (structured), or that scope searched by meaning and fused with recency (hybrid); plus Kubernetes events"
            }
            Stage::Evidence => {
                "signature library + Drain pattern miner; lines chosen by evidence, then recency"
            }
            Stage::Infra => {
                "tool loop (query_logs, k8s_events, k8s_state, log_patterns), then a finding in the evidence schema"
            }
            Stage::App => {
                "tool loop (query_logs, log_patterns), then a finding in the evidence schema"
            }
            Stage::Consensus => {
                "per-field majority vote over all samples; evidence united; disagreement kept"
            }
        }
    }
}

/// The pipeline's graph.
#[derive(Debug, Clone)]
pub struct PipelineGraph {
    graph: DiGraph<Stage, ()>,
}

impl Default for PipelineGraph {
    fn default() -> Self {
        let mut g = DiGraph::new();
        let router = g.add_node(Stage::Router);
        let retrieval = g.add_node(Stage::Retrieval);
        let evidence = g.add_node(Stage::Evidence);
        let infra = g.add_node(Stage::Infra);
        let app = g.add_node(Stage::App);
        let consensus = g.add_node(Stage::Consensus);
        for (a, b) in [
            (router, retrieval),
            (retrieval, evidence),
            (evidence, infra),
            (evidence, app),
            (infra, consensus),
            (app, consensus),
        ] {
            g.add_edge(a, b, ());
        }
        Self { graph: g }
    }
}

impl PipelineGraph {
    /// The stages in layers: each layer's stages depend only on earlier layers.
    pub fn layers(&self) -> Vec<Vec<Stage>> {
        let order = petgraph::algo::toposort(&self.graph, None).unwrap_or_default();
        let mut depth = vec![0usize; self.graph.node_count()];
        for &n in &order {
            for p in self.graph.neighbors_directed(n, Direction::Incoming) {
                depth[n.index()] = depth[n.index()].max(depth[p.index()] + 1);
            }
        }
        let mut layers: Vec<Vec<Stage>> = Vec::new();
        let mut by_layer = order.clone();
        by_layer.sort_by_key(|n| (depth[n.index()], n.index()));
        for &n in &by_layer {
            let d = depth[n.index()];
            if layers.len() <= d {
                layers.resize(d + 1, Vec::new());
            }
            layers[d].push(self.graph[n]);
        }
        layers
    }

    /// The graph as text, with what each stage does, and in Graphviz DOT.
    pub fn explain(&self) -> String {
        let mut out =
            String::from("loglens agent pipeline (stages in one layer run in parallel)\n\n");
        for (i, layer) in self.layers().iter().enumerate() {
            for stage in layer {
                let next: Vec<String> = self
                    .graph
                    .neighbors_directed(self.index(*stage), Direction::Outgoing)
                    .map(|n| format!("{:?}", self.graph[n]).to_lowercase())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let arrow = if next.is_empty() {
                    String::new()
                } else {
                    format!(" → {}", next.join(", "))
                };
                let head = format!(
                    "{}. {:<10}{arrow}",
                    i + 1,
                    format!("{stage:?}").to_lowercase()
                );
                out.push_str(&format!("{}\n     {}\n", head.trim_end(), stage.describe()));
            }
        }
        out.push_str("\nGraphviz:\n");
        out.push_str(&format!(
            "{:?}",
            petgraph::dot::Dot::with_config(&self.graph, &[petgraph::dot::Config::EdgeNoLabel])
        ));
        out
    }

    fn index(&self, stage: Stage) -> NodeIndex {
        self.graph
            .node_indices()
            .find(|&i| self.graph[i] == stage)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_put_the_specialists_side_by_side() {
        let layers = PipelineGraph::default().layers();
        assert_eq!(
            layers,
            vec![
                vec![Stage::Router],
                vec![Stage::Retrieval],
                vec![Stage::Evidence],
                vec![Stage::Infra, Stage::App],
                vec![Stage::Consensus],
            ]
        );
    }

    #[test]
    fn explain_names_every_stage_and_edge() {
        let text = PipelineGraph::default().explain();
        for s in [
            "router",
            "retrieval",
            "evidence",
            "infra",
            "app",
            "consensus",
            "digraph",
        ] {
            assert!(text.contains(s), "{s} missing in\n{text}");
        }
        assert!(text.contains("evidence   → app, infra"), "{text}");
    }
}
