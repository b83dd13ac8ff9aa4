//! Intent-gated lookups of orders and support tickets, decided without I/O.
//!
//! A lookup happens only when all of this holds:
//! - the visitor's message asks about an order or a ticket ([`asks_about`]), or answers the
//!   assistant's request for the identifiers of one;
//! - the reference (order or ticket number, matching the integration's pattern) and the
//!   verifier (the email or the postcode on it) are both in **this conversation's visitor
//!   messages** ([`gather`]): never in the assistant's or the team's words, a page's text or
//!   another conversation;
//! - the values are then put into the request only percent-encoded.
//!
//! Otherwise the assistant asks for what is missing and nothing is sent.

pub use regex::Regex;

use crate::text::percent_encode;
use regex::RegexBuilder;

/// What is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    /// An order's status.
    Order,
    /// A support ticket's status.
    Ticket,
}

impl LookupKind {
    /// `order` or `ticket`.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupKind::Order => "order",
            LookupKind::Ticket => "ticket",
        }
    }

    /// From `order` or `ticket`.
    pub fn parse(s: &str) -> Option<LookupKind> {
        match s {
            "order" => Some(LookupKind::Order),
            "ticket" => Some(LookupKind::Ticket),
            _ => None,
        }
    }
}

/// What proves the visitor may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verifier {
    /// The email address on the order or ticket.
    Email,
    /// The postcode on the order.
    Postcode,
}

impl Verifier {
    /// `email` or `postcode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verifier::Email => "email",
            Verifier::Postcode => "postcode",
        }
    }

    /// From `email` or `postcode`.
    pub fn parse(s: &str) -> Option<Verifier> {
        match s {
            "email" => Some(Verifier::Email),
            "postcode" => Some(Verifier::Postcode),
            _ => None,
        }
    }
}

const ORDER_WORDS: &[&str] = &[
    "order",
    "orders",
    "parcel",
    "package",
    "shipment",
    "delivery",
    "tracking",
    "track",
    "encomenda",
    "pedido",
    "commande",
    "bestellung",
];
const TICKET_WORDS: &[&str] = &[
    "ticket",
    "tickets",
    "case",
    "complaint",
    "request",
    "incident",
    "support",
];
const STATUS_WORDS: &[&str] = &[
    "status", "where", "when", "track", "tracking", "update", "progress", "check", "arrive",
    "arrived", "shipped", "happened", "estado", "onde", "statut",
];

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `message` asks about an order or a ticket: a word naming one together with a word
/// asking for its state ("where is my order", "ticket status"), or a reference matching one of
/// the patterns together with such a word. A greeting or a general question never does.
pub fn asks_about(message: &str, kinds: &[(LookupKind, &Regex)]) -> Option<LookupKind> {
    let w = words(message);
    let has = |list: &[&str]| w.iter().any(|x| list.contains(&x.as_str()));
    let status = has(STATUS_WORDS);
    for (kind, pattern) in kinds {
        let named = match kind {
            LookupKind::Order => has(ORDER_WORDS),
            LookupKind::Ticket => has(TICKET_WORDS),
        };
        let referenced = pattern.is_match(message);
        if (named && (status || referenced)) || (referenced && status) {
            return Some(*kind);
        }
    }
    None
}

/// A tenant's reference pattern, compiled with bounds (it is tenant input): at most 200
/// characters, a small automaton, case-insensitive, whole words only.
pub fn compile_pattern(p: &str) -> Option<Regex> {
    if p.is_empty() || p.len() > 200 {
        return None;
    }
    RegexBuilder::new(&format!(r"\b(?:{p})\b"))
        .case_insensitive(true)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .ok()
}

/// What the visitor has given of what a lookup needs, from its own messages of this
/// conversation, newest first wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    /// The reference.
    pub reference: Option<String>,
    /// The email or postcode.
    pub verifier: Option<String>,
}

