-- The durable work queue behind the incident bots (src/queue.rs): investigations started
-- by Alertmanager, questions asked in Slack, and the deliveries of their reports. A row is
-- claimed with a lease (lease_owner, lease_until) so one job never runs twice at once; a
-- worker that dies lets its lease run out and another worker resumes the job. Times are
-- Unix milliseconds (BIGINT), so comparisons are numeric on both databases.
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,       -- UUID
    kind            TEXT NOT NULL,          -- investigate | answer | deliver
    dedupe_key      TEXT NOT NULL UNIQUE,   -- e.g. alert:<fingerprint>:<startsAt>: a second copy is not queued
    group_key       TEXT,                   -- Alertmanager's groupKey (or the Slack thread)
    payload         TEXT NOT NULL,          -- JSON: the alert, the question, or the report to deliver
    status          TEXT NOT NULL,          -- queued | running | done | dead
    attempts        BIGINT NOT NULL,        -- runs started so far
    max_attempts    BIGINT NOT NULL,        -- runs allowed before the job is dead (a dead letter)
    next_attempt_at BIGINT NOT NULL,        -- not claimed before this (backoff, Retry-After)
    lease_owner     TEXT,                   -- the worker running it
    lease_until     BIGINT,                 -- the lease runs out here unless renewed
    last_error      TEXT,                   -- why the last run failed
    result          TEXT,                   -- JSON, when done: the analysis id, the message id
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    resolved_at     BIGINT                  -- when Alertmanager said the alert resolved
);
CREATE INDEX jobs_ready ON jobs (status, next_attempt_at);
CREATE INDEX jobs_group ON jobs (group_key);
