//! The assistant's answer to a visitor's message.
//!
//! In order: a greeting or thanks is answered as such (never looked up); a request for a
//! person hands the conversation to the team; a question about an order or a ticket is looked
//! up with the tenant's integration once the visitor has given its number and the email or
//! postcode on it ([`crate::lookup`]); otherwise, when the tenant has an AI provider
//! (enabled, its key opens, within the month's allowance) and the knowledge base holds
//! passages near the question, the model writes the answer from those passages, quoted to it
//! as data, citing them ([`ringside_knowledge::rag`], [`crate::ai`]) and streamed to the
//! visitor's page as it comes; without a provider, or when it fails or times out, the
//! knowledge base answers with whole sentences of the best passage and its sources
//! ([`ringside_knowledge::answer`]); failing that, the company profile answers questions about
//! opening hours, contact details, the address and what the business does; and when nothing
//! answers, the reply says so plainly and offers a person: the team in this chat when someone
//! is available, otherwise a message or callback request. It never guesses.

use ringside_knowledge::intent::{classify, Intent, Topic};
use ringside_storage::{AiUse, Message, Store, Widget};
use serde::Serialize;

use crate::knowledge::{profile_of, Knowledge, Profile};
use crate::usage::{Metric, UsageGate};
use crate::ApiError;

/// Passages a model is given.
const MODEL_PASSAGES: usize = 5;
/// Earlier messages of the conversation a model is given.
const MODEL_TURNS: usize = 6;

/// What the assistant works with.
pub struct Assistant<'a> {
    /// The knowledge index.
    pub knowledge: &'a Knowledge,
    /// Storage (profile, provider, conversation, usage records).
    pub store: &'a Store,
    /// Usage limits (the AI allowance).
    pub usage: &'a UsageGate,
    /// What a provider URL may reach.
    pub fetch_policy: crate::outbound::FetchPolicy,
    /// The key sealed secrets are opened with.
    pub link_secret: &'a crate::http::sealed::LinkSecret,
}

/// The visitor's latest messages a turn reads (the lookup step and the model share them).
const RECENT_MESSAGES: i64 = 50;

/// The conversation a message belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    /// The visitor.
    pub visitor: &'a str,
    /// The conversation.
    pub conversation: &'a str,
    /// The visitor's latest messages, read once for the turn when first needed.
    pub recent: &'a tokio::sync::OnceCell<Vec<Message>>,
}

impl<'a> Turn<'a> {
    /// The visitor's latest messages (all its conversations, oldest first), read from
    /// storage the first time a step asks.
    pub(crate) async fn recent(
        &self,
        store: &Store,
        w: &Widget,
    ) -> Result<&'a [Message], ApiError> {
        let recent = self
            .recent
            .get_or_try_init(|| {
                store.list_messages(&w.tenant_id, &w.id, Some(self.visitor), RECENT_MESSAGES)
            })
            .await?;
        Ok(recent)
    }
}

/// Where an answer came from, as visitors' pages see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    /// The page's or document's title (a Q/A pair's question).
    pub title: String,
    /// Where to read more (null for text and Q/A sources).
    pub url: Option<String>,
    /// The sentence that answered.
    pub snippet: String,
}

impl From<ringside_knowledge::SourceRef> for SourceView {
    fn from(s: ringside_knowledge::SourceRef) -> Self {
        SourceView {
            title: s.title,
            url: s.url,
            snippet: s.snippet,
        }
    }
}

/// What kind of reply the assistant gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// A greeting back.
    Greeting,
    /// "You're welcome".
    Thanks,
    /// From the knowledge base.
    Knowledge,
    /// From the company profile.
    Profile,
    /// The visitor asked for a person.
    Handover,
    /// Nothing answered the question: a person is offered.
    NotFound,
    /// An order or ticket's status, looked up.
    Lookup,
    /// What the visitor must send for a lookup, or that nothing was found.
    LookupAsk,
    /// Nothing answered, and the widget's assistant does not hand over for that.
    Unanswered,
}

