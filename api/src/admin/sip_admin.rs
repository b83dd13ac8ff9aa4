//! `/api/v1/sip/extensions` and `/api/v1/sip/trunks` (scopes `sip:read` / `sip:write`).
//!
//! Passwords are accepted on create/patch and never returned: extensions and inbound trunk
//! credentials are stored as digest HA1 hashes (MD5 and SHA-256) for the server's realm.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ringside_domain::credentials::password_ok;
use ringside_domain::{
    DestinationPatterns, DigestHa1, DisplayName, SipHost, SipUser, SrtpPolicy, TrustedNet,
};
use ringside_storage::{
    now_ms, Binding, Extension, ExtensionPatch, NewExtension, NewTrunk, Store, Trunk, TrunkPatch,
};
use serde::{Deserialize, Serialize};

use crate::auth::{Scoped, SipRead, SipWrite};
use crate::extract::ApiJson;
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the SIP extension and trunk handlers use of the application state.
#[derive(Clone)]
pub struct SipAdmin {
    store: Store,
    directory: Arc<dyn crate::SipDirectory>,
    sip_realm: Arc<str>,
}

impl axum::extract::FromRef<AppState> for SipAdmin {
    fn from_ref(st: &AppState) -> Self {
        SipAdmin {
            store: st.store.clone(),
            directory: st.directory.clone(),
            sip_realm: st.sip_realm.as_str().into(),
        }
    }
}

pub(crate) fn routes() -> DocRouter {
    const T: &str = "SIP";
    let (r, w) = (Auth::Scope("sip:read"), Auth::Scope("sip:write"));
    DocRouter::new("/api/v1")
        .get(
            "/sip/extensions",
            list_extensions,
            Spec::new(T, r, "List SIP extensions").returns::<Vec<ExtensionView>>(),
        )
        .post(
            "/sip/extensions",
            create_extension,
            Spec::new(
                T,
                w,
                "Create a SIP extension (username, password, display name, widgets)",
            )
            .body(Body::Json("username, password, displayName, widgetIds"))
            .takes::<CreateExtension>()
            .ok(201, "The extension (the password is never returned)")
            .returns::<ExtensionView>()
            .also(&[(409, "The SIP username is not available")]),
        )
        .get(
            "/sip/extensions/{id}",
            get_extension,
            Spec::new(T, r, "One SIP extension").returns::<ExtensionView>(),
        )
        .patch(
            "/sip/extensions/{id}",
            patch_extension,
            Spec::new(T, w, "Change a SIP extension")
                .body(Body::Json("fields to change"))
                .takes::<PatchExtension>()
                .returns::<ExtensionView>(),
        )
        .delete(
            "/sip/extensions/{id}",
            delete_extension,
            Spec::new(
                T,
                w,
                "Delete a SIP extension (its registrations go with it)",
            )
            .ok(204, "Deleted")
            .content(""),
        )
        .get(
            "/sip/trunks",
            list_trunks,
            Spec::new(T, r, "List SIP trunks").returns::<Vec<TrunkView>>(),
        )
        .post(
            "/sip/trunks",
            create_trunk,
            Spec::new(
                T,
                w,
                "Create a SIP trunk (trusted inbound sources, outbound carrier)",
            )
            .body(Body::Json(
                "name, inbound CIDRs/credentials, outbound host/credentials, allowedDestinations",
            ))
            .takes::<CreateTrunk>()
            .ok(201, "The trunk")
            .returns::<TrunkView>()
            .also(&[(409, "The inbound username is not available")]),
        )
        .get(
            "/sip/trunks/{id}",
            get_trunk,
            Spec::new(T, r, "One SIP trunk").returns::<TrunkView>(),
        )
        .patch(
            "/sip/trunks/{id}",
            patch_trunk,
            Spec::new(T, w, "Change a SIP trunk")
                .body(Body::Json("fields to change"))
                .takes::<PatchTrunk>()
                .returns::<TrunkView>()
                .also(&[(409, "The inbound username is not available")]),
        )
        .delete(
            "/sip/trunks/{id}",
            delete_trunk,
            Spec::new(T, w, "Delete a SIP trunk")
                .ok(204, "Deleted")
                .content(""),
        )
}

