//! `/api/v1/alert-rules` (scopes `webhooks:read` / `webhooks:write`): a user's alert rules —
//! which events (the webhook event names), on which widgets, reach them on which channel.
//!
//! - `POST /api/v1/alert-rules` with `name`, `events`, `widgetIds?` (null or absent: every
//!   widget the user sees), `channel` (`{"type": "ntfy", "url"?, "topic", "token"?,
//!   "username"?, "password"?, "priority"?}`, `{"type": "webpush", "subscription": {"endpoint",
//!   "keys": {"p256dh", "auth"}}}` or `{"type": "email", "address"}`), `quietHours?`
//!   (`{from, to, timeZone}`), `visitorFilter?` (`{pageContains?, campaign?}`: which visitors
//!   `visitor.connected` alerts on), `groupSecs?` (0-3600, default 60: alerts of one event
//!   after the first within that time are grouped into one), `enabled?` → 201.
//! - `GET /api/v1/alert-rules`: the caller's rules; `GET|PATCH|DELETE .../{id}`;
//!   `POST .../{id}/test` → 202: a test alert sent through the channel now;
//!   `GET .../{id}/deliveries?limit=`: its alerts, newest first (`pending` until sent, then
//!   `delivered`, `failed` or `suppressed`; a grouped one counts the events it tells of).
//!   [`crate::alert_dispatch`] sends them.
//!
//! Chat alerts tell of visitors' messages (not of the team's or the assistant's answers).
//!
//! A rule belongs to the user who made it: another user's is 404, even for an owner. Tokens
//! need the scopes; a signed-in dashboard user of any role (agents too) manages their own
//! rules ([`Mine`]). A widget
//! named must be one the user sees (an agent given some widgets names only those). The ntfy
//! access token or password is sealed at rest and never shown (`hasSecret`); the push
//! subscription's endpoint is shown by its origin only (it is a capability URL). Addresses on
//! loopback or private networks need `RINGSIDE_ALLOW_PRIVATE_FETCH=true`.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use ringside_storage::{
    AlertDelivery, AlertRule, AuthContext, QuietHours, VisitorFilter, MAX_ALERT_RULES,
    QUEUED_ALERT_CHANNELS, WEBHOOK_EVENTS,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Scope, WebhooksRead, WebhooksWrite};
use crate::extract::{double_option, ApiJson};
use crate::openapi::{Auth, Body, DataList, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What a sealed alert secret is for ([`Sealer`]).
pub(crate) const SECRET_PURPOSE: &str = "alert-channel-secret";
/// The public ntfy server, the default.
pub const NTFY_DEFAULT: &str = "https://ntfy.sh";
/// Longest grouping window.
const MAX_GROUP_SECS: i64 = 3600;
/// Most events a rule names.
const MAX_EVENTS: usize = 20;
/// Most widgets a rule names.
const MAX_WIDGETS: usize = 100;

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Alerts";
    let (r, w) = (Auth::Scope("webhooks:read"), Auth::Scope("webhooks:write"));
    DocRouter::new("/api/v1")
        .get(
            "/alert-rules",
            list,
            Spec::new(T, r, "The caller's alert rules").returns::<DataList<AlertRuleView>>(),
        )
        .post(
            "/alert-rules",
            create,
            Spec::new(T, w, "Create an alert rule")
                .body(Body::Json(
                    "name, events, widgetIds?, channel {type: ntfy | webpush | email, ...}, quietHours?, groupSecs?, enabled?",
                ))
                .takes::<RuleBody>()
                .ok(201, "The rule")
                .returns::<AlertRuleView>(),
        )
        .get(
            "/alert-rules/{id}",
            get_one,
            Spec::new(T, r, "One of the caller's alert rules").returns::<AlertRuleView>(),
        )
        .patch(
            "/alert-rules/{id}",
            patch,
            Spec::new(T, w, "Change an alert rule (the fields given)")
                .body(Body::Json("fields to change"))
                .takes::<RulePatch>()
                .returns::<AlertRuleView>(),
        )
        .post(
            "/alert-rules/{id}/test",
            test,
            Spec::new(T, w, "Send a test alert through the rule's channel now")
                .ok(202, "The test alert, queued (its outcome shows in the rule's deliveries)")
                .returns::<AlertDelivery>(),
        )
        .get(
            "/alert-rules/{id}/deliveries",
            deliveries,
            Spec::new(T, r, "The rule's alerts, newest first")
                .query(&[("limit", "1-500 (default 50)")])
                .returns::<DataList<AlertDelivery>>(),
        )
        .delete(
            "/alert-rules/{id}",
            remove,
            Spec::new(T, w, "Delete an alert rule")
                .ok(204, "Deleted")
                .content(""),
        )
}

