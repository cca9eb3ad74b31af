-- Feedback on stored analyses (POST /v1/feedback, src/feedback.rs): a person confirms an
-- answer or corrects it. Confirmed and corrected answers are exported as golden-case
-- candidates (loglens feedback export), which is how the eval set learns from use.
CREATE TABLE feedback (
    id          TEXT PRIMARY KEY,   -- UUID
    analysis_id TEXT NOT NULL,      -- the analysis it is about (analyses.id)
    created_at  TEXT NOT NULL,      -- RFC 3339, UTC
    verdict     TEXT NOT NULL,      -- correct | incorrect
    correction  TEXT,               -- JSON: the corrected fields, when incorrect
    comment     TEXT,               -- free text
    author      TEXT NOT NULL,      -- the API key's id, or "anonymous" / "cli"
    exported_at TEXT                -- when it was written out as a golden-case candidate
);
CREATE INDEX feedback_analysis ON feedback (analysis_id);
