//! [`LokiClient`]: Loki's HTTP API.
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::LokiError;

/// How to authenticate.
#[derive(Debug, Clone, Default)]
pub enum LokiAuth {
    /// No credentials.
    #[default]
    None,
    /// HTTP basic auth (Grafana Cloud, a gateway).
    Basic {
        /// User.
        user: String,
        /// Password.
        password: String,
    },
    /// A bearer token.
    Bearer(String),
}

/// Where Loki is and how to talk to it.
#[derive(Debug, Clone)]
pub struct LokiConfig {
    /// Base URL, e.g. `http://loki.monitoring:3100`.
    pub url: String,
    /// Tenant, sent as `X-Scope-OrgID` (multi-tenant Loki).
    pub tenant: Option<String>,
    /// Credentials.
    pub auth: LokiAuth,
    /// Longest one request may take.
    pub timeout: Duration,
    /// Retries after a 429, a 5xx or a connection failure.
    pub max_retries: u32,
    /// First backoff; doubled each retry (a `Retry-After` header wins, up to 10 s).
    pub backoff: Duration,
    /// How pushes are encoded.
    pub push_format: PushFormat,
}

/// How `push` encodes its body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PushFormat {
    /// Snappy-compressed protobuf, as Promtail and Alloy send (the default).
    #[default]
    Protobuf,
    /// JSON, easy to read in a proxy's log.
    Json,
}

impl Default for LokiConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:3100".into(),
            tenant: None,
            auth: LokiAuth::None,
            timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff: Duration::from_millis(200),
            push_format: PushFormat::default(),
        }
    }
}

/// Which end of the range `query_range` starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first (Loki's default): with a limit, the most recent lines.
    Backward,
    /// Oldest first.
    Forward,
}

/// A stream and its entries, as Loki returns them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LokiStream {
    /// The stream's labels (including labels extracted by the query's parsers).
    pub labels: BTreeMap<String, String>,
    /// `(timestamp in ns, line)`, in the order Loki sent them.
    pub entries: Vec<(i64, String)>,
}

/// A log pattern from Loki 3's pattern ingester.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct LokiPattern {
    /// The pattern, e.g. `<_> level=error msg="connection refused" <_>`.
    pub pattern: String,
    /// `(timestamp in s, count)` samples.
    #[serde(default)]
    pub samples: Vec<(i64, u64)>,
}

/// Client for Loki's HTTP API.
#[derive(Debug, Clone)]
pub struct LokiClient {
    http: reqwest::Client,
    cfg: LokiConfig,
}

const MAX_MESSAGE: usize = 2000;

