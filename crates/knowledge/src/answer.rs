//! The extractive answerer: no model, only the site's own words.
//!
//! The question's content words (stop words and question filler such as "tell", "please"
//! removed, stemmed in the passage's language) are weighted by how rare they are in the index.
//! A passage answers when it holds at least 60 % of those words and 40 % of their weight
//! (title and body together); otherwise the answer is "not found" and the caller offers a
//! person instead of guessing. From the best passage the answer is the window of one to three
//! neighbouring sentences (at most [`ANSWER_CHARS`]) that holds the most weight; a
//! question/answer pair's answer is given whole. Every answer names its sources (title, URL,
//! the best sentence as snippet): the chosen passage first, then other passages that would
//! also have answered, at most [`MAX_SOURCES`], one per page.

use std::collections::{HashMap, HashSet};

use crate::index::{tokens, KnowledgeIndex, Result, Scope};
use crate::text::{sentences, trim_to};
use crate::Lang;
use crate::{Hit, PassageKind};

/// Longest extractive answer, in characters.
pub const ANSWER_CHARS: usize = 450;
/// Longest Q/A answer given whole.
pub const QA_ANSWER_CHARS: usize = 1_000;
/// Longest snippet.
pub const SNIPPET_CHARS: usize = 200;
/// Most sources named.
pub const MAX_SOURCES: usize = 3;
/// Passages considered.
const CANDIDATES: usize = 8;
/// Share of the question's content words a passage must hold.
const MIN_WORDS: f32 = 0.6;
/// Share of their weight.
const MIN_WEIGHT: f32 = 0.4;

/// Words that ask rather than say what is asked about; they are no evidence either way.
const FILLER: &[&str] = &[
    "tell",
    "know",
    "please",
    "like",
    "want",
    "wanted",
    "need",
    "get",
    "help",
    "info",
    "information",
    "question",
    "questions",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "would",
    "could",
    "also",
    "much",
    "many",
    "really",
    "anything",
    "something",
    "someone",
    "way",
    "ok",
    "okay",
    "can",
    "may",
    "might",
    "let",
    "looking",
    "find",
    "give",
    "show",
    "wondering",
    "ask",
    "us",
    "you",
    "your",
    "guys",
    "there",
    "explain",
    "details",
    "detail",
    "happens",
    "happen",
    "do",
    "does",
    "did",
    "possible",
    "able",
    "hola",
    "olá",
    "ola",
    "bonjour",
    "hallo",
    "por",
    "favor",
    "favour",
    "kindly",
    "currently",
    "exactly",
    "actually",
];

/// Function words (English, the language most visitors write in; the analysers drop each
/// language's own shorter list): no evidence of what is asked about, and no phrase on their
/// own.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "i", "i'm", "me", "my", "mine", "we", "our", "ours", "you", "your", "yours",
    "he", "she", "it", "it's", "its", "they", "them", "their", "what", "what's", "which", "who",
    "whom", "when", "where", "why", "how", "is", "are", "was", "were", "be", "been", "am", "have",
    "has", "had", "of", "to", "in", "on", "at", "for", "with", "about", "from", "by", "and", "or",
    "but", "if", "so", "than", "too", "very", "just", "any", "some", "this", "that", "these",
    "those", "here", "will", "shall", "should", "must", "don't", "doesn't", "into", "as", "then",
    "not", "no", "yes", "all",
];

/// Whether `w` (lowercase) is a function word.
pub fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.contains(&w)
}

/// `question` without its filler words (words only, space-separated).
/// The question's measure word after "how" ("how long", "how often"): it asks for a
/// figure, it is not the subject.
const HOW_WORDS: &[&str] = &[
    "long", "often", "soon", "far", "big", "old", "late", "early",
];

pub fn content_words(question: &str, _lang: Lang) -> String {
    let words: Vec<&str> = question
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let lower = w.to_lowercase();
        if FILLER.contains(&lower.as_str()) || is_stop_word(&lower) {
            continue;
        }
        if i > 0 && words[i - 1].eq_ignore_ascii_case("how") && HOW_WORDS.contains(&lower.as_str())
        {
            continue;
        }
        out.push(*w);
    }
    out.join(" ")
}

