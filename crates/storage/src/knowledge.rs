//! The knowledge base's rows: a widget's sources, the passages each gives, the pages a crawl
//! met, and the widget's company profile. The search index is built from the passages (see
//! the `ringside-knowledge` crate); a source's `version` goes up each time its passages are
//! replaced, so an index knows what it is missing.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::values_list;
use crate::{new_id, now_ms, Store};

/// Source kinds.
pub const KNOWLEDGE_KINDS: &[&str] = &["url", "sitemap", "text", "qa", "file"];
/// Source states.
pub const KNOWLEDGE_STATUSES: &[&str] = &["pending", "indexing", "ready", "failed"];
/// Most sources a widget keeps.
pub const MAX_KNOWLEDGE_SOURCES: i64 = 500;
/// Most pages a crawl status lists.
pub const MAX_LIST_PAGES: i64 = 1_000;
/// A crawl claimed this long ago without finishing is taken over (its worker died).
pub const CLAIM_EXPIRY_MS: i64 = 10 * 60 * 1000;

/// What to call a source of `kind` for people: its title, question or file name, or its
/// address.
fn source_label(
    kind: &str,
    url: Option<&str>,
    title: Option<&str>,
    question: Option<&str>,
    file_name: Option<&str>,
) -> String {
    let title = title.filter(|t| !t.is_empty());
    match kind {
        "url" | "sitemap" => title.or(url).unwrap_or_default(),
        "qa" => question.unwrap_or_default(),
        "file" => title.or(file_name).unwrap_or("Document"),
        _ => title.unwrap_or("Text"),
    }
    .to_owned()
}

impl KnowledgeSource {
    /// What to call it for people: its title, question or file name, or its address.
    pub fn label(&self) -> String {
        source_label(
            &self.kind,
            self.url.as_deref(),
            self.title.as_deref(),
            self.question.as_deref(),
            self.file_name.as_deref(),
        )
    }
}

/// A knowledge source in brief: which it is and what to call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeSourceRef {
    /// Id.
    pub id: String,
    /// Its widget.
    pub widget_id: String,
    /// Its kind (`url`, `sitemap`, `text`, `qa`, `file`).
    pub kind: String,
    /// Its title, question, file name or address.
    pub label: String,
}

/// A knowledge source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgeSource {
    /// Id (uuid).
    pub id: String,
    /// Owning tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// The widget whose knowledge it is.
    pub widget_id: String,
    /// `url` (one page), `sitemap` (a site's pages), `text`, `qa` or `file` (an upload).
    #[schemars(extend("enum" = ["url", "sitemap", "text", "qa", "file"]))]
    pub kind: String,
    /// The page or sitemap address.
    pub url: Option<String>,
    /// A text's or document's title (pages: from the page).
    pub title: Option<String>,
    /// A Q/A pair's question.
    pub question: Option<String>,
    /// A Q/A pair's answer.
    pub answer: Option<String>,
    /// An uploaded file's name.
    pub file_name: Option<String>,
    /// The language its text is analysed in (ISO 639-1; `en` when not given).
    pub lang: Option<String>,
    /// `pending` (waiting for a crawl), `indexing`, `ready` or `failed`.
    #[schemars(extend("enum" = ["pending", "indexing", "ready", "failed"]))]
    pub status: String,
    /// Why it failed (or what a ready crawl skipped).
    pub reason: Option<String>,
    /// Passages it gives.
    pub passages: i64,
    /// Pages fetched (crawls).
    pub pages: i64,
    /// Bytes of text read.
    pub bytes: i64,
    /// Goes up each time its passages are replaced.
    pub version: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// When its passages were last replaced, unix ms.
    pub indexed_at: Option<i64>,
    /// A text source's text (not listed).
    #[serde(skip)]
    pub body: Option<String>,
}

/// A new source.
#[derive(Debug, Clone, Default)]
pub struct NewKnowledgeSource {
    /// One of [`KNOWLEDGE_KINDS`].
    pub kind: String,
    /// For `url` and `sitemap`.
    pub url: Option<String>,
    /// For `text` and `file`.
    pub title: Option<String>,
    /// For `qa`.
    pub question: Option<String>,
    /// For `qa`.
    pub answer: Option<String>,
    /// For `text` (and a file's extracted text).
    pub body: Option<String>,
    /// For `file`.
    pub file_name: Option<String>,
    /// ISO 639-1.
    pub lang: Option<String>,
}

