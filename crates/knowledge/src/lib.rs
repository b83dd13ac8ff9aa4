//! Ringside's knowledge base, sans-IO: what the assistant knows and how it answers without a
//! model.
//!
//! - [`text`]: whitespace, sentences, trimming, Markdown to text;
//! - [`chunk`]: text to passages of a few sentences;
//! - [`html`]: HTML to its title, language, links and readable text;
//! - [`index`]: the tantivy index (BM25 over per-language stemmed fields, phrase boosts,
//!   tenant and widget isolation in every query);
//! - [`answer`]: the extractive answerer (whole sentences from the best passage, with
//!   sources, or nothing);
//! - [`robots`]: robots.txt rules and sitemap addresses;
//! - [`pdf`]: a PDF's text (guarded: a hostile file fails, it does not take the process);
//! - [`rag`]: what a language model is given (sources quoted as data), what it cites, and
//!   the server-sent events it streams in;
//! - [`lookup`]: when an order or ticket may be looked up, and with what;
//! - [`intent`]: what a visitor's message is (a greeting, a request for a person, a question
//!   the company profile answers).
//!
//! Fetching pages, storing sources and serving the API live in the `api` and `storage` crates.

#[cfg(feature = "search")]
pub mod answer;
pub mod chunk;
pub mod html;
#[cfg(feature = "search")]
pub mod index;
pub mod intent;
pub mod lookup;
#[cfg(feature = "pdf")]
pub mod pdf;
pub mod rag;
pub mod robots;
pub mod text;

#[cfg(feature = "search")]
pub use answer::{Answer, SourceRef};
#[cfg(feature = "search")]
pub use index::{IndexError, KnowledgeIndex, PassageDoc, Scope};
/// What kind of source a passage came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PassageKind {
    /// A question/answer pair written by the tenant: its answer is given whole.
    Qa,
    /// Anything else (pages, documents, text).
    Text,
}

impl PassageKind {
    /// `qa` or `text`.
    pub fn as_str(self) -> &'static str {
        match self {
            PassageKind::Qa => "qa",
            PassageKind::Text => "text",
        }
    }
}

/// A passage search found.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The passage.
    pub passage_id: String,
    /// Its source.
    pub source_id: String,
    /// Q/A or text.
    pub kind: PassageKind,
    /// Its title.
    pub title: String,
    /// Its URL.
    pub url: Option<String>,
    /// Its text.
    pub body: String,
    /// Its language.
    pub lang: Lang,
    /// BM25 score.
    pub score: f32,
}

/// A language the index analyses (stemming and stop words).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// German.
    De,
    /// Spanish.
    Es,
    /// French.
    Fr,
    /// Italian.
    It,
    /// Dutch.
    Nl,
    /// Portuguese.
    Pt,
}

impl Lang {
    /// Every language, in index field order.
    pub const ALL: [Lang; 7] = [
        Lang::En,
        Lang::De,
        Lang::Es,
        Lang::Fr,
        Lang::It,
        Lang::Nl,
        Lang::Pt,
    ];

    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::It => "it",
            Lang::Nl => "nl",
            Lang::Pt => "pt",
        }
    }

    /// A language from a code or a tag (`pt-BR`, `en_GB`), case-insensitively.
    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// Its place in [`Lang::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_parse_from_tags() {
        assert_eq!(Lang::parse("pt-BR"), Some(Lang::Pt));
        assert_eq!(Lang::parse("EN_gb"), Some(Lang::En));
        assert_eq!(Lang::parse("xx"), None);
        for (i, l) in Lang::ALL.into_iter().enumerate() {
            assert_eq!(l.index(), i);
            assert_eq!(Lang::parse(l.code()), Some(l));
        }
    }
}