impl ReplyKind {
    /// Whether the reply answered the message (greetings and thanks included).
    pub fn answered(self) -> bool {
        !matches!(
            self,
            ReplyKind::Handover
                | ReplyKind::NotFound
                | ReplyKind::LookupAsk
                | ReplyKind::Unanswered
        )
    }

    /// Whether the reply offers a person.
    pub fn offers_human(self) -> bool {
        matches!(self, ReplyKind::Handover | ReplyKind::NotFound)
    }
}

/// The assistant's reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The text.
    pub text: String,
    /// Its sources (empty unless it came from the knowledge base or the profile).
    pub sources: Vec<SourceView>,
    /// What kind of reply.
    pub kind: ReplyKind,
    /// Whether someone from the team could take the chat when it was given.
    pub online: bool,
    /// The model that wrote it (`None`: the knowledge base's own sentences, or a fixed
    /// reply).
    pub model: Option<String>,
    /// Model tokens it used.
    pub tokens: i64,
    /// Whether the conversation goes to the team's inbox (`conversation:qualified`): the
    /// reply offers a person, and the assistant hands over at this hour.
    pub qualifies: bool,
}

/// What a widget's assistant allows (its defaults without one).
struct Policy {
    name: Option<String>,
    tone: Option<String>,
    handover: ringside_storage::Handover,
    use_model: bool,
    use_lookups: bool,
    /// The knowledge sources it answers from (`None`: all of the widget's).
    sources: Option<Vec<String>>,
    /// The integrations it looks up with (`None`: all of the tenant's).
    integrations: Option<Vec<String>>,
}

/// The reply to `message` on widget `w`; `online` is whether someone can take the chat now.
/// A model's answer is handed to `on_delta` piece by piece as it streams. The widget's
/// assistant ([`ringside_storage::Assistant`]) decides its name, its tone, whether the model
/// and lookups may be used and when the conversation goes to the team.
pub async fn reply(
    a: &Assistant<'_>,
    w: &Widget,
    online: bool,
    message: &str,
    turn: Option<Turn<'_>>,
    on_delta: &mut (dyn FnMut(&str) + Send),
) -> Result<Reply, ApiError> {
    let policy = match a.store.get_assistant(&w.tenant_id, &w.id).await? {
        Some(s) => Policy {
            name: Some(s.name),
            tone: s.tone,
            handover: s.handover,
            use_model: s.use_model,
            use_lookups: s.use_lookups,
            sources: s.source_ids,
            integrations: s.integration_ids,
        },
        None => Policy {
            name: None,
            tone: None,
            handover: ringside_storage::Handover::default(),
            use_model: true,
            use_lookups: true,
            sources: None,
            integrations: None,
        },
    };
    let mut r = reply_with(a, w, online, message, turn, on_delta, &policy).await?;
    r.qualifies = r.kind.offers_human() && (online || !policy.handover.during_hours_only);
    Ok(r)
}

