//! The assistant's answer to a visitor's message, without a model.
//!
//! In order: a greeting or thanks is answered as such (never looked up); a request for a
//! person hands the conversation to the team; otherwise the widget's knowledge base answers
//! with whole sentences of the best passage and its sources ([`ringside_knowledge::answer`]);
//! failing that, the company profile answers questions about opening hours, contact details,
//! the address and what the business does; and when nothing answers, the reply says so
//! plainly and offers a person: the team in this chat when someone is available, otherwise a
//! message or callback request. It never guesses.

use ringside_knowledge::intent::{classify, Intent, Topic};
use ringside_storage::{Store, Widget};
use serde::Serialize;

use crate::knowledge::{profile_of, Knowledge, Profile};
use crate::ApiError;

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
}

impl ReplyKind {
    /// Whether the reply answered the message (greetings and thanks included).
    pub fn answered(self) -> bool {
        !matches!(self, ReplyKind::Handover | ReplyKind::NotFound)
    }

    /// Whether the reply offers a person.
    pub fn offers_human(self) -> bool {
        !self.answered()
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
}

/// The reply to `message` on widget `w`; `online` is whether someone can take the chat now.
pub async fn reply(
    knowledge: &Knowledge,
    store: &Store,
    w: &Widget,
    online: bool,
    message: &str,
) -> Result<Reply, ApiError> {
    let intent = classify(message);
    let say = |kind, text: String| Reply {
        text,
        sources: Vec::new(),
        kind,
        online,
    };
    match intent {
        Intent::Greeting => {
            return Ok(say(
                ReplyKind::Greeting,
                format!(
                    "Hello! How can we help you today? Ask me anything about {}.",
                    w.name
                ),
            ))
        }
        Intent::Thanks => {
            return Ok(say(
                ReplyKind::Thanks,
                "You're welcome! Is there anything else I can help with?".into(),
            ))
        }
        Intent::Human => {
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
        Intent::Profile(_) | Intent::Question => {}
    }
    if let Some(a) = knowledge.answer(&w.tenant_id, &w.id, message).await? {
        return Ok(Reply {
            text: a.text,
            sources: a.sources.into_iter().map(SourceView::from).collect(),
            kind: ReplyKind::Knowledge,
            online,
        });
    }
    if let Intent::Profile(topic) = intent {
        let p = profile_of(store, &w.tenant_id, &w.id).await?;
        if let Some(r) = profile_answer(&p, &w.name, topic, online) {
            return Ok(r);
        }
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
