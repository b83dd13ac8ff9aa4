//! Small helpers shared by the table modules: portable SQL building,
//! parameter binding, JSON list columns and input validation.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::error::{Result, StorageError};

/// The shape of a bearer secret (API tokens, session cookies): a fixed prefix that lets secret
/// scanners spot a leaked one, then `len` random alphanumeric characters.
pub(crate) struct SecretShape {
    pub(crate) prefix: &'static str,
    pub(crate) len: usize,
}

impl SecretShape {
    /// A fresh random secret of this shape.
    pub(crate) fn generate(&self) -> String {
        let random: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(self.len)
            .map(char::from)
            .collect();
        format!("{}{random}", self.prefix)
    }

    /// Cheap syntactic check before touching the database.
    pub(crate) fn matches(&self, s: &str) -> bool {
        s.len() == self.prefix.len() + self.len
            && s.strip_prefix(self.prefix)
                .is_some_and(|r| r.bytes().all(|b| b.is_ascii_alphanumeric()))
    }
}

/// SHA-256 of a secret, lowercase hex: what the tables store instead of the secret.
pub(crate) fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A query on the Any driver, as built by [`sqlx::query`].
pub(crate) type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// One bind parameter of a dynamically built statement.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

impl Param {
    /// Binds this value as the next parameter of `q`.
    pub(crate) fn bind(self, q: AnyQuery<'_>) -> AnyQuery<'_> {
        match self {
            Param::Text(v) => q.bind(v),
            Param::OptText(v) => q.bind(v),
            Param::Int(v) => q.bind(v),
            Param::OptInt(v) => q.bind(v),
        }
    }
}

/// Binds all `params` in order.
pub(crate) fn bind_all(mut q: AnyQuery<'_>, params: Vec<Param>) -> AnyQuery<'_> {
    for p in params {
        q = p.bind(q);
    }
    q
}

/// `($1, $2, ...), (...)` for `rows` rows of `cols` columns, numbering from `$1`.
///
/// With `anonymous` (SQLite) the placeholders are plain `?`, bound in order:
/// SQLite resolves each `$N` name by a linear scan, which makes binding a
/// statement with thousands of numbered parameters quadratic.
pub(crate) fn values_list(rows: usize, cols: usize, anonymous: bool) -> String {
    if anonymous {
        let row = format!("({})", vec!["?"; cols].join(", "));
        return vec![row; rows].join(", ");
    }
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// The placeholders of one statement, handed out in the order they appear in its text: plain
/// `?` when `anonymous` (SQLite, for the reason given at [`values_list`]; every placeholder of
/// the statement must then come from here), else `$1`, `$2`, ...
pub(crate) struct Placeholders {
    anonymous: bool,
    n: usize,
}

impl Placeholders {
    pub(crate) fn new(anonymous: bool) -> Self {
        Placeholders { anonymous, n: 0 }
    }

    /// The next placeholder.
    pub(crate) fn next(&mut self) -> String {
        self.n += 1;
        if self.anonymous {
            "?".to_owned()
        } else {
            format!("${}", self.n)
        }
    }

    /// The next `count`, comma-separated (for `IN (...)`).
    pub(crate) fn list(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| self.next())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The length an `IN (...)` list of `n` values is padded to (the next power of two), so lists
/// of any length make a few statements, each prepared once per connection and then found in
/// its statement cache, rather than one prepared anew for each length.
pub(crate) fn padded_len(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// `values` padded to [`padded_len`] by repeating the last (harmless in `IN (...)`).
pub(crate) fn padded<T: Copy>(values: &[T]) -> Vec<T> {
    let mut v = values.to_vec();
    if let Some(&last) = values.last() {
        v.resize(padded_len(values.len()), last);
    }
    v
}

/// Builder for `UPDATE ... SET a = $1, b = $2` with only the patched columns.
#[derive(Debug, Default)]
pub(crate) struct SetList {
    sets: Vec<String>,
    params: Vec<Param>,
}

impl SetList {
    /// Adds `col = $n`.
    pub(crate) fn set(&mut self, col: &str, value: Param) {
        self.params.push(value);
        self.sets.push(format!("{col} = ${}", self.params.len()));
    }

    /// Finishes `UPDATE {table} SET ... WHERE id = $x AND tenant_id = $y RETURNING {cols}`.
    pub(crate) fn finish_scoped(
        mut self,
        table: &str,
        id: &str,
        tenant_id: &str,
        returning: &str,
    ) -> (String, Vec<Param>) {
        let n = self.params.len();
        let sql = format!(
            "UPDATE {table} SET {} WHERE id = ${} AND tenant_id = ${} RETURNING {returning}",
            self.sets.join(", "),
            n + 1,
            n + 2
        );
        self.params.push(Param::Text(id.to_owned()));
        self.params.push(Param::Text(tenant_id.to_owned()));
        (sql, self.params)
    }
}

/// Encodes a list of strings for a JSON TEXT column.
pub(crate) fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

/// Reads a JSON TEXT column holding a list of strings.
pub(crate) fn json_list(row: &AnyRow, col: &'static str) -> Result<Vec<String>> {
    let raw: String = row.try_get(col)?;
    serde_json::from_str(&raw).map_err(|_| StorageError::Corrupt(col))
}

/// Checks a required text field: trimmed non-empty, at most `max` chars, no control chars.
pub(crate) fn required(value: &str, max: usize, what: &'static str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(StorageError::Invalid(what));
    }
    bounded(v, max, what)
}

/// Checks an optional free-text field: at most `max` chars, no control chars.
pub(crate) fn bounded(value: &str, max: usize, what: &'static str) -> Result<String> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(StorageError::Invalid(what));
    }
    Ok(value.to_owned())
}

/// Checks an optional free-text field: trimmed, empty means none, else as [`bounded`].
pub(crate) fn optional(
    v: Option<String>,
    max: usize,
    what: &'static str,
) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => bounded(s, max, what).map(Some),
    }
}

/// Validates a SIP username: 1..=64 chars of `[A-Za-z0-9._~+-]`.
pub(crate) fn sip_username(value: &str, what: &'static str) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~+-".contains(&b));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(StorageError::Invalid(what))
    }
}