// ---------------------------------------------------------------- extensions

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
    /// `udp` or `tcp`.
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

fn validate_username(u: &str, field: &'static str) -> Result<(), ApiError> {
    SipUser::parse(u)
        .map(drop)
        .map_err(|e| ApiError::InvalidField {
            field,
            reason: e.reason(),
        })
}

fn validate_password(p: &str, field: &'static str) -> Result<(), ApiError> {
    if password_ok(p) {
        Ok(())
    } else {
        Err(ApiError::InvalidField {
            field,
            reason: "must be 8-128 characters",
        })
    }
}

fn validate_display_name(d: &str) -> Result<(), ApiError> {
    DisplayName::parse(d)
        .map(drop)
        .map_err(|e| ApiError::InvalidField {
            field: "displayName",
            reason: e.reason(),
        })
}

/// Every widget id must name one of the tenant's widgets (a typo would mean a phone that never
/// rings).
async fn validate_widgets(st: &SipAdmin, tenant_id: &str, ids: &[String]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let known = st.store.list_widgets(tenant_id).await?;
    if ids.iter().all(|id| known.iter().any(|w| &w.id == id)) {
        Ok(())
    } else {
        Err(ApiError::InvalidField {
            field: "widgetIds",
            reason: "each entry must be the id of one of your widgets",
        })
    }
}

/// Extension usernames and trunk logins share one server-wide namespace. A taken name is
/// refused without saying who holds it.
async fn ensure_login_free(
    st: &SipAdmin,
    username: &str,
    except_trunk: Option<&str>,
) -> Result<(), ApiError> {
    if st.store.sip_login_taken(username, except_trunk).await? {
        Err(ApiError::ConflictState(
            "this SIP username is not available",
        ))
    } else {
        Ok(())
    }
}

/// The schema of `digestAlgorithms`: `MD5` and/or `SHA-256`, in challenge order.
fn algorithms_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "string", "enum": ["MD5", "SHA-256"]},
        "maxItems": 2,
        "uniqueItems": true,
        "examples": [["MD5"]],
    })
}

/// [`algorithms_schema`] in a PATCH (null leaves the list as it is).
fn nullable_algorithms_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["array", "null"],
        "items": {"type": "string", "enum": ["MD5", "SHA-256"]},
        "maxItems": 2,
        "uniqueItems": true,
    })
}

/// A storage refusal of `digestAlgorithms` as the field's 422 (other errors as they are).
fn bad_algorithms(e: ringside_storage::StorageError) -> ApiError {
    match e {
        ringside_storage::StorageError::Invalid(w) if w.starts_with("digest_algorithms") => {
            ApiError::InvalidField {
                field: "digestAlgorithms",
                reason: "MD5 and/or SHA-256, each at most once",
            }
        }
        e => e.into(),
    }
}

/// A session timer interval: 90 s (RFC 4028's floor) to a day.
fn session_timer(v: Option<u32>) -> Result<Option<u32>, ApiError> {
    match v {
        Some(s) if !(90..=86_400).contains(&s) => Err(ApiError::InvalidField {
            field: "sessionTimerSecs",
            reason: "90 to 86400 seconds",
        }),
        v => Ok(v),
    }
}

fn hashes(user: &str, realm: &str, password: &str) -> (String, String) {
    let h = DigestHa1::new(user, realm, password);
    (h.md5, h.sha256)
}

async fn list_extensions(
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

async fn get_extension(
    Scoped(ctx, _): Scoped<SipRead>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
) -> Result<Json<ExtensionView>, ApiError> {
    let e = st.store.get_extension(&ctx.tenant_id, &id).await?;
    Ok(Json(with_registrations(&st, e).await?))
}

async fn create_extension(
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
            },
        )
        .await
        .map_err(bad_algorithms)?;
    st.directory.extension_upserted(&ext);
    Ok((StatusCode::CREATED, Json(ext.into())))
}

