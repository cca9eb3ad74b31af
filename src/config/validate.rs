//! Checking a resolved configuration as a whole: ranges, and settings that only make
//! sense together (a context with room for the logs, tool rounds and the answer).
use anyhow::bail;
use loglens_agents::specialist::SpecialistConfig;

use super::Config;

impl Config {
    /// Whether the settings make sense; the first that does not, said with its section.
    pub fn validate(&self) -> anyhow::Result<()> {
        let (concurrent, queued) = self.admission;
        if !(1..=64).contains(&concurrent) || queued > 1024 {
            bail!(
                "[server] max_concurrent_analyses must be 1..=64 and max_queued_analyses 0..=1024"
            );
        }
        for o in &self.cors_origins {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                bail!("[server] cors_origins: {o:?} is not an origin like https://grafana.example");
            }
        }
        let context = self.analyzer.context_tokens;
        if context < self.llm.max_tokens as usize + 512 {
            bail!(
                "context_tokens ({context}) leaves no room for logs with max_output_tokens {}; raise the context or lower the reply size",
                self.llm.max_tokens
            );
        }
        self.validate_agents()?;
        let drift = &self.drift;
        if !(0.0..=1.0).contains(&drift.quality) || drift.latency < 0.0 {
            bail!("[eval] drift_threshold must be in 0..1 and latency_drift at least 0");
        }
        if !(1..=256).contains(&self.embed.batch) || !(1..=16).contains(&self.embed.concurrency) {
            bail!("[embeddings] batch must be 1..=256 and concurrency 1..=16");
        }
        if !(1..=1000).contains(&self.hybrid.top_k) {
            bail!("[vectors] top_k must be 1..=1000");
        }
        if !(-1.0..=1.0).contains(&self.hybrid.min_similarity) {
            bail!("[vectors] min_similarity is a cosine similarity, in -1..=1");
        }
        Ok(())
    }

    /// `[agents]`: samples, tool rounds and calls, the evidence cap, and whether the
    /// context leaves room for the rounds and the answer.
    fn validate_agents(&self) -> anyhow::Result<()> {
        let p = &self.pipeline;
        let s = &p.specialist;
        if !(1..=16).contains(&p.samples) {
            bail!("samples must be between 1 and 16, got {}", p.samples);
        }
        if s.max_steps > 6 {
            bail!("max_steps must be at most 6, got {}", s.max_steps);
        }
        if !(1..=4).contains(&s.max_calls) {
            bail!("max_calls must be between 1 and 4, got {}", s.max_calls);
        }
        if s.evidence_tokens.is_some_and(|n| n < 100) {
            bail!("evidence_tokens must be at least 100 (a few lines)");
        }
        // The room the context leaves (the evidence cap is a separate, checked choice).
        let room = SpecialistConfig {
            evidence_tokens: None,
            ..*s
        };
        if room.line_tokens(900) < 300 {
            bail!(
                "context_tokens ({}) is too small for {} tool rounds and a {}-token answer; raise the context or lower max_steps",
                self.analyzer.context_tokens,
                s.max_steps,
                self.llm.max_tokens
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::option_groups::Settings;

    fn load(toml: &str) -> String {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).unwrap_or_default();
        let args = Settings {
            config: Some(path),
            ..Settings::default()
        };
        match Config::load(&args, None) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn settings_that_make_no_sense_together_are_refused_with_their_section() {
        assert_eq!(load(""), "ok");
        assert!(load("[agents]\nsamples = 0\n").contains("samples must be between 1 and 16"));
        assert!(load("[agents]\nmax_steps = 9\n").contains("max_steps must be at most 6"));
        assert!(
            load("[model]\ncontext_tokens = 600\nmax_output_tokens = 512\n")
                .contains("leaves no room for logs")
        );
        assert!(
            load("[model]\ncontext_tokens = 1700\n[agents]\nmax_steps = 6\n")
                .contains("too small for 6 tool rounds")
        );
        assert!(load("[server]\ncors_origins = [\"grafana\"]\n").contains("[server] cors_origins"));
        assert!(load("[vectors]\ntop_k = 0\n").contains("[vectors] top_k"));
        assert!(load("[eval]\ndrift_threshold = 2.0\n").contains("[eval] drift_threshold"));
        // What cannot be read at all is the resolver's error, before any check.
        assert!(load("[vectors]\nchunking = \"sideways\"\n").contains("sideways"));
    }
}
