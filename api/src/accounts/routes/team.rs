//! The team: `GET /users`, `PATCH|DELETE /users/{id}`, `PUT /users/{id}/widgets`, and
//! invitations `GET|POST /invites`, `DELETE /invites/{id}` (owners only; the tenant keeps an
//! owner).

use super::*;

pub(super) async fn list_users(
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

pub(super) fn parse_role(s: &str) -> Result<Role, ApiError> {
    Role::parse(s).ok_or(ApiError::InvalidField {
        field: "role",
        reason: "one of owner, admin, agent",
    })
}

pub(super) async fn change_role(
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

pub(super) async fn set_user_widgets(
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

pub(super) fn last_owner(e: StorageError) -> ApiError {
    match e {
        StorageError::Conflict(_) => {
            ApiError::ConflictState("the tenant must keep at least one owner")
        }
        other => other.into(),
    }
}

pub(super) async fn remove_user(
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

pub(super) fn invite_view(i: Invite, link: Option<String>) -> InviteView {
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

pub(super) async fn list_invites(
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

pub(super) async fn create_invite(
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

pub(super) async fn revoke_invite(
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
