//! SIP trunks: connections to carriers or PBXs, per tenant.
//!
//! Inbound traffic is recognised by source network (`inbound_cidrs`) and/or
//! digest credentials (`inbound_username`, unique server-wide when set);
//! outbound calls go to `outbound_host`. Nullable fields can be cleared with
//! a [`TrunkPatch`] holding `Some(None)`.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::{
    algorithm_list, bind_all, bounded, cidr, digest_algorithms, digest_algorithms_of, hex_digest,
    json_list, required, session_timer, session_timer_of, sip_username, srtp_policy, to_json,
    Param, SetList,
};
use crate::{new_id, now_ms, Store};

/// A SIP trunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trunk {
    /// Trunk id (UUID, see [`crate::new_id`]).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Human label.
    pub name: String,
    /// Source networks accepted for inbound calls (CIDR or bare address).
    pub inbound_cidrs: Vec<String>,
    /// Digest username the peer authenticates with; unique server-wide.
    pub inbound_username: Option<String>,
    /// Digest realm for inbound authentication.
    pub inbound_realm: Option<String>,
    /// MD5 HA1 for inbound authentication, lowercase hex.
    pub inbound_ha1_md5: Option<String>,
    /// SHA-256 HA1 for inbound authentication, lowercase hex.
    pub inbound_ha1_sha256: Option<String>,
    /// Host (name or address) outbound calls are sent to.
    pub outbound_host: Option<String>,
    /// Port for outbound calls (default depends on transport).
    pub outbound_port: Option<u16>,
    /// `udp`, `tcp` or `tls`.
    pub outbound_transport: Option<String>,
    /// Username for authenticating to the peer.
    pub outbound_username: Option<String>,
    /// Password for authenticating to the peer (stored as given).
    pub outbound_password: Option<String>,
    /// Which destinations may be dialled through this trunk (pattern, as the
    /// call layer interprets it).
    pub allowed_destinations: Option<String>,
    /// Digest algorithms the inbound login is challenged with, in order; empty for the
    /// server's.
    #[serde(default)]
    pub digest_algorithms: Vec<String>,
    /// SRTP on its calls: `off`, `optional` or `required`; `None`: the default (`optional`).
    #[serde(default)]
    pub srtp: Option<String>,
    /// Session timer (RFC 4028) Ringside asks for on calls to it, seconds; `None`: none.
    #[serde(default)]
    pub session_timer_secs: Option<u32>,
    /// SRTP passthrough, as [`Extension::srtp_passthrough`](crate::Extension::srtp_passthrough).
    #[serde(default)]
    pub srtp_passthrough: bool,
    /// SIP over TLS: CA certificates (PEM) the peer's server certificate must chain to;
    /// `None`: the system's roots.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
    /// SIP over TLS: the client certificate chain (PEM) presented when the peer asks.
    #[serde(default)]
    pub tls_client_cert_pem: Option<String>,
    /// SIP over TLS: the client certificate's private key (PEM; stored as given).
    #[serde(default)]
    pub tls_client_key_pem: Option<String>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last modification time, unix ms.
    pub updated_at: i64,
}

/// Input of [`Store::create_trunk`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTrunk {
    /// Human label (non-empty).
    pub name: String,
    /// Source networks accepted for inbound calls.
    pub inbound_cidrs: Vec<String>,
    /// See [`Trunk::inbound_username`].
    pub inbound_username: Option<String>,
    /// See [`Trunk::inbound_realm`].
    pub inbound_realm: Option<String>,
    /// See [`Trunk::inbound_ha1_md5`] (32 hex chars).
    pub inbound_ha1_md5: Option<String>,
    /// See [`Trunk::inbound_ha1_sha256`] (64 hex chars).
    pub inbound_ha1_sha256: Option<String>,
    /// See [`Trunk::outbound_host`].
    pub outbound_host: Option<String>,
    /// See [`Trunk::outbound_port`] (non-zero).
    pub outbound_port: Option<u16>,
    /// See [`Trunk::outbound_transport`].
    pub outbound_transport: Option<String>,
    /// See [`Trunk::outbound_username`].
    pub outbound_username: Option<String>,
    /// See [`Trunk::outbound_password`].
    pub outbound_password: Option<String>,
    /// See [`Trunk::allowed_destinations`].
    pub allowed_destinations: Option<String>,
    /// See [`Trunk::digest_algorithms`].
    #[serde(default)]
    pub digest_algorithms: Vec<String>,
    /// See [`Trunk::srtp`].
    #[serde(default)]
    pub srtp: Option<String>,
    /// See [`Trunk::session_timer_secs`].
    #[serde(default)]
    pub session_timer_secs: Option<u32>,
    /// See [`Trunk::srtp_passthrough`].
    #[serde(default)]
    pub srtp_passthrough: bool,
    /// See [`Trunk::tls_ca_pem`].
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
    /// See [`Trunk::tls_client_cert_pem`].
    #[serde(default)]
    pub tls_client_cert_pem: Option<String>,
    /// See [`Trunk::tls_client_key_pem`].
    #[serde(default)]
    pub tls_client_key_pem: Option<String>,
}

