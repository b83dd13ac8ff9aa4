//! The crawler: fetches `url` and `sitemap` sources into passages.
//!
//! A source waits `pending` in storage; a worker claims it (`indexing`; a claim older than
//! ten minutes is taken over, so a crash loses nothing), fetches, and stores the passages
//! (`ready`) or the reason nothing could be read (`failed`). Every page it meets is recorded
//! with what became of it.
//!
//! Bounds and manners:
//! - every request goes through the outbound [`FetchPolicy`](crate::outbound::FetchPolicy)
//!   (public addresses only unless `RINGSIDE_ALLOW_PRIVATE_FETCH`), and every address (the
//!   source's, a sitemap's `<loc>`, each redirect hop, at most five) must be on one of the
//!   widget's allowed domains, else the page is skipped `off_site`;
//! - robots.txt is read once per host and honoured for the product token `Ringside`
//!   (missing: all allowed; server error or no answer: nothing fetched), with its
//!   `Crawl-delay` kept between requests (at most [`CrawlConfig::max_delay`]);
//! - at most [`CrawlConfig::max_pages`] pages, [`CrawlConfig::max_page_bytes`] per page and
//!   [`CrawlConfig::max_total_bytes`] per crawl, [`CrawlConfig::timeout`] per request; HTML,
//!   plain text and PDF are read, anything else is skipped `not_text`; a page asking
//!   `noindex` is skipped.

use std::collections::HashMap;
use std::time::Duration;

use ringside_knowledge::robots::{is_sitemap_index, sitemap_locs, Robots};
use ringside_knowledge::{html, Lang};
use ringside_storage::{KnowledgePage, KnowledgeSource, NewPassage};
use sha2::Digest;

use super::{doc_kind, document_text, on_allowed_domain, service, DocKind};
use crate::outbound::{read_limited, BodyError, Refusal};
use crate::{ApiError, AppState};

/// The crawler's product token (robots.txt groups) and User-Agent.
pub const USER_AGENT: &str = "Ringside/0.1 (knowledge base crawler)";
const ROBOTS_TOKEN: &str = "ringside";
/// Most sitemaps an index leads to.
const MAX_SITEMAPS: usize = 20;
/// Most redirects followed.
const MAX_REDIRECTS: usize = 5;

/// The crawler's bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrawlConfig {
    /// Pages per crawl.
    pub max_pages: usize,
    /// Bytes per page (or sitemap).
    pub max_page_bytes: usize,
    /// Bytes per crawl.
    pub max_total_bytes: usize,
    /// Per request.
    pub timeout: Duration,
    /// Longest `Crawl-delay` kept.
    pub max_delay: Duration,
}

/// How often a crawl renews its claim (well within `CLAIM_EXPIRY_MS`, 10 minutes).
const CLAIM_RENEW_EVERY: Duration = Duration::from_secs(60);

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            max_pages: 200,
            max_page_bytes: 2 * 1024 * 1024,
            max_total_bytes: 50 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// The crawl worker's wake-up bell and bounds.
#[derive(Debug, Default)]
pub struct Crawler {
    bell: tokio::sync::Notify,
    /// Bounds of every crawl.
    pub config: CrawlConfig,
}

impl Crawler {
    /// A crawler with these bounds.
    pub fn new(config: CrawlConfig) -> Self {
        Crawler {
            bell: tokio::sync::Notify::new(),
            config,
        }
    }

    /// A source is waiting: the worker looks now instead of at its next round.
    pub fn wake(&self) {
        self.bell.notify_one();
    }

    /// The worker: crawls waiting sources one at a time, forever; looks every 30 seconds (for
    /// other nodes' sources and expired claims) or when woken. In a cluster, each idle round
    /// also brings this node's search index in step with what the other nodes crawled,
    /// uploaded or deleted (the index is kept per node).
    pub async fn run(st: AppState) {
        loop {
            match run_once(&st).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "knowledge crawl failed"),
            }
            if st.bus.clustered() {
                if let Err(e) = st.knowledge.sync(&st.store).await {
                    tracing::warn!(error = %e, "knowledge index sync with the other nodes failed");
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), st.crawler.bell.notified()).await;
        }
    }
}