/// The digest algorithms an account may be held to, canonically spelled.
pub const DIGEST_ALGORITHMS: &[&str] = &["SHA-256", "MD5"];

/// Validates a list of digest algorithms (`MD5`, `SHA-256`, any case, no repeats) and returns
/// it as stored: comma-separated in the given order, `None` for an empty list (the server's).
pub(crate) fn digest_algorithms(list: &[String]) -> Result<Option<String>> {
    let mut out: Vec<&str> = Vec::new();
    for a in list {
        let canon = DIGEST_ALGORITHMS
            .iter()
            .find(|c| c.eq_ignore_ascii_case(a.trim()))
            .ok_or(StorageError::Invalid("digest_algorithms: MD5 or SHA-256"))?;
        if out.contains(canon) {
            return Err(StorageError::Invalid("digest_algorithms: repeated"));
        }
        out.push(canon);
    }
    Ok((!out.is_empty()).then(|| out.join(",")))
}

/// A session timer interval (RFC 4028): 90 s to a day, as stored.
pub(crate) fn session_timer(v: Option<u32>) -> Result<Option<i64>> {
    match v {
        Some(s) if !(90..=86_400).contains(&s) => Err(StorageError::Invalid(
            "session_timer_secs must be 90..=86400",
        )),
        v => Ok(v.map(i64::from)),
    }
}

/// A stored session timer interval.
pub(crate) fn session_timer_of(row: &sqlx::any::AnyRow) -> Result<Option<u32>> {
    let v: Option<i64> = sqlx::Row::try_get(row, "session_timer_secs")?;
    v.map(|s| u32::try_from(s).map_err(|_| StorageError::Corrupt("session_timer_secs")))
        .transpose()
}

/// An SRTP policy (`off`, `optional`, `required`, `dtls`, any case) as stored, lowercase.
pub(crate) fn srtp_policy(v: &str) -> Result<String> {
    let v = v.trim().to_ascii_lowercase();
    match v.as_str() {
        "off" | "optional" | "required" | "dtls" => Ok(v),
        _ => Err(StorageError::Invalid(
            "srtp must be off, optional, required or dtls",
        )),
    }
}

