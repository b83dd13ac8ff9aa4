//! The search index: one tantivy index for every tenant's passages, kept under the data
//! directory (or in memory for tests).
//!
//! Each passage is one document: its ids (`passage`, `source`, `tenant`, `widget`), its title
//! and body analysed in the passage's language (`title_<lang>`, `body_<lang>`: lowercased,
//! ASCII-folded where the language allows, stop words removed, stemmed; positions kept) and
//! once more unstemmed (`body_plain`, for phrase boosts), plus the stored text an answer
//! quotes. Search is BM25 over those fields, title matches counting double and word pairs of
//! the question found as a phrase counting half again, always inside one tenant and widget.
//!
//! Queries are built term by term from the question's tokens, never through a query parser,
//! so nothing a visitor types is query syntax. Which sources are indexed at which version is
//! kept in the commit's payload, so a restart knows what to (re)index from the database
//! without reading the index back.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::{Hit, Lang, PassageKind};

/// What can go wrong with the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy failed (disk full, a damaged index).
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The index directory could not be made.
    #[error("search index directory: {0}")]
    Io(#[from] std::io::Error),
}

/// This module's results.
pub type Result<T> = std::result::Result<T, IndexError>;

/// Bumped whenever the schema or the analysers change: an index of another layout is rebuilt.
const LAYOUT: &str = "ringside-knowledge-1";
/// The indexing thread's memory budget.
const WRITER_BYTES: usize = 40_000_000;

/// A passage to index.
#[derive(Debug, Clone)]
pub struct PassageDoc {
    /// Its id (unique across the index).
    pub id: String,
    /// Its source.
    pub source_id: String,
    /// The tenant owning it.
    pub tenant_id: String,
    /// The widget whose knowledge it is.
    pub widget_id: String,
    /// Q/A or text.
    pub kind: PassageKind,
    /// The page's or document's title (for a Q/A pair, the question).
    pub title: String,
    /// Where the visitor can read it.
    pub url: Option<String>,
    /// The text (for a Q/A pair, the answer).
    pub body: String,
    /// Its language.
    pub lang: Lang,
}

/// Whose passages a search may see.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The tenant.
    pub tenant_id: &'a str,
    /// The widget.
    pub widget_id: &'a str,
    /// Only these sources of the tenant (an assistant's choice: its widget's, or other
    /// widgets' of the same tenant to share a knowledge base); `None`: all of the widget's.
    pub sources: Option<&'a [String]>,
}

impl<'a> Scope<'a> {
    /// All of a widget's passages.
    pub const fn widget(tenant_id: &'a str, widget_id: &'a str) -> Self {
        Scope {
            tenant_id,
            widget_id,
            sources: None,
        }
    }

    /// Only the passages of `sources`, whichever of the tenant's widgets they belong to
    /// (none when it is empty).
    pub const fn only(self, sources: Option<&'a [String]>) -> Self {
        Scope { sources, ..self }
    }
}

#[derive(Clone, Copy)]
struct Fields {
    passage: Field,
    source: Field,
    tenant: Field,
    widget: Field,
    kind: Field,
    title: Field,
    url: Field,
    body: Field,
    lang: Field,
    plain: Field,
    /// Per language: (title field, body field).
    analysed: [(Field, Field); Lang::ALL.len()],
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let passage = b.add_text_field("passage", STRING | STORED);
    let source = b.add_text_field("source", STRING | STORED);
    let tenant = b.add_text_field("tenant", STRING);
    let widget = b.add_text_field("widget", STRING);
    let kind = b.add_text_field("kind", STRING | STORED);
    let title = b.add_text_field("title", STORED);
    let url = b.add_text_field("url", STORED);
    let body = b.add_text_field("body", STORED);
    let lang = b.add_text_field("lang", STRING | STORED);
    let positions = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let plain = b.add_text_field("body_plain", positions("rs_plain"));
    let analysed = Lang::ALL.map(|l| {
        let t = b.add_text_field(&format!("title_{}", l.code()), positions(&analyser_name(l)));
        let d = b.add_text_field(&format!("body_{}", l.code()), positions(&analyser_name(l)));
        (t, d)
    });
    (
        b.build(),
        Fields {
            passage,
            source,
            tenant,
            widget,
            kind,
            title,
            url,
            body,
            lang,
            plain,
            analysed,
        },
    )
}

fn analyser_name(l: Lang) -> String {
    format!("rs_{}", l.code())
}

