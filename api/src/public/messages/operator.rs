//! The operators' side of chats through `/api/v1`: messages (list, send as operator or
//! automation), callbacks and their voice notes, and internal notes.

use super::*;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    #[serde(default)]
    visitor_id: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

pub(super) async fn list_messages(
    State(st): State<MessagesState>,
    Scoped(auth, _): Scoped<MessagesRead>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<MessageList>, ApiError> {
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let list = st
        .store
        .list_messages(
            &w.tenant_id,
            &w.id,
            q.visitor_id.as_deref().filter(|s| !s.is_empty()),
            q.limit.unwrap_or(MAX_LIST_MESSAGES),
        )
        .await?;
    Ok(Json(MessageList {
        messages: list.iter().map(MessageView::from).collect(),
    }))
}

/// A message to a visitor.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendBody {
    /// The visitor (from the live visitors or their messages).
    visitor_id: String,
    /// The text (1 to 4,000 characters).
    #[schemars(length(min = 1, max = 4000))]
    body: String,
    /// `operator` (the default: shown as the token's user) or `automation`.
    #[serde(default)]
    #[schemars(extend("enum" = ["operator", "automation", null]))]
    sender: Option<String>,
    /// The conversation, when the site keeps several per visitor.
    #[serde(default)]
    conversation_id: Option<String>,
}

pub(super) async fn send_message(
    State(st): State<MessagesState>,
    Scoped(auth, _): Scoped<MessagesWrite>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<SendBody>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let sender = match b.sender.as_deref() {
        None | Some("operator") => "operator",
        Some("automation") => "automation",
        Some(_) => return Err(bad("sender", "operator or automation")),
    };
    let visitor = client_id(&b.visitor_id, "visitorId")?;
    let conversation = match b.conversation_id.filter(|s| !s.is_empty()) {
        Some(c) => client_id(&c, "conversationId")?,
        None => visitor.clone(),
    };
    let m = store_message(
        &st,
        &w,
        NewMessage {
            visitor_id: visitor,
            conversation_id: conversation,
            sender: sender.into(),
            author_user_id: (sender == "operator").then(|| auth.user_id.clone()),
            body: message_body(&b.body, "body")?,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(MessageView::from(&m))))
}

pub(super) async fn list_callbacks(
    State(st): State<MessagesState>,
    Scoped(auth, _): Scoped<MessagesRead>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<CallbackList>, ApiError> {
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let list = st
        .store
        .list_callbacks(
            &w.tenant_id,
            &w.id,
            q.visitor_id.as_deref().filter(|s| !s.is_empty()),
            q.limit.unwrap_or(MAX_LIST_MESSAGES),
        )
        .await?;
    Ok(Json(CallbackList {
        callbacks: list.iter().map(|c| callback_json(&st, c)).collect(),
    }))
}

pub(super) async fn voice_note(
    State(st): State<MessagesState>,
    Scoped(auth, _): Scoped<MessagesRead>,
    Path((id, callback_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let c = st
        .store
        .get_callback(&w.tenant_id, &w.id, &callback_id)
        .await?;
    let note = c.voice_note.ok_or(ApiError::NotFound)?;
    if !safe_rel_path(&note.path) {
        return Err(ApiError::NotFound);
    }
    let file = tokio::fs::File::open(st.data_dir.join(&note.path))
        .await
        .map_err(|_| ApiError::NotFound)?;
    let len = file.metadata().await.map_err(|_| ApiError::Internal)?.len();
    let stream = tokio_util_stream(file);
    let mut resp = axum::body::Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&note.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(resp)
}

pub(super) async fn list_notes(
    State(st): State<MessagesState>,
    Scoped(auth, _): Scoped<MessagesRead>,
    Path((id, visitor_id)): Path<(String, String)>,
) -> Result<Json<NoteList>, ApiError> {
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let notes = st
        .store
        .list_notes(&w.tenant_id, &w.id, &visitor_id, &auth.user_id)
        .await?;
    Ok(Json(NoteList { notes }))
}

/// An internal note.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The text, 1-4000 characters.
    #[schemars(length(min = 1, max = 4000), example = &"Asked for a quote; call back Monday")]
    body: String,
    /// `team` (default) or `private` (only you see it).
    #[serde(default)]
    #[schemars(extend("enum" = ["team", "private", null]))]
    visibility: Option<String>,
}

pub(super) async fn add_note(
    State(st): State<MessagesState>,
    Scoped(auth, _): Scoped<MessagesWrite>,
    Path((id, visitor_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<ringside_storage::Note>), ApiError> {
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let visitor = client_id(&visitor_id, "visitorId")?;
    let visibility = match b.visibility.as_deref() {
        None | Some("team") => "team",
        Some("private") => "private",
        Some(_) => return Err(bad("visibility", "team or private")),
    };
    let n = st
        .store
        .add_note(
            &w.tenant_id,
            &w.id,
            &visitor,
            &auth.user_id,
            &message_body(&b.body, "body")?,
            visibility,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(n)))
}
