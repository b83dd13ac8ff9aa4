//! PEM texts of TLS certificates and keys, as an operator pastes them into a trunk (its pinned
//! CA, its client certificate and key) or as the server's certificate files hold them. The
//! admin API checks them with these functions before storing, and the SIP transport reads them
//! with the same ones, so what was accepted is what is used.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a PEM text was refused; the text says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// No `CERTIFICATE` block could be read.
    #[error("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    /// A block between the markers is not valid base64 or the markers do not match.
    #[error("the PEM text is damaged: {0}")]
    Damaged(String),
    /// No private key (PKCS#8, PKCS#1 or SEC1) could be read.
    #[error("no PEM private key found (expected -----BEGIN PRIVATE KEY-----)")]
    NoKey,
}

impl PemError {
    /// A fixed description, for an API error body.
    pub fn reason(&self) -> &'static str {
        match self {
            PemError::NoCertificate => {
                "no PEM certificate found (expected -----BEGIN CERTIFICATE-----)"
            }
            PemError::Damaged(_) => "the PEM text is damaged (bad base64 or unmatched markers)",
            PemError::NoKey => "no PEM private key found (expected -----BEGIN PRIVATE KEY-----)",
        }
    }
}

/// Every certificate in `pem`, in order (a chain: the leaf first). At least one.
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::Damaged(e.to_string()))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate);
    }
    Ok(certs)
}

/// The first private key in `pem`.
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => PemError::NoKey,
        e => PemError::Damaged(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_and_keys_are_read_and_garbage_is_named() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert_pem = made.cert.pem();
        let key_pem = made.signing_key.serialize_pem();
        assert_eq!(certificates(cert_pem.as_bytes()).unwrap().len(), 1);
        let two = format!("{cert_pem}{cert_pem}");
        assert_eq!(certificates(two.as_bytes()).unwrap().len(), 2);
        assert_eq!(
            certificates(b"hello"),
            Err(PemError::NoCertificate),
            "not PEM at all"
        );
        let damaged = cert_pem.replacen("MII", "M!I", 1);
        assert!(matches!(
            certificates(damaged.as_bytes()),
            Err(PemError::Damaged(_))
        ));
        // A certificate is not a key.
        assert_eq!(private_key(cert_pem.as_bytes()), Err(PemError::NoKey));
        assert!(private_key(key_pem.as_bytes()).is_ok());
    }
}
