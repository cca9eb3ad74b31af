//! A specialist's run: phase 1, the tool rounds, then phase 2, the answer (and its
//! weighing). One conversation per sample.
use super::*;

#[derive(Deserialize)]
struct StepReply {
    calls: Vec<Value>,
}

impl Specialist {
    /// Runs one sample: the tool rounds (phase 1: the model asks for more evidence, the
    /// tools answer), then the answer (phase 2: a finding in the schema, weighed against
    /// the evidence's ranking when a small model chose it).
    pub async fn run(
        &self,
        question: &str,
        evidence: &EvidenceSet,
        sample: usize,
        options: CallOptions,
        events: Option<&UnboundedSender<AgentEvent>>,
    ) -> Result<Opinion, AnalyzeError> {
        let mut talk = Conversation {
            messages: self.opening(question, evidence),
            lines: evidence.lines.clone(),
            tools: Vec::new(),
            calls: Vec::new(),
        };
        let tool_calling = self
            .tool_rounds(&mut talk, evidence, options, events)
            .await?;
        let answer = self.answer(&mut talk, question, evidence, options).await?;
        Ok(Opinion {
            agent: self.role,
            sample,
            finding: answer.finding,
            tools: talk.tools,
            calls: talk.calls,
            added_lines: talk.lines[evidence.lines.len()..].to_vec(),
            tool_calling,
            fallback: answer.fallback,
            weighed: answer.weighed,
            unweighed: answer.unweighed,
        })
    }

    /// How tool calls are asked for in `steps` rounds: none without rounds; natively when
    /// the server's chat template has a tool-call format (or the config says so); else
    /// as JSON in a schema, which any model can write.
    async fn tool_calling(&self, steps: usize) -> Option<ToolCalling> {
        match (steps, self.cfg.tool_calling) {
            (0, _) => None,
            (_, ToolCalling::Auto) if self.llm.supports_native_tools().await => {
                Some(ToolCalling::Native)
            }
            (_, ToolCalling::Native) => Some(ToolCalling::Native),
            _ => Some(ToolCalling::Schema),
        }
    }

    /// Phase 1: up to `steps` rounds of tool calls. Each round the model asks for calls
    /// from the menu (what the evidence names and was not asked yet), the toolbox runs
    /// them, and their results (new lines numbered after the evidence's) go back into
    /// the conversation. Stops early when the model asks for nothing, the menu is empty,
    /// or a request is unusable (the answer then rests on what there is).
    async fn tool_rounds(
        &self,
        talk: &mut Conversation,
        evidence: &EvidenceSet,
        options: CallOptions,
        events: Option<&UnboundedSender<AgentEvent>>,
    ) -> Result<Option<ToolCalling>, AnalyzeError> {
        let steps = self.steps();
        let tool_calling = self.tool_calling(steps).await;
        let mut seen = HashSet::new();
        // What a call may ask: the streams and objects retrieved, less what was asked.
        let mut menu = evidence.menu.clone();
        let step_options = CallOptions {
            max_tokens: Some(self.cfg.step_reply_tokens),
            ..options
        };
        for step in 1..=steps {
            let Some(requested) = self
                .request_calls(talk, &menu, step, tool_calling, step_options)
                .await?
            else {
                break;
            };
            if requested.is_empty() {
                break;
            }
            // The menu's choices become the tools' own arguments (the LogQL, the range).
            let requested = menu.take(&requested);
            let records = self
                .toolbox
                .run_step(self.role.name(), step, &requested, &mut seen)
                .await;
            for r in &records {
                if let Some(tx) = events {
                    let _ = tx.send(AgentEvent::ToolCall(r.clone()));
                }
            }
            let results = render_results(&records, &mut talk.lines, &self.cfg, &self.pseudonyms);
            let left = self.toolbox.describe_menu(&menu);
            let next = if step < steps && !left.is_empty() {
                format!(
                    "Phase 1 again: more calls, or {{\"calls\": []}} when the evidence is enough. Left to ask:\n{left}"
                )
            } else {
                "No more tool rounds.".to_string()
            };
            talk.messages.push(ChatMessage::user(render(
                SPECIALIST.tool_result,
                &[("results", &results), ("next", &next)],
            )));
            talk.tools.extend(records);
        }
        Ok(tool_calling)
    }

