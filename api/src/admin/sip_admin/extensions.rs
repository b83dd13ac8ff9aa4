//! Extensions: `/api/v1/sip/extensions` (the phones that register with Ringside).

use super::*;

/// Body of `POST /api/v1/sip/extensions`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateExtension {
    /// The SIP user the phone registers as (unique on the server).
    #[schemars(length(min = 1, max = 64), example = &"ana")]
    username: String,
    /// Its password, 8-128 characters (stored as digest hashes only).
    #[schemars(length(min = 8, max = 128), example = &"correct-horse-battery")]
    password: String,
    /// The name callers see (default: the username).
    #[serde(default)]
    #[schemars(example = &"Ana (sales)")]
    display_name: Option<String>,
    /// The widgets whose calls ring this phone.
    #[serde(default)]
    widget_ids: Vec<String>,
    /// Digest algorithms this login is challenged with, in order: `MD5`, `SHA-256` (empty or
    /// absent: the server's, `RINGSIDE_SIP_DIGEST_ALGORITHMS`). `["MD5"]` for phones that give
    /// up on a challenge they cannot answer (baresip 1.0, older desk phones).
    #[serde(default)]
    #[schemars(schema_with = "algorithms_schema")]
    digest_algorithms: Vec<String>,
    /// SRTP on this phone's calls: `off`, `optional` (default: encrypted when the phone
    /// offers or accepts SDES keys) or `required` (unencrypted calls refused with 488).
    #[serde(default)]
    srtp: Option<SrtpPolicy>,
    /// Session timer (RFC 4028) Ringside asks for on calls to this phone, in seconds
    /// (90-86400): it refreshes or expects refreshes, and hangs up a call whose refreshes stop.
    #[serde(default)]
    #[schemars(range(min = 90, max = 86400), example = &1800)]
    session_timer_secs: Option<u32>,
    /// SRTP passthrough: when the call's other leg allows it too and both key with SDES,
    /// each phone is given the other's key and the encrypted packets go through Ringside as
    /// they came (authenticated, not re-encrypted). Off (default): each leg is keyed on its own.
    #[serde(default)]
    srtp_passthrough: bool,
}

/// Body of `PATCH /api/v1/sip/extensions/{id}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchExtension {
    /// A new password, 8-128 characters.
    #[serde(default)]
    #[schemars(length(min = 8, max = 128))]
    password: Option<String>,
    /// A new display name.
    #[serde(default)]
    display_name: Option<String>,
    /// The widgets whose calls ring this phone, replacing the list.
    #[serde(default)]
    widget_ids: Option<Vec<String>>,
    /// Digest algorithms this login is challenged with, in order: `MD5`, `SHA-256` (empty: the server's, `RINGSIDE_SIP_DIGEST_ALGORITHMS`). `["MD5"]` for phones that give
    /// up on a challenge they cannot answer (baresip 1.0, older desk phones).
    #[serde(default)]
    #[schemars(schema_with = "nullable_algorithms_schema")]
    digest_algorithms: Option<Vec<String>>,
    /// SRTP on this phone's calls: `off`, `optional` (default: encrypted when the phone
    /// offers or accepts SDES keys) or `required` (unencrypted calls refused with 488).
    #[serde(default)]
    srtp: Option<SrtpPolicy>,
    /// The session timer on calls to it, seconds (null: none).
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<u32>", range(min = 90, max = 86400))]
    session_timer_secs: Option<Option<u32>>,
    /// SRTP passthrough on or off (see the create body).
    #[serde(default)]
    srtp_passthrough: Option<bool>,
}

/// An extension as the API shows it (never with credentials).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionView {
    /// Its id.
    id: String,
    /// The SIP user the phone registers as.
    #[schemars(example = &"ana")]
    username: String,
    /// The name callers see.
    display_name: String,
    /// The widgets whose calls ring it.
    widget_ids: Vec<String>,
    /// Digest algorithms it is challenged with, in order; empty: the server's.
    digest_algorithms: Vec<String>,
    /// SRTP on its calls: `off`, `optional` or `required`.
    srtp: SrtpPolicy,
    /// Session timer asked for on calls to it, seconds (none: no timer).
    session_timer_secs: Option<u32>,
    /// SRTP passthrough allowed on its calls (keys passed end to end when both legs use SDES).
    srtp_passthrough: bool,
    /// Unix ms.
    created_at: i64,
    /// Unix ms.
    updated_at: i64,
    /// The phones registered now: empty when none is (calls to it are then missed).
    registrations: Vec<RegistrationView>,
}

/// One registered contact of an extension.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationView {
    /// Contact URI the phone registered.
    contact: String,
    /// Address the REGISTER came from (`ip:port`).
    source: String,
    /// `udp`, `tcp`, `tls`, `ws` or `wss` (a browser softphone, RFC 7118).
    #[schemars(extend("enum" = ["udp", "tcp", "tls", "ws", "wss"]))]
    transport: String,
    /// The phone's User-Agent, if it sent one.
    user_agent: Option<String>,
    /// When the registration lapses unless refreshed, unix ms.
    expires_at: i64,
}