async fn reply_with(
    a: &Assistant<'_>,
    w: &Widget,
    online: bool,
    message: &str,
    turn: Option<Turn<'_>>,
    on_delta: &mut (dyn FnMut(&str) + Send),
    policy: &Policy,
) -> Result<Reply, ApiError> {
    let intent = classify(message);
    let say = |kind, text: String| Reply {
        text,
        sources: Vec::new(),
        kind,
        online,
        model: None,
        tokens: 0,
        qualifies: false,
    };
    match intent {
        Intent::Greeting => {
            return Ok(say(
                ReplyKind::Greeting,
                match &policy.name {
                    Some(n) => format!(
                        "Hello! I'm {n}. How can we help you today? Ask me anything about {}.",
                        w.name
                    ),
                    None => format!(
                        "Hello! How can we help you today? Ask me anything about {}.",
                        w.name
                    ),
                },
            ))
        }
        Intent::Thanks => {
            return Ok(say(
                ReplyKind::Thanks,
                "You're welcome! Is there anything else I can help with?".into(),
            ))
        }
        Intent::Human if policy.handover.on_request => {
            return Ok(say(
                ReplyKind::Handover,
                if online {
                    "I'm passing you to our team: someone will reply here shortly.".into()
                } else {
                    "Our team isn't available right now. Leave your email or phone number \
                     (or ask for a callback) and we'll get back to you."
                        .into()
                },
            ))
        }
        Intent::Human | Intent::Profile(_) | Intent::Question => {}
    }
    // An order or ticket the visitor asks about: looked up only for the visitor who gave
    // its number and email or postcode in this conversation.
    if let Some(t) = turn.filter(|_| policy.use_lookups) {
        if let Some(l) =
            crate::lookup::lookup(a, w, t, message, policy.integrations.as_deref()).await?
        {
            let kind = if l.found {
                ReplyKind::Lookup
            } else {
                ReplyKind::LookupAsk
            };
            return Ok(say(kind, l.text));
        }
    }
    if policy.use_model {
        if let Some(r) = model_reply(a, w, online, message, turn, policy, on_delta).await? {
            return Ok(r);
        }
    }
    if let Some(ans) = a
        .knowledge
        .answer(&w.tenant_id, &w.id, policy.sources.as_deref(), message)
        .await?
    {
        return Ok(Reply {
            text: ans.text,
            sources: ans.sources.into_iter().map(SourceView::from).collect(),
            kind: ReplyKind::Knowledge,
            online,
            model: None,
            tokens: 0,
            qualifies: false,
        });
    }
    if let Intent::Profile(topic) = intent {
        let p = profile_of(a.store, &w.tenant_id, &w.id).await?;
        if let Some(r) = profile_answer(&p, &w.name, topic, online) {
            return Ok(r);
        }
    }
    if !policy.handover.low_confidence {
        return Ok(say(
            ReplyKind::Unanswered,
            "Sorry, I don't know the answer to that.".into(),
        ));
    }
    Ok(say(
        ReplyKind::NotFound,
        if online {
            "Sorry, I don't know the answer to that. Someone from our team can help: they will \
             reply here shortly."
                .into()
        } else {
            "Sorry, I don't know the answer to that. Our team isn't available right now: leave \
             your email or phone number (or ask for a callback) and we'll get back to you."
                .into()
        },
    ))
}

/// The profile's answer on `topic`, when it holds one.
fn profile_answer(p: &Profile, widget_name: &str, topic: Topic, online: bool) -> Option<Reply> {
    let name = p.name.clone().unwrap_or_else(|| widget_name.to_owned());
    let (text, snippet) = match topic {
        Topic::Hours => {
            let h = p.hours.as_ref()?;
            (format!("Our opening hours: {}", end_sentence(h)), h.clone())
        }
        Topic::Contact => {
            let (text, snippet) = match (&p.phone, &p.email) {
                (Some(ph), Some(e)) => (
                    format!("You can reach {name} by phone at {ph} or by email at {e}."),
                    format!("{ph} · {e}"),
                ),
                (Some(ph), None) => (format!("You can call {name} at {ph}."), ph.clone()),
                (None, Some(e)) => (format!("You can email {name} at {e}."), e.clone()),
                (None, None) => return None,
            };
            (text, snippet)
        }
        Topic::Address => {
            let a = p.address.as_ref()?;
            (
                format!("You'll find {name} at {}", end_sentence(a)),
                a.clone(),
            )
        }
        Topic::About => {
            let d = p.description.as_ref()?;
            (end_sentence(d), d.clone())
        }
    };
    Some(Reply {
        text,
        sources: vec![SourceView {
            title: name,
            url: p.website.clone(),
            snippet: ringside_knowledge::text::trim_to(&snippet, 200),
        }],
        kind: ReplyKind::Profile,
        online,
        model: None,
        tokens: 0,
        qualifies: false,
    })
}

fn end_sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