/// A passage as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgePassage {
    /// Id.
    pub id: String,
    /// Its source.
    pub source_id: String,
    /// Its place in the source.
    pub ord: i64,
    /// `qa` or `text`.
    pub kind: String,
    /// Where it can be read.
    pub url: Option<String>,
    /// Its page's or document's title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// Its language.
    pub lang: String,
}

/// A passage to store.
#[derive(Debug, Clone)]
pub struct NewPassage {
    /// `qa` or `text`.
    pub kind: String,
    /// Where it can be read.
    pub url: Option<String>,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// Its language.
    pub lang: String,
}

/// A page a crawl met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgePage {
    /// Its address.
    pub url: String,
    /// `indexed`, `unchanged` or `skipped`.
    #[schemars(extend("enum" = ["indexed", "unchanged", "skipped"]))]
    pub status: String,
    /// Why it was skipped (`too_large`, `not_text`, `robots`, `off_site`, `timeout`,
    /// `not_public`, `http_<status>`, ...).
    pub reason: Option<String>,
    /// Its title.
    pub title: Option<String>,
    /// Bytes fetched.
    pub bytes: i64,
    /// Hash of its text (a refresh re-indexes only pages whose text changed).
    #[serde(skip)]
    pub content_hash: Option<String>,
    /// Unix ms.
    pub fetched_at: i64,
}

/// Which version of a source an index should hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVersion {
    /// The source.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Its widget.
    pub widget_id: String,
    /// Its version.
    pub version: i64,
}

const COLS: &str = "id, tenant_id, widget_id, kind, url, title, question, answer, body, \
                    file_name, lang, status, reason, passages, pages, bytes, version, \
                    created_at, updated_at, indexed_at";

/// [`COLS`] without a text source's text (lists never show it).
const LIST_COLS: &str = "id, tenant_id, widget_id, kind, url, title, question, answer, \
                         CAST(NULL AS TEXT) AS body, file_name, lang, status, reason, passages, \
                         pages, bytes, version, created_at, updated_at, indexed_at";

fn from_row(r: &AnyRow) -> Result<KnowledgeSource> {
    Ok(KnowledgeSource {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        widget_id: r.try_get("widget_id")?,
        kind: r.try_get("kind")?,
        url: r.try_get("url")?,
        title: r.try_get("title")?,
        question: r.try_get("question")?,
        answer: r.try_get("answer")?,
        body: r.try_get("body")?,
        file_name: r.try_get("file_name")?,
        lang: r.try_get("lang")?,
        status: r.try_get("status")?,
        reason: r.try_get("reason")?,
        passages: r.try_get("passages")?,
        pages: r.try_get("pages")?,
        bytes: r.try_get("bytes")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        indexed_at: r.try_get("indexed_at")?,
    })
}

fn passage_from_row(r: &AnyRow) -> Result<KnowledgePassage> {
    Ok(KnowledgePassage {
        id: r.try_get("id")?,
        source_id: r.try_get("source_id")?,
        ord: r.try_get("ord")?,
        kind: r.try_get("kind")?,
        url: r.try_get("url")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        lang: r.try_get("lang")?,
    })
}

