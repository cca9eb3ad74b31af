-- Every analysis loglens runs: the question, what it read, what it answered, and what it cost.
CREATE TABLE analyses (
    id                TEXT PRIMARY KEY,          -- UUID v4
    created_at        TEXT NOT NULL,             -- RFC 3339, UTC
    channel           TEXT NOT NULL,             -- cli | http | http-stream
    question          TEXT NOT NULL,
    filters           TEXT NOT NULL,             -- JSON: namespace, pod, container, node, window, pattern
    retrieved         TEXT NOT NULL,             -- JSON array of line references sent to the model
    matched_lines     BIGINT NOT NULL,           -- lines that matched the filters before the budget
    finding           TEXT,                      -- JSON Finding, NULL unless status = 'ok'
    model             TEXT NOT NULL,
    prompt_version    TEXT NOT NULL,
    status            TEXT NOT NULL,             -- ok | no_logs | model_unavailable | model_invalid_output | ...
    error             TEXT,                      -- message when status <> 'ok'
    latency_ms        DOUBLE PRECISION NOT NULL, -- wall time of the whole analysis
    model_ms          DOUBLE PRECISION NOT NULL, -- wall time spent in calls to the model server (completions, tokenizer)
    model_calls       BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    tokens_per_second DOUBLE PRECISION NOT NULL
);
CREATE INDEX analyses_created_at ON analyses (created_at);
CREATE INDEX analyses_status ON analyses (status);