async fn patch_extension(
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
            },
        )
        .await
        .map_err(bad_algorithms)?;
    st.directory.extension_upserted(&ext);
    Ok(Json(with_registrations(&st, ext).await?))
}

async fn delete_extension(
    Scoped(ctx, _): Scoped<SipWrite>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.store.delete_extension(&ctx.tenant_id, &id).await?;
    st.directory.extension_removed(&id);
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- trunks

/// Body of `POST /api/v1/sip/trunks`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTrunk {
    /// A name for people, 1-64 characters.
    #[schemars(length(min = 1, max = 64), example = &"Office PBX")]
    name: String,
    /// Networks whose calls are trusted as this trunk's (no overlap with another account's).
    #[serde(default)]
    #[schemars(example = ["192.0.2.10/32"])]
    inbound_cidrs: Vec<String>,
    /// A digest login the PBX may authenticate with instead (with inboundPassword).
    #[serde(default)]
    inbound_username: Option<String>,
    /// Its password, 8-128 characters.
    #[serde(default)]
    #[schemars(length(min = 8, max = 128))]
    inbound_password: Option<String>,
    /// The carrier or PBX outbound calls go to (host name or IP).
    #[serde(default)]
    #[schemars(example = &"sip.carrier.example")]
    outbound_host: Option<String>,
    /// Its port (default 5060).
    #[serde(default)]
    #[schemars(range(min = 1))]
    outbound_port: Option<u16>,
    /// `udp` (default), `tcp` or `tls` (SIP over TLS, port 5061 unless outboundPort says
    /// otherwise; the carrier's certificate is checked against tlsCaPem or the system's roots).
    #[serde(default)]
    #[schemars(extend("enum" = ["udp", "tcp", "tls", null]))]
    outbound_transport: Option<String>,
    /// The login the carrier asks for.
    #[serde(default)]
    outbound_username: Option<String>,
    /// Its password.
    #[serde(default)]
    outbound_password: Option<String>,
    /// Numbers outbound calls may dial: comma-separated patterns of digits, leading +,
    /// X (any digit), N (2-9) and a trailing * (none: no outbound calls).
    #[serde(default)]
    #[schemars(example = &"+3519XXXXXXXX,+3512*")]
    allowed_destinations: Option<String>,
    /// Digest algorithms the inbound login is challenged with, in order: `MD5`, `SHA-256` (empty or
    /// absent: the server's, `RINGSIDE_SIP_DIGEST_ALGORITHMS`). `["MD5"]` for phones that give
    /// up on a challenge they cannot answer (baresip 1.0, older desk phones).
    #[serde(default)]
    #[schemars(schema_with = "algorithms_schema")]
    digest_algorithms: Vec<String>,
    /// SRTP on this trunk's calls: `off`, `optional` (default: encrypted when the carrier or PBX
    /// offers or accepts SDES keys) or `required` (unencrypted calls refused with 488).
    #[serde(default)]
    srtp: Option<SrtpPolicy>,
    /// Session timer (RFC 4028) Ringside asks for on calls to this trunk, in seconds
    /// (90-86400): it refreshes or expects refreshes, and hangs up a call whose refreshes stop.
    #[serde(default)]
    #[schemars(range(min = 90, max = 86400), example = &1800)]
    session_timer_secs: Option<u32>,
    /// SIP over TLS: the CA certificates (PEM) the carrier's server certificate must chain
    /// to, instead of the system's roots (a pinned or private CA).
    #[serde(default)]
    #[schemars(length(max = 65536))]
    tls_ca_pem: Option<String>,
    /// SIP over TLS: the client certificate chain (PEM) Ringside presents when the carrier
    /// asks for one; with tlsClientKeyPem.
    #[serde(default)]
    #[schemars(length(max = 65536))]
    tls_client_cert_pem: Option<String>,
    /// Its private key (PEM); never shown again.
    #[serde(default)]
    #[schemars(length(max = 65536))]
    tls_client_key_pem: Option<String>,
}

