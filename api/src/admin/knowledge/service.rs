//! The knowledge base as the API uses it: the search index (under the data directory, or in
//! memory), kept in step with the passages in storage, and the per-tenant limits of the
//! knowledge endpoints. Index work is blocking (tantivy), so it runs on the blocking pool.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ringside_knowledge::{
    chunk, Answer, Hit, KnowledgeIndex, Lang, PassageDoc, PassageKind, Scope,
};
use ringside_storage::{KnowledgePassage, KnowledgeSource, NewPassage, Store};

use crate::rate_limit::{retry_after_secs, Limit, TokenBuckets};
use crate::ApiError;

/// Changes (sources added, uploaded, refreshed) per tenant: a burst of 30, then 2 a second.
const WRITES: Limit = Limit::new(2.0, 30);
/// Searches per tenant through the API: a burst of 50, then 20 a second.
const SEARCHES: Limit = Limit::new(20.0, 50);

/// The knowledge base's index and limits.
pub struct Knowledge {
    index: Arc<KnowledgeIndex>,
    writes: TokenBuckets<String>,
    searches: TokenBuckets<String>,
}

impl Default for Knowledge {
    /// An index in memory (tests).
    fn default() -> Self {
        Knowledge::with_index(KnowledgeIndex::in_ram())
    }
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge").finish_non_exhaustive()
    }
}

/// What [`Knowledge::sync`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Sources (re)indexed from storage.
    pub indexed: usize,
    /// Sources the index held that storage no longer has.
    pub removed: usize,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "knowledge index");
    ApiError::Internal
}

impl Knowledge {
    /// The index in `dir` (made when missing; rebuilt when of another layout).
    pub fn open(dir: &Path) -> Result<Self, ringside_knowledge::IndexError> {
        Ok(Knowledge::with_index(KnowledgeIndex::open(dir)?))
    }

    fn with_index(index: KnowledgeIndex) -> Self {
        Knowledge {
            index: Arc::new(index),
            writes: TokenBuckets::new(WRITES, 100_000),
            searches: TokenBuckets::new(SEARCHES, 100_000),
        }
    }

    /// The index.
    pub fn index(&self) -> &Arc<KnowledgeIndex> {
        &self.index
    }

    /// Takes one of the tenant's changes; 429 over the limit.
    pub(crate) fn take_write(&self, tenant: &str) -> Result<(), ApiError> {
        self.writes
            .check(tenant, Instant::now())
            .map_err(|d| ApiError::TooManyRequests {
                retry_after_secs: retry_after_secs(d),
            })
    }

