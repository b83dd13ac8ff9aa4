//! Digest header syntax: the `auth-param` tokenizer shared by challenges and
//! credentials, building challenges (`WWW-Authenticate` /
//! `Proxy-Authenticate`), parsing credentials (`Authorization` /
//! `Proxy-Authorization`) and the UAC answer to a challenge.
//!
//! The tokenizer follows RFC 3261 §25.1 / RFC 7616 §3.4: `name=token` or
//! `name="quoted string"` separated by commas, with backslash escapes in
//! quoted strings, commas inside quotes treated as data, linear whitespace
//! (including folded lines) between elements and empty list elements skipped.
//! It works on bytes and slices only at ASCII delimiters, so it never panics.

use super::{compute_response, ha1, Algorithm, AuthError};

/// Quotes a value as an RFC 3261 `quoted-string`, escaping `"` and `\`.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Builds the `WWW-Authenticate` / `Proxy-Authenticate` header values for a
/// challenge: one with `algorithm=SHA-256` followed by one with
/// `algorithm=MD5`, both offering `qop="auth"`, with `stale=true` appended when
/// re-challenging an expired nonce.
pub fn challenge_headers(realm: &str, nonce: &str, stale: bool) -> Vec<String> {
    [Algorithm::Sha256, Algorithm::Md5]
        .into_iter()
        .map(|alg| {
            let mut v = format!(
                "Digest realm={}, nonce={}, algorithm={}, qop=\"auth\"",
                quote(realm),
                quote(nonce),
                alg.name()
            );
            if stale {
                v.push_str(", stale=true");
            }
            v
        })
        .collect()
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Splits `Digest k=v, k2="v2"` into lowercase names and unescaped values.
///
/// Accepts quoted strings with backslash escapes (commas inside quotes are
/// data), unquoted values up to the next comma or whitespace, empty list
/// elements and line folding.
fn parse_params(value: &str) -> Result<Vec<(String, String)>, AuthError> {
    let value = value.trim_start();
    let scheme_end = value
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(value.len());
    let (scheme, s) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(AuthError::NotDigest);
    }
    let b = s.as_bytes();
    let malformed = |position| AuthError::Malformed { position };
    let mut out: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        let start = i;
        while i < b.len() && is_token_char(b[i]) {
            i += 1;
        }
        if i == start {
            return Err(malformed(i));
        }
        let name = s[start..i].to_ascii_lowercase();
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'=') {
            return Err(malformed(i));
        }
        i = skip_ws(b, i + 1);
        let val = if b.get(i) == Some(&b'"') {
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(malformed(i)),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => match b.get(i + 1) {
                        Some(&c) => {
                            v.push(c);
                            i += 2;
                        }
                        None => return Err(malformed(i)),
                    },
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            // Only ASCII backslashes were removed, so this is still UTF-8.
            String::from_utf8(v).map_err(|_| malformed(i))?
        } else {
            let vstart = i;
            while i < b.len() && b[i] != b',' && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i == vstart {
                return Err(malformed(i));
            }
            s[vstart..i].to_string()
        };
        i = skip_ws(b, i);
        if i < b.len() && b[i] != b',' {
            return Err(malformed(i));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(AuthError::DuplicateParam(name));
        }
        out.push((name, val));
    }
}

fn take(params: &mut Vec<(String, String)>, name: &str) -> Option<String> {
    let idx = params.iter().position(|(n, _)| n == name)?;
    Some(params.swap_remove(idx).1)
}

fn require(params: &mut Vec<(String, String)>, name: &'static str) -> Result<String, AuthError> {
    take(params, name).ok_or(AuthError::MissingParam(name))
}

fn parse_algorithm(value: Option<String>) -> Result<Algorithm, AuthError> {
    match value {
        None => Ok(Algorithm::Md5),
        Some(v) => Algorithm::from_name(&v).ok_or(AuthError::UnsupportedAlgorithm(v)),
    }
}

/// Digest credentials parsed from an `Authorization` / `Proxy-Authorization`
/// header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `username` (unescaped).
    pub username: String,
    /// `realm` the credentials are for.
    pub realm: String,
    /// The server nonce being answered.
    pub nonce: String,
    /// `uri` — the digest-uri, which should match the Request-URI.
    pub uri: String,
    /// `response` — the hex digest computed by the client.
    pub response: String,
    /// Hash algorithm (MD5 when the parameter is absent).
    pub algorithm: Algorithm,
    /// `qop`; when present it is always `"auth"`.
    pub qop: Option<String>,
    /// `nc` (8 hex digits); present iff `qop` is.
    pub nc: Option<String>,
    /// `cnonce`; present iff `qop` is.
    pub cnonce: Option<String>,
    /// `opaque`, echoed from the challenge if it had one.
    pub opaque: Option<String>,
}

