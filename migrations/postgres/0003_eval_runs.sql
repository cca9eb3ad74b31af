-- Every eval run (`loglens eval`): what ran, over which cases, what it scored, and whether
-- it drifted from the last good run of the same variant over the same cases.
CREATE TABLE eval_runs (
    id           TEXT PRIMARY KEY,          -- <UTC time>-<variant>, as the report folder is named
    created_at   TEXT NOT NULL,             -- RFC 3339, UTC
    variant      TEXT NOT NULL,             -- evidence | agents | baseline, plus options (e.g. agents+no-consensus)
    model        TEXT,                      -- NULL for the evidence variant
    case_set     TEXT NOT NULL,             -- hash of the case ids: runs are compared only over the same cases
    cases        BIGINT NOT NULL,
    metrics      TEXT NOT NULL,             -- JSON: the run's metrics
    scores       TEXT NOT NULL,             -- JSON: per-case scores
    compared_to  TEXT,                      -- the run drift was measured against (NULL for the first)
    drift        TEXT NOT NULL,             -- JSON array of metrics that dropped past the threshold
    good         BIGINT NOT NULL,           -- 1 when nothing drifted: later runs compare to it
    report_dir   TEXT NOT NULL
);
CREATE INDEX eval_runs_variant ON eval_runs (variant, case_set, created_at);