impl Gathered {
    /// Both are there.
    pub fn complete(&self) -> bool {
        self.reference.is_some() && self.verifier.is_some()
    }
}

fn email_in(s: &str) -> Option<String> {
    s.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')' | '"' | '\'')
    })
    .map(|t| t.trim_matches(|c: char| matches!(c, '.' | ':' | '!' | '?')))
    .find(|t| {
        let Some((user, host)) = t.split_once('@') else {
            return false;
        };
        !user.is_empty()
            && host.contains('.')
            && !host.starts_with('.')
            && !host.ends_with('.')
            && t.len() <= 254
            && t.chars()
                .all(|c| c.is_alphanumeric() || "@._+-".contains(c))
    })
    .map(str::to_lowercase)
}

fn postcode_in(s: &str) -> Option<String> {
    // Named: "postcode 4000-123", "zip: 10001", "post code SW1A 1AA", "código postal 1000-001".
    let lower = s.to_lowercase();
    for key in [
        "postcode",
        "post code",
        "postal code",
        "zip code",
        "zip",
        "código postal",
        "codigo postal",
        "code postal",
        "plz",
    ] {
        if let Some(at) = lower.find(key) {
            // `lower` keeps `s`'s byte offsets only for ASCII keys; look past the key in `s`.
            let Some(rest) = s.get(at + key.len()..) else {
                continue;
            };
            let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ':' || c == '=');
            // "postcode is 4000-123"
            let rest = match rest.get(..3) {
                Some(w) if w.eq_ignore_ascii_case("is ") => rest[3..].trim_start(),
                _ => rest,
            };
            let code: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ' ')
                .collect();
            let code = code.trim();
            // At most two parts ("SW1A 1AA"), 3-10 characters, some digit.
            let parts: Vec<&str> = code.split_whitespace().take(2).collect();
            let code = if parts.len() == 2
                && parts[1].chars().any(|c| c.is_ascii_digit())
                && parts[1].len() <= 4
            {
                format!("{} {}", parts[0], parts[1])
            } else {
                parts.first().map(|p| p.to_string()).unwrap_or_default()
            };
            if (3..=10).contains(&code.len()) && code.chars().any(|c| c.is_ascii_digit()) {
                return Some(code.to_uppercase());
            }
        }
    }
    None
}

/// The reference and verifier the visitor gave in `visitor_messages` (this conversation's,
/// oldest first).
pub fn gather(visitor_messages: &[&str], pattern: &Regex, verifier: Verifier) -> Gathered {
    let mut g = Gathered::default();
    for m in visitor_messages.iter().rev() {
        if g.reference.is_none() {
            g.reference = pattern.find(m).map(|x| x.as_str().to_owned());
        }
        if g.verifier.is_none() {
            g.verifier = match verifier {
                Verifier::Email => email_in(m),
                Verifier::Postcode => postcode_in(m),
            };
        }
        if g.complete() {
            break;
        }
    }
    g
}

/// `template` with `{reference}`, `{email}`, `{postcode}` replaced by the percent-encoded
/// values (unknown placeholders stay as written; a value never adds a path, query or host).
pub fn fill_template(template: &str, reference: &str, verifier: Verifier, value: &str) -> String {
    template
        .replace("{reference}", &percent_encode(reference))
        .replace(
            &format!("{{{}}}", verifier.as_str()),
            &percent_encode(value),
        )
}

/// The reference shown in logs: its last four characters.
pub fn masked(reference: &str) -> String {
    let n = reference.chars().count();
    let tail: String = reference.chars().skip(n.saturating_sub(4)).collect();
    format!("…{tail}")
}