/// The model's answer, when the tenant has a provider it may use now and the knowledge base
/// holds passages near the question; `None` otherwise, or when the provider fails (logged and
/// recorded: the caller answers without it).
async fn model_reply(
    a: &Assistant<'_>,
    w: &Widget,
    online: bool,
    message: &str,
    turn: Option<Turn<'_>>,
    policy: &Policy,
    on_delta: &mut (dyn FnMut(&str) + Send),
) -> Result<Option<Reply>, ApiError> {
    let (tone, sources) = (policy.tone.as_deref(), policy.sources.as_deref());
    let Some(stored) = a.store.get_ai_provider(&w.tenant_id).await? else {
        return Ok(None);
    };
    if !stored.enabled {
        return Ok(None);
    }
    let model = stored.model.clone();
    let record = |outcome: &str, prompt: i64, completion: i64| AiUse {
        widget_id: Some(w.id.clone()),
        conversation_id: turn.map(|t| t.conversation.to_owned()),
        model: model.clone(),
        outcome: outcome.into(),
        prompt_tokens: prompt,
        completion_tokens: completion,
    };
    // Over the month's allowance: the knowledge base answers on its own.
    for m in [Metric::MonthlyAiMessages, Metric::MonthlyAiTokens] {
        if crate::usage::enforce(a.usage, &w.tenant_id, m)
            .await
            .is_err()
        {
            tracing::debug!(tenant = %w.tenant_id, metric = m.name(), "AI allowance used up");
            return Ok(None);
        }
    }
    let provider = match crate::ai_provider::opened(a.link_secret, stored) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(tenant = %w.tenant_id, error = %e, "AI provider key does not open");
            return Ok(None);
        }
    };
    let hits = a
        .knowledge
        .search(&w.tenant_id, &w.id, sources, message, MODEL_PASSAGES)
        .await?;
    if hits.is_empty() {
        return Ok(None);
    }
    let mut turns = Vec::new();
    if let Some(t) = turn {
        let mine: Vec<_> = t
            .recent(a.store, w)
            .await?
            .iter()
            .filter(|m| m.conversation_id == t.conversation && m.sender != "automation")
            .collect();
        // The last one is the question itself.
        let earlier = &mine[..mine.len().saturating_sub(1)];
        for m in earlier.iter().rev().take(MODEL_TURNS).rev() {
            turns.push((m.sender == "visitor", m.body.clone()));
        }
    }
    let business = profile_of(a.store, &w.tenant_id, &w.id)
        .await?
        .name
        .unwrap_or_else(|| w.name.clone());
    let msgs = ringside_knowledge::rag::messages(&business, tone, &hits, &turns, message);
    match crate::ai::complete(a.fetch_policy, &provider, &msgs, on_delta).await {
        Ok(c) => {
            a.store
                .record_ai_use(
                    &w.tenant_id,
                    &record("ok", c.prompt_tokens, c.completion_tokens),
                )
                .await?;
            crate::usage::counted(a.usage, &w.tenant_id, Metric::MonthlyAiMessages).await;
            crate::usage::counted(a.usage, &w.tenant_id, Metric::MonthlyAiTokens).await;
            let cited = ringside_knowledge::rag::cited(&c.text, hits.len());
            let mut sources: Vec<SourceView> = Vec::new();
            for i in &cited {
                let h = &hits[*i];
                if sources
                    .iter()
                    .any(|s| s.url.is_some() && s.url == h.url || s.title == h.title)
                {
                    continue;
                }
                sources.push(SourceView {
                    title: h.title.clone(),
                    url: h.url.clone(),
                    snippet: ringside_knowledge::text::trim_to(&h.body, 200),
                });
            }
            Ok(Some(Reply {
                text: c.text,
                kind: if sources.is_empty() {
                    ReplyKind::NotFound
                } else {
                    ReplyKind::Knowledge
                },
                sources,
                online,
                model: Some(provider.model),
                tokens: c.prompt_tokens + c.completion_tokens,
                qualifies: false,
            }))
        }
        Err(e) => {
            tracing::warn!(tenant = %w.tenant_id, error = %e, "AI provider failed: answering without it");
            a.store
                .record_ai_use(
                    &w.tenant_id,
                    &record(
                        if e == crate::ai::AiError::Timeout {
                            "timeout"
                        } else {
                            "failed"
                        },
                        0,
                        0,
                    ),
                )
                .await?;
            Ok(None)
        }
    }
}
