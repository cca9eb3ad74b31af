-- API keys for the HTTP API (`loglens keys create|list|revoke`). Only a SHA-256 of each
-- key is kept: the key itself is shown once, when it is created.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,       -- 8 characters of the key after its prefix: safe to show and log
    name            TEXT NOT NULL,          -- who or what the key is for
    hash            TEXT NOT NULL UNIQUE,   -- hex SHA-256 of the whole key
    rate_per_minute BIGINT NOT NULL,        -- requests a minute before 429
    created_at      TEXT NOT NULL,          -- RFC 3339, UTC
    revoked_at      TEXT                    -- set when revoked: the key is refused from then on
);
