//! Outgoing mail: sign-in codes and invitations.
//!
//! [`Mailer`] is where mail goes: [`SmtpMailer`] (lettre, pooled connections; `smtp://` with
//! STARTTLS when the server offers it, `smtps://` with implicit TLS, `smtp+plain://` without
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

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
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

/// Mail over SMTP with lettre's pooled async transport.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `url` (see the module docs) sending as `from` (`Name <addr>` or `addr`).
    /// Needs a Tokio runtime (the connection pool has a task of its own).
    pub fn new(url: &str, from: &str) -> Result<SmtpMailer, MailError> {
        let (b, from) = Self::builder(url, from)?;
        Ok(SmtpMailer {
            transport: b.build(),
            from,
        })
    }

    /// Checks `url` and `from` as [`SmtpMailer::new`] would, without a runtime (for
    /// configuration checks at start).
    pub fn check(url: &str, from: &str) -> Result<(), MailError> {
        Self::builder(url, from).map(|_| ())
    }

    fn builder(
        url: &str,
        from: &str,
    ) -> Result<(lettre::transport::smtp::AsyncSmtpTransportBuilder, Mailbox), MailError> {
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
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|e| MailError::Config(e.to_string()))
        };
        let (port, tls) = match u.scheme() {
            "smtp" => (587, Tls::Opportunistic(tls(&host)?)),
            "smtps" => (465, Tls::Wrapper(tls(&host)?)),
            "smtp+plain" => (25, Tls::None),
            other => {
                return Err(MailError::Config(format!(
                    "SMTP URL scheme {other:?}: use smtp://, smtps:// or smtp+plain://"
                )))
            }
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(u.port().unwrap_or(port))
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if !u.username().is_empty() {
            let decode = |s: &str| {
                percent_decode(s).ok_or_else(|| MailError::Config("SMTP URL: bad escape".into()))
            };
            let user = decode(u.username())?;
            let pass = decode(u.password().unwrap_or(""))?;
            b = b.credentials(Credentials::new(user, pass));
        }
        Ok((b, from))
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
            let msg = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(mail.text.clone())
                .map_err(|e| MailError::Send(e.to_string()))?;
            self.transport
                .send(msg)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Send(e.to_string()))
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

    #[tokio::test]
    async fn a_mailer_builds_in_a_runtime() {
        SmtpMailer::new("smtp+plain://127.0.0.1:2525", "a@example.com").unwrap();
    }

    #[test]
    fn smtp_urls() {
        let from = "Ringside <no-reply@example.com>";
        for ok in [
            "smtp://user:p%40ss@mail.example.com:2525",
            "smtps://mail.example.com",
            "smtp+plain://127.0.0.1:2525",
            "smtp+plain://[::1]:25",
        ] {
            SmtpMailer::check(ok, from).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["http://mail.example.com", "smtp://", "not a url"] {
            assert!(SmtpMailer::check(bad, from).is_err(), "{bad}");
        }
        assert!(SmtpMailer::check("smtp://mail.example.com", "not an address").is_err());
        assert_eq!(percent_decode("p%40ss").as_deref(), Some("p@ss"));
        assert_eq!(percent_decode("bad%4"), None);
    }
}