/// The analyser of a language: simple tokens, long tokens dropped, lowercased, ASCII-folded
/// (not for German, whose stemmer wants its umlauts), stop words out, stemmed.
pub fn analyser(l: Lang) -> TextAnalyzer {
    let language = l.tantivy();
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    let base = match StopWordFilter::new(language) {
        Some(stop) => base.filter_dynamic(stop),
        None => base,
    };
    let base = if l == Lang::De {
        base
    } else {
        base.filter_dynamic(AsciiFoldingFilter)
    };
    base.filter_dynamic(Stemmer::new(language)).build()
}

/// Lowercased, ASCII-folded words with every word kept (phrases).
fn plain_analyser() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The tokens `analyser` gives for `text`.
pub fn tokens(analyser: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = analyser.token_stream(text);
    while s.advance() {
        out.push(s.token().text.clone());
    }
    out
}

struct Writer {
    writer: IndexWriter,
    /// Source id → the version indexed (the commit payload).
    versions: BTreeMap<String, i64>,
}

/// The knowledge index.
pub struct KnowledgeIndex {
    reader: IndexReader,
    /// Each language's analyser, built once (stop-word sets, stemmers), cloned per use.
    analysers: Vec<TextAnalyzer>,
    plain: TextAnalyzer,
    writer: Mutex<Writer>,
    f: Fields,
}

impl std::fmt::Debug for KnowledgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeIndex").finish_non_exhaustive()
    }
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Payload {
    layout: String,
    versions: BTreeMap<String, i64>,
}

