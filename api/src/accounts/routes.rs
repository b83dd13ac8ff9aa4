//! The accounts endpoints: `/api/v1/auth/...`, `/api/v1/tokens`, `/api/v1/users` and
//! `/api/v1/invites` (see [`crate::accounts`]).
//!
//! Everything but requesting a code, signing in and looking up an invitation needs a
//! dashboard session ([`SignedIn`]); managing the team needs an owner. A token's scopes never
//! exceed what its creator's role allows, then or later (storage cuts them on every use).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ringside_storage::{
    normalize_email, now_ms, CodeCheck, Invite, NewInvite, NewSession, Role, SessionInfo,
    StorageError, TokenInfo, User,
};
use serde::{Deserialize, Serialize};

use super::mail::Mail;
use super::session::{clear_cookie, csrf_token, set_cookie};
use crate::auth::{is_known_scope, SignedIn};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DataList, DocRouter, Spec};
use crate::{ApiError, AppState};

const T: &str = "Accounts";

pub(crate) fn routes() -> DocRouter {
    let any = Auth::Session("any signed-in user");
    let owner = Auth::Session("owners");
    DocRouter::new("/api/v1")
        .post(
            "/auth/email-code",
            request_code,
            Spec::new(
                T,
                Auth::Public,
                "Mail a one-time sign-in code (6 digits, 10 minutes, one use); the same answer \
                 whether or not the email has an account",
            )
            .body(Body::Json("email"))
            .takes::<CodeRequest>()
            .ok(202, "The code is on its way")
            .returns::<CodeSent>()
            .also(&[
                (
                    429,
                    "Too many code requests for this email or from this address",
                ),
                (503, "Mail cannot be queued right now; retry shortly"),
            ]),
        )
        .post(
            "/auth/session",
            sign_in,
            Spec::new(
                T,
                Auth::Public,
                "Sign in (or up) with the mailed code: sets the session cookie; a new email \
                 gets its own tenant, or joins the tenant of the invitation it brings",
            )
            .body(Body::Json("email, code, invite?"))
            .takes::<SignIn>()
            .ok(200, "user, tenant {id}, csrfToken")
            .returns::<SessionBody>()
            .also(&[
                (404, "The invitation is unknown, used, withdrawn or expired"),
                (409, "The email already belongs to another account"),
                (429, "Too many sign-in tries from this address"),
                (503, "The database is unreachable for now"),
            ]),
        )
        .get(
            "/auth/session",
            current_session,
            Spec::new(T, any, "The signed-in user, tenant and CSRF token").returns::<SessionBody>(),
        )
        .delete(
            "/auth/session",
            sign_out,
            Spec::new(T, any, "Sign out (this session)")
                .ok(204, "Signed out")
                .content(""),
        )
        .get(
            "/auth/sessions",
            list_sessions,
            Spec::new(T, any, "The user's live sessions, newest first")
                .returns::<DataList<SessionView>>(),
        )
        .delete(
            "/auth/sessions",
            sign_out_everywhere,
            Spec::new(T, any, "Sign out everywhere (every session of the user)")
                .ok(204, "Signed out")
                .content(""),
        )
        .delete(
            "/auth/sessions/{id}",
            revoke_session,
            Spec::new(T, any, "Sign one of the user's sessions out")
                .ok(204, "Signed out")
                .content(""),
        )
        .post(
            "/auth/invite",
            invite_info,
            Spec::new(
                T,
                Auth::Public,
                "What an invitation link offers: the email, role and tenant",
            )
            .body(Body::Json("invite (the secret from the link)"))
            .takes::<InviteLookup>()
            .returns::<InviteInfo>()
            .also(&[
                (404, "The invitation is unknown, used, withdrawn or expired"),
                (429, "Too many tries from this address"),
                (503, "The database is unreachable for now"),
            ]),
        )
        .get(
            "/tokens",
            list_tokens,
            Spec::new(
                T,
                any,
                "API tokens (owners and admins: the tenant's; agents: their own), never \
                 the secret",
            )
            .returns::<TokenList>(),
        )
        .post(
            "/tokens",
            create_token,
            Spec::new(
                T,
                any,
                "Create an API token with chosen scopes (at most the user's rights); the \
                 answer shows the secret, once",
            )
            .body(Body::Json("name, scopes"))
            .takes::<CreateToken>()
            .ok(201, "The token and its secret")
            .returns::<TokenView>(),
        )
        .delete(
            "/tokens/{id}",
            revoke_token,
            Spec::new(T, any, "Revoke a token: it is refused at once")
                .ok(204, "Revoked")
                .content(""),
        )
        .get(
            "/users",
            list_users,
            Spec::new(
                T,
                any,
                "The tenant's users, their roles, widgets and presence (online, away, offline)",
            )
            .returns::<DataList<TeamMember>>(),
        )
        .patch(
            "/users/{id}",
            change_role,
            Spec::new(T, owner, "Change a user's role (the tenant keeps an owner)")
                .body(Body::Json("role: owner | admin | agent"))
                .takes::<ChangeRole>()
                .returns::<UserView>()
                .also(&[(409, "The tenant's last owner stays owner")]),
        )
        .put(
            "/users/{id}/widgets",
            set_user_widgets,
            Spec::new(
                T,
                owner,
                "Give an agent some widgets (they then see only those), or all (null)",
            )
            .body(Body::Json("widgetIds: [widget ids] | null"))
            .takes::<UserWidgets>()
            .returns::<TeamMember>(),
        )
        .delete(
            "/users/{id}",
            remove_user,
            Spec::new(
                T,
                owner,
                "Remove a user with their sessions and tokens (not the last owner)",
            )
            .ok(204, "Removed")
            .content("")
            .also(&[(409, "The tenant's last owner stays")]),
        )
        .get(
            "/invites",
            list_invites,
            Spec::new(T, owner, "Pending invitations").returns::<DataList<InviteView>>(),
        )
        .post(
            "/invites",
            create_invite,
            Spec::new(
                T,
                owner,
                "Invite someone by email: they get a one-time link (7 days)",
            )
            .body(Body::Json("email, role"))
            .takes::<CreateInvite>()
            .ok(201, "The invitation and its link")
            .returns::<InviteView>()
            .also(&[
                (409, "The email is already one of the tenant's users"),
                (
                    429,
                    "Too many invitations from this account, or mail to this address",
                ),
            ]),
        )
        .delete(
            "/invites/{id}",
            revoke_invite,
            Spec::new(T, owner, "Withdraw a pending invitation")
                .ok(204, "Withdrawn")
                .content(""),
        )
}

