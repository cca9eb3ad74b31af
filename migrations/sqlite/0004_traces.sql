-- Traces of loglens's own runs (`loglens trace ID`): each analysis keeps the id of the
-- trace it ran in, and every span of that trace is kept here as it ends. The same spans go
-- to Tempo over OTLP when an endpoint is configured; these rows make a run reviewable
-- without one.
ALTER TABLE analyses ADD COLUMN trace_id TEXT;
CREATE INDEX analyses_trace_id ON analyses (trace_id);
CREATE TABLE trace_spans (
    trace_id        TEXT NOT NULL,          -- 32 hex digits
    span_id         TEXT NOT NULL,          -- 16 hex digits
    parent_span_id  TEXT,                   -- NULL for the root
    name            TEXT NOT NULL,          -- e.g. "chat SmolLM2", "execute_tool logql_query"
    kind            TEXT NOT NULL,          -- internal | server | client | producer | consumer
    start_unix_ns   BIGINT NOT NULL,
    end_unix_ns     BIGINT NOT NULL,
    status          TEXT NOT NULL,          -- unset | ok | error[: description]
    attributes      TEXT NOT NULL,          -- JSON object
    PRIMARY KEY (trace_id, span_id)
);
