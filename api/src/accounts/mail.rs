//! Outgoing mail: sign-in codes and invitations.
//!
//! [`Mailer`] is where mail goes: [`SmtpMailer`] (lettre's SMTP client on reused connections;
//! `smtp://` with STARTTLS when the server offers it, `smtps://` with implicit TLS, `smtp+plain://` without
//! TLS for a local sink) or [`LogMailer`], which writes the message to the log with a warning
//! when no SMTP server is configured, so the embedded default still lets someone sign in.
//!
//! [`MailOutbox`] hands mail over without making the HTTP request wait for the SMTP
//! conversation: each message is sent by its own task, at most [`MAX_SENDING`] at once and
//! [`MAX_QUEUED`] waiting; past that the request is refused (503) rather than memory growing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::time::Instant;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use tokio::sync::Semaphore;

/// Messages being sent at once.
pub const MAX_SENDING: usize = 4;
/// Messages accepted but not yet sent, at most.
pub const MAX_QUEUED: usize = 512;
/// Longest an SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// One plain-text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// Why a message could not be handed over.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The settings are unusable (bad URL, bad from-address).
    #[error("mail settings: {0}")]
    Config(String),
    /// The SMTP server refused or could not be reached.
    #[error("smtp: {0}")]
    Send(String),
}

/// A boxed future, so mailers can be trait objects.
pub type MailFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Where mail goes.
pub trait Mailer: Send + Sync {
    /// Sends one message.
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a>;
    /// Whether messages really leave the server (false: they only reach the log, so the
    /// codes in them are shown to whoever reads the log).
    fn delivers(&self) -> bool;
}

/// No SMTP server: messages are written to the log with a warning.
#[derive(Debug, Default)]
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a> {
        tracing::warn!(
            to = %mail.to,
            subject = %mail.subject,
            "no SMTP server is configured (RINGSIDE_SMTP_URL): this message is written to the \
             log instead of being mailed:\n{}",
            mail.text
        );
        Box::pin(async { Ok(()) })
    }

    fn delivers(&self) -> bool {
        false
    }
}

/// Mail over SMTP, speaking through lettre's SMTP client on connections of our own: each
/// socket has `TCP_NODELAY`, and up to [`MAX_IDLE`] connections are kept open for reuse.
///
/// lettre's pooled transport writes a message's body and its final `.` in two writes; with
/// Nagle's algorithm on, the second waits for the server's delayed ACK of the first (40 ms on
/// Linux, 200 ms elsewhere), which made every code take over 40 ms to hand over (BENCHMARKS.md
/// "Sign-in mail").
pub struct SmtpMailer {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    from: Mailbox,
    hello: ClientId,
    idle: std::sync::Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

/// How the connection is protected.
enum Security {
    /// `smtp+plain://`: no TLS.
    Plain,
    /// `smtp://`: STARTTLS when the server offers it.
    StartTls(TlsParameters),
    /// `smtps://`: TLS from the first byte.
    Implicit(Arc<rustls::ClientConfig>),
}

/// Idle connections kept for reuse.
pub const MAX_IDLE: usize = MAX_SENDING;
/// An idle connection older than this is closed rather than reused (servers drop idle clients
/// after a few minutes).
const IDLE_FOR: Duration = Duration::from_secs(60);

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// A TLS stream over TCP, as lettre's client takes streams.
struct TlsTcp(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl std::fmt::Debug for TlsTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTcp")
    }
}

impl tokio::io::AsyncRead for TlsTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

fn send_err(e: impl std::fmt::Display) -> MailError {
    MailError::Send(e.to_string())
}

impl SmtpMailer {
    /// A mailer for `url` (see the module docs) sending as `from` (`Name <addr>` or `addr`),
    /// trusting the usual public roots for the server's certificate.
    pub fn new(url: &str, from: &str) -> Result<SmtpMailer, MailError> {
        Self::with_roots(url, from, None)
    }