/// Parses an `Authorization` / `Proxy-Authorization` header value.
///
/// Never panics; unknown parameters are ignored.
pub fn parse_authorization(value: &str) -> Result<Credentials, AuthError> {
    let mut p = parse_params(value)?;
    let username = require(&mut p, "username")?;
    let realm = require(&mut p, "realm")?;
    let nonce = require(&mut p, "nonce")?;
    let uri = require(&mut p, "uri")?;
    let response = require(&mut p, "response")?;
    let algorithm = parse_algorithm(take(&mut p, "algorithm"))?;
    let opaque = take(&mut p, "opaque");
    let (qop, nc, cnonce) = match take(&mut p, "qop") {
        None => (None, None, None),
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            let nc = require(&mut p, "nc")?;
            if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AuthError::InvalidNonceCount);
            }
            let cnonce = require(&mut p, "cnonce")?;
            (Some("auth".to_string()), Some(nc), Some(cnonce))
        }
        Some(q) => return Err(AuthError::UnsupportedQop(q)),
    };
    Ok(Credentials {
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        qop,
        nc,
        cnonce,
        opaque,
    })
}

/// A parsed `WWW-Authenticate` / `Proxy-Authenticate` digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm` of the protection space.
    pub realm: String,
    /// Server nonce to answer.
    pub nonce: String,
    /// Requested algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// Whether `qop` was offered (and includes `auth`); if false the legacy
    /// RFC 2069 response is used.
    pub qop_auth: bool,
    /// `opaque`, to be echoed back.
    pub opaque: Option<String>,
    /// `stale=true`: the previous credentials were right but the nonce expired.
    pub stale: bool,
}

/// Parses a `WWW-Authenticate` / `Proxy-Authenticate` header value.
pub fn parse_challenge(value: &str) -> Result<Challenge, AuthError> {
    let mut p = parse_params(value)?;
    let realm = require(&mut p, "realm")?;
    let nonce = require(&mut p, "nonce")?;
    let algorithm = parse_algorithm(take(&mut p, "algorithm"))?;
    let qop_auth = match take(&mut p, "qop") {
        None => false,
        Some(q) => {
            if q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")) {
                true
            } else {
                return Err(AuthError::UnsupportedQop(q));
            }
        }
    };
    let stale = take(&mut p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true"));
    Ok(Challenge {
        realm,
        nonce,
        algorithm,
        qop_auth,
        opaque: take(&mut p, "opaque"),
        stale,
    })
}

/// Picks the strongest supported challenge among several header values
/// (SHA-256 over MD5, first one wins on ties); unparsable ones are skipped.
pub fn pick_challenge<'a, I>(values: I) -> Option<Challenge>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<Challenge> = None;
    for c in values.into_iter().filter_map(|v| parse_challenge(v).ok()) {
        let better = match &best {
            None => true,
            Some(b) => b.algorithm == Algorithm::Md5 && c.algorithm == Algorithm::Sha256,
        };
        if better {
            best = Some(c);
        }
    }
    best
}

/// A fresh random client nonce (16 random bytes, hex) for
/// [`client_authorization`].
pub fn random_cnonce() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// UAC side: answers a challenge value with an `Authorization` /
/// `Proxy-Authorization` header value, using the challenge's algorithm and
/// `qop=auth` when offered. `nc` is the nonce count for this nonce (1 for the
/// first request), `cnonce` a client nonce (see [`random_cnonce`]).
pub fn client_authorization(
    challenge_value: &str,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    nc: u32,
    cnonce: &str,
) -> Result<String, AuthError> {
    let ch = parse_challenge(challenge_value)?;
    let alg = ch.algorithm;
    let h1 = ha1(alg, username, &ch.realm, password);
    let nc_hex = format!("{nc:08x}");
    let qop = ch.qop_auth.then_some((nc_hex.as_str(), cnonce, "auth"));
    let response = compute_response(alg, &h1, &ch.nonce, method, uri, qop);
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
        quote(username),
        quote(&ch.realm),
        quote(&ch.nonce),
        quote(uri),
        quote(&response),
        alg.name()
    );
    if ch.qop_auth {
        out.push_str(&format!(
            ", qop=auth, nc={nc_hex}, cnonce={}",
            quote(cnonce)
        ));
    }
    if let Some(opaque) = &ch.opaque {
        out.push_str(&format!(", opaque={}", quote(opaque)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_handles_escapes_and_commas() {
        let p = parse_params(r#"Digest a="x,\"y\"\\", ,b=tok , c = "" "#).unwrap();
        assert_eq!(
            p,
            vec![
                ("a".into(), r#"x,"y"\"#.into()),
                ("b".into(), "tok".into()),
                ("c".into(), String::new())
            ]
        );
        assert_eq!(quote(r#"x,"y"\"#), r#""x,\"y\"\\""#);
        assert!(matches!(
            parse_params(r#"Digest a="open"#),
            Err(AuthError::Malformed { .. })
        ));
        assert_eq!(parse_params("Basic abc"), Err(AuthError::NotDigest));
        assert_eq!(parse_params("Digest"), Ok(vec![]));
        assert_eq!(
            parse_params("digest\r\n  a=1,\r\n b=\"2\""),
            Ok(vec![("a".into(), "1".into()), ("b".into(), "2".into())])
        );
        assert!(matches!(
            parse_params("Digest =x"),
            Err(AuthError::Malformed { position: 1 })
        ));
        assert!(matches!(
            parse_params("Digest a=\"x\\"),
            Err(AuthError::Malformed { .. })
        ));
        assert!(matches!(
            parse_params("Digest a=\"x\"y"),
            Err(AuthError::Malformed { .. })
        ));
        assert_eq!(
            parse_params("Digest a=\"\u{e9}\\\u{e9}\""),
            Ok(vec![("a".into(), "\u{e9}\u{e9}".into())])
        );
    }
}
