//! TLS for the end-to-end tests: a throw-away CA that issues certificates (valid or
//! expired), rustls clients and servers trusting or presenting them, and a Ringside serving
//! SIP over TLS with certificate files it watches.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{free_port, Server};

/// A throw-away certificate authority.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Pki {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        Pki { ca }
    }

    /// Its certificate (PEM), for whoever must trust it.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A certificate for `names` and its key (PEM), valid now or expired since 2021.
    pub fn leaf(&self, names: &[&str], expired: bool) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(names).unwrap();
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client trusting `ca_pem` alone.
pub fn client(ca_pem: &str) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// A server presenting `cert_pem` / `key_pem`.
pub fn acceptor((cert_pem, key_pem): &(String, String)) -> tokio_rustls::TlsAcceptor {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// Ringside serving TLS with `pair` (written to files it watches), and the TLS address.
pub async fn tls_server(pair: &(String, String)) -> (Server, SocketAddr, PathBuf, PathBuf) {
    tls_server_on(pair, "127.0.0.1", &[]).await
}

/// [`tls_server`] with TLS on loopback address `ip` and `extra` environment.
pub async fn tls_server_on(
    pair: &(String, String),
    ip: &str,
    extra: &[(&str, &str)],
) -> (Server, SocketAddr, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "ringside-tls-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &pair.0).unwrap();
    std::fs::write(&key, &pair.1).unwrap();
    let tls = SocketAddr::new(ip.parse().unwrap(), free_port());
    let tls_addr = tls.to_string();
    let mut env = vec![
        ("RINGSIDE_SIP_TLS_ADDR", tls_addr.as_str()),
        ("RINGSIDE_TLS_CERT", cert.to_str().unwrap()),
        ("RINGSIDE_TLS_KEY", key.to_str().unwrap()),
        // A refused connection fails its transaction at once; anything else that is lost
        // fails in 64*T1 = 6.4 s, not 32 s.
        ("RINGSIDE_SIP_TIMER_T1_MS", "100"),
    ];
    env.extend_from_slice(extra);
    let srv = Server::start_with(&env).await;
    (srv, tls, cert, key)
}

/// A server with SIP over TLS (a certificate for `localhost` and `127.0.0.1` from a test CA),
/// its TLS address, the CA's file for phones to trust, and a token with the phones 1001 and
/// 1002.
pub async fn tls_phones() -> (Server, SocketAddr, PathBuf, String) {
    let pki = Pki::new("Ringside test CA");
    let (srv, tls, _, _) = tls_server(&pki.leaf(&["localhost", "127.0.0.1"], false)).await;
    let token = srv.with_phones().await;
    let ca = srv.data_dir.join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    (srv, tls, ca, token)
}