/// The client's address (the socket peer, or `X-Forwarded-For` behind a trusted proxy).
pub(crate) struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(ClientIp(crate::widget_runtime::client_addr(
            &parts.headers,
            peer,
            st.presence.config().trust_forwarded_for,
        )))
    }
}

fn bad_email(_: StorageError) -> ApiError {
    ApiError::InvalidField {
        field: "email",
        reason: "not an email address",
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn secure_cookies(st: &AppState) -> bool {
    super::session::secure_cookies(&st.public_url)
}

fn base_url(st: &AppState) -> &str {
    st.public_url.trim_end_matches('/')
}

/// Where to mail a sign-in code.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The email address to sign in with.
    #[schemars(extend("format" = "email"), example = &"ana@shop.example")]
    email: String,
}

/// A code is on its way.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeSent {
    /// Always `sent` (also for an address with no account yet: signing in makes one).
    #[schemars(extend("enum" = ["sent"]))]
    status: &'static str,
    /// How long the code works.
    expires_in_seconds: u64,
}

/// Mails a sign-in code to `email` (after the rate limits of the address and the client);
/// returns how long it works. Shared by `/api/v1/auth/email-code` and the OAuth sign-in.
pub(crate) async fn send_code(
    st: &AppState,
    ip: Option<IpAddr>,
    email: &str,
) -> Result<std::time::Duration, ApiError> {
    let email = normalize_email(email).map_err(bad_email)?;
    st.accounts.limit_code_request(ip, &email)?;
    let now = now_ms();
    let ttl = st.accounts.config.code_ttl;
    let code = st.store.create_email_code(&email, now, ms(ttl)).await?;
    let minutes = ttl.as_secs().div_ceil(60);
    let mail = Mail {
        to: email,
        subject: format!("Your Ringside sign-in code: {code}"),
        text: format!(
            "Your Ringside sign-in code is {code}\n\nEnter it on the sign-in page within \
             {minutes} minutes. It works once.\nIf you did not ask for it, ignore this \
             message: nobody can sign in without the code.\n\n{}\n",
            base_url(st)
        ),
    };
    st.accounts
        .outbox
        .enqueue(mail)
        .map_err(|_| ApiError::Unavailable)?;
    if st.accounts.purge_due() {
        let store = st.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.purge_email_codes(now - 24 * 3_600_000).await {
                tracing::warn!(error = %e, "purging expired sign-in codes");
            }
            // Ended sessions and invitations are kept a month for the record, then go.
            if let Err(e) = store
                .purge_sessions_and_invites(now - 30 * 24 * 3_600_000)
                .await
            {
                tracing::warn!(error = %e, "purging ended sessions and invitations");
            }
            // Expired OAuth codes and tokens (a day late: a replay is still recognised).
            if let Err(e) = store
                .purge_oauth(now - 24 * 3_600_000, now - 30 * 24 * 3_600_000)
                .await
            {
                tracing::warn!(error = %e, "purging expired OAuth codes and tokens");
            }
        });
    }
    Ok(ttl)
}

