//! The typed-tool interface.
//!
//! A **tool** is a function an agent may call. Each one has a name (a snake_case verb), a
//! description the model reads, arguments described by a JSON Schema generated from a Rust
//! type (so the model's call can be constrained to it and validated before it runs), and a
//! serializable output (so an eval can record it and replay it later without the backend).
//!
//! Errors a tool returns are [`ToolError`]s: `InvalidQuery`/`InvalidFilter` carry text
//! written for the model to fix its call; the rest say whether a retry could help
//! ([`ToolError::retryable`]).
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ToolError;

/// A typed tool.
#[async_trait]
pub trait Tool: Send + Sync {
    /// The name the model calls it by.
    const NAME: &'static str;
    /// Its arguments.
    type Args: DeserializeOwned + JsonSchema + Send;
    /// What it returns.
    type Output: Serialize + Send;

    /// What it does and when to use it, for the model.
    fn description(&self) -> String;

    /// Runs it.
    async fn call(&self, args: Self::Args) -> Result<Self::Output, ToolError>;

    /// The JSON Schema of its arguments.
    fn parameters() -> Value {
        let settings =
            schemars::generate::SchemaSettings::draft07().with(|s| s.inline_subschemas = true);
        let mut v = settings
            .into_generator()
            .into_root_schema_for::<Self::Args>()
            .to_value();
        if let Some(o) = v.as_object_mut() {
            o.remove("$schema");
            o.remove("title");
        }
        v
    }

    /// Runs it from JSON arguments (as a model writes them): arguments that do not fit the
    /// schema are an [`ToolError::InvalidQuery`] naming the problem.
    async fn call_json(&self, args: Value) -> Result<Value, ToolError> {
        let args: Self::Args = serde_json::from_value(args).map_err(|e| {
            ToolError::InvalidQuery(format!(
                "arguments for {} do not fit its schema: {e}",
                Self::NAME
            ))
        })?;
        let out = self.call(args).await?;
        serde_json::to_value(out)
            .map_err(|e| ToolError::Task(format!("{} output: {e}", Self::NAME)))
    }
}

/// A tool's `limit` argument, or `default` without one: at least 1 and at most `max`,
/// else an error written for the model to fix its call.
pub fn limit(given: Option<u32>, default: u32, max: u32) -> Result<u32, ToolError> {
    let limit = given.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ToolError::InvalidQuery(format!(
            "limit must be between 1 and {max}, got {limit}"
        )))
    }
}
