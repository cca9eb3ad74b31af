//! Route modules; each exports a `router()`.
pub mod alerts;
pub mod analyze;
pub mod feedback;
pub mod health;
pub mod insights;
pub mod metrics;
pub mod slack;