/// The caller of these endpoints: a token (personal or OAuth) needs the scope; a signed-in
/// dashboard user of any role may manage their own rules, since a rule is its user's and only
/// ever covers widgets they see (agents hold no `webhooks:*` scope, yet they are the people who
/// answer calls).
pub struct Mine<S: Scope>(AuthContext, std::marker::PhantomData<S>);

impl<S: Scope> FromRequestParts<AppState> for Mine<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let auth = crate::auth::Auth::from_request_parts(parts, state).await?;
        if !matches!(auth.0.credential, ringside_storage::Credential::Session(_)) {
            auth.require(S::NAME)?;
        }
        Ok(Mine(auth.0, std::marker::PhantomData))
    }
}

/// A channel to set.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelBody {
    /// An ntfy topic (the public server or a self-hosted one).
    Ntfy {
        /// The server (default `https://ntfy.sh`).
        #[serde(default)]
        #[schemars(example = &"https://ntfy.sh")]
        url: Option<String>,
        /// The topic: 1-64 letters, digits, `_` or `-`.
        #[schemars(example = &"acme-front-desk")]
        topic: String,
        /// An access token (write-only; on a change: absent keeps it, empty removes it).
        #[serde(default)]
        token: Option<String>,
        /// A user name, with `password` (instead of a token).
        #[serde(default)]
        username: Option<String>,
        /// Its password (write-only).
        #[serde(default)]
        password: Option<String>,
        /// 1 (min) to 5 (urgent); default by event (a ringing call is urgent).
        #[serde(default)]
        #[schemars(range(min = 1, max = 5))]
        priority: Option<u8>,
    },
    /// A browser's Web Push subscription (`PushSubscription.toJSON()`).
    Webpush {
        /// The subscription.
        subscription: PushSubscription,
    },
    /// An email address.
    Email {
        /// Where alerts are mailed.
        #[schemars(example = &"ana@example.com")]
        address: String,
        /// One summary a day instead of a mail per alert (default false).
        #[serde(default)]
        digest: Option<bool>,
        /// When the daily summary leaves, `HH:MM` (default `08:00`).
        #[serde(default, rename = "digestAt")]
        #[schemars(example = &"08:00")]
        digest_at: Option<String>,
        /// The summary's time zone (default UTC).
        #[serde(default, rename = "timeZone")]
        #[schemars(example = &"Europe/Lisbon")]
        time_zone: Option<String>,
    },
}

/// A Web Push subscription as the browser gives it.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSubscription {
    /// The push service's URL for this browser.
    endpoint: String,
    /// Its keys.
    keys: PushKeys,
}

/// A subscription's keys (base64url).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushKeys {
    /// The browser's P-256 public key (65 bytes, uncompressed).
    p256dh: String,
    /// The authentication secret (16 bytes).
    auth: String,
}

/// A rule to create.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleBody {
    /// 1-120 characters.
    #[schemars(example = &"Calls on my phone")]
    name: String,
    /// Webhook event names (`call.requested`, `chat.message.created`, `visitor.created`...).
    events: Vec<String>,
    /// The widgets it covers (absent or null: every widget the user sees).
    #[serde(default)]
    widget_ids: Option<Vec<String>>,
    /// Where alerts go.
    channel: ChannelBody,
    /// When it stays quiet.
    #[serde(default)]
    quiet_hours: Option<QuietHours>,
    /// Which visitors `visitor.connected` alerts on: a page address containing
    /// `pageContains`, a `campaign` (utm_campaign); absent or null: every visitor.
    #[serde(default)]
    visitor_filter: Option<VisitorFilter>,
    /// Alerts of one event after the first within this many seconds are grouped (0-3600,
    /// default 60).
    #[serde(default)]
    #[schemars(range(min = 0, max = 3600))]
    group_secs: Option<i64>,
    /// Default true.
    #[serde(default)]
    enabled: Option<bool>,
}

