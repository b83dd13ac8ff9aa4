//! Mail on loopback: an SMTP server that keeps what it takes ([`SmtpSink`]), and signing in
//! through the pages with a mailed code ([`sign_in_by_form`]).

use super::*;

/// An SMTP server on loopback (`tests/smtp_sink.py`, Python's aiosmtpd) keeping each message
/// as a file named by the nanosecond it arrived.
pub struct SmtpSink {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where the messages are.
    pub dir: PathBuf,
}

/// One message an [`SmtpSink`] took.
#[derive(Debug, Clone)]
pub struct Received {
    /// When its DATA ended, unix ns.
    pub at_ns: u128,
    /// The header block.
    pub headers: String,
    /// The body, transfer encoding undone (quoted-printable is the one lettre may use).
    pub body: String,
}

impl Received {
    /// A header's value (first one, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let unfolded = self.headers.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

impl SmtpSink {
    /// Starts the sink on a free port (aiosmtpd must be installed: tests/run.sh does).
    pub async fn start() -> SmtpSink {
        Self::start_on(free_port()).await
    }

    /// Starts the sink on `port`.
    pub async fn start_on(port: u16) -> SmtpSink {
        Self::spawn(port, &[]).await
    }

    /// Starts the sink speaking TLS with `cert` and `key` (PEM files): `implicit` from the
    /// first byte (smtps), else after STARTTLS, which it then requires.
    pub async fn start_tls(cert: &Path, key: &Path, implicit: bool) -> SmtpSink {
        let mode = if implicit { "--implicit" } else { "--starttls" };
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        Self::spawn(free_port(), &[mode, &cert, &key]).await
    }

    async fn spawn(port: u16, extra: &[&str]) -> SmtpSink {
        let dir = std::env::temp_dir().join(format!(
            "ringside-mail-{}-{port}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let mut child = Command::new("python3")
            .arg(workspace_root().join("tests/smtp_sink.py"))
            .arg(port.to_string())
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 tests/smtp_sink.py");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("sink stdout"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).expect("sink says ready");
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP sink did not start (pip install aiosmtpd)"
        );
        SmtpSink { child, port, dir }
    }

    /// Every message so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        let mut files: Vec<(u128, PathBuf)> = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let ns = name.strip_suffix(".eml")?.parse().ok()?;
                        Some((ns, e.path()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|(at_ns, p)| {
                let raw = std::fs::read_to_string(p).ok()?;
                let (headers, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
                let mut m = Received {
                    at_ns,
                    headers: headers.to_owned(),
                    body: body.to_owned(),
                };
                if m.header("Content-Transfer-Encoding")
                    .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"))
                {
                    m.body = decode_quoted_printable(&m.body);
                }
                Some(m)
            })
            .collect()
    }

    /// The `n`th message (from 1) to `to` whose subject contains `about`, waiting up to 20 s.
    pub async fn nth(&self, to: &str, about: &str, n: usize) -> Received {
        for _ in 0..200 {
            let found: Vec<Received> = self
                .messages()
                .into_iter()
                .filter(|m| {
                    m.header("To").is_some_and(|t| t.contains(to))
                        && m.header("Subject").is_some_and(|s| s.contains(about))
                })
                .collect();
            if let Some(m) = found.get(n - 1) {
                return m.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no message #{n} to {to} about {about:?} in {}",
            self.dir.display()
        );
    }

    /// How many sign-in codes went to `to`.
    pub fn codes_sent(&self, to: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| {
                m.header("To").is_some_and(|t| t.contains(to))
                    && m.header("Subject")
                        .is_some_and(|s| s.contains("sign-in code"))
            })
            .count()
    }

    /// The code of the `n`th sign-in mail to `to`.
    pub async fn code(&self, to: &str, n: usize) -> String {
        let m = self.nth(to, "sign-in code", n).await;
        let subject = m.header("Subject").unwrap_or_default();
        let code: String = subject
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        assert_eq!(code.len(), 6, "{subject}");
        assert!(
            m.body.contains(&code),
            "the body repeats the code: {}",
            m.body
        );
        code
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Undoes quoted-printable: soft line breaks and `=XX` escapes.
fn decode_quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Signs `email` in through the sign-in form on the page `p` shows, with the `n`th code mailed
/// to it (screenshot `shot` of the code form under `target/screenshots/<dir>/`); waits for the
/// home page.
pub async fn sign_in_by_form(
    p: &mut browser::Page,
    dir: &str,
    mail: &SmtpSink,
    email: &str,
    n: usize,
    shot: &str,
) {
    p.wait_true(
        "document.readyState === 'complete' && !!document.getElementById('email')",
        "the sign-in form",
    )
    .await;
    if p.eval("document.getElementById('email').readOnly").await != serde_json::json!(true) {
        p.fill("email", email).await;
    }
    p.click("#email-form button[type=submit]").await;
    p.wait_true(
        "!document.getElementById('code-form').hidden",
        "the code form opens",
    )
    .await;
    p.look(dir, shot).await;
    let code = mail.code(email, n).await;
    p.fill("code", &code).await;
    p.click("#code-form button[type=submit]").await;
    p.wait_true(
        "location.pathname === '/' && document.querySelector('h1') && \
         document.querySelector('h1').textContent === 'Home'",
        "signed in, home page",
    )
    .await;
}
