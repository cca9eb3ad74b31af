//! Tool results as the model reads them: each result cut to its share of the context,
//! its rows turned into numbered lines the answer may cite.
use super::*;

/// Turns tool results into text for the model, adding their lines (numbered after the
/// existing ones) to `lines`. Each round gets `cfg.result_tokens`; lines are kept whole,
/// the most recent first when there is not room for all.
pub(super) fn render_results(
    records: &[ToolRecord],
    lines: &mut Vec<LineRef>,
    cfg: &SpecialistConfig,
    pseudonyms: &Mutex<Pseudonyms>,
) -> String {
    let mut out: Vec<String> = Vec::new();
    let share = cfg.result_tokens / records.len().max(1);
    for r in records {
        let args = clip(&r.arguments.to_string(), 300);
        match (&r.status, &r.output) {
            (CallStatus::Ok, Some(v)) => {
                // Lines that speak to the model are not shown to it (evidence::screen).
                let (new, withheld) = crate::evidence::screen::keep_clean(
                    result_lines(&r.tool, v, cfg.max_line_chars),
                    |l: &LineRef| l.text.as_str(),
                );
                let mut used = 0usize;
                let mut keep: Vec<LineRef> = Vec::new();
                for l in new.into_iter().rev() {
                    let cost = estimate_tokens(&l.text) + 16;
                    if used + cost > share {
                        break;
                    }
                    used += cost;
                    keep.push(l);
                }
                keep.reverse();
                // Counted without the withheld ones: the model is not told about lines
                // it must not read (the answer's evidence lists them for people).
                let total = result_count(&r.tool, v).saturating_sub(withheld);
                out.push(format!(
                    "{} {args}: {} result(s){}",
                    r.tool,
                    total,
                    if keep.len() < total {
                        format!(", {} shown", keep.len())
                    } else {
                        String::new()
                    }
                ));
                for mut l in keep {
                    l.n = lines.len() + 1;
                    if let Ok(mut p) = pseudonyms.lock()
                        && !p.is_empty()
                    {
                        l.text = p.mask(&l.text);
                    }
                    out.push(render_line(&l));
                    lines.push(l);
                }
            }
            _ => out.push(format!(
                "{} {args}: {:?}: {}",
                r.tool,
                r.status,
                r.error.as_deref().unwrap_or("failed")
            )),
        }
    }
    out.join("\n")
}

pub(super) fn result_count(tool: &str, v: &Value) -> usize {
    let keys: &[&str] = match tool {
        "k8s_events" => &["events"],
        "k8s_state" => &["objects", "abnormal"],
        "log_patterns" => &["patterns"],
        _ => &["lines"],
    };
    keys.iter()
        .map(|k| v[*k].as_array().map_or(0, Vec::len))
        .sum()
}

/// The citable lines of a tool's output.
pub(super) fn result_lines(tool: &str, v: &Value, max_chars: usize) -> Vec<LineRef> {
    match tool {
        "query_logs" => serde_json::from_value::<QueryLogsOutput>(v.clone())
            .map(|o| {
                o.lines
                    .into_iter()
                    .map(|l| LineRef {
                        n: 0,
                        source: l.source,
                        line_no: l.line_no,
                        timestamp: l.timestamp,
                        labels: l.labels,
                        text: clip(&l.line, max_chars),
                        similar: 0,
                        why: None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "k8s_events" => v["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| serde_json::from_value::<K8sEvent>(e.clone()).ok())
                    .enumerate()
                    .map(|(i, e)| event_line(&e, i, 0))
                    .collect()
            })
            .unwrap_or_default(),
        "k8s_state" => serde_json::from_value::<K8sStateOutput>(v.clone())
            .map(|o| {
                let rows = o.objects.into_iter().enumerate().map(|(i, r)| LineRef {
                    n: 0,
                    source: "k8s_state".into(),
                    line_no: i as u64 + 1,
                    timestamp: None,
                    labels: Default::default(),
                    text: clip(&format!("{} {}: {}", r.kind, r.name, r.state), max_chars),
                    similar: 0,
                    why: None,
                });
                let facts = o
                    .abnormal
                    .iter()
                    .enumerate()
                    .map(|(i, e)| event_line(e, i, 0))
                    .collect::<Vec<_>>();
                rows.chain(facts).collect()
            })
            .unwrap_or_default(),
        "log_patterns" => v["patterns"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| serde_json::from_value::<Pattern>(p.clone()).ok())
                    .enumerate()
                    .map(|(i, p)| LineRef {
                        n: 0,
                        source: "log_patterns".into(),
                        line_no: i as u64 + 1,
                        timestamp: p.last_seen,
                        labels: Default::default(),
                        text: clip(
                            &format!("pattern (x{}): {}", p.count, p.template),
                            max_chars,
                        ),
                        similar: 0,
                        why: None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}