/// Changes to a rule: the fields given.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RulePatch {
    /// 1-120 characters.
    #[serde(default)]
    name: Option<String>,
    /// Webhook event names.
    #[serde(default)]
    events: Option<Vec<String>>,
    /// The widgets (null: every widget the user sees).
    #[serde(default, deserialize_with = "double_option")]
    widget_ids: Option<Option<Vec<String>>>,
    /// The channel (its secret kept when the new one names none and the type is the same).
    #[serde(default)]
    channel: Option<ChannelBody>,
    /// Quiet hours (null: none).
    #[serde(default, deserialize_with = "double_option")]
    quiet_hours: Option<Option<QuietHours>>,
    /// Which visitors (null: every visitor).
    #[serde(default, deserialize_with = "double_option")]
    visitor_filter: Option<Option<VisitorFilter>>,
    /// 0-3600.
    #[serde(default)]
    group_secs: Option<i64>,
    /// On or off.
    #[serde(default)]
    enabled: Option<bool>,
}

/// A channel as shown (never its secret).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    /// `ntfy`, `webpush` or `email`.
    r#type: String,
    /// ntfy: the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// ntfy: the topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<String>,
    /// ntfy: the priority set (none: by event).
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<u8>,
    /// ntfy: whether a token or password is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    has_secret: Option<bool>,
    /// webpush: the push service's origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    push_service: Option<String>,
    /// email: the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    /// email: one summary a day.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<bool>,
    /// email: when the summary leaves.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest_at: Option<String>,
    /// email: the summary's time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    time_zone: Option<String>,
}

/// An alert rule as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertRuleView {
    /// `alr_...`.
    id: String,
    /// Its name.
    name: String,
    /// The events it alerts on.
    events: Vec<String>,
    /// The widgets it covers (null: every widget its user sees).
    widget_ids: Option<Vec<String>>,
    /// Where alerts go.
    channel: ChannelView,
    /// When it stays quiet.
    quiet_hours: Option<QuietHours>,
    /// Which visitors `visitor.connected` alerts on.
    visitor_filter: Option<VisitorFilter>,
    /// Grouping window, seconds.
    group_secs: i64,
    /// Whether it alerts.
    enabled: bool,
    /// Whether its last delivery gave up (retries exhausted).
    failing: bool,
    /// Unix ms.
    created_at: i64,
    /// Unix ms.
    updated_at: i64,
}