impl KnowledgeIndex {
    /// Opens the index in `dir`, creating it (and the directory) when missing; an index of
    /// another layout, or one that cannot be opened, is replaced by an empty one (the
    /// database is the source of truth: [`KnowledgeIndex::versions`] then tells the caller
    /// everything needs indexing).
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (schema, f) = schema();
        let existing = Index::open_in_dir(dir)
            .ok()
            .filter(|i| i.schema() == schema && payload(i).is_some_and(|p| p.layout == LAYOUT));
        let index = match existing {
            Some(i) => i,
            None => {
                if dir.join("meta.json").exists() {
                    tracing::warn!(dir = %dir.display(), "knowledge index of another layout: rebuilding it");
                }
                for e in std::fs::read_dir(dir)? {
                    let p = e?.path();
                    if p.is_file() {
                        std::fs::remove_file(p)?;
                    }
                }
                Index::create_in_dir(dir, schema)?
            }
        };
        Self::with_index(index, f)
    }

    /// An index in memory (tests, benchmarks).
    pub fn in_ram() -> Self {
        let (schema, f) = schema();
        Self::with_index(Index::create_in_ram(schema), f).expect("an index in memory")
    }

    fn with_index(index: Index, f: Fields) -> Result<Self> {
        let analysers: Vec<TextAnalyzer> = Lang::ALL.iter().map(|l| analyser(*l)).collect();
        for l in Lang::ALL {
            index
                .tokenizers()
                .register(&analyser_name(l), analysers[l.index()].clone());
        }
        let plain = plain_analyser();
        index.tokenizers().register("rs_plain", plain.clone());
        let versions = payload(&index)
            .filter(|p| p.layout == LAYOUT)
            .map(|p| p.versions)
            .unwrap_or_default();
        let writer = index.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let me = KnowledgeIndex {
            reader,
            analysers,
            plain,
            writer: Mutex::new(Writer { writer, versions }),
            f,
        };
        Ok(me)
    }

    /// `l`'s analyser (as the index uses it).
    pub fn analyser_for(&self, l: Lang) -> TextAnalyzer {
        self.analysers[l.index()].clone()
    }

    /// Which sources are indexed, at which version.
    pub fn versions(&self) -> BTreeMap<String, i64> {
        self.lock().versions.clone()
    }

    /// How many passages the index holds.
    pub fn passages(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces what the index holds of each source with its passages (an empty list removes
    /// the source), as one commit; the sources are then indexed at the versions given.
    pub fn replace_sources(&self, sources: &[(&str, i64, &[PassageDoc])]) -> Result<()> {
        let mut w = self.lock();
        for (source, version, passages) in sources {
            w.writer
                .delete_term(Term::from_field_text(self.f.source, source));
            for p in *passages {
                w.writer.add_document(self.document(p))?;
            }
            w.versions.insert((*source).to_owned(), *version);
        }
        self.commit(&mut w)
    }

    /// Removes sources entirely.
    pub fn remove_sources(&self, sources: &[&str]) -> Result<()> {
        let mut w = self.lock();
        for source in sources {
            w.writer
                .delete_term(Term::from_field_text(self.f.source, source));
            w.versions.remove(*source);
        }
        self.commit(&mut w)
    }

    fn commit(&self, w: &mut Writer) -> Result<()> {
        let payload = serde_json::to_string(&Payload {
            layout: LAYOUT.to_owned(),
            versions: w.versions.clone(),
        })
        .expect("a payload serialises");
        let mut prepared = w.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    fn document(&self, p: &PassageDoc) -> TantivyDocument {
        let f = &self.f;
        let (title_f, body_f) = f.analysed[p.lang.index()];
        let mut d = doc!(
            f.passage => p.id.as_str(),
            f.source => p.source_id.as_str(),
            f.tenant => p.tenant_id.as_str(),
            f.widget => p.widget_id.as_str(),
            f.kind => p.kind.as_str(),
            f.title => p.title.as_str(),
            f.body => p.body.as_str(),
            f.lang => p.lang.code(),
            f.plain => p.body.as_str(),
            title_f => p.title.as_str(),
            body_f => p.body.as_str(),
        );
        if let Some(u) = &p.url {
            d.add_text(f.url, u);
        }
        d
    }

    /// The best `limit` passages for `question` in `scope`, best first.
    pub fn search(&self, scope: Scope<'_>, question: &str, limit: usize) -> Result<Vec<Hit>> {
        let Some(query) = self.query(scope, question) else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            let text = |field: Field| {
                d.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            out.push(Hit {
                passage_id: text(self.f.passage),
                source_id: text(self.f.source),
                kind: if text(self.f.kind) == "qa" {
                    PassageKind::Qa
                } else {
                    PassageKind::Text
                },
                title: text(self.f.title),
                url: Some(text(self.f.url)).filter(|u| !u.is_empty()),
                body: text(self.f.body),
                lang: Lang::parse(&text(self.f.lang)).unwrap_or_default(),
                score,
            });
        }
        Ok(out)
    }

    /// How many passages a scope holds.
    pub fn count(&self, scope: Scope<'_>) -> Result<usize> {
        let q = BooleanQuery::new(self.scope_clauses(scope));
        Ok(self
            .reader
            .searcher()
            .search(&q, &tantivy::collector::Count)?)
    }

    /// The clauses that keep a query inside `scope`: its tenant, and its widget or, when the
    /// scope names sources, one of them.
    fn scope_clauses(&self, scope: Scope<'_>) -> Vec<(Occur, Box<dyn Query>)> {
        let f = &self.f;
        let term = |field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        let mut clauses = vec![(Occur::Must, term(f.tenant, scope.tenant_id))];
        if let Some(sources) = scope.sources {
            let any: Vec<(Occur, Box<dyn Query>)> = sources
                .iter()
                .map(|s| (Occur::Should, term(f.source, s)))
                .collect();
            // No source chosen: nothing matches (an empty Should list would match all).
            let any: Box<dyn Query> = if any.is_empty() {
                Box::new(tantivy::query::EmptyQuery)
            } else {
                Box::new(BooleanQuery::new(any))
            };
            clauses.push((Occur::Must, any));
        } else {
            clauses.push((Occur::Must, term(f.widget, scope.widget_id)));
        }
        clauses
    }

    /// How rare each of `words` is across the index (BM25's inverse document frequency), as
    /// analysed in `lang`'s body field, with how many passages hold it.
    pub fn weights(&self, lang: Lang, words: &[String]) -> Vec<(f32, u64)> {
        let searcher = self.reader.searcher();
        let n = searcher.num_docs() as f32;
        let body = self.f.analysed[lang.index()].1;
        words
            .iter()
            .map(|w| {
                let df = searcher
                    .doc_freq(&Term::from_field_text(body, w))
                    .unwrap_or(0);
                let d = df as f32;
                ((1.0 + (n - d + 0.5) / (d + 0.5)).ln(), df)
            })
            .collect()
    }

    fn query(&self, scope: Scope<'_>, question: &str) -> Option<Box<dyn Query>> {
        let f = &self.f;
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut seen = HashSet::new();
        for l in Lang::ALL {
            let (title_f, body_f) = f.analysed[l.index()];
            let mut a = self.analyser_for(l);
            for t in tokens(&mut a, &crate::answer::content_words(question, l)) {
                if !seen.insert((l, t.clone())) {
                    continue;
                }
                let body_q = TermQuery::new(
                    Term::from_field_text(body_f, &t),
                    IndexRecordOption::WithFreqs,
                );
                let title_q = TermQuery::new(
                    Term::from_field_text(title_f, &t),
                    IndexRecordOption::WithFreqs,
                );
                should.push((Occur::Should, Box::new(body_q)));
                should.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(title_q), 2.0)),
                ));
            }
        }
        if should.is_empty() {
            return None;
        }
        // Word pairs of the question found together: a phrase boost.
        let words = tokens(&mut self.plain.clone(), question);
        for pair in words.windows(2) {
            if pair.iter().all(|w| crate::answer::is_stop_word(w)) {
                continue;
            }
            let q = PhraseQuery::new(vec![
                Term::from_field_text(f.plain, &pair[0]),
                Term::from_field_text(f.plain, &pair[1]),
            ]);
            should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), 1.5))));
        }
        let mut clauses = self.scope_clauses(scope);
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        Some(Box::new(BooleanQuery::new(clauses)))
    }
}

