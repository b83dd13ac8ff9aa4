//! Order and ticket lookups for the assistant: the tenant's integration is asked only when
//! the visitor's message asks about an order or a ticket and the visitor has given, in this
//! conversation, the number and the email or postcode on it ([`ringside_knowledge::lookup`]);
//! otherwise the assistant asks for what is missing and nothing is sent. The visitor and
//! conversation ids (the page's own, its only secret) must be at least
//! [`MIN_SESSION_CHARS`] long: a guessable one would let anyone reuse what was said in it. The request goes
//! through the outbound policy, carries the integration's auth header and, with a signing
//! secret, `X-Ringside-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<METHOD> <path?query>\n<body>">`. Only the mapped fields of the answer are told, and
//! when the integration names a field that must equal the email or postcode given, an answer
//! where it differs is "not found" (nothing of it is told). Every lookup, and every refusal
//! to look up, is logged with its conversation (`GET
//! /api/v1/widgets/{id}/conversations/{conversationId}/lookups`).

use std::time::Duration;

use hmac::Mac;
use ringside_knowledge::lookup::{
    asks_about, compile_pattern, field, fill_template, gather, masked, LookupKind, Regex, Verifier,
};
use ringside_storage::{Integration, Lookup, Widget};
use serde_json::Value;

use crate::assistant::{Assistant, Turn};
use crate::ApiError;

/// Shortest visitor and conversation ids a lookup is made for. The page's own id is what
/// ties a conversation to a visitor: a short one ("session-1") could be guessed, and whoever
/// used it would see what was said in it. The widget's ids are 26 characters of which 24 are
/// random hex.
pub const MIN_SESSION_CHARS: usize = 20;
/// How long a lookup may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read.
const MAX_BODY: usize = 256 * 1024;
/// The sealed auth header value's purpose.
pub(crate) const AUTH_PURPOSE: &str = "integration-auth-header";
/// The sealed signing secret's purpose.
pub(crate) const HMAC_PURPOSE: &str = "integration-hmac";

fn noun(kind: LookupKind) -> &'static str {
    match kind {
        LookupKind::Order => "order",
        LookupKind::Ticket => "ticket",
    }
}

fn title(kind: LookupKind) -> &'static str {
    match kind {
        LookupKind::Order => "Order",
        LookupKind::Ticket => "Ticket",
    }
}

/// The assistant's request for identifiers starts so (one per kind): a visitor's next
/// message answering it continues the lookup.
fn ask_prefix(kind: LookupKind) -> String {
    format!("To look up your {}", noun(kind))
}

/// A log entry of a lookup in `turn`'s conversation, `missing` until it gets further.
fn new_log(w: &Widget, turn: Turn<'_>, kind: LookupKind) -> Lookup {
    Lookup {
        id: String::new(),
        widget_id: w.id.clone(),
        visitor_id: turn.visitor.to_owned(),
        conversation_id: turn.conversation.to_owned(),
        integration_id: None,
        kind: kind.as_str().into(),
        reference: None,
        outcome: "missing".into(),
        http_status: None,
        created_at: 0,
    }
}

/// What the lookup step gives the assistant.
pub(crate) struct LookupReply {
    /// What to tell the visitor.
    pub text: String,
    /// Whether the status was found and told.
    pub found: bool,
}