/// Body of `PATCH /api/v1/sip/trunks/{id}`: absent fields stay, `null` clears a nullable one.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchTrunk {
    /// A new name.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    name: Option<String>,
    /// Trusted networks, replacing the list.
    #[serde(default)]
    inbound_cidrs: Option<Vec<String>>,
    /// The inbound digest login (null removes it, with its password).
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>")]
    inbound_username: Option<Option<String>>,
    /// The inbound password.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>")]
    inbound_password: Option<Option<String>>,
    /// The outbound host (null: no outbound calls).
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>")]
    outbound_host: Option<Option<String>>,
    /// The outbound port.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<u16>")]
    outbound_port: Option<Option<u16>>,
    /// `udp`, `tcp` or `tls`.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>", extend("enum" = ["udp", "tcp", "tls", null]))]
    outbound_transport: Option<Option<String>>,
    /// The outbound login.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>")]
    outbound_username: Option<Option<String>>,
    /// The outbound password.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>")]
    outbound_password: Option<Option<String>>,
    /// Numbers outbound calls may dial (null: none).
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>")]
    allowed_destinations: Option<Option<String>>,
    /// Digest algorithms of the inbound login, replacing the list (empty: the server's).
    #[serde(default)]
    #[schemars(schema_with = "nullable_algorithms_schema")]
    digest_algorithms: Option<Vec<String>>,
    /// SRTP on this trunk's calls: `off`, `optional` (default: encrypted when the carrier or PBX
    /// offers or accepts SDES keys) or `required` (unencrypted calls refused with 488).
    #[serde(default)]
    srtp: Option<SrtpPolicy>,
    /// The session timer on calls to it, seconds (null: none).
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<u32>", range(min = 90, max = 86400))]
    session_timer_secs: Option<Option<u32>>,
    /// The pinned CA certificates (null: the system's roots again).
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>")]
    tls_ca_pem: Option<Option<String>>,
    /// The client certificate chain (null removes it; remove the key with it).
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>")]
    tls_client_cert_pem: Option<Option<String>>,
    /// The client certificate's key (null removes it).
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schemars(with = "Option<String>")]
    tls_client_key_pem: Option<Option<String>>,
}

/// A trunk as the API shows it (never with passwords).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrunkView {
    /// Its id.
    id: String,
    /// The name.
    #[schemars(example = &"Office PBX")]
    name: String,
    /// Trusted inbound networks.
    inbound_cidrs: Vec<String>,
    /// The inbound digest login, if any.
    inbound_username: Option<String>,
    /// Where outbound calls go.
    outbound_host: Option<String>,
    /// Its port.
    outbound_port: Option<u16>,
    /// `udp`, `tcp` or `tls`.
    outbound_transport: Option<String>,
    /// The outbound login.
    outbound_username: Option<String>,
    /// Numbers outbound calls may dial.
    allowed_destinations: Option<String>,
    /// Digest algorithms the inbound login is challenged with; empty: the server's.
    digest_algorithms: Vec<String>,
    /// SRTP on its calls: `off`, `optional` or `required`.
    srtp: SrtpPolicy,
    /// Session timer asked for on calls to it, seconds (none: no timer).
    session_timer_secs: Option<u32>,
    /// The pinned CA certificates for SIP over TLS (none: the system's roots).
    tls_ca_pem: Option<String>,
    /// The client certificate chain presented over TLS.
    tls_client_cert_pem: Option<String>,
    /// Whether a client key is stored (the key itself is never shown).
    has_tls_client_key: bool,
    /// Unix ms.
    created_at: i64,
    /// Unix ms.
    updated_at: i64,
}

