//! Prompt templates from `prompts/`, compiled in, with their versions.
//!
//! A prompt is code: a change to it changes answers. So each template has a version that
//! is stored with every result, and templates are files under `prompts/` rather than
//! string literals scattered through the code.

/// A versioned prompt: a system message and a user message template.
#[derive(Debug, Clone, Copy)]
pub struct Prompt {
    /// Name and version, stored with results (`extract/v1`).
    pub version: &'static str,
    /// The system message.
    pub system: &'static str,
    /// The user message, with `{{placeholders}}`.
    pub user: &'static str,
}

/// The extraction prompt: question + numbered log lines → a [`crate::ModelFinding`].
pub const EXTRACT: Prompt = Prompt {
    version: "extract/v1",
    system: include_str!("../../prompts/extract/v1/system.md"),
    user: include_str!("../../prompts/extract/v1/user.md"),
};

/// The router prompt: question + scope + rule features → a route.
pub const ROUTER: Prompt = Prompt {
    version: "router/v1",
    system: include_str!("../../prompts/router/v1/system.md"),
    user: include_str!("../../prompts/router/v1/user.md"),
};

/// The summary prompt: a window's digest → `{headline, summary}` (`loglens summary`).
pub const SUMMARY: Prompt = Prompt {
    version: "summary/v1",
    system: include_str!("../../prompts/summary/v1/system.md"),
    user: include_str!("../../prompts/summary/v1/user.md"),
};

/// The specialists' prompts: the opening, each tool round's results, the request for the
/// answer.
#[derive(Debug, Clone, Copy)]
pub struct SpecialistPrompt {
    /// Name and version (`specialist/v2`).
    pub version: &'static str,
    /// The system message (role, phases, tools, rules).
    pub system: &'static str,
    /// The evidence and the first request for tool calls.
    pub user: &'static str,
    /// A tool round's results.
    pub tool_result: &'static str,
    /// The request for the finding.
    pub final_answer: &'static str,
}

/// The specialist prompts in use.
pub const SPECIALIST: SpecialistPrompt = SpecialistPrompt {
    version: "specialist/v2",
    system: include_str!("../../prompts/specialist/v2/system.md"),
    user: include_str!("../../prompts/specialist/v2/user.md"),
    tool_result: include_str!("../../prompts/specialist/v2/tool_result.md"),
    final_answer: include_str!("../../prompts/specialist/v2/final.md"),
};

/// The question that weighs the candidates (`agents/src/specialist/weigh.rs`): the options, numbered;
/// the reply is one digit.
pub const WEIGH: &str = include_str!("../../prompts/weigh/v1/user.md");

/// Its version.
pub const WEIGH_VERSION: &str = "weigh/v1";

/// Fills `{{name}}` placeholders in one pass over the template: values are inserted as
/// they are and never scanned again, so a log line cannot inject a placeholder. Unknown
/// placeholders are left as they are.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + vars.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_in_one_pass() {
        let got = render(
            "Q: {{question}} L: {{lines}} {{unknown}}",
            &[("question", "why {{lines}}?"), ("lines", "x")],
        );
        assert_eq!(got, "Q: why {{lines}}? L: x {{unknown}}");
    }

    #[test]
    fn extract_prompt_has_its_placeholders() {
        for p in ["{{question}}", "{{lines}}", "{{count}}"] {
            assert!(EXTRACT.user.contains(p), "{p}");
        }
    }
}