/// The value at a dotted `path` (`status`, `delivery.eta`, `items.0.name`) of a JSON value,
/// as text: strings as they are, numbers and booleans written out, anything else `None`.
pub fn field(v: &serde_json::Value, path: &str) -> Option<String> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            serde_json::Value::Object(m) => m.get(part)?,
            serde_json::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match cur {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Regex {
        compile_pattern(r"ORD-\d{4}(?:-\d{6,20})?").unwrap()
    }
    fn ticket() -> Regex {
        compile_pattern(r"LX-TKT-\d{8}-\d{5}").unwrap()
    }

    #[test]
    fn only_questions_about_an_order_or_ticket_are_lookups() {
        let (o, t) = (order(), ticket());
        let kinds = [(LookupKind::Order, &o), (LookupKind::Ticket, &t)];
        assert_eq!(
            asks_about("Check order status ORD-1001-20260522224715159", &kinds),
            Some(LookupKind::Order)
        );
        assert_eq!(
            asks_about("Share ticket status LX-TKT-20260516-00002", &kinds),
            Some(LookupKind::Ticket)
        );
        assert_eq!(
            asks_about("where is my order?", &kinds),
            Some(LookupKind::Order)
        );
        assert_eq!(asks_about("hi", &kinds), None);
        assert_eq!(asks_about("How do I place an order?", &kinds), None);
        assert_eq!(
            asks_about("What is your delivery time to Spain?", &kinds),
            None
        );
        assert_eq!(
            asks_about("When will my delivery arrive?", &kinds),
            Some(LookupKind::Order)
        );
        assert_eq!(
            asks_about("Do you sell tickets for the workshop?", &kinds),
            None
        );
    }

    #[test]
    fn identifiers_come_from_the_visitors_own_messages() {
        let o = order();
        let g = gather(
            &[
                "where is my order",
                "it's ORD-1001-20260522224715159",
                "email Ana@Example.com.",
            ],
            &o,
            Verifier::Email,
        );
        assert_eq!(g.reference.as_deref(), Some("ORD-1001-20260522224715159"));
        assert_eq!(g.verifier.as_deref(), Some("ana@example.com"));
        assert!(g.complete());
        let g = gather(&["order ORD-1001 please"], &o, Verifier::Email);
        assert!(!g.complete());
        let g = gather(
            &["order ORD-1001, postcode 4000-123"],
            &o,
            Verifier::Postcode,
        );
        assert_eq!(g.verifier.as_deref(), Some("4000-123"));
        let g = gather(&["order ORD-1001 zip: sw1a 1aa"], &o, Verifier::Postcode);
        assert_eq!(g.verifier.as_deref(), Some("SW1A 1AA"));
        assert_eq!(
            gather(&["my mail is not@valid"], &o, Verifier::Email).verifier,
            None
        );
    }

    #[test]
    fn templates_encode_values() {
        assert_eq!(
            fill_template(
                "https://shop.example/api/orders/{reference}?email={email}",
                "ORD-1/../x",
                Verifier::Email,
                "a+b@x.com"
            ),
            "https://shop.example/api/orders/ORD-1%2F..%2Fx?email=a%2Bb%40x.com"
        );
        assert_eq!(masked("ORD-1001-20260522224715159"), "…5159");
    }

    #[test]
    fn fields_by_path() {
        let v = serde_json::json!({"status": "shipped", "delivery": {"eta": "2026-12-08", "n": 2}, "items": [{"name": "Mug"}]});
        assert_eq!(field(&v, "status").as_deref(), Some("shipped"));
        assert_eq!(field(&v, "delivery.eta").as_deref(), Some("2026-12-08"));
        assert_eq!(field(&v, "delivery.n").as_deref(), Some("2"));
        assert_eq!(field(&v, "items.0.name").as_deref(), Some("Mug"));
        assert_eq!(field(&v, "delivery"), None);
        assert_eq!(field(&v, "nope.x"), None);
    }

    #[test]
    fn hostile_patterns_are_refused() {
        assert!(compile_pattern("").is_none());
        assert!(compile_pattern("(").is_none());
        assert!(compile_pattern(&"a".repeat(201)).is_none());
        assert!(compile_pattern("(a{1000}){1000}").is_none());
    }
}