    /// [`SmtpMailer::new`], also trusting the PEM certificates in `extra_roots` (a server with
    /// a certificate of a private CA).
    pub fn with_roots(
        url: &str,
        from: &str,
        extra_roots: Option<&[u8]>,
    ) -> Result<SmtpMailer, MailError> {
        let extra: Vec<rustls::pki_types::CertificateDer<'static>> = match extra_roots {
            None => Vec::new(),
            Some(pem) => {
                use rustls::pki_types::pem::PemObject;
                let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| MailError::Config(format!("SMTP CA file: {e}")))?;
                if certs.is_empty() {
                    return Err(MailError::Config(
                        "SMTP CA file: no PEM certificate in it".into(),
                    ));
                }
                certs
            }
        };
        let from: Mailbox = from
            .parse()
            .map_err(|e| MailError::Config(format!("from-address {from:?}: {e}")))?;
        let u = url::Url::parse(url).map_err(|e| MailError::Config(format!("SMTP URL: {e}")))?;
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| MailError::Config("SMTP URL: no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let (port, security) = match u.scheme() {
            "smtp" => {
                let mut b = TlsParameters::builder(host.clone());
                for der in &extra {
                    b = b.add_root_certificate(
                        lettre::transport::smtp::client::Certificate::from_der(der.to_vec())
                            .map_err(|e| MailError::Config(e.to_string()))?,
                    );
                }
                let params = b
                    .build_rustls()
                    .map_err(|e| MailError::Config(e.to_string()))?;
                (587, Security::StartTls(params))
            }
            "smtps" => {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                for der in extra.iter().cloned() {
                    roots
                        .add(der)
                        .map_err(|e| MailError::Config(format!("SMTP CA file: {e}")))?;
                }
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| MailError::Config(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
                (465, Security::Implicit(Arc::new(config)))
            }
            "smtp+plain" => (25, Security::Plain),
            other => {
                return Err(MailError::Config(format!(
                    "SMTP URL scheme {other:?}: use smtp://, smtps:// or smtp+plain://"
                )))
            }
        };
        let credentials = if u.username().is_empty() {
            None
        } else {
            let decode = |s: &str| {
                percent_decode(s).ok_or_else(|| MailError::Config("SMTP URL: bad escape".into()))
            };
            Some(Credentials::new(
                decode(u.username())?,
                decode(u.password().unwrap_or(""))?,
            ))
        };
        Ok(SmtpMailer {
            port: u.port().unwrap_or(port),
            host,
            security,
            credentials,
            from,
            hello: ClientId::default(),
            idle: Default::default(),
        })
    }

    /// Checks `url`, `from` and the extra roots as [`SmtpMailer::with_roots`] would (for
    /// configuration checks at start).
    pub fn check(url: &str, from: &str, extra_roots: Option<&[u8]>) -> Result<(), MailError> {
        Self::with_roots(url, from, extra_roots).map(|_| ())
    }

    /// A new connection: TCP with `TCP_NODELAY`, TLS as configured, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, MailError> {
        let tcp = tokio::time::timeout(
            SMTP_TIMEOUT,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| MailError::Send("connecting timed out".into()))?
        .map_err(send_err)?;
        tcp.set_nodelay(true).map_err(send_err)?;
        let mut conn = match &self.security {
            Security::Plain => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(send_err)?
            }
            Security::StartTls(params) => {
                let mut c = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(send_err)?;
                if c.can_starttls() {
                    c.starttls(params.clone(), &self.hello)
                        .await
                        .map_err(send_err)?;
                } else if self.credentials.is_some() {
                    // Opportunistic TLS must not become a way to read the password: an
                    // attacker on the path can strip the STARTTLS offer.
                    return Err(MailError::Send(
                        "the server offers no STARTTLS: not sending the SMTP password in the \
                         clear (use smtps://, or smtp+plain:// for a trusted local relay)"
                            .into(),
                    ));
                }
                c
            }
            Security::Implicit(config) => {
                let name =
                    rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(send_err)?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(send_err)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(TlsTcp(tls)), &self.hello)
                    .await
                    .map_err(send_err)?
            }
        };
        if let Some(creds) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
                .await
                .map_err(send_err)?;
        }
        Ok(conn)
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && !conn.has_broken() {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE && !conn.has_broken() {
            idle.push((conn, Instant::now()));
        }
    }
}