    /// One round's request for tool calls, natively or in the step schema. `None`: no
    /// round (the menu is empty, or the model's request was unusable).
    async fn request_calls(
        &self,
        talk: &mut Conversation,
        menu: &crate::call_menu::CallMenu,
        step: usize,
        tool_calling: Option<ToolCalling>,
        step_options: CallOptions,
    ) -> Result<Option<Vec<Value>>, AnalyzeError> {
        let Some(step_schema) = self.toolbox.step_schema(menu, self.cfg.max_calls) else {
            // Everything the evidence names has been asked.
            return Ok(None);
        };
        if tool_calling == Some(ToolCalling::Native) {
            let (mut requested, _content, call) = self
                .llm
                .complete_tool_calls(
                    &talk.messages,
                    &self.toolbox.openai_tools(menu),
                    step_options,
                )
                .await?;
            talk.calls.push(call);
            requested.truncate(self.cfg.max_calls);
            // The calls go back into the conversation as text, which any chat template
            // can render.
            let text = serde_json::json!({ "calls": requested }).to_string();
            talk.messages.push(ChatMessage::assistant(text));
            return Ok(Some(requested));
        }
        let reply = self
            .llm
            .complete_json_with::<StepReply>(
                &talk.messages,
                "tool_calls",
                &step_schema,
                None,
                step_options,
            )
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(LlmError::InvalidOutput { reason, .. }) => {
                // No usable tool request: answer from what there is.
                tracing::warn!(agent = self.role.name(), step, %reason, "tool step rejected; answering without it");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        talk.calls.extend(reply.calls);
        talk.messages.push(ChatMessage::assistant(reply.raw));
        Ok(Some(reply.value.calls))
    }

    /// Phase 2: the answer. The model fills the finding schema (its causes and components
    /// are the evidence's); a reply rejected twice falls back to the evidence's top
    /// candidate, marked as such; a small model's choice is weighed against the
    /// evidence's ranking with its own probabilities.
    async fn answer(
        &self,
        talk: &mut Conversation,
        question: &str,
        evidence: &EvidenceSet,
        options: CallOptions,
    ) -> Result<Answer, AnalyzeError> {
        // The conversation before the request for the answer: the weighing asks its own
        // question after it (and shares its prefix in the server's prompt cache).
        let before_answer = talk.messages.len();
        let causes = self.causes(evidence);
        let mut cause_list: Vec<String> = causes.clone();
        cause_list.push("other".into());
        talk.messages.push(ChatMessage::user(render(
            SPECIALIST.final_answer,
            &[
                ("question", question.trim()),
                ("causes", &cause_list.join(", ")),
                ("count", &talk.lines.len().to_string()),
            ],
        )));
        let mode = self.answer_mode().await;
        let severities = severity_bounds(evidence, &talk.lines);
        let (schema, max_tokens) = if mode == AnswerMode::Choose {
            let schema =
                choice_schema(talk.lines.len(), &causes, &evidence.components, &severities);
            (schema, self.cfg.answer_tokens.min(CHOICE_TOKENS))
        } else {
            let schema = evidence_schema(talk.lines.len(), &causes, &evidence.components);
            (schema, self.cfg.answer_tokens)
        };
        let reply = self
            .llm
            .complete_json_with::<Value>(
                &talk.messages,
                "finding",
                &schema,
                None,
                CallOptions {
                    max_tokens: Some(max_tokens),
                    ..options
                },
            )
            .await;
        let (finding, fallback) = match reply {
            Ok(reply) => {
                talk.calls.extend(reply.calls);
                let mut finding = read_answer(reply.value, mode, evidence, &talk.lines)?;
                // Whatever the model wrote (a full finding has no enum to hold it), the
                // severity stays within what the evidence supports.
                finding.diagnosis.severity = finding
                    .diagnosis
                    .severity
                    .clamp(*severities.start(), *severities.end());
                (finding, None)
            }
            // The model wrote garbage twice: the evidence still has an answer when the
            // signature library found a candidate. It is marked as such, with the reason.
            Err(LlmError::InvalidOutput { reason, .. }) => {
                let Some(finding) = evidence_finding(self.role, evidence) else {
                    return Err(AnalyzeError::Model(LlmError::InvalidOutput {
                        attempts: 2,
                        reason,
                        last_reply: String::new(),
                    }));
                };
                tracing::warn!(agent = self.role.name(), %reason, "answer rejected twice; using the evidence's top candidate");
                let why = format!(
                    "the model's answer was rejected twice ({reason}); this is the top candidate of the evidence"
                );
                (finding, Some(why))
            }
            Err(e) => return Err(e.into()),
        };
        if mode != AnswerMode::Choose || fallback.is_some() {
            return Ok(Answer {
                finding,
                fallback,
                weighed: None,
                unweighed: None,
            });
        }
        // A small model's choice is weighed against the evidence's ranking.
        let (finding, weighed, call) = super::weigh::weigh(
            &self.llm,
            &talk.messages[..before_answer],
            evidence,
            finding,
            &severities,
        )
        .await;
        talk.calls.extend(call);
        let (weighed, unweighed) = match weighed {
            Ok(w) => (Some(w), None),
            Err(why) => (None, Some(why)),
        };
        Ok(Answer {
            finding,
            fallback: None,
            weighed,
            unweighed,
        })
    }
}

/// A specialist's conversation so far: the messages, the numbered lines it has seen
/// (the evidence's, then what its tools added), its tool calls and its model calls.
struct Conversation {
    messages: Vec<ChatMessage>,
    lines: Vec<LineRef>,
    tools: Vec<ToolRecord>,
    calls: Vec<ModelCall>,
}

/// What phase 2 produced: the finding, and how it came to stand.
struct Answer {
    finding: Finding,
    fallback: Option<String>,
    weighed: Option<super::weigh::Weighing>,
    unweighed: Option<String>,
}