fn view(r: AlertRule) -> AlertRuleView {
    let c = &r.channel;
    let s = |k: &str| c.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let channel = match r.channel_type.as_str() {
        "ntfy" => ChannelView {
            r#type: r.channel_type.clone(),
            url: s("url"),
            topic: s("topic"),
            priority: c
                .get("priority")
                .and_then(|v| v.as_u64())
                .and_then(|p| u8::try_from(p).ok()),
            has_secret: Some(r.secret_sealed.is_some()),
            push_service: None,
            address: None,
            digest: None,
            digest_at: None,
            time_zone: None,
        },
        "webpush" => ChannelView {
            r#type: r.channel_type.clone(),
            url: None,
            topic: None,
            priority: None,
            has_secret: None,
            push_service: s("endpoint").and_then(|e| {
                reqwest::Url::parse(&e)
                    .ok()
                    .map(|u| u.origin().ascii_serialization())
            }),
            address: None,
            digest: None,
            digest_at: None,
            time_zone: None,
        },
        _ => ChannelView {
            r#type: r.channel_type.clone(),
            url: None,
            topic: None,
            priority: None,
            has_secret: None,
            push_service: None,
            address: s("address"),
            digest: c.get("digest").and_then(|v| v.as_bool()),
            digest_at: s("digestAt"),
            time_zone: s("timeZone"),
        },
    };
    AlertRuleView {
        id: r.id,
        name: r.name,
        events: r.events,
        widget_ids: r.widget_ids,
        channel,
        quiet_hours: r.quiet,
        visitor_filter: r.visitor_filter,
        group_secs: r.group_secs,
        enabled: r.enabled,
        failing: r.failing,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn invalid(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::InvalidField { field, reason }
}

fn name_of(n: &str) -> Result<String, ApiError> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > 120 || n.chars().any(char::is_control) {
        return Err(invalid("name", "1-120 characters"));
    }
    Ok(n.to_owned())
}

fn events_of(events: Vec<String>) -> Result<Vec<String>, ApiError> {
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(invalid("events", "1-20 webhook event names"));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        if !WEBHOOK_EVENTS.contains(&e.as_str()) {
            return Err(invalid("events", "names of webhook events"));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// The widgets named, each the tenant's and one the caller sees.
async fn widgets_of(
    st: &AppState,
    ctx: &AuthContext,
    ids: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(ids) = ids else {
        return Ok(None);
    };
    if ids.is_empty() || ids.len() > MAX_WIDGETS {
        return Err(invalid(
            "widgetIds",
            "1-100 widget ids, or null for every widget",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let sees = ctx.widgets.as_ref().is_none_or(|w| w.contains(&id));
        if !sees || st.store.get_widget(&ctx.tenant_id, &id).await.is_err() {
            return Err(invalid("widgetIds", "ids of widgets you see"));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(Some(out))
}

/// `HH:MM`, 00:00 to 23:59.
fn hh_mm(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && t[..2].parse::<u8>().is_ok_and(|h| h < 24)
        && t[3..].parse::<u8>().is_ok_and(|m| m < 60)
        && b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit)
}

fn quiet_of(q: Option<QuietHours>) -> Result<Option<QuietHours>, ApiError> {
    let Some(q) = q else {
        return Ok(None);
    };
    if !hh_mm(&q.from) || !hh_mm(&q.to) || q.from == q.to {
        return Err(invalid("quietHours", "from and to as HH:MM, not equal"));
    }
    crate::availability::zone(&q.time_zone).map_err(|_| {
        invalid(
            "quietHours",
            "timeZone: a zone of the zone database (e.g. Europe/Lisbon)",
        )
    })?;
    Ok(Some(q))
}

fn filter_of(f: Option<VisitorFilter>) -> Result<Option<VisitorFilter>, ApiError> {
    let Some(f) = f else {
        return Ok(None);
    };
    let clean = |v: Option<String>| -> Result<Option<String>, ApiError> {
        match v.map(|s| s.trim().to_owned()) {
            Some(s) if s.chars().count() > 200 || s.chars().any(char::is_control) => Err(invalid(
                "visitorFilter",
                "pageContains and campaign: at most 200 characters",
            )),
            Some(s) if s.is_empty() => Ok(None),
            other => Ok(other),
        }
    };
    let f = VisitorFilter {
        page_contains: clean(f.page_contains)?,
        campaign: clean(f.campaign)?,
    };
    Ok((f != VisitorFilter::default()).then_some(f))
}

fn group_of(g: Option<i64>) -> Result<i64, ApiError> {
    match g {
        None => Ok(60),
        Some(g) if (0..=MAX_GROUP_SECS).contains(&g) => Ok(g),
        Some(_) => Err(invalid("groupSecs", "0-3600 seconds")),
    }
}

fn url_of(st: &AppState, url: &str, field: &'static str) -> Result<String, ApiError> {
    let url = url.trim();
    if url.len() > 2048 {
        return Err(invalid(field, "a URL of at most 2048 characters"));
    }
    st.fetch_policy.check_syntax(url).map_err(|e| match e {
        crate::outbound::Refusal::NotPublic => invalid(
            field,
            "the address is not public (RINGSIDE_ALLOW_PRIVATE_FETCH allows loopback and private addresses)",
        ),
        _ => invalid(field, "an http or https URL"),
    })?;
    Ok(url.trim_end_matches('/').to_owned())
}

fn b64url_len(s: &str, len: usize) -> bool {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .is_ok_and(|b| b.len() == len)
}

/// The checked channel: (type, settings, what becomes of its secret).
fn channel_of(
    st: &AppState,
    c: ChannelBody,
) -> Result<(String, serde_json::Value, SecretChange), ApiError> {
    match c {
        ChannelBody::Ntfy {
            url,
            topic,
            token,
            username,
            password,
            priority,
        } => {
            let url = url_of(st, url.as_deref().unwrap_or(NTFY_DEFAULT), "channel.url")?;
            let topic = topic.trim().to_owned();
            if topic.is_empty()
                || topic.len() > 64
                || !topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(invalid("channel.topic", "1-64 letters, digits, _ or -"));
            }
            if priority.is_some_and(|p| !(1..=5).contains(&p)) {
                return Err(invalid("channel.priority", "1 (min) to 5 (urgent)"));
            }
            let field_ok = |s: &str| s.len() <= 200 && !s.chars().any(char::is_control);
            let secret = match (token, username, password) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                    return Err(invalid(
                        "channel.token",
                        "a token or a username and password, not both",
                    ))
                }
                (Some(t), None, None) if t.trim().is_empty() => SecretChange::Remove,
                (Some(t), None, None) if field_ok(t.trim()) => {
                    SecretChange::Set(format!("bearer:{}", t.trim()))
                }
                (None, Some(u), Some(p))
                    if !u.trim().is_empty() && !u.contains(':') && field_ok(&u) && field_ok(&p) =>
                {
                    SecretChange::Set(format!("basic:{}:{p}", u.trim()))
                }
                (None, None, None) => SecretChange::Keep,
                _ => {
                    return Err(invalid(
                        "channel.token",
                        "a token, or a username (no colon) with its password, at most 200 characters each",
                    ))
                }
            };
            Ok((
                "ntfy".into(),
                json!({"url": url, "topic": topic, "priority": priority}),
                secret,
            ))
        }
        ChannelBody::Webpush { subscription } => {
            let endpoint = url_of(st, &subscription.endpoint, "channel.subscription.endpoint")?;
            if !b64url_len(&subscription.keys.p256dh, 65)
                || !subscription.keys.p256dh.starts_with('B')
            {
                return Err(invalid(
                    "channel.subscription.keys.p256dh",
                    "a P-256 public key: 65 bytes, base64url",
                ));
            }
            if !b64url_len(&subscription.keys.auth, 16) {
                return Err(invalid(
                    "channel.subscription.keys.auth",
                    "16 bytes, base64url",
                ));
            }
            Ok((
                "webpush".into(),
                json!({"endpoint": endpoint, "p256dh": subscription.keys.p256dh,
                       "auth": subscription.keys.auth}),
                SecretChange::Remove,
            ))
        }
        ChannelBody::Email {
            address,
            digest,
            digest_at,
            time_zone,
        } => {
            let address = ringside_storage::normalize_email(&address)
                .map_err(|_| invalid("channel.address", "an email address"))?;
            let digest = digest.unwrap_or(false);
            let at = digest_at.unwrap_or_else(|| "08:00".to_owned());
            if !hh_mm(&at) {
                return Err(invalid("channel.digestAt", "HH:MM"));
            }
            let zone = time_zone.unwrap_or_else(|| "UTC".to_owned());
            crate::availability::zone(&zone).map_err(|_| {
                invalid(
                    "channel.timeZone",
                    "a zone of the zone database (e.g. Europe/Lisbon)",
                )
            })?;
            let channel = if digest {
                json!({"address": address, "digest": true, "digestAt": at, "timeZone": zone})
            } else {
                json!({"address": address})
            };
            Ok(("email".into(), channel, SecretChange::Remove))
        }
    }
}

/// What happens to a channel's stored secret.
enum SecretChange {
    Keep,
    Remove,
    Set(String),
}

async fn list(
    Mine(ctx, _): Mine<WebhooksRead>,
    State(st): State<AppState>,
) -> Result<Json<DataList<AlertRuleView>>, ApiError> {
    let rules = st
        .store
        .list_alert_rules(&ctx.tenant_id, &ctx.user_id)
        .await?;
    Ok(Json(rules.into_iter().map(view).collect::<Vec<_>>().into()))
}

async fn get_one(
    Mine(ctx, _): Mine<WebhooksRead>,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AlertRuleView>, ApiError> {
    let r = st
        .store
        .get_alert_rule(&ctx.tenant_id, &ctx.user_id, &id)
        .await?;
    Ok(Json(view(r)))
}

async fn create(
    Mine(ctx, _): Mine<WebhooksWrite>,
    State(st): State<AppState>,
    ApiJson(b): ApiJson<RuleBody>,
) -> Result<(StatusCode, Json<AlertRuleView>), ApiError> {
    let name = name_of(&b.name)?;
    let events = events_of(b.events)?;
    let widget_ids = widgets_of(&st, &ctx, b.widget_ids).await?;
    let (channel_type, channel, secret) = channel_of(&st, b.channel)?;
    let quiet = quiet_of(b.quiet_hours)?;
    let visitor_filter = filter_of(b.visitor_filter)?;
    let group_secs = group_of(b.group_secs)?;
    let mine = st
        .store
        .list_alert_rules(&ctx.tenant_id, &ctx.user_id)
        .await?;
    if mine.len() as i64 >= MAX_ALERT_RULES {
        return Err(invalid("alertRules", "at most 50 rules a user"));
    }
    let sealer = st.link_secret.sealer();
    let rule = AlertRule {
        id: String::new(),
        tenant_id: ctx.tenant_id.clone(),
        user_id: ctx.user_id.clone(),
        name,
        events,
        widget_ids,
        channel_type,
        channel,
        secret_sealed: match secret {
            SecretChange::Set(s) => Some(sealer.seal(&ctx.tenant_id, SECRET_PURPOSE, &s)),
            SecretChange::Keep | SecretChange::Remove => None,
        },
        quiet,
        visitor_filter,
        group_secs,
        enabled: b.enabled.unwrap_or(true),
        failing: false,
        created_at: 0,
        updated_at: 0,
    };
    let stored = st.store.create_alert_rule(&rule).await?;
    Ok((StatusCode::CREATED, Json(view(stored))))
}

async fn patch(
    Mine(ctx, _): Mine<WebhooksWrite>,
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<RulePatch>,
) -> Result<Json<AlertRuleView>, ApiError> {
    let mut r = st
        .store
        .get_alert_rule(&ctx.tenant_id, &ctx.user_id, &id)
        .await?;
    if let Some(n) = p.name {
        r.name = name_of(&n)?;
    }
    if let Some(e) = p.events {
        r.events = events_of(e)?;
    }
    if let Some(w) = p.widget_ids {
        r.widget_ids = widgets_of(&st, &ctx, w).await?;
    }
    if let Some(c) = p.channel {
        let (channel_type, channel, secret) = channel_of(&st, c)?;
        let same_type = channel_type == r.channel_type;
        r.secret_sealed = match secret {
            SecretChange::Set(s) => Some(st.link_secret.sealer().seal(
                &ctx.tenant_id,
                SECRET_PURPOSE,
                &s,
            )),
            SecretChange::Keep if same_type => r.secret_sealed.take(),
            SecretChange::Keep | SecretChange::Remove => None,
        };
        r.channel_type = channel_type;
        r.channel = channel;
    }
    if let Some(q) = p.quiet_hours {
        r.quiet = quiet_of(q)?;
    }
    if let Some(f) = p.visitor_filter {
        r.visitor_filter = filter_of(f)?;
    }
    if let Some(g) = p.group_secs {
        r.group_secs = group_of(Some(g))?;
    }
    if let Some(e) = p.enabled {
        r.enabled = e;
    }
    let stored = st.store.update_alert_rule(&r).await?;
    Ok(Json(view(stored)))
}

async fn remove(
    Mine(ctx, _): Mine<WebhooksWrite>,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.store
        .delete_alert_rule(&ctx.tenant_id, &ctx.user_id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(
    Mine(ctx, _): Mine<WebhooksWrite>,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<AlertDelivery>), ApiError> {
    let r = st
        .store
        .get_alert_rule(&ctx.tenant_id, &ctx.user_id, &id)
        .await?;
    if !QUEUED_ALERT_CHANNELS.contains(&r.channel_type.as_str()) {
        return Err(invalid(
            "channel.type",
            "alerts on this channel are not sent yet (ntfy and email are)",
        ));
    }
    let data = json!({"ruleId": r.id, "ruleName": r.name,
                      "message": format!("Alerts of the rule “{}” reach you here.", r.name)});
    let d = st
        .store
        .queue_test_alert(&ctx.tenant_id, &ctx.user_id, &id, &data)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}

/// `?limit=`.
#[derive(Debug, Deserialize)]
struct LogQuery {
    #[serde(default)]
    limit: Option<i64>,
}

async fn deliveries(
    Mine(ctx, _): Mine<WebhooksRead>,
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<DataList<AlertDelivery>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit", "1-500"));
    }
    let list = st
        .store
        .list_alert_deliveries(&ctx.tenant_id, &ctx.user_id, &id, limit)
        .await?;
    Ok(Json(list.into()))
}