/// Digest algorithms as stored (`SHA-256,MD5`, or NULL) as a list (empty: the server's).
pub(crate) fn algorithm_list(stored: Option<&str>) -> Vec<String> {
    stored.map_or_else(Vec::new, |s| s.split(',').map(str::to_owned).collect())
}

/// The stored digest algorithms of a row (empty: the server's).
pub(crate) fn digest_algorithms_of(row: &sqlx::any::AnyRow) -> Result<Vec<String>> {
    use sqlx::Row;
    let v: Option<String> = row.try_get("digest_algorithms")?;
    Ok(algorithm_list(v.as_deref()))
}

/// Validates a hex digest of exactly `len` chars and returns it lowercased.
pub(crate) fn hex_digest(value: &str, len: usize, what: &'static str) -> Result<String> {
    if value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(StorageError::Invalid(what))
    }
}

/// Validates a list of short identifiers (widget ids, scopes): at most
/// `max_items` entries, each 1..=128 chars without whitespace or control chars.
pub(crate) fn id_list(list: &[String], max_items: usize, what: &'static str) -> Result<()> {
    let ok = list.len() <= max_items
        && list.iter().all(|s| {
            !s.is_empty()
                && s.chars().count() <= 128
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        });
    if ok {
        Ok(())
    } else {
        Err(StorageError::Invalid(what))
    }
}

/// Validates an IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`)
/// or a bare address, and returns it trimmed.
pub(crate) fn cidr(value: &str) -> Result<String> {
    let v = value.trim();
    let (addr, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    let ip: std::net::IpAddr = addr
        .parse()
        .map_err(|_| StorageError::Invalid("inbound_cidrs: not an IP network"))?;
    if let Some(p) = prefix {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match p.parse::<u8>() {
            Ok(n) if n <= max && !p.starts_with('+') => {}
            _ => return Err(StorageError::Invalid("inbound_cidrs: bad prefix length")),
        }
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_list_numbers_sequentially() {
        assert_eq!(values_list(2, 2, false), "($1, $2), ($3, $4)");
        assert_eq!(values_list(1, 1, false), "($1)");
        assert_eq!(values_list(2, 2, true), "(?, ?), (?, ?)");
    }

    #[test]
    fn placeholders_follow_the_statement() {
        let mut p = Placeholders::new(false);
        assert_eq!(p.next(), "$1");
        assert_eq!(p.list(3), "$2, $3, $4");
        let mut p = Placeholders::new(true);
        assert_eq!(p.next(), "?");
        assert_eq!(p.list(2), "?, ?");
    }

    #[test]
    fn in_lists_are_padded_to_a_few_lengths() {
        assert_eq!(padded_len(0), 1);
        assert_eq!(padded_len(1), 1);
        assert_eq!(padded_len(3), 4);
        assert_eq!(padded_len(128), 128);
        assert_eq!(padded_len(129), 256);
        assert_eq!(padded(&["a", "b", "c"]), vec!["a", "b", "c", "c"]);
        assert!(padded::<&str>(&[]).is_empty());
    }

    #[test]
    fn set_list_appends_scope_parameters() {
        let mut s = SetList::default();
        s.set("a", Param::Int(1));
        s.set("b", Param::OptText(None));
        let (sql, params) = s.finish_scoped("t", "id", "ten", "id");
        assert_eq!(
            sql,
            "UPDATE t SET a = $1, b = $2 WHERE id = $3 AND tenant_id = $4 RETURNING id"
        );
        assert_eq!(params.len(), 4);
    }

    #[test]
    fn validators() {
        assert!(cidr("10.0.0.0/8").is_ok());
        assert!(cidr("192.0.2.1").is_ok());
        assert!(cidr("2001:db8::/32").is_ok());
        assert!(cidr("10.0.0.0/33").is_err());
        assert!(cidr("nope/8").is_err());
        assert!(sip_username("alice.1001", "u").is_ok());
        assert!(sip_username("bad user", "u").is_err());
        assert!(sip_username("", "u").is_err());
        assert_eq!(
            hex_digest(&"AB".repeat(16), 32, "h").unwrap(),
            "ab".repeat(16)
        );
        assert!(hex_digest("xyz", 32, "h").is_err());
        assert!(required("  ", 10, "r").is_err());
        assert!(id_list(&["a b".to_owned()], 4, "l").is_err());
    }
}