/// The lookup step: `None` when the message is not about an order or ticket this tenant can
/// look up with the integrations `allowed` (all of them when `None`; the widget's assistant
/// may choose), so the assistant goes on to its other answers.
pub(crate) async fn lookup(
    a: &Assistant<'_>,
    w: &Widget,
    turn: Turn<'_>,
    message: &str,
    allowed: Option<&[String]>,
) -> Result<Option<LookupReply>, ApiError> {
    let integrations: Vec<(Integration, Regex)> = a
        .store
        .list_integrations(&w.tenant_id)
        .await?
        .into_iter()
        .filter(|i| i.enabled)
        .filter(|i| allowed.is_none_or(|ids| ids.contains(&i.id)))
        .filter_map(|i| compile_pattern(&i.reference_pattern).map(|p| (i, p)))
        .collect();
    if integrations.is_empty() {
        return Ok(None);
    }
    let recent = turn.recent(a.store, w).await?;
    let mine: Vec<_> = recent
        .iter()
        .filter(|m| m.conversation_id == turn.conversation)
        .collect();
    let kinds: Vec<(LookupKind, &Regex)> = integrations
        .iter()
        .filter_map(|(i, p)| LookupKind::parse(&i.kind).map(|k| (k, p)))
        .collect();
    // Asked now, or answering the assistant's request for the identifiers with one of them
    // (a visitor who moves on to another question is not asked for them again).
    let asked = asks_about(message, &kinds).or_else(|| {
        let last_assistant = mine.iter().rev().find(|m| m.sender == "assistant")?;
        integrations.iter().find_map(|(i, pattern)| {
            let k = LookupKind::parse(&i.kind)?;
            let verifier = Verifier::parse(&i.verifier).unwrap_or(Verifier::Email);
            let g = gather(&[message], pattern, verifier);
            (last_assistant.body.starts_with(&ask_prefix(k))
                && (g.reference.is_some() || g.verifier.is_some()))
            .then_some(k)
        })
    });
    let Some(kind) = asked else {
        return Ok(None);
    };
    if turn.visitor.chars().count() < MIN_SESSION_CHARS
        || turn.conversation.chars().count() < MIN_SESSION_CHARS
    {
        let mut log = new_log(w, turn, kind);
        log.outcome = "weak_session".into();
        a.store.log_lookup(&w.tenant_id, &log).await?;
        return Ok(Some(LookupReply {
            text: format!(
                "For your privacy I can only look up your {} in the chat on our website. Please \
                 ask there, or ask for a person from our team.",
                noun(kind)
            ),
            found: false,
        }));
    }
    let Some((integration, pattern)) = integrations
        .iter()
        .find(|(i, _)| LookupKind::parse(&i.kind) == Some(kind))
    else {
        return Ok(None);
    };
    let verifier = Verifier::parse(&integration.verifier).unwrap_or(Verifier::Email);
    // Only the visitor's own words of this conversation.
    let said: Vec<&str> = mine
        .iter()
        .filter(|m| m.sender == "visitor")
        .map(|m| m.body.as_str())
        .collect();
    let g = gather(&said, pattern, verifier);
    let mut log = new_log(w, turn, kind);
    log.reference = g.reference.as_deref().map(masked);
    let (reference, value) = match (&g.reference, &g.verifier) {
        (Some(r), Some(v)) => (r.clone(), v.clone()),
        (r, v) => {
            a.store.log_lookup(&w.tenant_id, &log).await?;
            let verifier_words = match verifier {
                Verifier::Email => "the email address",
                Verifier::Postcode => "the postcode",
            };
            let what = match (r, v) {
                (None, None) => {
                    format!("the {} number and {verifier_words} used for it", noun(kind))
                }
                (None, Some(_)) => format!("the {} number", noun(kind)),
                (Some(_), _) => format!("{verifier_words} used for it"),
            };
            return Ok(Some(LookupReply {
                text: format!("{}, please send {what}.", ask_prefix(kind)),
                found: false,
            }));
        }
    };
    log.integration_id = Some(integration.id.clone());
    let result = call(a, w, integration, &reference, verifier, &value).await;
    let not_found = format!(
        "I couldn't find {} {} with that number and {}. Please check both, or ask for a person \
         from our team.",
        if kind == LookupKind::Order { "an" } else { "a" },
        noun(kind),
        verifier.as_str()
    );
    let reply = match result {
        Ok((status, body)) => {
            log.http_status = Some(i64::from(status));
            if status == 404 {
                log.outcome = "not_found".into();
                LookupReply {
                    text: not_found,
                    found: false,
                }
            } else if !(200..300).contains(&status) {
                log.outcome = "failed".into();
                LookupReply {
                    text: format!(
                        "I can't look up your {} right now. Someone from our team can help.",
                        noun(kind)
                    ),
                    found: false,
                }
            } else {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let matches = match &integration.match_field {
                    Some(path) => {
                        field(&v, path).is_some_and(|x| x.trim().eq_ignore_ascii_case(value.trim()))
                    }
                    None => true,
                };
                let told: Vec<String> = integration
                    .field_map
                    .iter()
                    .filter_map(|f| field(&v, &f.path).map(|x| format!("{}: {}", f.label, x)))
                    .collect();
                if !matches || told.is_empty() {
                    log.outcome = if matches { "not_found" } else { "mismatch" }.into();
                    LookupReply {
                        text: not_found,
                        found: false,
                    }
                } else {
                    log.outcome = "found".into();
                    LookupReply {
                        text: format!("{} {reference}: {}.", title(kind), told.join("; ")),
                        found: true,
                    }
                }
            }
        }
        Err(why) => {
            tracing::warn!(tenant = %w.tenant_id, integration = %integration.id, why, "lookup failed");
            log.outcome = "failed".into();
            LookupReply {
                text: format!(
                    "I can't look up your {} right now. Someone from our team can help.",
                    noun(kind)
                ),
                found: false,
            }
        }
    };
    a.store.log_lookup(&w.tenant_id, &log).await?;
    Ok(Some(reply))
}

