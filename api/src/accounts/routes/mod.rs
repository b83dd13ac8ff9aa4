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

mod signin;
mod team;
mod tokens;

use signin::*;
pub(crate) use signin::{send_code, sign_in_with_code};
pub use signin::{
    CodeRequest, CodeSent, InviteInfo, InviteLookup, SessionBody, SessionView, SignIn, TenantRef,
    UserView,
};
use team::*;
pub use team::{ChangeRole, CreateInvite, InviteView, TeamMember, UserWidgets};
use tokens::*;
pub use tokens::{CreateToken, TokenList, TokenView};

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
