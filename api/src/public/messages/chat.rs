//! The visitor's chat from the widget: `POST /api/widgets/{widget_id}/chat` (a message from
//! the page) and `GET /api/widgets/{widget_id}/messages` (the visitor's own chat again after a
//! reload), authorised by the widget key and the page's Origin.

use super::*;

/// A visitor's chat message.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatBody {
    /// The page's session id (1-128 of letters, digits, _ - . :).
    #[serde(default)]
    #[schemars(example = &"s_8f2k1q")]
    session_id: Option<String>,
    /// The text, 1-4000 characters.
    #[serde(default)]
    #[schemars(example = &"Do you ship to Portugal?")]
    message: Option<String>,
    /// The conversation (default: the session).
    #[serde(default)]
    conversation_id: Option<String>,
    /// The visitor (default: the session).
    #[serde(default)]
    visitor_id: Option<String>,
    /// The widget's assistant (`config.assistantId`); another id is refused (400).
    #[serde(default)]
    assistant_id: Option<String>,
}

/// A stored chat message, with the assistant's answer when it gave one.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatStored {
    /// Always true.
    success: bool,
    /// The conversation it went to.
    conversation_id: String,
    /// The message's id.
    message_id: String,
    /// The assistant's answer (absent when the team answers this conversation).
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// The assistant's answer as stored, with its sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<AssistantReply>,
    /// How the answer was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<ReplyMetadata>,
}

/// The assistant's answer in the visitor's chat.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssistantReply {
    /// The stored message's id (the widget socket's `message` event carries the same).
    id: String,
    /// When the answer streamed to the page first (`assistant.delta` on the widget socket):
    /// the stream it came in.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_id: Option<String>,
    /// The text.
    body: String,
    /// Where it came from, best first.
    sources: Vec<crate::assistant::SourceView>,
    /// Whether it answered the message.
    answered: bool,
    /// Whether it offers a person instead.
    human_offered: bool,
}

/// How an answer was made.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ReplyMetadata {
    /// The model that wrote the answer, or `extractive` (the knowledge base's own
    /// sentences, no model).
    model: String,
    /// Model tokens used (0 without a model).
    tokens: u64,
}

/// The visitor's own chat, as the widget restores it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct VisitorChat {
    /// Always true.
    success: bool,
    /// Oldest first.
    messages: Vec<VisitorMessage>,
}

/// One message of [`VisitorChat`]: no operator identities.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisitorMessage {
    /// Its id.
    id: String,
    /// `visitor`, `operator`, `automation` or `assistant`.
    #[schemars(extend("enum" = ["visitor", "operator", "automation", "assistant"]))]
    sender: String,
    /// The text.
    body: String,
    /// Unix ms.
    created_at: i64,
    /// A file the message announced.
    #[serde(skip_serializing_if = "Option::is_none")]
    attachment: Option<VisitorFile>,
}

/// A file in the visitor's chat.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisitorFile {
    /// Its id.
    id: String,
    /// The file's name.
    file_name: String,
    /// Size in bytes.
    bytes: i64,
    /// Where the page downloads it.
    url: String,
}

/// Validates the chat fields shared by both shapes: (visitor id, conversation id, body).
pub(super) fn chat_fields(
    session_id: Option<String>,
    visitor_id: Option<String>,
    conversation_id: Option<String>,
    message: Option<String>,
) -> Result<NewMessage, ApiError> {
    let session = session_id.filter(|s| !s.is_empty());
    let message = message.ok_or_else(|| ApiError::InvalidBody("message is required".into()))?;
    let body = message_body(&message, "message")?;
    let session = session
        .ok_or_else(|| ApiError::InvalidBody("sessionId is required".into()))
        .and_then(|s| client_id(&s, "sessionId"))?;
    let visitor = match visitor_id.filter(|s| !s.is_empty()) {
        Some(v) => client_id(&v, "visitorId")?,
        None => session.clone(),
    };
    let conversation = match conversation_id.filter(|s| !s.is_empty()) {
        Some(c) => client_id(&c, "conversationId")?,
        None => session,
    };
    Ok(NewMessage {
        visitor_id: visitor,
        conversation_id: conversation,
        sender: "visitor".into(),
        author_user_id: None,
        body,
    })
}

