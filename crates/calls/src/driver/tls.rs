//! SIP over TLS (RFC 3261 §26.2.1, RFC 5922): the server certificate Ringside presents, read
//! from PEM files and read again when they change (a renewed certificate needs no restart),
//! and the client settings of connections Ringside opens — the system's roots by default, or
//! a trunk's own pinned CA and client certificate, found by the peer's
//! [`tls_profile`](ringside_sip::transaction::Peer::tls_profile).
//!
//! The server name a connection is opened to and verified against is the host of the
//! request's Request-URI (RFC 5922 §7.2: the domain the request was routed by), which for a
//! trunk is its outbound host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tracing::{info, warn};

use ringside_domain::tls_pem::{certificates, private_key};
use ringside_storage::Trunk;

use crate::directory::tls_profile_of;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server certificate and key from two PEM files, re-read when either file changes.
#[derive(Debug)]
pub struct ServerCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Modification times of the files as last loaded.
    stamp: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Read a certificate chain and its key into what rustls serves.
fn certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let chain =
        certificates(&read(cert_path)?).map_err(|e| format!("{}: {e}", cert_path.display()))?;
    let key = private_key(&read(key_path)?).map_err(|e| format!("{}: {e}", key_path.display()))?;
    let key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    let ck = CertifiedKey::new(chain, key);
    ck.keys_match().map_err(|e| {
        format!(
            "{} does not belong to the certificate: {e}",
            key_path.display()
        )
    })?;
    Ok(ck)
}

impl ServerCert {
    /// Load the certificate chain and key (an error names the file and what is wrong).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerCert>, String> {
        let stamp = (modified(cert_path), modified(key_path));
        let ck = certified_key(cert_path, key_path)?;
        Ok(Arc::new(ServerCert {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: RwLock::new(Arc::new(ck)),
            stamp: Mutex::new(stamp),
        }))
    }

    /// Read the files again if either changed since the last load: new connections get the
    /// new certificate. A pair that does not load (half written, key of another certificate)
    /// is logged and the certificate in use stays. True when a new one was taken.
    pub fn reload_if_changed(&self) -> bool {
        let now = (modified(&self.cert_path), modified(&self.key_path));
        let mut stamp = self.stamp.lock().unwrap_or_else(|p| p.into_inner());
        if *stamp == now {
            return false;
        }
        match certified_key(&self.cert_path, &self.key_path) {
            Ok(ck) => {
                *stamp = now;
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ck);
                info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                // Tried again on the next change (or the next look, if still being written).
                warn!(error = %e, "TLS certificate files changed but do not load; keeping the one in use");
                false
            }
        }
    }

    /// Look at the files every `every` for as long as the process runs.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                // File reads are short; they stay off the core task either way.
                tokio::task::spawn_blocking(move || me.reload_if_changed())
                    .await
                    .ok();
            }
        });
    }

    /// The rustls server configuration serving this certificate (no client certificates
    /// asked for: phones and trunks authenticate with digest or their address).
    pub fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Arc::new(cfg)
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The system's trusted roots (read once; an unreadable store leaves it empty, logged).
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                warn!(error = %e, "reading the system's TLS roots");
            }
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                warn!("no system TLS roots found: SIP over TLS to a trunk without its own CA will fail");
            }
            Arc::new(roots)
        })
        .clone()
}

fn client_config(
    roots: Arc<RootCertStore>,
    identity: Option<(&str, &str)>,
) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let cfg = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain =
                certificates(cert.as_bytes()).map_err(|e| format!("client certificate: {e}"))?;
            let key = private_key(key.as_bytes()).map_err(|e| format!("client key: {e}"))?;
            let signer = provider()
                .key_provider
                .load_private_key(key.clone_key())
                .map_err(|e| format!("client key: {e}"))?;
            CertifiedKey::new(chain.clone(), signer)
                .keys_match()
                .map_err(|e| format!("the client key does not belong to the certificate: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate and key: {e}"))?
        }
    };
    Ok(Arc::new(cfg))
}

/// A trunk's client settings: its CA (or the system's roots) and its client certificate.
fn trunk_config(t: &Trunk) -> Result<Arc<ClientConfig>, String> {
    let roots = match &t.tls_ca_pem {
        None => system_roots(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for c in certificates(pem.as_bytes()).map_err(|e| format!("CA: {e}"))? {
                roots.add(c).map_err(|e| format!("CA certificate: {e}"))?;
            }
            Arc::new(roots)
        }
    };
    let identity = t
        .tls_client_cert_pem
        .as_deref()
        .zip(t.tls_client_key_pem.as_deref());
    client_config(roots, identity)
}

/// Client settings by TLS profile: 0 is the default (system roots, no client certificate),
/// the others are trunks' own, kept current with the directory.
#[derive(Debug, Default)]
pub struct TlsClients {
    profiles: RwLock<Profiles>,
    default: OnceLock<Result<Arc<ClientConfig>, String>>,
}

/// Trunks' own client settings by profile number, and each trunk's current number.
#[derive(Debug, Default)]
struct Profiles {
    by_profile: HashMap<u64, Result<Arc<ClientConfig>, String>>,
    by_trunk: HashMap<String, u64>,
}

impl TlsClients {
    /// A trunk was created or changed: its own settings, if it has any, replace the old.
    pub fn trunk_upserted(&self, t: &Trunk) {
        let mut p = self.profiles.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = p.by_trunk.remove(&t.id) {
            p.by_profile.remove(&old);
        }
        let profile = tls_profile_of(t);
        if profile != 0 {
            let cfg = trunk_config(t);
            if let Err(e) = &cfg {
                warn!(trunk = %t.id, error = %e, "the trunk's TLS settings do not load; its TLS connections will be refused");
            }
            p.by_profile.insert(profile, cfg);
            p.by_trunk.insert(t.id.clone(), profile);
        }
    }