/// The request: (status, body) or why it was not made or failed.
async fn call(
    a: &Assistant<'_>,
    w: &Widget,
    i: &Integration,
    reference: &str,
    verifier: Verifier,
    value: &str,
) -> Result<(u16, Vec<u8>), &'static str> {
    let url = fill_template(&i.url_template, reference, verifier, value);
    let parsed = a
        .fetch_policy
        .check(&url)
        .await
        .map_err(|_| "refused by the outbound policy")?
        .0;
    let client = a
        .fetch_policy
        .client(TIMEOUT, "Ringside/0.1 (lookup)")
        .map_err(|_| "client")?;
    let body = if i.method == "POST" {
        serde_json::json!({"reference": reference, verifier.as_str(): value}).to_string()
    } else {
        String::new()
    };
    let mut req = if i.method == "POST" {
        client
            .post(parsed.clone())
            .header("content-type", "application/json")
            .body(body.clone())
    } else {
        client.get(parsed.clone())
    };
    req = req.header("accept", "application/json");
    let sealer = a.link_secret.sealer();
    if let (Some(name), Some(sealed)) = (&i.auth_header_name, &i.auth_header_sealed) {
        let v = sealer
            .open(&w.tenant_id, AUTH_PURPOSE, sealed)
            .map_err(|_| "auth header does not open")?;
        req = req.header(name.as_str(), v);
    }
    if let Some(sealed) = &i.hmac_secret_sealed {
        let secret = sealer
            .open(&w.tenant_id, HMAC_PURPOSE, sealed)
            .map_err(|_| "signing secret does not open")?;
        let t = ringside_storage::now_ms() / 1000;
        let mut path = parsed.path().to_owned();
        if let Some(q) = parsed.query() {
            path.push('?');
            path.push_str(q);
        }
        let signed = format!("{t}.{} {path}\n{body}", i.method);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| "signing secret")?;
        mac.update(signed.as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        req = req.header("x-ringside-signature", format!("t={t},v1={sig}"));
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            "timeout"
        } else {
            "unreachable"
        }
    })?;
    let status = resp.status().as_u16();
    let out = crate::outbound::read_limited(resp, MAX_BODY)
        .await
        .map_err(|e| match e {
            crate::outbound::BodyError::TooLarge(_) => "answer too large",
            crate::outbound::BodyError::Broken => "body",
        })?;
    Ok((status, out))
}
