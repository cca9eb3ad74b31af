//! `cases.csv` in a run's folder: one row per case, for a spreadsheet or a diff of two runs.

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One row per case: the scores, as `cases.csv`.
pub(super) fn cases_csv(scores: &[loglens_evals::score::CaseScore]) -> String {
    let mut csv = String::from(
        "case,source,answered,cause,component,severity,route,signature,root_cause_overlap,summary_rouge_l,retrieval_recall,retrieval_rr,failure\n",
    );
    for s in scores {
        let cells = [
            csv_field(&s.case),
            csv_field(&s.source),
            s.answered.to_string(),
            s.cause.to_string(),
            s.component.to_string(),
            s.severity.to_string(),
            s.route.map_or(String::new(), |r| r.to_string()),
            s.signature.to_string(),
            format!("{:.3}", s.root_cause_overlap),
            format!("{:.3}", s.summary_rouge_l),
            s.retrieval
                .map_or(String::new(), |r| format!("{:.3}", r.recall)),
            s.retrieval
                .map_or(String::new(), |r| format!("{:.3}", r.reciprocal_rank)),
            csv_field(s.failure.as_deref().unwrap_or("")),
        ];
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}