    /// A trunk was deleted.
    pub fn trunk_removed(&self, id: &str) {
        let mut p = self.profiles.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = p.by_trunk.remove(id) {
            p.by_profile.remove(&old);
        }
    }

    /// The settings of `profile`.
    pub fn config(&self, profile: u64) -> Result<Arc<ClientConfig>, String> {
        if profile == 0 {
            return self
                .default
                .get_or_init(|| client_config(system_roots(), None))
                .clone();
        }
        self.profiles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_profile
            .get(&profile)
            .cloned()
            .unwrap_or_else(|| Err("no TLS settings for this trunk any more".into()))
    }
}

/// The name a new TLS connection for the request `data` is verified against: the host of its
/// Request-URI (`None` for a response, which never opens a connection).
pub fn server_name_of(data: &[u8]) -> Option<ServerName<'static>> {
    let host = ringside_sip::hdr::request_uri_host(data)?;
    ServerName::try_from(host.to_owned()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_request_uri_host() {
        let name = |s: &str| server_name_of(s.as_bytes()).map(|n| n.to_str().into_owned());
        assert_eq!(
            name("INVITE sip:+1@sip.carrier.example:5061;transport=tls SIP/2.0\r\n"),
            Some("sip.carrier.example".into())
        );
        assert_eq!(
            name("BYE sip:1002@127.0.0.1 SIP/2.0\r\n"),
            Some("127.0.0.1".into())
        );
        assert_eq!(name("SIP/2.0 200 OK\r\n"), None, "responses open nothing");
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_changed_certificate_is_taken_and_a_broken_one_is_not() {
        let dir = std::env::temp_dir().join(format!("ringside-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = rcgen::generate_simple_self_signed(vec!["first.example".into()]).unwrap();
        let cert = write(&dir, "cert.pem", &first.cert.pem());
        let key = write(&dir, "key.pem", &first.signing_key.serialize_pem());
        let sc = ServerCert::load(&cert, &key).unwrap();
        let served = |sc: &ServerCert| sc.current.read().unwrap().cert[0].clone();
        assert_eq!(served(&sc).as_ref(), first.cert.der().as_ref());
        assert!(!sc.reload_if_changed(), "nothing changed");

        // A half-written pair (new certificate, old key) is refused; the old one stays.
        let second = rcgen::generate_simple_self_signed(vec!["second.example".into()]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        write(&dir, "cert.pem", &second.cert.pem());
        assert!(!sc.reload_if_changed());
        assert_eq!(served(&sc).as_ref(), first.cert.der().as_ref());
        // The key follows: the new pair is served.
        std::thread::sleep(Duration::from_millis(20));
        write(&dir, "key.pem", &second.signing_key.serialize_pem());
        assert!(sc.reload_if_changed());
        assert_eq!(served(&sc).as_ref(), second.cert.der().as_ref());
        // Garbage in the files: refused at load with the file named.
        write(&dir, "key.pem", "not a key");
        let e = ServerCert::load(&cert, &key).unwrap_err();
        assert!(
            e.contains("key.pem") && e.contains("no PEM private key"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_trunk_with_its_own_settings_gets_them_and_a_bad_pair_is_refused() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.example".into()]).unwrap();
        let client = rcgen::generate_simple_self_signed(vec!["client.example".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["other.example".into()]).unwrap();
        let mut t = Trunk {
            id: "t1".into(),
            tenant_id: "a".into(),
            name: "carrier".into(),
            inbound_cidrs: vec![],
            inbound_username: None,
            inbound_realm: None,
            inbound_ha1_md5: None,
            inbound_ha1_sha256: None,
            outbound_host: Some("sip.carrier.example".into()),
            outbound_port: None,
            outbound_transport: Some("tls".into()),
            outbound_username: None,
            outbound_password: None,
            allowed_destinations: None,
            digest_algorithms: vec![],
            srtp: None,
            session_timer_secs: None,
            srtp_passthrough: false,
            tls_ca_pem: Some(ca.cert.pem()),
            tls_client_cert_pem: Some(client.cert.pem()),
            tls_client_key_pem: Some(client.signing_key.serialize_pem()),
            created_at: 0,
            updated_at: 0,
        };
        let clients = TlsClients::default();
        let p = tls_profile_of(&t);
        assert_ne!(p, 0);
        assert!(clients.config(p).is_err(), "unknown trunk");
        clients.trunk_upserted(&t);
        let cfg = clients.config(p).unwrap();
        assert!(cfg.client_auth_cert_resolver.has_certs());
        // The key of another certificate: refused, and said so; a new number, the old gone.
        t.tls_client_key_pem = Some(other.signing_key.serialize_pem());
        clients.trunk_upserted(&t);
        let p2 = tls_profile_of(&t);
        assert_ne!(p2, p, "changed settings, a new connection");
        assert!(clients.config(p).is_err());
        assert!(clients.config(p2).is_err());
        // Back to the defaults: the trunk's own settings go.
        t.tls_ca_pem = None;
        t.tls_client_cert_pem = None;
        t.tls_client_key_pem = None;
        assert_eq!(tls_profile_of(&t), 0);
        clients.trunk_upserted(&t);
        assert!(clients.config(p2).is_err());
        assert!(clients.config(0).is_ok(), "the defaults always build");
    }
}
