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

mod extensions;
mod trunks;

use extensions::*;
use trunks::*;

// ---------------------------------------------------------------- shared by extensions and trunk logins

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
