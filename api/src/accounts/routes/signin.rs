//! Signing in with a mailed code and the user's sessions: `POST /auth/email-code`,
//! `POST|GET|DELETE /auth/session`, `GET|DELETE /auth/sessions[/{id}]`, and what an
//! invitation link offers (`POST /auth/invite`). The code and sign-in steps are shared with
//! the OAuth sign-in pages.

use super::*;

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

pub(super) async fn request_code(
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

pub(super) fn session_body(st: &AppState, user: User, session_id: &str) -> SessionBody {
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

pub(super) async fn sign_in(
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

pub(super) async fn current_session(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
) -> Result<Json<SessionBody>, ApiError> {
    let user = st.store.get_user(&auth.user_id).await?;
    Ok(Json(session_body(&st, user, &auth.session_id)))
}

pub(super) fn signed_out(st: &AppState) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(secure_cookies(st)));
    resp
}

pub(super) async fn sign_out(
    State(st): State<AppState>,
    SignedIn(auth): SignedIn,
) -> Result<Response, ApiError> {
    st.store
        .revoke_session(&auth.user_id, &auth.session_id, now_ms())
        .await?;
    st.accounts.sessions.forget_session(&auth.session_id);
    Ok(signed_out(&st))
}

pub(super) async fn sign_out_everywhere(
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

pub(super) fn session_view(s: SessionInfo, current: &str) -> SessionView {
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

pub(super) async fn list_sessions(
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

pub(super) async fn revoke_session(
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

pub(super) async fn invite_info(
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