pub(super) async fn chat(
    State(st): State<MessagesState>,
    Path(widget_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let (w, allow) = match page_widget(&st, &widget_id, &q, &parts.headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        let b: ChatBody = read_json(body).await?;
        if let Some(asked) = b.assistant_id.as_deref().filter(|s| !s.is_empty()) {
            let mine = st
                .store
                .get_assistant(&w.tenant_id, &w.id)
                .await?
                .filter(|a| a.enabled);
            if mine.is_none_or(|a| a.id != asked) {
                return Err(ApiError::InvalidBody(
                    "assistantId: no such assistant on this widget".into(),
                ));
            }
        }
        let new = chat_fields(b.session_id, b.visitor_id, b.conversation_id, b.message)?;
        let question = new.body.clone();
        let m = store_message(&st, &w, new).await?;
        let reply = match assistant_answers_chat(&st, &w, &m.visitor_id, &m.conversation_id).await?
        {
            Some(last) => {
                assistant_turn(
                    &st,
                    &w,
                    &m.visitor_id,
                    &m.conversation_id,
                    &question,
                    last.as_deref(),
                )
                .await?
            }
            None => None,
        };
        Ok(Json(ChatStored {
            success: true,
            conversation_id: m.conversation_id,
            message_id: m.id,
            message: reply.as_ref().map(|(_, r, _)| r.text.clone()),
            metadata: reply.as_ref().map(|(_, r, _)| ReplyMetadata {
                model: r.model.clone().unwrap_or_else(|| "extractive".into()),
                tokens: u64::try_from(r.tokens).unwrap_or(0),
            }),
            reply: reply.map(|(stored, r, stream_id)| AssistantReply {
                id: stored.id,
                stream_id,
                body: r.text,
                answered: r.kind.answered(),
                human_offered: r.kind.offers_human(),
                sources: r.sources,
            }),
        })
        .into_response())
    }
    .await;
    respond(result, allow)
}

/// `GET /api/widgets/{widget_id}/messages?visitorId=`: what the visitor's page shows again
/// after a reload. The visitor id is the page's own random id: whoever holds it is that page.
pub(super) async fn history(
    State(st): State<MessagesState>,
    Path(widget_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (w, allow) = match page_widget(&st, &widget_id, &q, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        // The page's own id (6-128 characters, as on the widget socket): short ids an
        // integration might send are too easy to guess for a read.
        let visitor = q
            .get("visitorId")
            .filter(|v| crate::widget_runtime::valid_client_id(v))
            .ok_or(bad(
                "visitorId",
                "the page's visitor id (6-128 letters, digits, _ - . :)",
            ))?
            .clone();
        let limit = crate::extract::query_limit(&q, 100, 200)?;
        let list = st
            .store
            .list_messages(&w.tenant_id, &w.id, Some(&visitor), i64::from(limit))
            .await?;
        let files = attachments::by_message(&st, &w, &visitor).await?;
        let messages: Vec<VisitorMessage> = list
            .iter()
            .map(|m| VisitorMessage {
                id: m.id.clone(),
                sender: m.sender.clone(),
                body: m.body.clone(),
                created_at: m.created_at,
                attachment: files.get(&m.id).map(|a| VisitorFile {
                    id: a.id.clone(),
                    file_name: a.file_name.clone(),
                    bytes: a.bytes,
                    url: format!(
                        "/api/widgets/{}/attachments/{}?visitorId={}",
                        w.id, a.id, visitor
                    ),
                }),
            })
            .collect();
        Ok(Json(VisitorChat {
            success: true,
            messages,
        })
        .into_response())
    }
    .await;
    respond(result, allow)
}