/// Crawls one waiting source, if any; returns it as stored afterwards.
pub async fn run_once(st: &AppState) -> Result<Option<KnowledgeSource>, ApiError> {
    let Some(src) = st.store.claim_knowledge_source().await? else {
        return Ok(None);
    };
    let widget = match st.store.get_widget(&src.tenant_id, &src.widget_id).await {
        Ok(w) => w,
        Err(e) => {
            st.store
                .set_knowledge_status(&src.id, "failed", Some("widget_gone"))
                .await?;
            return Err(e.into());
        }
    };
    let started = ringside_storage::now_ms();
    let mut c = Crawl {
        st,
        src: &src,
        domains: &widget.allowed_domains,
        config: st.crawler.config,
        client: st
            .fetch_policy
            .client(st.crawler.config.timeout, USER_AGENT)
            .map_err(|e| {
                tracing::error!(error = %e, "crawler HTTP client");
                ApiError::Internal
            })?,
        robots: HashMap::new(),
        last_request: HashMap::new(),
        total_bytes: 0,
        passages: Vec::new(),
        indexed: 0,
        skipped: Vec::new(),
    };
    let url = src.url.clone().unwrap_or_default();
    let pages: Vec<String> = if src.kind == "sitemap" {
        match c.sitemap_pages(&url).await {
            Ok(p) => p,
            Err(why) => {
                c.record(&url, "skipped", Some(&why), None, 0, None).await?;
                st.store
                    .set_knowledge_status(&src.id, "failed", Some(&format!("sitemap: {why}")))
                    .await?;
                return Ok(Some(
                    st.store
                        .get_knowledge_source(&src.tenant_id, &src.widget_id, &src.id)
                        .await?,
                ));
            }
        }
    } else {
        vec![url]
    };
    let previous: HashMap<String, Option<String>> = st
        .store
        .list_knowledge_pages(&src.id)
        .await?
        .into_iter()
        .map(|p| (p.url, p.content_hash))
        .collect();
    // The claim is renewed as the crawl goes (a long one outlives the claim's expiry); a
    // claim lost to another worker stops this one.
    let mut claim = (src.updated_at, std::time::Instant::now());
    for (n, page) in pages.iter().enumerate() {
        if claim.1.elapsed() >= CLAIM_RENEW_EVERY {
            let now = ringside_storage::now_ms();
            if !st
                .store
                .renew_knowledge_claim(&src.id, claim.0, now)
                .await?
            {
                tracing::warn!(source = %src.id, "knowledge crawl taken over by another worker; stopped");
                return Ok(None);
            }
            claim = (now, std::time::Instant::now());
        }
        if n >= c.config.max_pages {
            c.record(page, "skipped", Some("page_limit"), None, 0, None)
                .await?;
            continue;
        }
        if c.total_bytes >= c.config.max_total_bytes {
            c.record(page, "skipped", Some("byte_limit"), None, 0, None)
                .await?;
            continue;
        }
        c.page(page, previous.get(page).cloned().flatten()).await?;
    }
    st.store.prune_knowledge_pages(&src.id, started).await?;
    // A single page's source is called by the page's title.
    if src.kind == "url" {
        let title = st
            .store
            .list_knowledge_pages(&src.id)
            .await?
            .into_iter()
            .find_map(|p| p.title.filter(|_| p.status != "skipped"));
        if let Some(t) = title.filter(|t| Some(t) != src.title.as_ref()) {
            st.store.set_knowledge_title(&src.id, &t).await?;
        }
    }
    let result = if c.indexed == 0 {
        let why = c
            .skipped
            .first()
            .cloned()
            .unwrap_or_else(|| "no_pages".to_owned());
        // A source that had passages keeps them out of answers once its pages are gone.
        st.knowledge.remove(&src.id).await?;
        st.store
            .set_knowledge_status(&src.id, "failed", Some(&why))
            .await?;
        st.store
            .get_knowledge_source(&src.tenant_id, &src.widget_id, &src.id)
            .await?
    } else {
        let reason = (!c.skipped.is_empty()).then(|| format!("{} pages skipped", c.skipped.len()));
        let passages = std::mem::take(&mut c.passages);
        let (pages, bytes) = (c.indexed as i64, c.total_bytes as i64);
        match st
            .knowledge
            .store_passages(&st.store, &src, passages, pages, bytes, reason.as_deref())
            .await
        {
            Ok(s) => s,
            // Deleted while it was crawled: nothing to keep.
            Err(ApiError::NotFound) => {
                st.knowledge.remove(&src.id).await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
    };
    tracing::info!(
        source = %src.id,
        status = %result.status,
        pages = c.indexed,
        skipped = c.skipped.len(),
        "knowledge source crawled"
    );
    Ok(Some(result))
}

struct Crawl<'a> {
    st: &'a AppState,
    src: &'a KnowledgeSource,
    domains: &'a [String],
    config: CrawlConfig,
    client: reqwest::Client,
    robots: HashMap<String, Robots>,
    last_request: HashMap<String, tokio::time::Instant>,
    total_bytes: usize,
    passages: Vec<NewPassage>,
    indexed: usize,
    skipped: Vec<String>,
}

/// A fetched document.
struct Fetched {
    url: reqwest::Url,
    content_type: String,
    body: Vec<u8>,
}

impl Crawl<'_> {
    async fn record(
        &mut self,
        url: &str,
        status: &str,
        reason: Option<&str>,
        title: Option<&str>,
        bytes: usize,
        hash: Option<String>,
    ) -> Result<(), ApiError> {
        if status == "skipped" {
            self.skipped.push(reason.unwrap_or("skipped").to_owned());
        }
        let url: String = url.chars().take(2000).collect();
        self.st
            .store
            .record_knowledge_page(
                &self.src.id,
                &KnowledgePage {
                    url,
                    status: status.into(),
                    reason: reason.map(str::to_owned),
                    title: title.map(|t| t.chars().take(300).collect()),
                    bytes: bytes as i64,
                    content_hash: hash,
                    fetched_at: ringside_storage::now_ms(),
                },
            )
            .await?;
        Ok(())
    }

    /// The page addresses of a sitemap (following an index one level down).
    async fn sitemap_pages(&mut self, url: &str) -> Result<Vec<String>, String> {
        let doc = self.fetch(url).await?;
        let xml = sitemap_text(&doc.body, self.config.max_page_bytes)?;
        let limit = self.config.max_pages + 1;
        if !is_sitemap_index(&xml) {
            return Ok(dedup(sitemap_locs(&xml, limit)));
        }
        let mut pages = Vec::new();
        for sm in sitemap_locs(&xml, MAX_SITEMAPS) {
            if pages.len() >= limit {
                break;
            }
            match self.fetch(&sm).await {
                Ok(d) => match sitemap_text(&d.body, self.config.max_page_bytes) {
                    Ok(x) if !is_sitemap_index(&x) => {
                        pages.extend(sitemap_locs(&x, limit - pages.len()))
                    }
                    Ok(_) => {}
                    Err(why) => self.skipped.push(why),
                },
                Err(why) => self.skipped.push(why),
            }
        }
        Ok(dedup(pages))
    }

    /// Fetches and reads one page into passages.
    async fn page(&mut self, url: &str, previous_hash: Option<String>) -> Result<(), ApiError> {
        let doc = match self.fetch(url).await {
            Ok(d) => d,
            Err(why) => return self.record(url, "skipped", Some(&why), None, 0, None).await,
        };
        let size = doc.body.len();
        let Some(kind) = doc_kind(&doc.content_type, "") else {
            return self
                .record(url, "skipped", Some("not_text"), None, size, None)
                .await;
        };
        let (text, title, lang, noindex) = if kind == DocKind::Html {
            let s = String::from_utf8_lossy(&doc.body);
            let d = html::html_to_text(&s);
            (d.text, d.title, d.lang, d.noindex)
        } else {
            let body = doc.body;
            let read = tokio::task::spawn_blocking(move || document_text(kind, &body))
                .await
                .unwrap_or(Err("unreadable"));
            match read {
                Ok((t, title, lang)) => (t, title, lang, false),
                Err(why) => {
                    return self
                        .record(url, "skipped", Some(why), None, size, None)
                        .await
                }
            }
        };
        if noindex {
            return self
                .record(
                    url,
                    "skipped",
                    Some("noindex"),
                    title.as_deref(),
                    size,
                    None,
                )
                .await;
        }
        if text.trim().is_empty() {
            return self
                .record(
                    url,
                    "skipped",
                    Some("no_text"),
                    title.as_deref(),
                    size,
                    None,
                )
                .await;
        }
        let hash = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        let status = if previous_hash.as_deref() == Some(hash.as_str()) {
            "unchanged"
        } else {
            "indexed"
        };
        let lang = self
            .src
            .lang
            .as_deref()
            .and_then(Lang::parse)
            .or_else(|| lang.as_deref().and_then(Lang::parse))
            .unwrap_or_default();
        let page_url = doc.url.to_string();
        let title = title.unwrap_or_else(|| page_url.clone());
        self.passages
            .extend(service::text_passages(&title, Some(&page_url), &text, lang));
        self.indexed += 1;
        self.record(url, status, None, Some(&title), size, Some(hash))
            .await
    }

    /// Whether robots.txt lets us fetch `u`, reading it once per origin.
    async fn robots_allow(&mut self, u: &reqwest::Url) -> bool {
        let origin = u.origin().ascii_serialization();
        if !self.robots.contains_key(&origin) {
            let robots = self.read_robots(&origin).await;
            self.robots.insert(origin.clone(), robots);
        }
        let mut path = u.path().to_owned();
        if let Some(q) = u.query() {
            path.push('?');
            path.push_str(q);
        }
        self.robots[&origin].allows(&path)
    }

    async fn read_robots(&mut self, origin: &str) -> Robots {
        let url = format!("{origin}/robots.txt");
        if self.st.fetch_policy.check(&url).await.is_err() {
            return Robots::disallow_all();
        }
        self.pace(origin).await;
        let resp = match self.client.get(&url).send().await {
            Ok(r) => r,
            Err(_) => return Robots::disallow_all(),
        };
        let status = resp.status();
        if status.is_client_error() || status.is_redirection() {
            return Robots::allow_all();
        }
        if !status.is_success() {
            return Robots::disallow_all();
        }
        match read_limited(resp, ringside_knowledge::robots::MAX_ROBOTS_BYTES).await {
            Ok(body) | Err(BodyError::TooLarge(body)) => {
                Robots::parse(&String::from_utf8_lossy(&body), ROBOTS_TOKEN)
            }
            Err(BodyError::Broken) => Robots::disallow_all(),
        }
    }

    /// Waits out the origin's crawl delay since our last request to it.
    async fn pace(&mut self, origin: &str) {
        let delay = self
            .robots
            .get(origin)
            .and_then(|r| r.crawl_delay)
            .map(|d| Duration::from_secs_f64(d.min(self.config.max_delay.as_secs_f64())))
            .unwrap_or_default();
        if let Some(last) = self.last_request.get(origin) {
            tokio::time::sleep_until(*last + delay).await;
        }
        self.last_request
            .insert(origin.to_owned(), tokio::time::Instant::now());
    }

    /// GET with the policy, the domain rule, robots.txt, redirects and the byte bounds; the
    /// reason as text when skipped.
    async fn fetch(&mut self, url: &str) -> Result<Fetched, String> {
        let mut u = self
            .st
            .fetch_policy
            .check_syntax(url)
            .map_err(|_| "bad_url".to_owned())?;
        for _ in 0..=MAX_REDIRECTS {
            if !on_allowed_domain(&u, self.domains) {
                return Err("off_site".into());
            }
            match self.st.fetch_policy.check(u.as_str()).await {
                Ok(_) => {}
                Err(Refusal::NotPublic) => return Err("not_public".into()),
                Err(Refusal::NoAddress) => return Err("no_address".into()),
                Err(Refusal::BadUrl(_)) => return Err("bad_url".into()),
            }
            if !self.robots_allow(&u).await {
                return Err("robots".into());
            }
            self.pace(&u.origin().ascii_serialization()).await;
            let resp = self.client.get(u.clone()).send().await.map_err(|e| {
                if e.is_timeout() {
                    "timeout".to_owned()
                } else {
                    "unreachable".to_owned()
                }
            })?;
            let status = resp.status();
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| u.join(l).ok())
                    .ok_or_else(|| format!("http_{}", status.as_u16()))?;
                if !on_allowed_domain(&next, self.domains) {
                    return Err("off_site_redirect".into());
                }
                u = next;
                continue;
            }
            if !status.is_success() {
                return Err(format!("http_{}", status.as_u16()));
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let room = self
                .config
                .max_page_bytes
                .min(self.config.max_total_bytes.saturating_sub(self.total_bytes));
            let body = match read_limited(resp, room).await {
                Ok(b) => b,
                Err(BodyError::TooLarge(_)) => return Err("too_large".into()),
                Err(BodyError::Broken) => return Err("timeout".into()),
            };
            self.total_bytes += body.len();
            return Ok(Fetched {
                url: u,
                content_type,
                body,
            });
        }
        Err("too_many_redirects".into())
    }
}

/// A sitemap's XML, gunzipped when it is gzip (bounded).
fn sitemap_text(body: &[u8], max: usize) -> Result<String, String> {
    if body.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(max as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|_| "bad_gzip".to_owned())?;
        if out.len() > max {
            return Err("too_large".into());
        }
        return Ok(String::from_utf8_lossy(&out).into_owned());
    }
    Ok(String::from_utf8_lossy(body).into_owned())
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.into_iter().filter(|s| seen.insert(s.clone())).collect()
}

/// A PDF's text, or why there is none.
pub(crate) fn pdf_text(bytes: &[u8]) -> Result<String, &'static str> {
    ringside_knowledge::pdf::pdf_text(bytes).map_err(|e| e.reason())
}