impl Store {
    /// Adds a source to a widget's knowledge (`status` as given: `ready` sources get their
    /// passages with [`Store::replace_knowledge_passages`] next). NotFound for another
    /// tenant's widget; Invalid when the widget has [`MAX_KNOWLEDGE_SOURCES`] already.
    pub async fn create_knowledge_source(
        &self,
        tenant_id: &str,
        widget_id: &str,
        new: NewKnowledgeSource,
        status: &str,
    ) -> Result<KnowledgeSource> {
        if !KNOWLEDGE_KINDS.contains(&new.kind.as_str()) {
            return Err(StorageError::Invalid("kind"));
        }
        if !KNOWLEDGE_STATUSES.contains(&status) {
            return Err(StorageError::Invalid("status"));
        }
        self.get_widget(tenant_id, widget_id).await?;
        let n: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM knowledge_sources WHERE widget_id = $1")
                .bind(widget_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        if n >= MAX_KNOWLEDGE_SOURCES {
            return Err(StorageError::Invalid("sources"));
        }
        let now = now_ms();
        let s = KnowledgeSource {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            widget_id: widget_id.to_owned(),
            kind: new.kind,
            url: new.url,
            title: new.title,
            question: new.question,
            answer: new.answer,
            file_name: new.file_name,
            lang: new.lang,
            status: status.to_owned(),
            reason: None,
            passages: 0,
            pages: 0,
            bytes: 0,
            version: 0,
            created_at: now,
            updated_at: now,
            indexed_at: None,
            body: new.body,
        };
        sqlx::query(&format!(
            "INSERT INTO knowledge_sources ({COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        ))
        .bind(&s.id)
        .bind(&s.tenant_id)
        .bind(&s.widget_id)
        .bind(&s.kind)
        .bind(&s.url)
        .bind(&s.title)
        .bind(&s.question)
        .bind(&s.answer)
        .bind(&s.body)
        .bind(&s.file_name)
        .bind(&s.lang)
        .bind(&s.status)
        .bind(&s.reason)
        .bind(s.passages)
        .bind(s.pages)
        .bind(s.bytes)
        .bind(s.version)
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(s.indexed_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "source"))?;
        Ok(s)
    }

    /// A widget's sources, oldest first (without a text source's text: `body` is `None`).
    pub async fn list_knowledge_sources(
        &self,
        tenant_id: &str,
        widget_id: &str,
    ) -> Result<Vec<KnowledgeSource>> {
        self.get_widget(tenant_id, widget_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {LIST_COLS} FROM knowledge_sources WHERE tenant_id = $1 AND widget_id = $2 \
             ORDER BY created_at, id LIMIT {MAX_KNOWLEDGE_SOURCES}"
        ))
        .bind(tenant_id)
        .bind(widget_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Every source of a tenant's widgets in brief (no text), by widget then age: what an
    /// assistant may choose from.
    pub async fn list_knowledge_source_refs(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<KnowledgeSourceRef>> {
        let rows = sqlx::query(&format!(
            "SELECT id, widget_id, kind, url, title, question, file_name FROM knowledge_sources \
             WHERE tenant_id = $1 ORDER BY widget_id, created_at, id \
             LIMIT {}",
            MAX_KNOWLEDGE_SOURCES * 20
        ))
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                let text = |c: &str| r.try_get::<Option<String>, _>(c);
                let label = source_label(
                    &kind,
                    text("url")?.as_deref(),
                    text("title")?.as_deref(),
                    text("question")?.as_deref(),
                    text("file_name")?.as_deref(),
                );
                Ok(KnowledgeSourceRef {
                    id: r.try_get("id")?,
                    widget_id: r.try_get("widget_id")?,
                    kind,
                    label,
                })
            })
            .collect()
    }

    /// One source; NotFound for another tenant's or widget's.
    pub async fn get_knowledge_source(
        &self,
        tenant_id: &str,
        widget_id: &str,
        id: &str,
    ) -> Result<KnowledgeSource> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM knowledge_sources WHERE tenant_id = $1 AND widget_id = $2 AND id = $3"
        ))
        .bind(tenant_id)
        .bind(widget_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StorageError::NotFound)?;
        from_row(&row)
    }

    /// Deletes a source with its passages and pages; NotFound for another tenant's.
    pub async fn delete_knowledge_source(
        &self,
        tenant_id: &str,
        widget_id: &str,
        id: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query(
            "SELECT id FROM knowledge_sources WHERE tenant_id = $1 AND widget_id = $2 AND id = $3",
        )
        .bind(tenant_id)
        .bind(widget_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Err(StorageError::NotFound);
        }
        // Children first: SQLite's cascades need foreign keys on, which a pool connection
        // made elsewhere may not have.
        sqlx::query("DELETE FROM knowledge_passages WHERE source_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM knowledge_pages WHERE source_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM knowledge_sources WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a source's status and reason (`None` clears it).
    pub async fn set_knowledge_status(
        &self,
        id: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        if !KNOWLEDGE_STATUSES.contains(&status) {
            return Err(StorageError::Invalid("status"));
        }
        let done = sqlx::query(
            "UPDATE knowledge_sources SET status = $1, reason = $2, updated_at = $3, \
             claimed_at = NULL WHERE id = $4",
        )
        .bind(status)
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    /// Sets a crawled page source's title (from its page).
    pub async fn set_knowledge_title(&self, id: &str, title: &str) -> Result<()> {
        sqlx::query("UPDATE knowledge_sources SET title = $1 WHERE id = $2")
            .bind(title)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a source for a new crawl (`pending`); NotFound for another tenant's.
    pub async fn refresh_knowledge_source(
        &self,
        tenant_id: &str,
        widget_id: &str,
        id: &str,
    ) -> Result<KnowledgeSource> {
        let done = sqlx::query(
            "UPDATE knowledge_sources SET status = 'pending', reason = NULL, claimed_at = NULL, \
             updated_at = $1 WHERE tenant_id = $2 AND widget_id = $3 AND id = $4",
        )
        .bind(now_ms())
        .bind(tenant_id)
        .bind(widget_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        self.get_knowledge_source(tenant_id, widget_id, id).await
    }

    /// Takes the oldest `pending` source (or one whose crawl was claimed more than
    /// [`CLAIM_EXPIRY_MS`] ago) for a crawl, marking it `indexing`; `None` when there is none.
    /// Two workers never take the same source.
    pub async fn claim_knowledge_source(&self) -> Result<Option<KnowledgeSource>> {
        let now = now_ms();
        for _ in 0..3 {
            let row = sqlx::query(
                "SELECT id, claimed_at FROM knowledge_sources WHERE status = 'pending' \
                 OR (status = 'indexing' AND claimed_at IS NOT NULL AND claimed_at < $1) \
                 ORDER BY updated_at, id LIMIT 1",
            )
            .bind(now - CLAIM_EXPIRY_MS)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let id: String = row.try_get("id")?;
            let claimed: Option<i64> = row.try_get("claimed_at")?;
            // Compare-and-set on what was read: another worker's claim in between wins.
            let done = sqlx::query(
                "UPDATE knowledge_sources SET status = 'indexing', claimed_at = $1, updated_at = $1 \
                 WHERE id = $2 AND (status = 'pending' OR (status = 'indexing' AND claimed_at = $3))",
            )
            .bind(now)
            .bind(&id)
            .bind(claimed)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 1 {
                let row = sqlx::query(&format!(
                    "SELECT {COLS} FROM knowledge_sources WHERE id = $1"
                ))
                .bind(&id)
                .fetch_one(&self.pool)
                .await?;
                return from_row(&row).map(Some);
            }
        }
        Ok(None)
    }

    /// Renews the crawl claim a worker took at `claimed_at` (unix ms; the source's
    /// `updated_at` as [`Store::claim_knowledge_source`] returned it, or the last renewal's
    /// `now`) to `now`, so that a long crawl is not taken over while it runs. False when the
    /// claim is not that worker's any more (it expired and another worker took the source, or
    /// the source was deleted or edited): the worker stops.
    pub async fn renew_knowledge_claim(&self, id: &str, claimed_at: i64, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE knowledge_sources SET claimed_at = $1 \
             WHERE id = $2 AND status = 'indexing' AND claimed_at = $3",
        )
        .bind(now)
        .bind(id)
        .bind(claimed_at)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Replaces a source's passages, marks it `ready` (with `reason`, e.g. what a crawl
    /// skipped) and raises its version; returns the new version. NotFound when the source
    /// is gone (deleted while it was crawled): nothing is written then.
    pub async fn replace_knowledge_passages(
        &self,
        source_id: &str,
        passages: &[NewPassage],
        pages: i64,
        bytes: i64,
        reason: Option<&str>,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE knowledge_sources SET version = version + 1, status = 'ready', reason = $1, \
             passages = $2, pages = $3, bytes = $4, updated_at = $5, indexed_at = $5, \
             claimed_at = NULL WHERE id = $6",
        )
        .bind(reason)
        .bind(passages.len() as i64)
        .bind(pages)
        .bind(bytes)
        .bind(now)
        .bind(source_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        sqlx::query("DELETE FROM knowledge_passages WHERE source_id = $1")
            .bind(source_id)
            .execute(&mut *tx)
            .await?;
        let anonymous = self.anonymous_params();
        const NCOLS: usize = 8;
        for (n, chunk) in passages.chunks(100).enumerate() {
            let sql = format!(
                "INSERT INTO knowledge_passages (id, source_id, ord, kind, url, title, body, lang) VALUES {}",
                values_list(chunk.len(), NCOLS, anonymous)
            );
            let mut q = sqlx::query(&sql);
            for (i, p) in chunk.iter().enumerate() {
                q = q
                    .bind(new_id())
                    .bind(source_id)
                    .bind((n * 100 + i) as i64)
                    .bind(&p.kind)
                    .bind(&p.url)
                    .bind(&p.title)
                    .bind(&p.body)
                    .bind(&p.lang);
            }
            q.execute(&mut *tx).await?;
        }
        let version: i64 = sqlx::query("SELECT version FROM knowledge_sources WHERE id = $1")
            .bind(source_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("version")?;
        tx.commit().await?;
        Ok(version)
    }

    /// A source's passages, in order.
    pub async fn knowledge_passages(&self, source_id: &str) -> Result<Vec<KnowledgePassage>> {
        let rows = sqlx::query(
            "SELECT id, source_id, ord, kind, url, title, body, lang FROM knowledge_passages \
             WHERE source_id = $1 ORDER BY ord",
        )
        .bind(source_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(passage_from_row).collect()
    }

    /// Every source that has passages, with its version: what a search index should hold.
    pub async fn knowledge_versions(&self) -> Result<Vec<SourceVersion>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, widget_id, version FROM knowledge_sources WHERE version > 0 \
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SourceVersion {
                    id: r.try_get("id")?,
                    tenant_id: r.try_get("tenant_id")?,
                    widget_id: r.try_get("widget_id")?,
                    version: r.try_get("version")?,
                })
            })
            .collect()
    }

    /// Records what a crawl did with a page (replacing an earlier record of it).
    pub async fn record_knowledge_page(&self, source_id: &str, page: &KnowledgePage) -> Result<()> {
        sqlx::query(
            "INSERT INTO knowledge_pages (source_id, url, status, reason, title, bytes, content_hash, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (source_id, url) DO UPDATE SET status = excluded.status, \
             reason = excluded.reason, title = excluded.title, bytes = excluded.bytes, \
             content_hash = excluded.content_hash, fetched_at = excluded.fetched_at",
        )
        .bind(source_id)
        .bind(&page.url)
        .bind(&page.status)
        .bind(&page.reason)
        .bind(&page.title)
        .bind(page.bytes)
        .bind(&page.content_hash)
        .bind(page.fetched_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "page"))?;
        Ok(())
    }

    /// Forgets the pages of a source a crawl did not meet this time.
    pub async fn prune_knowledge_pages(&self, source_id: &str, before: i64) -> Result<()> {
        sqlx::query("DELETE FROM knowledge_pages WHERE source_id = $1 AND fetched_at < $2")
            .bind(source_id)
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The pages a source's crawls met, by address.
    pub async fn list_knowledge_pages(&self, source_id: &str) -> Result<Vec<KnowledgePage>> {
        let rows = sqlx::query(&format!(
            "SELECT url, status, reason, title, bytes, content_hash, fetched_at FROM knowledge_pages \
             WHERE source_id = $1 ORDER BY url LIMIT {MAX_LIST_PAGES}"
        ))
        .bind(source_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KnowledgePage {
                    url: r.try_get("url")?,
                    status: r.try_get("status")?,
                    reason: r.try_get("reason")?,
                    title: r.try_get("title")?,
                    bytes: r.try_get("bytes")?,
                    content_hash: r.try_get("content_hash")?,
                    fetched_at: r.try_get("fetched_at")?,
                })
            })
            .collect()
    }

    /// A widget's company profile (a JSON object), `None` when it has none; NotFound for
    /// another tenant's widget.
    pub async fn get_knowledge_profile(
        &self,
        tenant_id: &str,
        widget_id: &str,
    ) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query(
            "SELECT profile FROM knowledge_profiles WHERE tenant_id = $1 AND widget_id = $2",
        )
        .bind(tenant_id)
        .bind(widget_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => {
                let s: String = r.try_get("profile")?;
                serde_json::from_str(&s)
                    .map(Some)
                    .map_err(|_| StorageError::Corrupt("profile"))
            }
            None => {
                self.get_widget(tenant_id, widget_id).await?;
                Ok(None)
            }
        }
    }

    /// Sets a widget's company profile; NotFound for another tenant's widget.
    pub async fn put_knowledge_profile(
        &self,
        tenant_id: &str,
        widget_id: &str,
        profile: &serde_json::Value,
    ) -> Result<()> {
        self.get_widget(tenant_id, widget_id).await?;
        sqlx::query(
            "INSERT INTO knowledge_profiles (widget_id, tenant_id, profile, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (widget_id) DO UPDATE SET \
             profile = excluded.profile, updated_at = excluded.updated_at",
        )
        .bind(widget_id)
        .bind(tenant_id)
        .bind(profile.to_string())
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| StorageError::from_write(e, "profile"))?;
        Ok(())
    }
}