/// Changes for [`Store::update_trunk`]. `None` leaves a field unchanged; for
/// nullable fields `Some(None)` clears it and `Some(Some(v))` sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrunkPatch {
    /// New label.
    pub name: Option<String>,
    /// New inbound networks (replaces the list).
    pub inbound_cidrs: Option<Vec<String>>,
    /// Set or clear [`Trunk::inbound_username`].
    pub inbound_username: Option<Option<String>>,
    /// Set or clear [`Trunk::inbound_realm`].
    pub inbound_realm: Option<Option<String>>,
    /// Set or clear [`Trunk::inbound_ha1_md5`].
    pub inbound_ha1_md5: Option<Option<String>>,
    /// Set or clear [`Trunk::inbound_ha1_sha256`].
    pub inbound_ha1_sha256: Option<Option<String>>,
    /// Set or clear [`Trunk::outbound_host`].
    pub outbound_host: Option<Option<String>>,
    /// Set or clear [`Trunk::outbound_port`].
    pub outbound_port: Option<Option<u16>>,
    /// Set or clear [`Trunk::outbound_transport`].
    pub outbound_transport: Option<Option<String>>,
    /// Set or clear [`Trunk::outbound_username`].
    pub outbound_username: Option<Option<String>>,
    /// Set or clear [`Trunk::outbound_password`].
    pub outbound_password: Option<Option<String>>,
    /// Set or clear [`Trunk::allowed_destinations`].
    pub allowed_destinations: Option<Option<String>>,
    /// New digest algorithms (empty: back to the server's).
    pub digest_algorithms: Option<Vec<String>>,
    /// Set or clear (back to the default) [`Trunk::srtp`].
    pub srtp: Option<Option<String>>,
    /// Set or clear [`Trunk::session_timer_secs`].
    pub session_timer_secs: Option<Option<u32>>,
    /// New [`Trunk::srtp_passthrough`].
    pub srtp_passthrough: Option<bool>,
    /// Set or clear [`Trunk::tls_ca_pem`].
    pub tls_ca_pem: Option<Option<String>>,
    /// Set or clear [`Trunk::tls_client_cert_pem`].
    pub tls_client_cert_pem: Option<Option<String>>,
    /// Set or clear [`Trunk::tls_client_key_pem`].
    pub tls_client_key_pem: Option<Option<String>>,
}

const TRUNK_COLS: &str = "id, tenant_id, name, inbound_cidrs, inbound_username, inbound_realm, \
     inbound_ha1_md5, inbound_ha1_sha256, outbound_host, outbound_port, outbound_transport, \
     outbound_username, outbound_password, allowed_destinations, digest_algorithms, srtp, session_timer_secs, srtp_passthrough, tls_ca_pem, \
     tls_client_cert_pem, tls_client_key_pem, created_at, updated_at";

