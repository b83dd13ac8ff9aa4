//! The server's secrets: the root (the link secret), the SIP nonce secret derived from it and
//! the VAPID key; as files in one node's data directory, or shared by a cluster's nodes.

use anyhow::Context;
use ringside_storage::Store;
use tracing::warn;

use crate::config::Settings;

/// The server's secrets. One node alone keeps them as files in its data directory, made on
/// first start. The nodes of a cluster share one root: `RINGSIDE_SECRET_KEY`, given to every
/// node and never stored (the database alone then reveals nothing the link secret protects:
/// tenants' sealed credentials); without it, one made by the first node and kept in the
/// database. The root is the link secret, the SIP nonce secret is derived from it, and the
/// VAPID key is kept in the database sealed with it, made by the first node that needs it.
pub(crate) struct Secrets {
    /// Signs SIP digest nonces (in a cluster a phone may answer a challenge to another node).
    pub(crate) sip: [u8; 32],
    /// Signs conversation links and sessions' CSRF tokens, and seals tenants' credentials
    /// (with the previous root, while one is rotated away from).
    pub(crate) link: ringside_api::http::sealed::LinkSecret,
    /// In a cluster, its id: random, made by the first node and kept in the database, so it
    /// survives a change of the secret root. The NATS subjects are named from it.
    pub(crate) cluster_id: Option<String>,
    /// Web Push's VAPID key.
    pub(crate) vapid: ringside_api::webpush::VapidKey,
}

impl Secrets {
    pub(crate) async fn load(s: &Settings, store: &Store) -> anyhow::Result<Secrets> {
        let root = match (s.cluster.secret_key, &s.cluster.nats_url) {
            (Some(key), _) => key,
            // A cluster formed with no other step: the root is made by the first node (its
            // link secret, when it has one, so what that signed and sealed stays valid) and
            // kept in the database for the others.
            (None, Some(_)) => {
                warn!(
                    "a cluster without RINGSIDE_SECRET_KEY: its secret root is kept in the \
                     database, so a copy of the database reveals tenants' sealed credentials; \
                     give every node the same RINGSIDE_SECRET_KEY to keep it out"
                );
                let local = std::fs::read_to_string(s.data_dir.join("link-secret"))
                    .ok()
                    .filter(|h| secret_key(h).is_some());
                let stored = store
                    .shared_secret("root", || {
                        local.unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>()))
                    })
                    .await
                    .context("reading the cluster's secret root")?;
                secret_key(&stored).context("the stored secret root is not 32 bytes of hex")?
            }
            (None, None) => {
                return Ok(Secrets {
                    sip: load_secret(s, "sip-secret")?,
                    link: load_secret(s, "link-secret")?.into(),
                    vapid: load_vapid(s)?,
                    cluster_id: None,
                })
            }
        };
        use sha2::Digest;
        let sip: [u8; 32] = sha2::Sha256::new()
            .chain_update(b"ringside sip nonce secret\0")
            .chain_update(root)
            .finalize()
            .into();
        let link = ringside_api::http::sealed::LinkSecret::new(root, s.cluster.secret_key_previous);
        let cluster_id = match &s.cluster.nats_url {
            None => None,
            Some(_) => Some(
                store
                    .shared_secret("cluster-id", || hex::encode(rand::random::<[u8; 16]>()))
                    .await
                    .context("reading the cluster's id")?,
            ),
        };
        Ok(Secrets {
            sip,
            vapid: shared_vapid(s, store, &link).await?,
            link,
            cluster_id,
        })
    }
}

/// The cluster's VAPID key: the database's, sealed with the root secret. The first node to
/// need it stores its data directory's `vapid-key` when it has one (a single server moving to
/// a cluster keeps its browsers' subscriptions), or a new one. A stored key the root does not
/// open (the root was changed) is replaced: browsers subscribe again.
async fn shared_vapid(
    s: &Settings,
    store: &Store,
    root: &ringside_api::http::sealed::LinkSecret,
) -> anyhow::Result<ringside_api::webpush::VapidKey> {
    use ringside_api::webpush::VapidKey;
    const NAME: &str = ringside_api::http::sealed::VAPID_KEY_NAME;
    let sealer = root.sealer();
    let parse = |hexed: &str| {
        hex::decode(hexed.trim())
            .ok()
            .and_then(|d| VapidKey::from_pkcs8(&d))
    };
    let sealed_new = || {
        let key = std::fs::read_to_string(s.data_dir.join(NAME))
            .ok()
            .and_then(|h| parse(&h))
            .unwrap_or_else(VapidKey::generate);
        sealer.seal("", NAME, &hex::encode(key.pkcs8()))
    };
    let stored = store
        .shared_secret(NAME, sealed_new)
        .await
        .context("reading the cluster's VAPID key")?;
    // A key this root does not open was sealed under another one: this node's
    // RINGSIDE_SECRET_KEY differs from the others' (replacing the key would break every other
    // node's push), or the root was changed on purpose on every node.
    sealer
        .open("", NAME, &stored)
        .ok()
        .and_then(|h| parse(&h))
        .context(
            "the cluster's VAPID key was sealed with another RINGSIDE_SECRET_KEY: give every \
             node the same one; to change it, give the old one as RINGSIDE_SECRET_KEY_PREVIOUS \
             until `ringside secret reseal` has run; if the old one is lost, run `ringside \
             secret reset-vapid-key` once (browsers then subscribe to alerts again)",
        )
}

/// 32 bytes written in hex (64 digits), surrounding blanks ignored.
pub(crate) fn secret_key(hexed: &str) -> Option<[u8; 32]> {
    <[u8; 32]>::try_from(hex::decode(hexed.trim()).ok()?.as_slice()).ok()
}

/// A 32-byte secret kept in the data dir as `name` (hex, mode 0600), made on first use, so
/// what it signs (SIP nonces, conversation links) survives a restart.
fn load_secret(s: &Settings, name: &str) -> anyhow::Result<[u8; 32]> {
    let path = s.data_dir.join(name);
    if let Some(a) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|h| secret_key(&h))
    {
        return Ok(a);
    }
    let secret: [u8; 32] = rand::random();
    write_private(&path, &hex::encode(secret)).with_context(|| format!("writing {name}"))?;
    Ok(secret)
}

/// The server's VAPID key for Web Push (`<data>/vapid-key`, PKCS#8 in hex), made on first
/// start. Browsers' subscriptions are tied to it: a new key means subscribing again.
fn load_vapid(s: &Settings) -> anyhow::Result<ringside_api::webpush::VapidKey> {
    let path = s.data_dir.join("vapid-key");
    if let Ok(hexed) = std::fs::read_to_string(&path) {
        if let Some(k) = hex::decode(hexed.trim())
            .ok()
            .and_then(|der| ringside_api::webpush::VapidKey::from_pkcs8(&der))
        {
            return Ok(k);
        }
        warn!("{} is not a VAPID key: making a new one", path.display());
    }
    let key = ringside_api::webpush::VapidKey::generate();
    write_private(&path, &hex::encode(key.pkcs8())).context("writing vapid-key")?;
    Ok(key)
}

/// Writes `text` to `path`, readable by this user only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    std::io::Write::write_all(&mut opts.open(path)?, text.as_bytes())
}