async fn request_code(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let ttl = send_code(&st, ip, &b.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSent {
            status: "sent",
            expires_in_seconds: ttl.as_secs(),
        }),
    )
        .into_response())
}

/// A sign-in with a mailed code.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The address the code went to.
    #[schemars(extend("format" = "email"), example = &"ana@shop.example")]
    email: String,
    /// The code from the mail.
    #[schemars(example = &"493027")]
    code: String,
    /// The secret of an invitation link, to join its tenant.
    #[serde(default)]
    invite: Option<String>,
}

/// A user as the accounts endpoints show them.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// The user's id.
    id: String,
    /// Their email address.
    email: String,
    /// What they may do.
    role: Role,
    /// Unix ms.
    created_at: i64,
}

/// A tenant's id.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TenantRef {
    /// The tenant (account) id.
    id: String,
}

/// A signed-in session: who, which tenant, and the CSRF token writes send.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    /// The signed-in user.
    user: UserView,
    /// Their tenant.
    tenant: TenantRef,
    /// Send as `X-CSRF-Token` on requests that change state.
    csrf_token: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            role: u.role,
            created_at: u.created_at,
        }
    }
}

fn session_body(st: &AppState, user: User, session_id: &str) -> SessionBody {
    SessionBody {
        tenant: TenantRef {
            id: user.tenant_id.clone(),
        },
        user: UserView::from(user),
        csrf_token: csrf_token(&st.link_secret, session_id),
    }
}

/// Signs in (or up) with a mailed code: checks it, makes or finds the user (or accepts the
/// invitation) and opens a session. Returns the user, the session and its secret (for the
/// cookie). Shared by `/api/v1/auth/session` and the OAuth sign-in.
pub(crate) async fn sign_in_with_code(
    st: &AppState,
    ip: Option<IpAddr>,
    headers: &HeaderMap,
    email: &str,
    code: &str,
    invite: Option<&str>,
) -> Result<(User, SessionInfo, String), ApiError> {
    st.accounts.limit_verify(ip)?;
    let email = normalize_email(email).map_err(bad_email)?;
    if code.trim().is_empty() {
        return Err(ApiError::InvalidField {
            field: "code",
            reason: "required",
        });
    }
    let now = now_ms();
    let check = st.store.verify_email_code(&email, code, now).await?;
    st.accounts.count_sign_in(check == CodeCheck::Verified);
    match check {
        CodeCheck::Verified => {}
        CodeCheck::Wrong { tries_left } => {
            return Err(ApiError::InvalidCode(if tries_left > 0 {
                format!("the code is wrong; {tries_left} tries left")
            } else {
                "the code is wrong and now used up: request a new one".into()
            }))
        }
        CodeCheck::NoCode => {
            return Err(ApiError::InvalidCode(
                "no code is waiting for this email (it was used, or a newer one was sent): \
                 request a new one"
                    .into(),
            ))
        }
        CodeCheck::Expired => {
            return Err(ApiError::InvalidCode(
                "the code has expired: request a new one".into(),
            ))
        }
        CodeCheck::TooManyTries => {
            return Err(ApiError::InvalidCode(
                "too many wrong tries: request a new code".into(),
            ))
        }
        CodeCheck::LockedForToday => {
            return Err(ApiError::TooManyRequests {
                retry_after_secs: 3600,
            })
        }
    }
    let user = match invite.map(str::trim).filter(|s| !s.is_empty()) {
        Some(invite) => st.store.accept_invite(invite, &email, now).await?,
        None => st.store.ensure_user(&email).await?,
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let ip_text = ip.map(|ip| ip.to_string());
    let lifetime = st.accounts.config.session_lifetime;
    let (info, secret) = st
        .store
        .create_session(NewSession {
            user_id: &user.id,
            now,
            lifetime_ms: ms(lifetime),
            user_agent,
            ip: ip_text.as_deref(),
        })
        .await?;
    Ok((user, info, secret))
}

async fn sign_in(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(b): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let (user, info, secret) =
        sign_in_with_code(&st, ip, &headers, &b.email, &b.code, b.invite.as_deref()).await?;
    let lifetime = st.accounts.config.session_lifetime;
    let body = session_body(&st, user, &info.id);
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&secret, lifetime, secure_cookies(&st)),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    Ok(resp)
}

