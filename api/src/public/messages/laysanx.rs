//! The LaysanX-shaped widget endpoints: `POST /widget/ask` (a visitor's question, stored as a
//! chat message and answered by the assistant from the widget's knowledge base, with sources;
//! the answer is stored in the conversation too) and `POST /widget/lead` (the
//! lead form, stored as a callback of kind `lead`), addressed by `clientId`, `widgetKey` and
//! the page's domain.

use super::chat::chat_fields;
use super::*;

/// What `/widget/lead` answers on success.
const LEAD_THANKS: &str = "Thanks. We have your details and our agent will reach out soon.";

/// Reads a LaysanX-shaped body and resolves its widget (`clientId`, `widgetKey`, `domain`).
async fn laysanx_widget(
    st: &MessagesState,
    req: Request,
) -> Result<
    (
        std::sync::Arc<Widget>,
        Option<HeaderValue>,
        Map<String, Value>,
    ),
    Response,
> {
    let (parts, body) = req.into_parts();
    let body: Map<String, Value> = read_json(body).await.map_err(fail)?;
    let id = body
        .get("clientId")
        .and_then(id_value)
        .ok_or_else(|| fail(ApiError::InvalidBody("clientId is required".into())))?;
    let key = body.get("widgetKey").and_then(Value::as_str);
    let domain = body.get("domain").and_then(Value::as_str);
    let (w, allow) = public_widget(st, &id, key, &parts.headers, domain).await?;
    Ok((w, allow, body))
}

pub(super) async fn ask(State(st): State<MessagesState>, req: Request) -> Response {
    let (w, allow, body) = match laysanx_widget(&st, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        let session = opt_str(&body, "sessionId").unwrap_or_else(ringside_storage::new_id);
        let new = chat_fields(
            Some(session),
            opt_str(&body, "visitorId"),
            None,
            body.get("message")
                .and_then(Value::as_str)
                .map(str::to_owned),
        )?;
        let question = new.body.clone();
        let (visitor, conversation) = (new.visitor_id.clone(), new.conversation_id.clone());
        let m = store_message(&st, &w, new).await?;
        let (_, reply, _) = assistant_turn(&st, &w, &visitor, &conversation, &question, None)
            .await?
            .ok_or(ApiError::Internal)?;
        let online = reply.online;
        let human = reply.kind.offers_human();
        Ok(Json(AskAnswer {
            session_id: m.conversation_id,
            answer: reply.text,
            used_ai: reply.model.is_some(),
            lead_capture: LeadCapture {
                required: w.lead_form.is_some() || (human && !online),
                prompt: w.lead_form.as_ref().map(|f| f.prompt.clone()).or_else(|| {
                    (human && !online).then(|| {
                        "Leave your email or phone number and we'll get back to you.".to_owned()
                    })
                }),
            },
            answered: reply.kind.answered(),
            human_offered: human,
            sources: reply.sources,
            branding: Branding {
                site_name: w.name.clone(),
            },
        })
        .into_response())
    }
    .await;
    respond(result, allow)
}

/// The answer to `/widget/ask` (LaysanX shape).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AskAnswer {
    /// The session the question joined (send it back with the next one).
    session_id: String,
    /// The assistant's answer: whole sentences from the widget's knowledge base or its
    /// company profile, a greeting, or a plain "I don't know" offering a person.
    answer: String,
    /// Whether a language model wrote the answer.
    used_ai: bool,
    /// Whether the widget asks for the visitor's details (it has a lead form, or nobody can
    /// take the chat now and the question was not answered).
    lead_capture: LeadCapture,
    /// Whether the answer answered the message (false: not found, or a person was asked for).
    answered: bool,
    /// Whether the answer offers a person instead (the team in the chat, or a callback).
    human_offered: bool,
    /// Where the answer came from, best first; empty when nothing relevant was found.
    sources: Vec<crate::assistant::SourceView>,
    /// The site's name.
    branding: Branding,
}

/// Whether to show the lead form.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LeadCapture {
    /// The widget has a lead form.
    required: bool,
    /// Its prompt.
    prompt: Option<String>,
}

/// The widget's branding.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Branding {
    /// The widget's name.
    site_name: String,
}

/// `{success, message}`: a lead was stored.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LeadStored {
    /// Always true.
    success: bool,
    /// The thanks to show.
    message: &'static str,
}

/// Body keys that address the widget rather than carry lead data.
const ADDRESS_KEYS: &[&str] = &["clientId", "widgetKey", "domain"];

pub(super) async fn lead(State(st): State<MessagesState>, req: Request) -> Response {
    let (w, allow, body) = match laysanx_widget(&st, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        // The lead form, or the offline form when nobody is there (it is what the widget
        // shows then); without either there is nothing to submit to.
        let offline =
            !crate::availability::now_for(&st.store, &st.console, &w, st.presence.now_ms())
                .await
                .online;
        // The same fields the widget shows: offline, its offline form's (the default one when
        // it has none); otherwise the lead form's.
        let offline_fields: &[ringside_storage::FormField] = if w.offline_form.enabled {
            &w.offline_form.fields
        } else {
            &[]
        };
        let fields: &[ringside_storage::FormField] = match (&w.lead_form, offline) {
            (_, true) => offline_fields,
            (Some(form), false) => &form.fields,
            (None, false) if w.offline_form.enabled => offline_fields,
            (None, false) => {
                return Err(bad("leadForm", "no lead form is assigned to this widget"))
            }
        };
        if fields.is_empty() {
            // The default offline form: a way back to the visitor is required.
            if opt_str(&body, "email").is_none()
                && opt_str(&body, "phone").is_none()
                && opt_str(&body, "mobile").is_none()
            {
                return Err(bad("email", "an email or a phone number is required"));
            }
        }
        for f in fields.iter().filter(|f| f.required) {
            let present = match f.name.as_str() {
                "phone" | "mobile" => {
                    opt_str(&body, "mobile").is_some() || opt_str(&body, "phone").is_some()
                }
                name => opt_str(&body, name).is_some(),
            };
            if !present {
                return Err(bad("fields", "a required lead form field is missing"));
            }
        }
        let mut fields = Map::new();
        for (k, v) in &body {
            if ADDRESS_KEYS.contains(&k.as_str()) {
                continue;
            }
            if !(v.is_string() || v.is_number() || v.is_boolean()) {
                return Err(bad(
                    "fields",
                    "lead fields must be strings, numbers or booleans",
                ));
            }
            fields.insert(k.clone(), v.clone());
        }
        let visitor = opt_str(&body, "visitorId").or_else(|| opt_str(&body, "sessionId"));
        if let Some(v) = &visitor {
            client_id(v, "visitorId")?;
        }
        let message = opt_str(&body, "originalQuestion").or_else(|| opt_str(&body, "message"));
        if let Some(m) = &message {
            message_body(m, "originalQuestion")?;
        }
        store_callback(
            &st,
            &w,
            NewCallback {
                visitor_id: visitor,
                kind: "lead".into(),
                name: opt_str(&body, "name"),
                email: opt_str(&body, "email"),
                phone: opt_str(&body, "mobile").or_else(|| opt_str(&body, "phone")),
                message,
                fields,
                voice_note: None,
            },
        )
        .await?;
        Ok(Json(LeadStored {
            success: true,
            message: LEAD_THANKS,
        })
        .into_response())
    }
    .await;
    respond(result, allow)
}
