//! Route modules; each exports a `router()`.
pub mod analyze;
pub mod health;
pub mod metrics;
