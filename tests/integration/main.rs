//! Integration tests of the `loglens` binary crate, in one test binary.
//!
//! They run against real servers that `scripts/test.sh` starts: llama-server with the tiny
//! SmolLM2 model (`LOGLENS_TEST_MODEL_URL`), the embedding server (`LOGLENS_TEST_EMBED_URL`)
//! and PostgreSQL (`LOGLENS_TEST_DATABASE_URL`).
//! Faults a real model server cannot be made to produce use the scripted fake from
//! `loglens_agents::test_utils`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adversarial; // requests and log lines built to break loglens: overflowing times, panics, hang-ups, secrets
mod auth; // API keys and rate limits
mod cli; // the `loglens` executable: --help, ask, errors
mod deploy; // the loglens.toml in the Kubernetes ConfigMaps loads
mod feedback; // feedback, the review queue, golden-case candidates
mod http; // the HTTP API: both analyze endpoints, SSE framing, bad input, readiness
mod hybrid; // embeddings, the vector index, loglens index, /v2 and A/B
mod incidents; // Alertmanager and Slack in, reports out: the bots end to end
mod insights; // summary, triage, what changed, cascade (HTTP and CLI)
mod limits; // backpressure (429 + Retry-After) and CORS
mod openapi; // /openapi.json: routes exist, responses fit the schemas
mod queue; // the durable job queue on SQLite and PostgreSQL
mod store; // SQLite and PostgreSQL round trips
mod support; // shared fixtures
mod telemetry; // traces to a Tempo API (HTTP and gRPC), the database, JSON logs, /metrics
