//! The scope of a question: which logs it is about.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::LogFilter;

/// Which logs a question is about, as a user gives it: labels, a time window, a text
/// filter. The one scope type from the CLI's flags (`ScopeArgs`), the HTTP API and an
/// alert to the golden cases' `filters` and the router; [`Scope::to_filter`] turns it
/// into the [`LogFilter`] the log sources read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Pod or workload name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Window start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Window end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// Window as "this long ago until now" (`15m`, `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Regex lines must match instead of the default error filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Consider every line (no text filter).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_lines: bool,
}

impl Scope {
    /// Whether it names a namespace, pod, container or node.
    pub fn names_labels(&self) -> bool {
        self.namespace.is_some()
            || self.pod.is_some()
            || self.container.is_some()
            || self.node.is_some()
    }

    /// Whether it names a time window.
    pub fn has_window(&self) -> bool {
        self.since.is_some() || self.start.is_some() || self.end.is_some()
    }

    /// Builds the [`LogFilter`], checking the window; `now` anchors `since`.
    pub fn to_filter(&self, now: DateTime<Utc>) -> Result<LogFilter, String> {
        if self.since.is_some() && self.start.is_some() {
            return Err("give either since or start, not both".into());
        }
        let start = match &self.since {
            Some(s) => {
                let d = super::parse_since(s).ok_or_else(|| {
                    format!(
                        "since {s:?} is not a duration like 15m, 1h or 2h30m (at most {} days)",
                        super::MAX_SINCE_DAYS
                    )
                })?;
                Some(
                    super::time_before(now, d)
                        .ok_or_else(|| format!("since {s:?} reaches before the earliest time"))?,
                )
            }
            None => self.start,
        };
        let filter = if self.all_lines {
            LogFilter::default()
        } else if let Some(p) = &self.pattern {
            LogFilter::default()
                .with_pattern(Some(p))
                .map_err(|e| e.to_string())?
        } else {
            LogFilter::errors()
        };
        let filter = LogFilter {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            container: self.container.clone(),
            node: self.node.clone(),
            start,
            end: self.end,
            ..filter
        };
        filter.validate().map_err(|e| e.to_string())?;
        Ok(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_and_start_conflict() {
        let f = Scope {
            since: Some("1h".into()),
            start: Some(Utc::now()),
            ..Default::default()
        };
        assert!(f.to_filter(Utc::now()).is_err());
    }

    #[test]
    fn since_sets_the_window_start() {
        let now = Utc::now();
        let f = Scope {
            since: Some("90m".into()),
            ..Default::default()
        }
        .to_filter(now)
        .unwrap_or_default();
        assert_eq!(f.start, Some(now - chrono::Duration::minutes(90)));
    }

    #[test]
    fn a_since_too_long_to_subtract_is_refused_not_a_panic() {
        let f = Scope {
            since: Some("9999999999h".into()),
            ..Scope::default()
        };
        let e = f.to_filter(Utc::now()).unwrap_err();
        assert!(e.contains("at most"), "{e}");
    }

    #[test]
    fn bad_since_is_explained() {
        let err = Scope {
            since: Some("yesterday".into()),
            ..Default::default()
        }
        .to_filter(Utc::now())
        .err()
        .unwrap_or_default();
        assert!(err.contains("15m"), "{err}");
    }

    #[test]
    fn default_is_the_error_filter() {
        let f = Scope::default().to_filter(Utc::now()).unwrap_or_default();
        assert_eq!(
            f.pattern.map(|p| p.as_str().to_string()).as_deref(),
            Some(super::super::DEFAULT_ERROR_FILTER)
        );
    }
}