fn trunk_from_row(row: &AnyRow) -> Result<Trunk> {
    let port: Option<i64> = row.try_get("outbound_port")?;
    let outbound_port = port
        .map(|p| u16::try_from(p).map_err(|_| StorageError::Corrupt("outbound_port")))
        .transpose()?;
    Ok(Trunk {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        inbound_cidrs: json_list(row, "inbound_cidrs")?,
        inbound_username: row.try_get("inbound_username")?,
        inbound_realm: row.try_get("inbound_realm")?,
        inbound_ha1_md5: row.try_get("inbound_ha1_md5")?,
        inbound_ha1_sha256: row.try_get("inbound_ha1_sha256")?,
        outbound_host: row.try_get("outbound_host")?,
        outbound_port,
        outbound_transport: row.try_get("outbound_transport")?,
        outbound_username: row.try_get("outbound_username")?,
        outbound_password: row.try_get("outbound_password")?,
        allowed_destinations: row.try_get("allowed_destinations")?,
        digest_algorithms: digest_algorithms_of(row)?,
        srtp: row.try_get("srtp")?,
        session_timer_secs: session_timer_of(row)?,
        srtp_passthrough: row.try_get::<i64, _>("srtp_passthrough")? != 0,
        tls_ca_pem: row.try_get("tls_ca_pem")?,
        tls_client_cert_pem: row.try_get("tls_client_cert_pem")?,
        tls_client_key_pem: row.try_get("tls_client_key_pem")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Validates an optional value with `check`.
fn opt(value: &Option<String>, check: impl Fn(&str) -> Result<String>) -> Result<Option<String>> {
    value.as_deref().map(check).transpose()
}

fn cidrs(list: &[String]) -> Result<Vec<String>> {
    if list.len() > 256 {
        return Err(StorageError::Invalid("inbound_cidrs: too many entries"));
    }
    list.iter().map(|c| cidr(c)).collect()
}

fn host(v: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() || v.len() > 253 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StorageError::Invalid("outbound_host"));
    }
    Ok(v.to_owned())
}

fn port(p: Option<u16>) -> Result<Option<i64>> {
    match p {
        Some(0) => Err(StorageError::Invalid("outbound_port must be 1..=65535")),
        p => Ok(p.map(i64::from)),
    }
}

fn transport(v: &str) -> Result<String> {
    let v = v.trim().to_ascii_lowercase();
    match v.as_str() {
        "udp" | "tcp" | "tls" => Ok(v),
        _ => Err(StorageError::Invalid(
            "outbound_transport must be udp, tcp or tls",
        )),
    }
}

/// A PEM text (certificates or a key): at most 64 KiB, with a `-----BEGIN` line. The API
/// checks what it holds; storage keeps it as given.
fn pem(v: &str) -> Result<String> {
    if v.len() > 65_536 || !v.contains("-----BEGIN ") {
        return Err(StorageError::Invalid("TLS PEM text"));
    }
    Ok(v.to_owned())
}

fn inbound_username(v: &str) -> Result<String> {
    sip_username(v, "inbound_username")
}
fn inbound_realm(v: &str) -> Result<String> {
    required(v, 255, "inbound_realm")
}
fn md5(v: &str) -> Result<String> {
    hex_digest(v, 32, "inbound_ha1_md5 must be 32 hex chars")
}
fn sha256(v: &str) -> Result<String> {
    hex_digest(v, 64, "inbound_ha1_sha256 must be 64 hex chars")
}
fn out_username(v: &str) -> Result<String> {
    required(v, 255, "outbound_username")
}
fn out_password(v: &str) -> Result<String> {
    bounded(v, 255, "outbound_password")
}
fn destinations(v: &str) -> Result<String> {
    bounded(v, 4096, "allowed_destinations")
}

/// A field validator: checked and normalised value, or Invalid.
type Check = fn(&str) -> Result<String>;

const UNIQUE_MSG: &str = "trunk inbound_username already exists";

impl Store {
    /// Creates a trunk in `tenant_id`. Conflict when `inbound_username` is
    /// already used by another trunk; NotFound for an unknown tenant.
    pub async fn create_trunk(&self, tenant_id: &str, new: NewTrunk) -> Result<Trunk> {
        let now = now_ms();
        let algorithms = digest_algorithms(&new.digest_algorithms)?;
        let trunk = Trunk {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            name: required(&new.name, 128, "name")?,
            inbound_cidrs: cidrs(&new.inbound_cidrs)?,
            inbound_username: opt(&new.inbound_username, inbound_username)?,
            inbound_realm: opt(&new.inbound_realm, inbound_realm)?,
            inbound_ha1_md5: opt(&new.inbound_ha1_md5, md5)?,
            inbound_ha1_sha256: opt(&new.inbound_ha1_sha256, sha256)?,
            outbound_host: opt(&new.outbound_host, host)?,
            outbound_port: new.outbound_port,
            outbound_transport: opt(&new.outbound_transport, transport)?,
            outbound_username: opt(&new.outbound_username, out_username)?,
            outbound_password: opt(&new.outbound_password, out_password)?,
            allowed_destinations: opt(&new.allowed_destinations, destinations)?,
            digest_algorithms: algorithm_list(algorithms.as_deref()),
            srtp: opt(&new.srtp, srtp_policy)?,
            session_timer_secs: new.session_timer_secs,
            srtp_passthrough: new.srtp_passthrough,
            tls_ca_pem: opt(&new.tls_ca_pem, pem)?,
            tls_client_cert_pem: opt(&new.tls_client_cert_pem, pem)?,
            tls_client_key_pem: opt(&new.tls_client_key_pem, pem)?,
            created_at: now,
            updated_at: now,
        };
        let port = port(trunk.outbound_port)?;
        let sql = format!(
            "INSERT INTO trunks ({TRUNK_COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20, $21, $22, $23)"
        );
        sqlx::query(&sql)
            .bind(&trunk.id)
            .bind(&trunk.tenant_id)
            .bind(&trunk.name)
            .bind(to_json(&trunk.inbound_cidrs))
            .bind(&trunk.inbound_username)
            .bind(&trunk.inbound_realm)
            .bind(&trunk.inbound_ha1_md5)
            .bind(&trunk.inbound_ha1_sha256)
            .bind(&trunk.outbound_host)
            .bind(port)
            .bind(&trunk.outbound_transport)
            .bind(&trunk.outbound_username)
            .bind(&trunk.outbound_password)
            .bind(&trunk.allowed_destinations)
            .bind(algorithms)
            .bind(&trunk.srtp)
            .bind(session_timer(trunk.session_timer_secs)?)
            .bind(i64::from(trunk.srtp_passthrough))
            .bind(&trunk.tls_ca_pem)
            .bind(&trunk.tls_client_cert_pem)
            .bind(&trunk.tls_client_key_pem)
            .bind(trunk.created_at)
            .bind(trunk.updated_at)
            .execute(&self.pool)
            .await
            .map_err(|e| StorageError::from_write(e, UNIQUE_MSG))?;
        Ok(trunk)
    }

    /// Trunks of a tenant, oldest first.
    pub async fn list_trunks(&self, tenant_id: &str) -> Result<Vec<Trunk>> {
        let sql =
            format!("SELECT {TRUNK_COLS} FROM trunks WHERE tenant_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(trunk_from_row).collect()
    }

    /// One trunk of a tenant; NotFound if missing or another tenant's.
    pub async fn get_trunk(&self, tenant_id: &str, id: &str) -> Result<Trunk> {
        let sql = format!("SELECT {TRUNK_COLS} FROM trunks WHERE id = $1 AND tenant_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        trunk_from_row(&row)
    }

    /// Applies `patch` to a trunk of the tenant and returns the result.
    /// NotFound if missing or another tenant's; Conflict on a taken
    /// `inbound_username` (then nothing changes).
    pub async fn update_trunk(
        &self,
        tenant_id: &str,
        id: &str,
        patch: TrunkPatch,
    ) -> Result<Trunk> {
        let mut set = SetList::default();
        set.set("updated_at", Param::Int(now_ms()));
        if let Some(v) = &patch.name {
            set.set("name", Param::Text(required(v, 128, "name")?));
        }
        if let Some(v) = &patch.inbound_cidrs {
            set.set("inbound_cidrs", Param::Text(to_json(&cidrs(v)?)));
        }
        let nullable: [(&str, &Option<Option<String>>, Check); 13] = [
            (
                "inbound_username",
                &patch.inbound_username,
                inbound_username,
            ),
            ("inbound_realm", &patch.inbound_realm, inbound_realm),
            ("inbound_ha1_md5", &patch.inbound_ha1_md5, md5),
            ("inbound_ha1_sha256", &patch.inbound_ha1_sha256, sha256),
            ("outbound_host", &patch.outbound_host, host),
            ("outbound_transport", &patch.outbound_transport, transport),
            ("outbound_username", &patch.outbound_username, out_username),
            ("outbound_password", &patch.outbound_password, out_password),
            (
                "allowed_destinations",
                &patch.allowed_destinations,
                destinations,
            ),
            ("srtp", &patch.srtp, srtp_policy),
            ("tls_ca_pem", &patch.tls_ca_pem, pem),
            ("tls_client_cert_pem", &patch.tls_client_cert_pem, pem),
            ("tls_client_key_pem", &patch.tls_client_key_pem, pem),
        ];
        for (col, value, check) in nullable {
            if let Some(value) = value {
                set.set(col, Param::OptText(opt(value, check)?));
            }
        }
        if let Some(v) = patch.session_timer_secs {
            set.set("session_timer_secs", Param::OptInt(session_timer(v)?));
        }
        if let Some(v) = patch.srtp_passthrough {
            set.set("srtp_passthrough", Param::Int(i64::from(v)));
        }
        if let Some(p) = patch.outbound_port {
            set.set("outbound_port", Param::OptInt(port(p)?));
        }
        if let Some(list) = &patch.digest_algorithms {
            set.set(
                "digest_algorithms",
                Param::OptText(digest_algorithms(list)?),
            );
        }
        let (sql, params) = set.finish_scoped("trunks", id, tenant_id, TRUNK_COLS);
        let row = bind_all(sqlx::query(&sql), params)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StorageError::from_write(e, UNIQUE_MSG))?
            .ok_or(StorageError::NotFound)?;
        trunk_from_row(&row)
    }

    /// Deletes a trunk of the tenant; NotFound if missing or another tenant's.
    pub async fn delete_trunk(&self, tenant_id: &str, id: &str) -> Result<()> {
        let res = sqlx::query("DELETE FROM trunks WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .execute(&self.pool)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    /// Every trunk of every tenant (to load the SIP layer at start).
    pub async fn all_trunks(&self) -> Result<Vec<Trunk>> {
        let sql = format!("SELECT {TRUNK_COLS} FROM trunks ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(trunk_from_row).collect()
    }
}