/// Where an answer came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceRef {
    /// The source the passage belongs to.
    pub source_id: String,
    /// The page's or document's title (a Q/A pair's question).
    pub title: String,
    /// Where to read it, when it has an address.
    pub url: Option<String>,
    /// The passage's sentence that best matches the question.
    pub snippet: String,
}

/// An extractive answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer's text: whole sentences from the best passage, or a Q/A pair's answer.
    pub text: String,
    /// Where it came from, best first.
    pub sources: Vec<SourceRef>,
    /// The passages that answered (for a model's context), best first.
    pub passages: Vec<Hit>,
    /// Share of the question's weight the best passage holds, 0-1.
    pub coverage: f32,
}

/// The question's content words in one language, with their weights.
struct Terms {
    words: Vec<String>,
    weights: Vec<f32>,
}

impl Terms {
    fn total(&self) -> f32 {
        self.weights.iter().sum()
    }

    /// (share of words, share of weight) of these terms found in `found`.
    fn coverage(&self, found: &HashSet<String>) -> (f32, f32) {
        if self.words.is_empty() {
            return (0.0, 0.0);
        }
        let mut n = 0;
        let mut w = 0.0;
        for (t, wt) in self.words.iter().zip(&self.weights) {
            if found.contains(t) {
                n += 1;
                w += wt;
            }
        }
        let total = self.total();
        (
            n as f32 / self.words.len() as f32,
            if total > 0.0 { w / total } else { 0.0 },
        )
    }

    /// Weight of these terms in `text`, analysed in `lang`.
    fn weight_in(&self, a: &mut tantivy::tokenizer::TextAnalyzer, text: &str) -> f32 {
        let found: HashSet<String> = tokens(a, text).into_iter().collect();
        self.words
            .iter()
            .zip(&self.weights)
            .filter(|(t, _)| found.contains(*t))
            .map(|(_, w)| w)
            .sum()
    }
}

impl KnowledgeIndex {
    /// The extractive answer to `question` in `scope`, or `None` when nothing in the
    /// knowledge base answers it well enough.
    pub fn answer(&self, scope: Scope<'_>, question: &str) -> Result<Option<Answer>> {
        let hits = self.search(scope, question, CANDIDATES)?;
        if hits.is_empty() {
            return Ok(None);
        }
        let mut terms: HashMap<Lang, Terms> = HashMap::new();
        let mut judged = Vec::with_capacity(hits.len());
        let top_score = hits[0].score.max(f32::EPSILON);
        for h in &hits {
            let mut a = self.analyser_for(h.lang);
            let t = terms.entry(h.lang).or_insert_with(|| {
                let mut words = tokens(&mut a, &content_words(question, h.lang));
                let mut seen = HashSet::new();
                words.retain(|w| seen.insert(w.clone()));
                let weights = weights(&self.weights(h.lang, &words));
                Terms { words, weights }
            });
            let found: HashSet<String> = tokens(&mut a, &h.title)
                .into_iter()
                .chain(tokens(&mut a, &h.body))
                .collect();
            let (words, weight) = t.coverage(&found);

            let answers = words >= MIN_WORDS && weight >= MIN_WEIGHT;
            judged.push((answers, weight, h.score / top_score));
        }
        // The best passage: most of the question's weight, then BM25.
        let Some(best) = (0..hits.len()).filter(|&i| judged[i].0).max_by(|&a, &b| {
            let ka = judged[a].1 * 2.0 + judged[a].2;
            let kb = judged[b].1 * 2.0 + judged[b].2;
            ka.total_cmp(&kb)
        }) else {
            return Ok(None);
        };
        let hit = &hits[best];
        let t = &terms[&hit.lang];
        let mut a = self.analyser_for(hit.lang);
        let text = match hit.kind {
            PassageKind::Qa => trim_to(&hit.body, QA_ANSWER_CHARS),
            PassageKind::Text => best_window(t, &mut a, &hit.body),
        };
        let mut order: Vec<usize> = vec![best];
        order.extend((0..hits.len()).filter(|&i| i != best && judged[i].0 && judged[i].2 >= 0.5));
        let mut sources: Vec<SourceRef> = Vec::new();
        let mut passages = Vec::new();
        for i in order {
            let h = &hits[i];
            let key = h.url.clone().unwrap_or_else(|| h.source_id.clone());
            passages.push(h.clone());
            if sources.len() >= MAX_SOURCES
                || sources
                    .iter()
                    .any(|s| s.url.clone().unwrap_or_else(|| s.source_id.clone()) == key)
            {
                continue;
            }
            let t = &terms[&h.lang];
            let mut a = self.analyser_for(h.lang);
            let snippet = match h.kind {
                PassageKind::Qa => trim_to(&h.body, SNIPPET_CHARS),
                PassageKind::Text => {
                    let best_sentence = sentences(&h.body)
                        .into_iter()
                        .map(|s| (t.weight_in(&mut a, s), s))
                        .max_by(|x, y| x.0.total_cmp(&y.0))
                        .map(|(_, s)| s)
                        .unwrap_or_default();
                    trim_to(best_sentence, SNIPPET_CHARS)
                }
            };
            sources.push(SourceRef {
                source_id: h.source_id.clone(),
                title: h.title.clone(),
                url: h.url.clone(),
                snippet,
            });
        }
        Ok(Some(Answer {
            text,
            sources,
            passages,
            coverage: judged[best].1,
        }))
    }
}