    /// Takes one of the tenant's searches; 429 over the limit.
    pub(crate) fn take_search(&self, tenant: &str) -> Result<(), ApiError> {
        self.searches
            .check(tenant, Instant::now())
            .map_err(|d| ApiError::TooManyRequests {
                retry_after_secs: retry_after_secs(d),
            })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&KnowledgeIndex) -> Result<T, ringside_knowledge::IndexError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let ix = self.index.clone();
        tokio::task::spawn_blocking(move || f(&ix))
            .await
            .map_err(internal)?
            .map_err(internal)
    }

    /// Stores `passages` as the source's (replacing what it had), marks it ready and indexes
    /// them; returns the source as stored.
    pub async fn store_passages(
        &self,
        store: &Store,
        src: &KnowledgeSource,
        passages: Vec<NewPassage>,
        pages: i64,
        bytes: i64,
        reason: Option<&str>,
    ) -> Result<KnowledgeSource, ApiError> {
        let version = store
            .replace_knowledge_passages(&src.id, &passages, pages, bytes, reason)
            .await?;
        self.reindex(store, &src.id, &src.tenant_id, &src.widget_id, version)
            .await?;
        Ok(store
            .get_knowledge_source(&src.tenant_id, &src.widget_id, &src.id)
            .await?)
    }

    /// Indexes a source's stored passages at `version`.
    async fn reindex(
        &self,
        store: &Store,
        source_id: &str,
        tenant: &str,
        widget: &str,
        version: i64,
    ) -> Result<(), ApiError> {
        let rows = store.knowledge_passages(source_id).await?;
        let docs: Vec<PassageDoc> = rows
            .into_iter()
            .map(|p| passage_doc(p, tenant, widget))
            .collect();
        let id = source_id.to_owned();
        self.blocking(move |ix| ix.replace_sources(&[(&id, version, &docs)]))
            .await
    }

    /// Takes a source out of the index.
    pub async fn remove(&self, source_id: &str) -> Result<(), ApiError> {
        let id = source_id.to_owned();
        self.blocking(move |ix| ix.remove_sources(&[&id])).await
    }

    /// Brings the index in step with storage: sources whose indexed version differs from the
    /// stored one are indexed again, sources storage no longer has are removed.
    pub async fn sync(&self, store: &Store) -> Result<SyncReport, ApiError> {
        let want = store.knowledge_versions().await?;
        let have = self.index.versions();
        let mut report = SyncReport::default();
        let wanted: std::collections::HashSet<&str> = want.iter().map(|v| v.id.as_str()).collect();
        let stale: Vec<String> = have
            .keys()
            .filter(|k| !wanted.contains(k.as_str()))
            .cloned()
            .collect();
        if !stale.is_empty() {
            report.removed = stale.len();
            self.blocking(move |ix| {
                let refs: Vec<&str> = stale.iter().map(String::as_str).collect();
                ix.remove_sources(&refs)
            })
            .await?;
        }
        for v in want {
            if have.get(&v.id) == Some(&v.version) {
                continue;
            }
            self.reindex(store, &v.id, &v.tenant_id, &v.widget_id, v.version)
                .await?;
            report.indexed += 1;
        }
        Ok(report)
    }

    /// The extractive answer to `question` from a widget's knowledge (only `sources`, when
    /// given: an assistant's choice).
    pub async fn answer(
        &self,
        tenant: &str,
        widget: &str,
        sources: Option<&[String]>,
        question: &str,
    ) -> Result<Option<Answer>, ApiError> {
        let (t, w, q) = (tenant.to_owned(), widget.to_owned(), question.to_owned());
        let only = sources.map(<[String]>::to_vec);
        self.blocking(move |ix| ix.answer(Scope::widget(&t, &w).only(only.as_deref()), &q))
            .await
    }

    /// Whether a widget has any passages.
    pub async fn has_passages(&self, tenant: &str, widget: &str) -> Result<bool, ApiError> {
        let (t, w) = (tenant.to_owned(), widget.to_owned());
        self.blocking(move |ix| ix.count(Scope::widget(&t, &w)))
            .await
            .map(|n| n > 0)
    }

    /// The best passages for `query` in a widget's knowledge (only `sources`, when given).
    pub async fn search(
        &self,
        tenant: &str,
        widget: &str,
        sources: Option<&[String]>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit>, ApiError> {
        let (t, w, q) = (tenant.to_owned(), widget.to_owned(), query.to_owned());
        let only = sources.map(<[String]>::to_vec);
        self.blocking(move |ix| ix.search(Scope::widget(&t, &w).only(only.as_deref()), &q, limit))
            .await
    }
}

fn passage_doc(p: KnowledgePassage, tenant: &str, widget: &str) -> PassageDoc {
    PassageDoc {
        id: p.id,
        source_id: p.source_id,
        tenant_id: tenant.to_owned(),
        widget_id: widget.to_owned(),
        kind: if p.kind == "qa" {
            PassageKind::Qa
        } else {
            PassageKind::Text
        },
        title: p.title,
        url: p.url,
        body: p.body,
        lang: Lang::parse(&p.lang).unwrap_or_default(),
    }
}

/// A text's passages: chunks under one title.
pub(crate) fn text_passages(
    title: &str,
    url: Option<&str>,
    text: &str,
    lang: Lang,
) -> Vec<NewPassage> {
    chunk::chunk(text, chunk::PASSAGE_CHARS)
        .into_iter()
        .map(|body| NewPassage {
            kind: "text".into(),
            url: url.map(str::to_owned),
            title: title.to_owned(),
            body,
            lang: lang.code().into(),
        })
        .collect()
}

/// A question/answer pair's one passage.
pub(crate) fn qa_passage(question: &str, answer: &str, lang: Lang) -> NewPassage {
    NewPassage {
        kind: "qa".into(),
        url: None,
        title: question.to_owned(),
        body: answer.to_owned(),
        lang: lang.code().into(),
    }
}