async fn current_session(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
) -> Result<Json<SessionBody>, ApiError> {
    let user = st.store.get_user(&auth.user_id).await?;
    Ok(Json(session_body(&st, user, &auth.session_id)))
}

fn signed_out(st: &AppState) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(secure_cookies(st)));
    resp
}

async fn sign_out(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
) -> Result<Response, ApiError> {
    st.store
        .revoke_session(&auth.user_id, &auth.session_id, now_ms())
        .await?;
    st.accounts.sessions.forget_session(&auth.session_id);
    Ok(signed_out(&st))
}

async fn sign_out_everywhere(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
) -> Result<Response, ApiError> {
    st.store
        .revoke_all_sessions(&auth.user_id, now_ms())
        .await?;
    st.accounts.sessions.forget_user(&auth.user_id);
    Ok(signed_out(&st))
}

/// One of the user's sessions.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The session's id (for DELETE /auth/sessions/{id}).
    id: String,
    /// Signed in, Unix ms.
    created_at: i64,
    /// Last used, Unix ms.
    last_seen_at: i64,
    /// Ends, Unix ms.
    expires_at: i64,
    /// The browser's User-Agent at sign-in.
    user_agent: Option<String>,
    /// The address it signed in from.
    ip: Option<String>,
    /// Whether it is the session making this request.
    current: bool,
}

fn session_view(s: SessionInfo, current: &str) -> SessionView {
    SessionView {
        current: s.id == current,
        id: s.id,
        created_at: s.created_at,
        last_seen_at: s.last_seen_at,
        expires_at: s.expires_at,
        user_agent: s.user_agent,
        ip: s.ip,
    }
}

async fn list_sessions(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
) -> Result<Json<DataList<SessionView>>, ApiError> {
    let list = st.store.list_sessions(&auth.user_id, now_ms()).await?;
    let data: Vec<SessionView> = list
        .into_iter()
        .map(|s| session_view(s, &auth.session_id))
        .collect();
    Ok(Json(data.into()))
}

async fn revoke_session(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    st.store
        .revoke_session(&auth.user_id, &id, now_ms())
        .await?;
    st.accounts.sessions.forget_session(&id);
    if id == auth.session_id {
        return Ok(signed_out(&st));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An invitation link's secret.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteLookup {
    /// The `invite` parameter of the link.
    invite: String,
}

/// What an invitation offers.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteInfo {
    /// The address invited (sign in with it to accept).
    email: String,
    /// The role offered.
    role: Role,
    /// The tenant joined.
    tenant: TenantRef,
    /// The link stops working, Unix ms.
    expires_at: i64,
}

async fn invite_info(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<InviteLookup>,
) -> Result<Json<InviteInfo>, ApiError> {
    st.accounts.limit_verify(ip)?;
    let invite = st
        .store
        .invite_by_secret(b.invite.trim())
        .await?
        .filter(|i| i.is_pending(now_ms()))
        .ok_or(ApiError::NotFound)?;
    Ok(Json(InviteInfo {
        email: invite.email,
        role: invite.role,
        tenant: TenantRef {
            id: invite.tenant_id,
        },
        expires_at: invite.expires_at,
    }))
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    /// The token id (not secret).
    id: String,
    /// Its label.
    name: String,
    /// What it may do.
    #[schemars(example = ["mcp:read", "widgets:read"])]
    scopes: Vec<String>,
    /// The user who made it; it acts as them.
    user_id: String,
    /// Created, Unix milliseconds.
    created_at: i64,
    /// Last used (minute resolution), Unix milliseconds.
    last_used_at: Option<i64>,
    /// Revoked, Unix milliseconds; a revoked token is refused.
    revoked_at: Option<i64>,
    /// The secret (`ringside_pat_...`), only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// Answer of `GET /api/v1/tokens`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TokenList {
    /// Oldest first.
    data: Vec<TokenView>,
}

