//! `POST /api/widgets/{widget_id}/voice/start` (live-chat shape): a visitor's page asks to
//! talk. Calls themselves run over the widget socket (`call.start` with a WebRTC offer, as
//! the widget script does); this endpoint answers what a page needs to begin: the
//! conversation the call joins, whether someone can take a browser call now, the socket to
//! start it on, and the business's public phone number (the company profile's) for visitors
//! who would rather dial. It is rate-limited like the chat.

use super::*;

/// `{sessionId, assistantId?, visitorId?}`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoiceStartBody {
    /// The page's session id (1-128 of letters, digits, _ - . :).
    #[serde(default)]
    session_id: Option<String>,
    /// The assistant (none are configured per widget yet: ignored).
    #[serde(default)]
    assistant_id: Option<String>,
    /// The visitor (default: the session).
    #[serde(default)]
    visitor_id: Option<String>,
}

/// What a page needs to start a call.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoiceStarted {
    /// Always true.
    success: bool,
    /// The conversation the call joins (the session's).
    conversation_id: String,
    /// The assistant (null: none per widget yet).
    assistant_id: Option<String>,
    /// The business's public number (its company profile's), for dialling instead.
    phone_number: Option<String>,
    /// Whether someone can take a browser call now (else the call is refused as
    /// unavailable, or ends at the widget's offline prompt).
    available: bool,
    /// Where to start the call: the widget socket, then `{"type": "call.start", "sdp"}`.
    socket_url: String,
}

pub(super) async fn voice_start(
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
        let b: VoiceStartBody = read_json(body).await?;
        let session = b
            .session_id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::InvalidBody("sessionId is required".into()))?;
        let session = client_id(&session, "sessionId")?;
        let visitor = match b.visitor_id.filter(|v| !v.is_empty()) {
            Some(v) => client_id(&v, "visitorId")?,
            None => session.clone(),
        };
        let _ = b.assistant_id;
        let available =
            crate::availability::now_for(&st.store, &st.console, &w, st.presence.now_ms())
                .await
                .online;
        let phone_number = crate::knowledge::profile_of(&st.store, &w.tenant_id, &w.id)
            .await?
            .phone;
        let base = st.public_url.trim_end_matches('/');
        let ws = base
            .strip_prefix("https://")
            .map(|h| format!("wss://{h}"))
            .or_else(|| base.strip_prefix("http://").map(|h| format!("ws://{h}")))
            .unwrap_or_else(|| base.to_owned());
        Ok(Json(VoiceStarted {
            success: true,
            conversation_id: session,
            assistant_id: None,
            phone_number,
            available,
            socket_url: format!("{ws}/api/widgets/{}/ws?visitorId={visitor}", w.id),
        })
        .into_response())
    }
    .await;
    respond(result, allow)
}