/// Term weights from (idf, passages holding it): a word no passage holds weighs as much as
/// the rarest word some passage holds (in a small knowledge base the raw figure would let
/// one missing word outweigh all the others).
fn weights(idf: &[(f32, u64)]) -> Vec<f32> {
    let held = idf
        .iter()
        .filter(|(_, df)| *df > 0)
        .map(|(w, _)| *w)
        .fold(None, |m: Option<f32>, w| Some(m.map_or(w, |m| m.max(w))))
        .unwrap_or(1.0);
    idf.iter()
        .map(|&(w, df)| if df == 0 { held } else { w })
        .collect()
}

/// The one to three neighbouring sentences of `body` holding the most of the question's
/// weight, at most [`ANSWER_CHARS`]; a single short sentence takes its follower along.
fn best_window(t: &Terms, a: &mut tantivy::tokenizer::TextAnalyzer, body: &str) -> String {
    let sents = sentences(body);
    if sents.is_empty() {
        return String::new();
    }
    let found: Vec<HashSet<String>> = sents
        .iter()
        .map(|s| tokens(a, s).into_iter().collect())
        .collect();
    let len =
        |i: usize, j: usize| -> usize { sents[i..j].iter().map(|s| s.chars().count() + 1).sum() };
    let mut best = (0usize, 1usize);
    let mut best_score = -1.0f32;
    for i in 0..sents.len() {
        for j in i + 1..=(i + 3).min(sents.len()) {
            if j > i + 1 && len(i, j) > ANSWER_CHARS {
                break;
            }
            let mut union: HashSet<&String> = HashSet::new();
            for f in &found[i..j] {
                union.extend(f.iter());
            }
            let score: f32 = t
                .words
                .iter()
                .zip(&t.weights)
                .filter(|(w, _)| union.contains(w))
                .map(|(_, w)| w)
                .sum();
            // More sentences must earn their place.
            let score = score - 0.05 * (j - i - 1) as f32;
            if score > best_score {
                best_score = score;
                best = (i, j);
            }
        }
    }
    let (i, mut j) = best;
    if j == i + 1
        && j < sents.len()
        && sents[i].chars().count() < 80
        && len(i, j + 1) <= ANSWER_CHARS
    {
        j += 1;
    }
    trim_to(&sents[i..j].join(" "), ANSWER_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::PassageDoc;

    fn doc(id: &str, kind: PassageKind, title: &str, body: &str) -> PassageDoc {
        PassageDoc {
            id: id.into(),
            source_id: format!("s-{id}"),
            tenant_id: "t".into(),
            widget_id: "w".into(),
            kind,
            title: title.into(),
            url: (kind == PassageKind::Text).then(|| format!("https://shop.example/{id}")),
            body: body.into(),
            lang: Lang::En,
        }
    }

    const S: Scope<'static> = Scope::widget("t", "w");

    fn shop() -> KnowledgeIndex {
        let ix = KnowledgeIndex::in_ram();
        let docs = [
            doc("shipping", PassageKind::Text, "Shipping",
                "Orders leave our warehouse in Porto every weekday. We ship to every country in the European Union. \
                 Delivery to Portugal and Spain takes two working days. Other EU countries take four to six days. \
                 Shipping is free above 50 euros."),
            doc("privacy", PassageKind::Text, "Privacy policy",
                "We keep your personal data only as long as your order needs it. Our privacy policy follows the GDPR."),
            doc("care", PassageKind::Text, "Caring for ceramics",
                "Our mugs are dishwasher safe. Hand painted plates should be washed by hand. Never put gold rimmed pieces in the microwave."),
            doc("qa1", PassageKind::Qa, "Do you offer gift wrapping?",
                "Yes. Add gift wrapping at checkout for 3 euros per item."),
        ];
        for d in &docs {
            ix.replace_sources(&[(&d.source_id, 1, std::slice::from_ref(d))])
                .unwrap();
        }
        ix
    }

    #[test]
    fn answers_with_the_sentences_that_hold_the_question() {
        let ix = shop();
        let a = ix
            .answer(S, "How long does delivery to Portugal take?")
            .unwrap()
            .unwrap();
        assert!(
            a.text
                .contains("Delivery to Portugal and Spain takes two working days."),
            "{}",
            a.text
        );
        assert!(a.text.chars().count() <= ANSWER_CHARS);
        assert_eq!(
            a.sources[0].url.as_deref(),
            Some("https://shop.example/shipping")
        );
        assert!(a.sources[0].snippet.contains("Portugal"), "{:?}", a.sources);
        let a = ix
            .answer(S, "can I put the plates in the dishwasher?")
            .unwrap()
            .unwrap();
        assert_eq!(a.sources[0].title, "Caring for ceramics");
    }

    #[test]
    fn a_qa_pair_answers_whole() {
        let ix = shop();
        let a = ix
            .answer(S, "Can you gift wrap my order?")
            .unwrap()
            .unwrap();
        assert_eq!(
            a.text,
            "Yes. Add gift wrapping at checkout for 3 euros per item."
        );
        assert_eq!(a.sources[0].title, "Do you offer gift wrapping?");
        assert_eq!(a.sources[0].url, None);
    }

    #[test]
    fn says_nothing_when_the_knowledge_does_not_hold_the_answer() {
        let ix = shop();
        // "policy" is on the privacy page, "refund" nowhere.
        assert_eq!(ix.answer(S, "what is your refund policy").unwrap(), None);
        assert_eq!(ix.answer(S, "do you sell bicycles?").unwrap(), None);
        assert_eq!(ix.answer(S, "hi").unwrap(), None);
        assert_eq!(ix.answer(S, "").unwrap(), None);
        // Another widget's knowledge is not this one's.
        let other = Scope::widget("t", "w2");
        assert_eq!(
            ix.answer(other, "How long does delivery to Portugal take?")
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_one_page_knowledge_base_still_answers() {
        let ix = KnowledgeIndex::in_ram();
        let d = doc("ship", PassageKind::Text, "Shipping and delivery",
            "We ship to every country in the European Union. Delivery to Spain takes three working days.");
        ix.replace_sources(&[(&d.source_id, 1, std::slice::from_ref(&d))])
            .unwrap();
        let a = ix
            .answer(S, "How long does delivery to Spain take?")
            .unwrap()
            .unwrap();
        assert!(a.text.contains("three working days"), "{}", a.text);
        assert_eq!(ix.answer(S, "What is your refund policy?").unwrap(), None);
        assert_eq!(
            ix.answer(S, "Do you deliver pianos to Spain by boat?")
                .unwrap(),
            None
        );
    }

    #[test]
    fn content_words_drop_filler() {
        assert_eq!(
            content_words("Can you please tell me about your shipping?", Lang::En),
            "shipping"
        );
        assert_eq!(
            content_words("How long does delivery take? Is it a long trip?", Lang::En),
            "delivery take long trip"
        );
    }
}
