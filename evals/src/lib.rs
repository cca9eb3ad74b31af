//! # loglens-evals
//!
//! The eval harness (issue 6) will live here: it replays the golden dataset (`golden/`)
//! through the analysis pipelines and scores router and extraction accuracy. It is an
//! empty crate until then, so the workspace layout is in place; nothing here is used yet.
