//! Trunks: `/api/v1/sip/trunks` (PBXs and carriers, trusted by address or login).

use super::*;

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
    /// SRTP passthrough: when the call's other leg allows it too and both key with SDES,
    /// each phone is given the other's key and the encrypted packets go through Ringside as
    /// they came (authenticated, not re-encrypted). Off (default): each leg is keyed on its own.
    #[serde(default)]
    srtp_passthrough: bool,
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
    /// SRTP passthrough on or off (see the create body).
    #[serde(default)]
    srtp_passthrough: Option<bool>,
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
    /// SRTP passthrough allowed on its calls (keys passed end to end when both legs use SDES).
    srtp_passthrough: bool,
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
            srtp_passthrough: t.srtp_passthrough,
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

pub(super) async fn list_trunks(
    Scoped(ctx, _): Scoped<SipRead>,
    State(st): State<SipAdmin>,
) -> Result<Json<Vec<TrunkView>>, ApiError> {
    let list = st.store.list_trunks(&ctx.tenant_id).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

pub(super) async fn get_trunk(
    Scoped(ctx, _): Scoped<SipRead>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
) -> Result<Json<TrunkView>, ApiError> {
    Ok(Json(st.store.get_trunk(&ctx.tenant_id, &id).await?.into()))
}

pub(super) async fn create_trunk(
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
                srtp_passthrough: b.srtp_passthrough,
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

pub(super) async fn patch_trunk(
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
        srtp_passthrough: b.srtp_passthrough,
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

pub(super) async fn delete_trunk(
    Scoped(ctx, _): Scoped<SipWrite>,
    State(st): State<SipAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.store.delete_trunk(&ctx.tenant_id, &id).await?;
    st.directory.trunk_removed(&id);
    Ok(StatusCode::NO_CONTENT)
}