fn payload(index: &Index) -> Option<Payload> {
    let metas = index.load_metas().ok()?;
    match metas.payload {
        Some(p) => serde_json::from_str(&p).ok(),
        // A new, empty index.
        None if metas.segments.is_empty() => Some(Payload {
            layout: LAYOUT.to_owned(),
            versions: BTreeMap::new(),
        }),
        None => None,
    }
}

impl Lang {
    fn tantivy(self) -> Language {
        match self {
            Lang::En => Language::English,
            Lang::De => Language::German,
            Lang::Es => Language::Spanish,
            Lang::Fr => Language::French,
            Lang::It => Language::Italian,
            Lang::Nl => Language::Dutch,
            Lang::Pt => Language::Portuguese,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, tenant: &str, widget: &str, title: &str, body: &str) -> PassageDoc {
        PassageDoc {
            id: id.into(),
            source_id: format!("src-{id}"),
            tenant_id: tenant.into(),
            widget_id: widget.into(),
            kind: PassageKind::Text,
            title: title.into(),
            url: Some(format!("https://shop.example/{id}")),
            body: body.into(),
            lang: Lang::En,
        }
    }

    fn put(ix: &KnowledgeIndex, docs: &[PassageDoc]) {
        for d in docs {
            ix.replace_sources(&[(&d.source_id, 1, std::slice::from_ref(d))])
                .unwrap();
        }
    }

    const A: Scope<'static> = Scope::widget("t1", "w1");

    #[test]
    fn a_scope_may_name_the_sources_it_sees() {
        let ix = KnowledgeIndex::in_ram();
        put(
            &ix,
            &[
                p(
                    "eu",
                    "t1",
                    "w1",
                    "Shipping",
                    "We ship orders to every country in the EU.",
                ),
                p(
                    "us",
                    "t1",
                    "w1",
                    "Shipping to the US",
                    "We ship orders to the US by air.",
                ),
            ],
        );
        let both = ix.search(A, "do you ship orders", 5).unwrap();
        assert_eq!(both.len(), 2);
        let only = vec!["src-us".to_owned()];
        let hits = ix
            .search(A.only(Some(&only)), "do you ship orders", 5)
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].source_id, "src-us");
        assert_eq!(ix.count(A.only(Some(&only))).unwrap(), 1);
        // None chosen: nothing, not everything.
        let none: Vec<String> = Vec::new();
        assert!(ix
            .search(A.only(Some(&none)), "do you ship orders", 5)
            .unwrap()
            .is_empty());
        assert_eq!(ix.count(A.only(Some(&none))).unwrap(), 0);
        // Another widget's source of the tenant is shared when named; another tenant's never.
        put(
            &ix,
            &[
                p("x", "t1", "w2", "Shipping", "We ship orders to Mars."),
                p("y", "t2", "w9", "Shipping", "We ship orders to Venus."),
            ],
        );
        assert!(ix
            .search(A, "ship orders mars", 5)
            .unwrap()
            .iter()
            .all(|h| h.source_id != "src-x"));
        let shared = vec!["src-x".to_owned(), "src-y".to_owned()];
        let hits = ix.search(A.only(Some(&shared)), "ship orders", 5).unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].source_id, "src-x");
    }

    #[test]
    fn finds_stemmed_words_and_ranks_titles_and_phrases_higher() {
        let ix = KnowledgeIndex::in_ram();
        put(
            &ix,
            &[
                p(
                    "ship",
                    "t1",
                    "w1",
                    "Shipping",
                    "We ship orders to every country in the EU.",
                ),
                p(
                    "ret",
                    "t1",
                    "w1",
                    "Returns",
                    "Returned items are refunded within 14 days of shipping back.",
                ),
                p(
                    "about",
                    "t1",
                    "w1",
                    "About us",
                    "A family bakery since 1952.",
                ),
            ],
        );
        let hits = ix.search(A, "Do you ship to Portugal?", 5).unwrap();
        assert_eq!(hits[0].passage_id, "ship", "{hits:?}");
        let hits = ix.search(A, "how do returns work", 5).unwrap();
        assert_eq!(hits[0].passage_id, "ret");
        assert_eq!(hits[0].url.as_deref(), Some("https://shop.example/ret"));
        assert!(ix.search(A, "the and of", 5).unwrap().is_empty());
        assert!(ix.search(A, "", 5).unwrap().is_empty());
    }

    #[test]
    fn a_search_never_sees_another_tenants_or_widgets_passages() {
        let ix = KnowledgeIndex::in_ram();
        put(
            &ix,
            &[
                p("mine", "t1", "w1", "Opening", "Our shop opens at nine."),
                p("theirs", "t2", "w1", "Opening", "Their shop opens at nine."),
                p(
                    "other",
                    "t1",
                    "w2",
                    "Opening",
                    "Other widget opens at nine.",
                ),
            ],
        );
        assert_eq!(ix.count(A).unwrap(), 1);
        let hits = ix.search(A, "when does the shop open", 10).unwrap();
        assert_eq!(
            hits.iter()
                .map(|h| h.passage_id.as_str())
                .collect::<Vec<_>>(),
            vec!["mine"]
        );
    }

    #[test]
    fn query_syntax_is_just_words() {
        let ix = KnowledgeIndex::in_ram();
        put(
            &ix,
            &[p("x", "t1", "w1", "Prices", "Prices start at ten euros.")],
        );
        // Parser syntax that would widen the search is read as words.
        for q in [
            "tenant:t2 OR prices",
            "prices^100 AND *",
            "\"prices",
            "(prices",
        ] {
            let hits = ix.search(A, q, 5).unwrap();
            assert_eq!(hits.len(), 1, "{q}");
        }
        let hits = ix
            .search(Scope::widget("t2", "w1"), "tenant:t1 prices", 5)
            .unwrap();
        assert!(hits.is_empty());
    }

    #[test]
    fn replacing_and_removing_sources_and_reopening_keep_versions() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ix = KnowledgeIndex::open(dir.path()).unwrap();
            let a = p("a", "t1", "w1", "Alpha", "alpha words here");
            let b = p("b", "t1", "w1", "Beta", "beta words here");
            ix.replace_sources(&[("src-a", 3, &[a]), ("src-b", 1, &[b])])
                .unwrap();
            assert_eq!(ix.passages(), 2);
            let a2 = p("a", "t1", "w1", "Alpha", "gamma words now");
            ix.replace_sources(&[("src-a", 4, &[a2])]).unwrap();
            assert!(ix
                .search(A, "alpha", 5)
                .unwrap()
                .iter()
                .all(|h| h.title != "Alpha" || h.body.contains("gamma")));
            ix.remove_sources(&["src-b"]).unwrap();
            assert_eq!(ix.passages(), 1);
        }
        let ix = KnowledgeIndex::open(dir.path()).unwrap();
        assert_eq!(ix.versions(), BTreeMap::from([("src-a".to_owned(), 4)]));
        assert_eq!(ix.search(A, "gamma", 5).unwrap().len(), 1);
        assert!(ix.search(A, "beta", 5).unwrap().is_empty());
    }

    #[test]
    fn another_language_is_stemmed_in_its_own_field() {
        let ix = KnowledgeIndex::in_ram();
        let mut d = p(
            "pt",
            "t1",
            "w1",
            "Envios",
            "Enviamos encomendas para todo o país.",
        );
        d.lang = Lang::Pt;
        put(&ix, &[d]);
        let hits = ix.search(A, "vocês enviam encomenda?", 5).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].lang, Lang::Pt);
    }

    #[test]
    fn a_damaged_or_foreign_index_directory_is_rebuilt_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("meta.json"), b"{not json").unwrap();
        let ix = KnowledgeIndex::open(dir.path()).unwrap();
        assert!(ix.versions().is_empty());
        assert_eq!(ix.passages(), 0);
    }
}