/// `%XX` escapes of a URL's user or password.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a> {
        Box::pin(async move {
            let to: Mailbox = mail
                .to
                .parse()
                .map_err(|e| MailError::Send(format!("recipient: {e}")))?;
            // A Message-ID of the sender's domain (lettre adds the Date; relays do not all
            // add a Message-ID, and mail without one looks like spam).
            let id = format!(
                "<{}@{}>",
                hex::encode(rand::random::<[u8; 16]>()),
                self.from.email.domain()
            );
            let msg = Message::builder()
                .from(self.from.clone())
                .to(to)
                .message_id(Some(id))
                .subject(mail.subject.clone())
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(mail.text.clone())
                .map_err(send_err)?;
            let (envelope, bytes) = (msg.envelope().clone(), msg.formatted());
            let send = |mut conn: AsyncSmtpConnection| {
                let (envelope, bytes) = (&envelope, &bytes);
                async move {
                    let r = tokio::time::timeout(SMTP_TIMEOUT, conn.send(envelope, bytes)).await;
                    match r {
                        Ok(Ok(_)) => Ok(conn),
                        Ok(Err(e)) => Err(send_err(e)),
                        Err(_) => Err(MailError::Send("sending timed out".into())),
                    }
                }
            };
            // A reused connection the server has closed meanwhile fails at once: try once more
            // on a new one.
            if let Some(conn) = self.take_idle() {
                if let Ok(conn) = send(conn).await {
                    self.put_idle(conn);
                    return Ok(());
                }
            }
            let conn = self.connect().await?;
            let conn = send(conn).await?;
            self.put_idle(conn);
            Ok(())
        })
    }

    fn delivers(&self) -> bool {
        true
    }
}

/// Counters of the outbox, for `/metrics`.
#[derive(Debug, Default)]
pub struct MailStats {
    /// Messages handed to the mailer successfully.
    pub sent: AtomicU64,
    /// Messages the mailer failed to send.
    pub failed: AtomicU64,
    /// Messages refused because the queue was full.
    pub refused: AtomicU64,
}

/// Sends mail in the background (see the module docs).
pub struct MailOutbox {
    mailer: Arc<dyn Mailer>,
    queued: Arc<Semaphore>,
    sending: Arc<Semaphore>,
    /// Outcome counters.
    pub stats: Arc<MailStats>,
}

impl std::fmt::Debug for MailOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailOutbox")
            .field("delivers", &self.mailer.delivers())
            .finish_non_exhaustive()
    }
}

/// The queue is full: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

impl MailOutbox {
    /// An outbox sending through `mailer`.
    pub fn new(mailer: Arc<dyn Mailer>) -> MailOutbox {
        MailOutbox {
            mailer,
            queued: Arc::new(Semaphore::new(MAX_QUEUED)),
            sending: Arc::new(Semaphore::new(MAX_SENDING)),
            stats: Default::default(),
        }
    }

    /// The mailer it sends through (alert emails go through the same one).
    pub fn mailer(&self) -> Arc<dyn Mailer> {
        self.mailer.clone()
    }

    /// Whether mail really leaves the server.
    pub fn delivers(&self) -> bool {
        self.mailer.delivers()
    }

    /// Accepts `mail` for sending by a background task (needs a Tokio runtime).
    pub fn enqueue(&self, mail: Mail) -> Result<(), QueueFull> {
        let Ok(slot) = self.queued.clone().try_acquire_owned() else {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(QueueFull);
        };
        let (mailer, sending, stats) = (
            self.mailer.clone(),
            self.sending.clone(),
            self.stats.clone(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            let Ok(_permit) = sending.acquire().await else {
                return;
            };
            match mailer.send(&mail).await {
                Ok(()) => {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(to = %mail.to, error = %e, "mail not sent");
                }
            }
        });
        Ok(())
    }
}

impl Default for MailOutbox {
    fn default() -> Self {
        MailOutbox::new(Arc::new(LogMailer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let from = "Ringside <no-reply@example.com>";
        for ok in [
            "smtp://user:p%40ss@mail.example.com:2525",
            "smtps://mail.example.com",
            "smtp+plain://127.0.0.1:2525",
            "smtp+plain://[::1]:25",
        ] {
            SmtpMailer::check(ok, from, None).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["http://mail.example.com", "smtp://", "not a url"] {
            assert!(SmtpMailer::check(bad, from, None).is_err(), "{bad}");
        }
        assert!(SmtpMailer::check("smtp://mail.example.com", "not an address", None).is_err());
        let e = SmtpMailer::check("smtps://mail.example.com", from, Some(b"not pem")).unwrap_err();
        assert!(e.to_string().contains("CA file"), "{e}");
        assert_eq!(percent_decode("p%40ss").as_deref(), Some("p@ss"));
        assert_eq!(percent_decode("bad%4"), None);
    }
}
