//! `POST /api/widgets/{widget_id}/transcript` (widget key): the visitor's chat so far, mailed
//! to the address they give ("Email me this chat" in the widget). The visitor id is the
//! page's own (as for reading the chat back); at most three transcripts a visitor in a row,
//! then one an hour ([`crate::rate_limit::TRANSCRIPTS_PER_VISITOR`]), on top of the chat
//! per-IP limit. Mail goes through the accounts' SMTP outbox; none configured or the outbox full:
//! 503. No chat yet: 422.

use super::*;

/// What the widget sends.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TranscriptBody {
    /// The page's visitor id.
    visitor_id: String,
    /// Where to send it.
    #[schemars(example = &"ana@example.com")]
    email: String,
}

/// The answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptQueued {
    /// Always true.
    success: bool,
    /// Messages in the transcript.
    messages: usize,
}

/// The mail: each message with its time (UTC) and who wrote it, attachments named.
fn transcript_text(w: &Widget, list: &[ringside_storage::Message]) -> String {
    let team = if w.agent_name.trim().is_empty() {
        "Team".to_owned()
    } else {
        w.agent_name.trim().to_owned()
    };
    let mut out = format!("Your chat with {}\n\n", w.name);
    for m in list {
        let at = jiff::Timestamp::from_millisecond(m.created_at)
            .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let who = match m.sender.as_str() {
            "visitor" => "You",
            _ => team.as_str(),
        };
        out.push_str(&format!("[{at}] {who}: {}\n", m.body));
    }
    out.push_str(
        "\n-- \nYou asked for this copy of your chat in the website's chat window. If you did not, \
         ignore this message.\n",
    );
    out
}

pub(super) async fn send_transcript(
    State(st): State<MessagesState>,
    Path(widget_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let (w, allow) = match page_widget(&st, &widget_id, &q, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        let b: TranscriptBody = read_json(body).await?;
        if !crate::widget_runtime::valid_client_id(&b.visitor_id) {
            return Err(bad(
                "visitorId",
                "the page's visitor id (6-128 letters, digits, _ - . :)",
            ));
        }
        let email = ringside_storage::normalize_email(&b.email)
            .map_err(|_| bad("email", "an email address"))?;
        if !st.accounts.outbox.delivers() {
            return Err(ApiError::Unavailable);
        }
        let key = format!("{}:{}", w.id, b.visitor_id);
        if let Err(wait) = st
            .rate_limits
            .transcripts
            .check(key.as_str(), std::time::Instant::now())
        {
            return Err(ApiError::TooManyRequests {
                retry_after_secs: crate::rate_limit::retry_after_secs(wait),
            });
        }
        let list = st
            .store
            .list_messages(&w.tenant_id, &w.id, Some(&b.visitor_id), 500)
            .await?;
        if list.is_empty() {
            return Err(bad("visitorId", "there is no chat to send yet"));
        }
        let mail = crate::accounts::mail::Mail {
            to: email,
            subject: format!("Your chat with {}", w.name),
            text: transcript_text(&w, &list),
        };
        st.accounts
            .outbox
            .enqueue(mail)
            .map_err(|_| ApiError::Unavailable)?;
        Ok((
            StatusCode::ACCEPTED,
            Json(TranscriptQueued {
                success: true,
                messages: list.len(),
            }),
        )
            .into_response())
    }
    .await;
    respond(result, allow)
}