fn token_view(t: TokenInfo, secret: Option<String>) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name,
        scopes: t.scopes,
        user_id: t.user_id,
        created_at: t.created_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
        token: secret,
    }
}

async fn list_tokens(
    State(st): State<AppState>,
    who: SignedIn,
) -> Result<Json<TokenList>, ApiError> {
    let all = st.store.list_tokens(&who.0.tenant_id).await?;
    let data: Vec<TokenView> = all
        .into_iter()
        .filter(|t| who.manages_tokens() || t.user_id == who.0.user_id)
        .map(|t| token_view(t, None))
        .collect();
    Ok(Json(TokenList { data }))
}

/// A token to make.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Its label (1 to 100 characters).
    #[schemars(length(min = 1, max = 100), example = &"Weekly report")]
    name: String,
    /// What it may do (at most what the user's role allows).
    #[schemars(schema_with = "scope_list")]
    scopes: Vec<String>,
}

/// A list of scopes: those a token can carry.
fn scope_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": crate::auth::SCOPES},
        "examples": [["mcp:read", "widgets:read", "analytics:read"]],
    })
}

async fn create_token(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
    ApiJson(b): ApiJson<CreateToken>,
) -> Result<Response, ApiError> {
    if b.name.trim().is_empty() || b.name.chars().count() > 100 {
        return Err(ApiError::InvalidField {
            field: "name",
            reason: "1 to 100 characters",
        });
    }
    let mut scopes: Vec<String> = Vec::new();
    for s in &b.scopes {
        if !is_known_scope(s) {
            return Err(ApiError::InvalidField {
                field: "scopes",
                reason: "unknown scope",
            });
        }
        if !auth.role.allows(s) {
            return Err(ApiError::ScopeNotAllowed(s.clone()));
        }
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    if scopes.is_empty() {
        return Err(ApiError::InvalidField {
            field: "scopes",
            reason: "at least one scope",
        });
    }
    let (info, secret) = st
        .store
        .create_token(&auth.user_id, b.name.trim(), &scopes)
        .await?;
    Ok((StatusCode::CREATED, Json(token_view(info, Some(secret)))).into_response())
}

async fn revoke_token(
    State(st): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !who.manages_tokens() {
        // Agents revoke their own tokens only; another's answers as missing.
        let mine = st
            .store
            .list_tokens(&who.0.tenant_id)
            .await?
            .into_iter()
            .any(|t| t.id == id && t.user_id == who.0.user_id);
        if !mine {
            return Err(ApiError::NotFound);
        }
    }
    st.store.revoke_token(&who.0.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_users(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
) -> Result<Json<DataList<TeamMember>>, ApiError> {
    let users = st.store.list_users(&auth.tenant_id).await?;
    let mut data = Vec::with_capacity(users.len());
    for u in users {
        let widget_ids = st.store.user_widgets(&u.id).await?;
        let presence = st.console.status(&auth.tenant_id, &u.id).as_str();
        data.push(TeamMember {
            user: UserView::from(u),
            widget_ids,
            presence: Some(presence),
        });
    }
    Ok(Json(data.into()))
}

/// A user of the tenant with the widgets they answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamMember {
    /// The user.
    #[serde(flatten)]
    user: UserView,
    /// The widgets they see and answer; null: all of the tenant's.
    widget_ids: Option<Vec<String>>,
    /// Whether their operator console is open now (in the team list only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["online", "away", "offline"]))]
    presence: Option<&'static str>,
}

/// A new role.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    /// `owner`, `admin` or `agent`.
    #[schemars(extend("enum" = ["owner", "admin", "agent"]))]
    role: String,
}

fn parse_role(s: &str) -> Result<Role, ApiError> {
    Role::parse(s).ok_or(ApiError::InvalidField {
        field: "role",
        reason: "one of owner, admin, agent",
    })
}

async fn change_role(
    State(st): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ChangeRole>,
) -> Result<Json<UserView>, ApiError> {
    let auth = who.require_owner()?;
    let role = parse_role(&b.role)?;
    st.store
        .set_user_role(&auth.tenant_id, &id, role)
        .await
        .map_err(last_owner)?;
    st.accounts.sessions.forget_user(&id);
    let user = st.store.get_user(&id).await?;
    Ok(Json(UserView::from(user)))
}

/// The widgets a user answers.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserWidgets {
    /// Widget ids of the tenant; null gives them all.
    widget_ids: Option<Vec<String>>,
}