impl From<Trunk> for TrunkView {
    fn from(t: Trunk) -> Self {
        TrunkView {
            id: t.id,
            name: t.name,
            inbound_cidrs: t.inbound_cidrs,
            inbound_username: t.inbound_username,
            outbound_host: t.outbound_host,
            outbound_port: t.outbound_port,
            outbound_transport: t.outbound_transport,
            outbound_username: t.outbound_username,
            allowed_destinations: t.allowed_destinations,
            digest_algorithms: t.digest_algorithms,
            srtp: SrtpPolicy::from_stored(t.srtp.as_deref()),
            session_timer_secs: t.session_timer_secs,
            tls_ca_pem: t.tls_ca_pem,
            tls_client_cert_pem: t.tls_client_cert_pem,
            has_tls_client_key: t.tls_client_key_pem.is_some(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

fn validate_name(n: &str) -> Result<(), ApiError> {
    if n.trim().is_empty() || n.len() > 64 || n.chars().any(char::is_control) {
        return Err(ApiError::InvalidField {
            field: "name",
            reason: "1-64 printable characters",
        });
    }
    Ok(())
}

/// Parse inbound networks, refusing over-broad ones and ones that overlap a network another
/// tenant's trunk trusts (either would let one tenant's trunk stand for callers it does not
/// own).
async fn validate_cidrs(
    st: &SipAdmin,
    tenant_id: &str,
    cidrs: &[String],
) -> Result<Vec<String>, ApiError> {
    let nets = cidrs
        .iter()
        .map(|c| {
            TrustedNet::parse(c).map_err(|e| ApiError::InvalidField {
                field: "inboundCidrs",
                reason: e.reason(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if nets.is_empty() {
        return Ok(vec![]);
    }
    let others = st.store.all_trunks().await?;
    let overlaps = others
        .iter()
        .filter(|t| t.tenant_id != tenant_id)
        .flat_map(|t| {
            t.inbound_cidrs
                .iter()
                .filter_map(|c| TrustedNet::stored(c).ok())
        })
        .any(|theirs| nets.iter().any(|mine| mine.overlaps(&theirs)));
    if overlaps {
        return Err(ApiError::InvalidField {
            field: "inboundCidrs",
            reason: "overlaps a network that another account's trunk trusts",
        });
    }
    Ok(nets.iter().map(|n| n.to_string()).collect())
}

fn validate_host(h: &str) -> Result<(), ApiError> {
    SipHost::parse(h)
        .map(drop)
        .map_err(|e| ApiError::InvalidField {
            field: "outboundHost",
            reason: e.reason(),
        })
}

fn validate_transport(t: &str) -> Result<(), ApiError> {
    match t {
        "udp" | "tcp" | "tls" => Ok(()),
        _ => Err(ApiError::InvalidField {
            field: "outboundTransport",
            reason: "must be udp, tcp or tls",
        }),
    }
}

/// A trunk's TLS material as given: the CA and client certificates must hold certificates and
/// the key a private key; a new client certificate comes with its key.
fn validate_tls(ca: Option<&str>, cert: Option<&str>, key: Option<&str>) -> Result<(), ApiError> {
    use ringside_domain::tls_pem::{certificates, private_key};
    let invalid =
        |field: &'static str, e: ringside_domain::tls_pem::PemError| ApiError::InvalidField {
            field,
            reason: e.reason(),
        };
    if let Some(ca) = ca {
        certificates(ca.as_bytes()).map_err(|e| invalid("tlsCaPem", e))?;
    }
    if let Some(c) = cert {
        certificates(c.as_bytes()).map_err(|e| invalid("tlsClientCertPem", e))?;
    }
    if let Some(k) = key {
        private_key(k.as_bytes()).map_err(|e| invalid("tlsClientKeyPem", e))?;
    }
    if cert.is_some() != key.is_some() {
        return Err(ApiError::InvalidField {
            field: "tlsClientKeyPem",
            reason: "tlsClientCertPem and tlsClientKeyPem go together",
        });
    }
    Ok(())
}

fn validate_destinations(p: &str) -> Result<(), ApiError> {
    DestinationPatterns::parse(p)
        .map(|_| ())
        .map_err(|_| ApiError::InvalidField {
            field: "allowedDestinations",
            reason: "comma-separated patterns of digits, leading +, X, N and trailing *",
        })
}

type InboundCreds = Option<(String, String, String, String)>;

fn inbound_credentials(
    st: &SipAdmin,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<InboundCreds, ApiError> {
    match (user, password) {
        (None, None) => Ok(None),
        (Some(u), Some(p)) => {
            validate_username(u, "inboundUsername")?;
            validate_password(p, "inboundPassword")?;
            let (m, s) = hashes(u, &st.sip_realm, p);
            Ok(Some((u.to_string(), st.sip_realm.to_string(), m, s)))
        }
        _ => Err(ApiError::InvalidField {
            field: "inboundPassword",
            reason: "inboundUsername and inboundPassword go together",
        }),
    }
}

async fn list_trunks(
    Scoped(ctx, _): Scoped<SipRead>,
    State(st): State<SipAdmin>,
) -> Result<Json<Vec<TrunkView>>, ApiError> {
    let list = st.store.list_trunks(&ctx.tenant_id).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

async fn get_trunk(
    Scoped(ctx, _): Scoped<SipRead>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
) -> Result<Json<TrunkView>, ApiError> {
    Ok(Json(st.store.get_trunk(&ctx.tenant_id, &id).await?.into()))
}

async fn create_trunk(
    Scoped(ctx, _): Scoped<SipWrite>,
    State(st): State<SipAdmin>,
    ApiJson(b): ApiJson<CreateTrunk>,
) -> Result<(StatusCode, Json<TrunkView>), ApiError> {
    validate_name(&b.name)?;
    let inbound_cidrs = validate_cidrs(&st, &ctx.tenant_id, &b.inbound_cidrs).await?;
    if let Some(h) = &b.outbound_host {
        validate_host(h)?;
    }
    if let Some(t) = &b.outbound_transport {
        validate_transport(t)?;
    }
    validate_tls(
        b.tls_ca_pem.as_deref(),
        b.tls_client_cert_pem.as_deref(),
        b.tls_client_key_pem.as_deref(),
    )?;
    if let Some(p) = &b.allowed_destinations {
        validate_destinations(p)?;
    }
    let creds = inbound_credentials(
        &st,
        b.inbound_username.as_deref(),
        b.inbound_password.as_deref(),
    )?;
    if let Some((u, ..)) = &creds {
        ensure_login_free(&st, u, None).await?;
    }
    let (inbound_username, inbound_realm, inbound_ha1_md5, inbound_ha1_sha256) = match creds {
        Some((u, r, m, s)) => (Some(u), Some(r), Some(m), Some(s)),
        None => (None, None, None, None),
    };
    let trunk = st
        .store
        .create_trunk(
            &ctx.tenant_id,
            NewTrunk {
                name: b.name,
                inbound_cidrs,
                inbound_username,
                inbound_realm,
                inbound_ha1_md5,
                inbound_ha1_sha256,
                outbound_host: b.outbound_host,
                outbound_port: b.outbound_port,
                outbound_transport: b.outbound_transport,
                outbound_username: b.outbound_username,
                outbound_password: b.outbound_password,
                allowed_destinations: b.allowed_destinations,
                digest_algorithms: b.digest_algorithms,
                srtp: b.srtp.map(|p| p.as_str().to_owned()),
                session_timer_secs: session_timer(b.session_timer_secs)?,
                tls_ca_pem: b.tls_ca_pem,
                tls_client_cert_pem: b.tls_client_cert_pem,
                tls_client_key_pem: b.tls_client_key_pem,
            },
        )
        .await
        .map_err(bad_algorithms)?;
    st.directory.trunk_upserted(&trunk);
    Ok((StatusCode::CREATED, Json(trunk.into())))
}

async fn patch_trunk(
    Scoped(ctx, _): Scoped<SipWrite>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PatchTrunk>,
) -> Result<Json<TrunkView>, ApiError> {
    if let Some(n) = &b.name {
        validate_name(n)?;
    }
    let inbound_cidrs = match b.inbound_cidrs.as_deref() {
        Some(c) => Some(validate_cidrs(&st, &ctx.tenant_id, c).await?),
        None => None,
    };
    if let Some(Some(h)) = &b.outbound_host {
        validate_host(h)?;
    }
    if let Some(Some(t)) = &b.outbound_transport {
        validate_transport(t)?;
    }
    // A patch sets a client certificate and key together or clears them together.
    fn set(v: &Option<Option<String>>) -> Option<&str> {
        v.as_ref().and_then(Option::as_deref)
    }
    validate_tls(
        set(&b.tls_ca_pem),
        set(&b.tls_client_cert_pem),
        set(&b.tls_client_key_pem),
    )?;
    if b.tls_client_cert_pem.is_some() != b.tls_client_key_pem.is_some() {
        return Err(ApiError::InvalidField {
            field: "tlsClientKeyPem",
            reason: "tlsClientCertPem and tlsClientKeyPem go together",
        });
    }
    if let Some(Some(p)) = &b.allowed_destinations {
        validate_destinations(p)?;
    }
    let mut patch = TrunkPatch {
        name: b.name,
        inbound_cidrs,
        outbound_host: b.outbound_host,
        outbound_port: b.outbound_port,
        outbound_transport: b.outbound_transport,
        outbound_username: b.outbound_username,
        outbound_password: b.outbound_password,
        allowed_destinations: b.allowed_destinations,
        digest_algorithms: b.digest_algorithms,
        srtp: b.srtp.map(|p| Some(p.as_str().to_owned())),
        session_timer_secs: b.session_timer_secs.map(session_timer).transpose()?,
        tls_ca_pem: b.tls_ca_pem,
        tls_client_cert_pem: b.tls_client_cert_pem,
        tls_client_key_pem: b.tls_client_key_pem,
        ..Default::default()
    };
    match (b.inbound_username, b.inbound_password) {
        (None, None) => {}
        (Some(None), _) | (_, Some(None)) => {
            // Clearing either clears the inbound digest credentials.
            patch.inbound_username = Some(None);
            patch.inbound_realm = Some(None);
            patch.inbound_ha1_md5 = Some(None);
            patch.inbound_ha1_sha256 = Some(None);
        }
        (user, Some(Some(p))) => {
            let user = match user {
                Some(Some(u)) => u,
                _ => st
                    .store
                    .get_trunk(&ctx.tenant_id, &id)
                    .await?
                    .inbound_username
                    .ok_or(ApiError::InvalidField {
                        field: "inboundUsername",
                        reason: "required with inboundPassword",
                    })?,
            };
            let (u, r, m, s) =
                inbound_credentials(&st, Some(&user), Some(&p))?.expect("both given");
            ensure_login_free(&st, &u, Some(&id)).await?;
            patch.inbound_username = Some(Some(u));
            patch.inbound_realm = Some(Some(r));
            patch.inbound_ha1_md5 = Some(Some(m));
            patch.inbound_ha1_sha256 = Some(Some(s));
        }
        (Some(Some(_)), None) => {
            return Err(ApiError::InvalidField {
                field: "inboundPassword",
                reason: "changing inboundUsername needs inboundPassword",
            })
        }
    }
    let trunk = st
        .store
        .update_trunk(&ctx.tenant_id, &id, patch)
        .await
        .map_err(bad_algorithms)?;
    st.directory.trunk_upserted(&trunk);
    Ok(Json(trunk.into()))
}

async fn delete_trunk(
    Scoped(ctx, _): Scoped<SipWrite>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.store.delete_trunk(&ctx.tenant_id, &id).await?;
    st.directory.trunk_removed(&id);
    Ok(StatusCode::NO_CONTENT)
}