impl From<Binding> for RegistrationView {
    fn from(b: Binding) -> Self {
        RegistrationView {
            contact: b.contact_uri,
            source: b.source_addr,
            transport: b.transport,
            user_agent: b.user_agent,
            expires_at: b.expires_at,
        }
    }
}

impl From<Extension> for ExtensionView {
    fn from(e: Extension) -> Self {
        ExtensionView {
            id: e.id,
            username: e.username,
            display_name: e.display_name,
            widget_ids: e.widget_ids,
            digest_algorithms: e.digest_algorithms,
            srtp: SrtpPolicy::from_stored(e.srtp.as_deref()),
            session_timer_secs: e.session_timer_secs,
            srtp_passthrough: e.srtp_passthrough,
            created_at: e.created_at,
            updated_at: e.updated_at,
            registrations: Vec::new(),
        }
    }
}

/// The extension with its live registrations.
async fn with_registrations(st: &SipAdmin, e: Extension) -> Result<ExtensionView, ApiError> {
    let bindings = st.store.extension_bindings(&e.id, now_ms()).await?;
    let mut v = ExtensionView::from(e);
    v.registrations = bindings.into_iter().map(Into::into).collect();
    Ok(v)
}

pub(super) async fn list_extensions(
    Scoped(ctx, _): Scoped<SipRead>,
    State(st): State<SipAdmin>,
) -> Result<Json<Vec<ExtensionView>>, ApiError> {
    let list = st.store.list_extensions(&ctx.tenant_id).await?;
    let mut bindings = st.store.live_bindings(now_ms()).await?;
    let views = list
        .into_iter()
        .map(|e| {
            let (mine, rest): (Vec<Binding>, Vec<Binding>) = std::mem::take(&mut bindings)
                .into_iter()
                .partition(|b| b.extension_id == e.id);
            bindings = rest;
            let mut v = ExtensionView::from(e);
            v.registrations = mine.into_iter().map(Into::into).collect();
            v
        })
        .collect();
    Ok(Json(views))
}

pub(super) async fn get_extension(
    Scoped(ctx, _): Scoped<SipRead>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
) -> Result<Json<ExtensionView>, ApiError> {
    let e = st.store.get_extension(&ctx.tenant_id, &id).await?;
    Ok(Json(with_registrations(&st, e).await?))
}

pub(super) async fn create_extension(
    Scoped(ctx, _): Scoped<SipWrite>,
    State(st): State<SipAdmin>,
    ApiJson(body): ApiJson<CreateExtension>,
) -> Result<(StatusCode, Json<ExtensionView>), ApiError> {
    validate_username(&body.username, "username")?;
    validate_password(&body.password, "password")?;
    let display_name = body.display_name.unwrap_or_else(|| body.username.clone());
    validate_display_name(&display_name)?;
    validate_widgets(&st, &ctx.tenant_id, &body.widget_ids).await?;
    ensure_login_free(&st, &body.username, None).await?;
    let (ha1_md5, ha1_sha256) = hashes(&body.username, &st.sip_realm, &body.password);
    let ext = st
        .store
        .create_extension(
            &ctx.tenant_id,
            NewExtension {
                username: body.username,
                display_name,
                realm: st.sip_realm.to_string(),
                ha1_md5,
                ha1_sha256,
                widget_ids: body.widget_ids,
                digest_algorithms: body.digest_algorithms,
                srtp: body.srtp.map(|p| p.as_str().to_owned()),
                session_timer_secs: session_timer(body.session_timer_secs)?,
                srtp_passthrough: body.srtp_passthrough,
            },
        )
        .await
        .map_err(bad_algorithms)?;
    st.directory.extension_upserted(&ext);
    Ok((StatusCode::CREATED, Json(ext.into())))
}

pub(super) async fn patch_extension(
    Scoped(ctx, _): Scoped<SipWrite>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchExtension>,
) -> Result<Json<ExtensionView>, ApiError> {
    if let Some(d) = &body.display_name {
        validate_display_name(d)?;
    }
    if let Some(w) = &body.widget_ids {
        validate_widgets(&st, &ctx.tenant_id, w).await?;
    }
    let credentials = match &body.password {
        Some(p) => {
            validate_password(p, "password")?;
            let current = st.store.get_extension(&ctx.tenant_id, &id).await?;
            let (m, s) = hashes(&current.username, &st.sip_realm, p);
            Some((st.sip_realm.to_string(), m, s))
        }
        None => None,
    };
    let ext = st
        .store
        .update_extension(
            &ctx.tenant_id,
            &id,
            ExtensionPatch {
                display_name: body.display_name,
                widget_ids: body.widget_ids,
                credentials,
                digest_algorithms: body.digest_algorithms,
                srtp: body.srtp.map(|p| Some(p.as_str().to_owned())),
                session_timer_secs: body.session_timer_secs.map(session_timer).transpose()?,
                srtp_passthrough: body.srtp_passthrough,
            },
        )
        .await
        .map_err(bad_algorithms)?;
    st.directory.extension_upserted(&ext);
    Ok(Json(with_registrations(&st, ext).await?))
}

pub(super) async fn delete_extension(
    Scoped(ctx, _): Scoped<SipWrite>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.store.delete_extension(&ctx.tenant_id, &id).await?;
    st.directory.extension_removed(&id);
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- trunks