async fn set_user_widgets(
    State(st): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UserWidgets>,
) -> Result<Json<TeamMember>, ApiError> {
    let auth = who.require_owner()?;
    st.store
        .set_user_widgets(&auth.tenant_id, &id, b.widget_ids.as_deref())
        .await
        .map_err(|e| match e {
            StorageError::Invalid(_) => ApiError::InvalidField {
                field: "widgetIds",
                reason: "not all widgets of this account",
            },
            other => other.into(),
        })?;
    st.accounts.sessions.forget_user(&id);
    let user = st.store.get_user(&id).await?;
    Ok(Json(TeamMember {
        user: UserView::from(user),
        widget_ids: st.store.user_widgets(&id).await?,
        presence: None,
    }))
}

fn last_owner(e: StorageError) -> ApiError {
    match e {
        StorageError::Conflict(_) => {
            ApiError::ConflictState("the tenant must keep at least one owner")
        }
        other => other.into(),
    }
}

async fn remove_user(
    State(st): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let auth = who.require_owner()?;
    st.store
        .remove_user(&auth.tenant_id, &id)
        .await
        .map_err(last_owner)?;
    st.accounts.sessions.forget_user(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A pending invitation.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteView {
    /// Its id (for DELETE /invites/{id}).
    id: String,
    /// Who is invited.
    email: String,
    /// The role offered.
    role: Role,
    /// The user who invited them.
    invited_by: Option<String>,
    /// Unix ms.
    created_at: i64,
    /// The link stops working, Unix ms.
    expires_at: i64,
    /// The one-time link (mailed to them), only in the answer that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uri"))]
    link: Option<String>,
}

fn invite_view(i: Invite, link: Option<String>) -> InviteView {
    InviteView {
        id: i.id,
        email: i.email,
        role: i.role,
        invited_by: i.invited_by,
        created_at: i.created_at,
        expires_at: i.expires_at,
        link,
    }
}

async fn list_invites(
    State(st): State<AppState>,
    who: SignedIn,
) -> Result<Json<DataList<InviteView>>, ApiError> {
    let auth = who.require_owner()?;
    let list = st.store.list_invites(&auth.tenant_id, now_ms()).await?;
    let data: Vec<InviteView> = list.into_iter().map(|i| invite_view(i, None)).collect();
    Ok(Json(data.into()))
}

/// Whom to invite, as what.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    /// Their email address.
    #[schemars(extend("format" = "email"), example = &"ben@shop.example")]
    email: String,
    /// `owner`, `admin` or `agent`.
    #[schemars(extend("enum" = ["owner", "admin", "agent"]))]
    role: String,
}

async fn create_invite(
    State(st): State<AppState>,
    who: SignedIn,
    ApiJson(b): ApiJson<CreateInvite>,
) -> Result<Response, ApiError> {
    let auth = who.require_owner()?;
    let email = normalize_email(&b.email).map_err(bad_email)?;
    let role = parse_role(&b.role)?;
    st.accounts.limit_invite(&auth.tenant_id, &email)?;
    let ttl = st.accounts.config.invite_ttl;
    let (invite, secret) = st
        .store
        .create_invite(NewInvite {
            tenant_id: &auth.tenant_id,
            invited_by: &auth.user_id,
            email: &email,
            role,
            now: now_ms(),
            ttl_ms: ms(ttl),
        })
        .await?;
    let inviter = st.store.get_user(&auth.user_id).await?;
    let link = format!("{}/login?invite={secret}", base_url(&st));
    let days = ttl.as_secs().div_ceil(24 * 3600);
    st.accounts
        .outbox
        .enqueue(Mail {
            to: invite.email.clone(),
            subject: format!("{} invited you to Ringside", inviter.email),
            text: format!(
                "{} invited you to answer chats and calls with them on Ringside, as {}.\n\n\
                 Open this link and sign in with the code we mail you:\n{link}\n\n\
                 The link works once, for {days} days. If you do not know the sender, ignore \
                 this message.\n",
                inviter.email,
                role.as_str()
            ),
        })
        .map_err(|_| ApiError::Unavailable)?;
    Ok((StatusCode::CREATED, Json(invite_view(invite, Some(link)))).into_response())
}

async fn revoke_invite(
    State(st): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let auth = who.require_owner()?;
    st.store
        .revoke_invite(&auth.tenant_id, &id, now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
