//! The numbers a trunk may dial.
//!
//! A trunk's `allowedDestinations` is a comma-separated list of number patterns. Each pattern is
//! digits (and a leading `+`) where `X` matches any one digit, `N` any digit 2–9, and a trailing
//! `*` matches any further digits. `+1NXXNXXXXXX, +4420*` allows North-American numbers and
//! London numbers and nothing else. An empty or missing pattern allows nothing: a trunk is never
//! an open door to the PSTN by default.

/// A pattern was not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern list held an empty entry.
    #[error("empty pattern")]
    Empty,
    /// A character other than digits, `+` (first), `X`, `N` or a trailing `*`.
    #[error("invalid character {0:?} in destination pattern")]
    InvalidChar(char),
    /// The pattern is longer than 32 characters.
    #[error("pattern too long")]
    TooLong,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Digit(u8),
    Any,
    TwoToNine,
    Plus,
}

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    atoms: Vec<Atom>,
    open_ended: bool,
}

/// A parsed `allowedDestinations` value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPatterns(Vec<Pattern>);

impl DestinationPatterns {
    /// Parse a comma-separated pattern list.
    pub fn parse(s: &str) -> Result<Self, PatternError> {
        let mut out = Vec::new();
        for raw in s.split(',') {
            let p = raw.trim();
            if p.is_empty() {
                return Err(PatternError::Empty);
            }
            if p.len() > 32 {
                return Err(PatternError::TooLong);
            }
            let (body, open_ended) = match p.strip_suffix('*') {
                Some(b) => (b, true),
                None => (p, false),
            };
            let mut atoms = Vec::with_capacity(body.len());
            for (i, c) in body.chars().enumerate() {
                atoms.push(match c {
                    '0'..='9' => Atom::Digit(c as u8 - b'0'),
                    'X' | 'x' => Atom::Any,
                    'N' | 'n' => Atom::TwoToNine,
                    '+' if i == 0 => Atom::Plus,
                    other => return Err(PatternError::InvalidChar(other)),
                });
            }
            out.push(Pattern { atoms, open_ended });
        }
        Ok(DestinationPatterns(out))
    }

    /// Whether `number` (digits, optionally with a leading `+`) matches any pattern.
    pub fn allows(&self, number: &str) -> bool {
        let valid = !number.is_empty()
            && number
                .char_indices()
                .all(|(i, c)| c.is_ascii_digit() || (c == '+' && i == 0));
        valid && self.0.iter().any(|p| p.matches(number.as_bytes()))
    }
}

impl Pattern {
    fn matches(&self, n: &[u8]) -> bool {
        if n.len() < self.atoms.len() || (!self.open_ended && n.len() != self.atoms.len()) {
            return false;
        }
        self.atoms.iter().zip(n).all(|(a, &c)| match a {
            Atom::Digit(d) => c == b'0' + d,
            Atom::Any => c.is_ascii_digit(),
            Atom::TwoToNine => (b'2'..=b'9').contains(&c),
            Atom::Plus => c == b'+',
        }) && n[self.atoms.len()..].iter().all(u8::is_ascii_digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exactly() {
        let p = DestinationPatterns::parse("+1NXXNXXXXXX, +4420*").unwrap();
        assert!(p.allows("+14155550123"));
        assert!(!p.allows("+11155550123"), "N excludes 0 and 1");
        assert!(!p.allows("+141555501234"), "too long without *");
        assert!(p.allows("+442079460000"));
        assert!(!p.allows("+4421"));
        assert!(!p.allows("+900123"));
        assert!(!p.allows("+4420abc"));
        assert!(!p.allows(""));
    }

    #[test]
    fn empty_list_entries_and_bad_chars_are_errors() {
        assert_eq!(DestinationPatterns::parse(""), Err(PatternError::Empty));
        assert_eq!(DestinationPatterns::parse("1,,2"), Err(PatternError::Empty));
        assert_eq!(
            DestinationPatterns::parse("1+2"),
            Err(PatternError::InvalidChar('+'))
        );
        assert_eq!(
            DestinationPatterns::parse("12*3"),
            Err(PatternError::InvalidChar('*'))
        );
    }

    #[test]
    fn default_allows_nothing() {
        assert!(!DestinationPatterns::default().allows("+14155550123"));
    }
}