impl LokiClient {
    /// Builds a client.
    pub fn new(cfg: LokiConfig) -> Result<Self, LokiError> {
        let url = cfg.url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(LokiError::Config(format!(
                "Loki URL {url:?} must start with http:// or https://"
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = &cfg.tenant {
            let v = reqwest::header::HeaderValue::from_str(t)
                .map_err(|e| LokiError::Config(format!("tenant: {e}")))?;
            headers.insert("X-Scope-OrgID", v);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| LokiError::Config(e.to_string()))?;
        Ok(Self {
            http,
            cfg: LokiConfig { url, ..cfg },
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.cfg.url
    }

    /// Log lines of a LogQL log query between `start` and `end`, at most `limit`.
    pub async fn query_range(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
        direction: Direction,
    ) -> Result<Vec<LokiStream>, LokiError> {
        let params = [
            ("query", query.to_string()),
            ("start", ns(start).to_string()),
            ("end", ns(end).to_string()),
            ("limit", limit.to_string()),
            (
                "direction",
                if direction == Direction::Backward {
                    "backward"
                } else {
                    "forward"
                }
                .to_string(),
            ),
        ];
        let v = self.get("/loki/api/v1/query_range", &params).await?;
        streams(&v)
    }

    /// A log query evaluated at one instant (Loki's `/query`), at most `limit` lines.
    pub async fn query(
        &self,
        query: &str,
        time: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<LokiStream>, LokiError> {
        let params = [
            ("query", query.to_string()),
            ("time", ns(time).to_string()),
            ("limit", limit.to_string()),
        ];
        let v = self.get("/loki/api/v1/query", &params).await?;
        streams(&v)
    }

    /// Label names seen between `start` and `end`.
    pub async fn labels(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<String>, LokiError> {
        let v = self
            .get(
                "/loki/api/v1/labels",
                &[
                    ("start", ns(start).to_string()),
                    ("end", ns(end).to_string()),
                ],
            )
            .await?;
        strings(&v)
    }

    /// Values of one label seen between `start` and `end`.
    pub async fn label_values(
        &self,
        name: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<String>, LokiError> {
        if !crate::logs::logql::is_label_name(name) {
            return Err(LokiError::BadQuery(format!("{name:?} is not a label name")));
        }
        let path = format!("/loki/api/v1/label/{name}/values");
        let v = self
            .get(
                &path,
                &[
                    ("start", ns(start).to_string()),
                    ("end", ns(end).to_string()),
                ],
            )
            .await?;
        strings(&v)
    }

    /// Label sets of the streams matching any of the selectors.
    pub async fn series(
        &self,
        selectors: &[&str],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<BTreeMap<String, String>>, LokiError> {
        let mut params: Vec<(&str, String)> = selectors
            .iter()
            .map(|s| ("match[]", s.to_string()))
            .collect();
        params.push(("start", ns(start).to_string()));
        params.push(("end", ns(end).to_string()));
        let v = self.get("/loki/api/v1/series", &params).await?;
        serde_json::from_value(v["data"].clone())
            .map_err(|e| LokiError::Protocol(format!("series: {e}")))
    }

    /// Log patterns (Loki 3's `/loki/api/v1/patterns`); `None` when the server does not
    /// have the endpoint (older Loki, the pattern ingester off, other implementations).
    pub async fn patterns(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Option<Vec<LokiPattern>>, LokiError> {
        let params = [
            ("query", query.to_string()),
            ("start", ns(start).to_string()),
            ("end", ns(end).to_string()),
        ];
        match self.get("/loki/api/v1/patterns", &params).await {
            Ok(v) => Ok(Some(
                serde_json::from_value(v["data"].clone()).unwrap_or_default(),
            )),
            Err(LokiError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pushes lines, protobuf or JSON as configured. Entries of a stream must be in time
    /// order. The push is retried on 429 and 5xx like any call; Loki drops an entry it
    /// already has (same stream, time and line), so a retried push does not double lines.
    pub async fn push(&self, streams: &[LokiStream]) -> Result<(), LokiError> {
        let url = format!("{}/loki/api/v1/push", self.cfg.url);
        match self.cfg.push_format {
            PushFormat::Protobuf => {
                let body = super::proto::encode(streams)
                    .map_err(|e| LokiError::Protocol(format!("snappy: {e}")))?;
                self.send(|| {
                    self.auth(self.http.post(&url))
                        .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                        .header(reqwest::header::CONTENT_ENCODING, "snappy")
                        .body(body.clone())
                })
                .await?;
            }
            PushFormat::Json => {
                let body = json!({
                    "streams": streams.iter().map(|s| json!({
                        "stream": s.labels,
                        "values": s.entries.iter().map(|(t, l)| json!([t.to_string(), l])).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>()
                });
                self.send(|| self.auth(self.http.post(&url)).json(&body))
                    .await?;
            }
        }
        Ok(())
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cfg.auth {
            LokiAuth::None => req,
            LokiAuth::Basic { user, password } => req.basic_auth(user, Some(password)),
            LokiAuth::Bearer(t) => req.bearer_auth(t),
        }
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, LokiError> {
        let url = format!("{}{path}", self.cfg.url);
        let resp = self
            .send(|| self.auth(self.http.get(&url)).query(params))
            .await?;
        let v: Value = resp
            .json()
            .await
            .map_err(|e| LokiError::Protocol(e.to_string()))?;
        if v["status"].as_str().is_some_and(|s| s != "success") {
            return Err(LokiError::Protocol(format!("status {:?}", v["status"])));
        }
        Ok(v)
    }

    /// Sends with retries: 429, 5xx and connection failures are retried with exponential
    /// backoff (or the server's `Retry-After`); other errors are classified and returned.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, LokiError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt > self.cfg.max_retries;
            let wait = self.cfg.backoff * 2u32.saturating_pow(attempt - 1);
            match build().send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(10)));
                    let message: String = resp
                        .text()
                        .await
                        .unwrap_or_default()
                        .trim()
                        .chars()
                        .take(MAX_MESSAGE)
                        .collect();
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if retryable && !last {
                        tracing::warn!(%status, attempt, "Loki request failed; retrying");
                        tokio::time::sleep(retry_after.unwrap_or(wait)).await;
                        continue;
                    }
                    return Err(classify(status, message, attempt));
                }
                Err(e) if e.is_timeout() => return Err(LokiError::Timeout(self.cfg.timeout)),
                Err(e) => {
                    if !last && (e.is_connect() || e.is_request()) {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(LokiError::Unavailable {
                        url: self.cfg.url.clone(),
                        reason: crate::error::root_cause(&e),
                    });
                }
            }
        }
    }
}

/// Turns an error status into the error that says what it means.
fn classify(status: StatusCode, message: String, attempts: u32) -> LokiError {
    const LIMIT_MARKERS: [&str; 7] = [
        "limit",
        "exceeds",
        "too many",
        "too large",
        "max entries",
        "maximum of series",
        "query time range",
    ];
    match status.as_u16() {
        429 => LokiError::RateLimited { attempts, message },
        400 | 422
            if LIMIT_MARKERS
                .iter()
                .any(|m| message.to_lowercase().contains(m)) =>
        {
            LokiError::Limit(message)
        }
        400 | 422 => LokiError::BadQuery(message),
        s => LokiError::Http { status: s, message },
    }
}

fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn strings(v: &Value) -> Result<Vec<String>, LokiError> {
    match &v["data"] {
        Value::Null => Ok(Vec::new()),
        d => serde_json::from_value(d.clone()).map_err(|e| LokiError::Protocol(e.to_string())),
    }
}

fn streams(v: &Value) -> Result<Vec<LokiStream>, LokiError> {
    let data = &v["data"];
    match data["resultType"].as_str() {
        Some("streams") => {}
        Some(other) => {
            return Err(LokiError::BadQuery(format!(
                "the query returned {other}, not log lines; use a log query, not a metric query"
            )));
        }
        None => return Err(LokiError::Protocol("no resultType in the answer".into())),
    }
    let Some(result) = data["result"].as_array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(result.len());
    for s in result {
        let labels: BTreeMap<String, String> =
            serde_json::from_value(s["stream"].clone()).unwrap_or_default();
        let mut entries = Vec::new();
        for e in s["values"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let ts = e[0].as_str().and_then(|t| t.parse::<i64>().ok());
            let line = e[1].as_str();
            match (ts, line) {
                (Some(ts), Some(line)) => entries.push((ts, line.to_string())),
                _ => {
                    return Err(LokiError::Protocol(format!(
                        "an entry is not [\"<ns>\", \"<line>\"]: {e}"
                    )));
                }
            }
        }
        out.push(LokiStream { labels, entries });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_tells_limits_from_bad_queries() {
        let l = classify(
            StatusCode::BAD_REQUEST,
            "the query time range exceeds the limit (query length: 721h, limit: 720h)".into(),
            1,
        );
        assert!(matches!(l, LokiError::Limit(_)));
        let b = classify(
            StatusCode::BAD_REQUEST,
            "parse error at line 1, col 5: syntax error".into(),
            1,
        );
        assert!(matches!(b, LokiError::BadQuery(_)));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, String::new(), 4),
            LokiError::RateLimited { attempts: 4, .. }
        ));
    }

    #[test]
    fn matrix_answers_are_refused_with_a_fix() {
        let v = json!({"status":"success","data":{"resultType":"matrix","result":[]}});
        let err = streams(&v).unwrap_err().to_string();
        assert!(err.contains("log query"), "{err}");
    }
}
