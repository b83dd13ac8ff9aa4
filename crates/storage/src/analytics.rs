//! Reads behind visitor analytics and campaign reports, and campaign tag aliases.
//!
//! The API aggregates; storage hands it bounded row sets: the most recently seen visitors of
//! a widget ([`Store::list_recent_visitors`]), per-visitor chat and callback counts
//! ([`Store::visitor_engagement`]) and recent page events ([`Store::recent_page_events`]).
//! Aliases ([`CampaignAlias`]) are set per widget, tag key and tag value.

use serde::Serialize;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::bounded;
use crate::visitors::{visitor_from_row, VISITOR_COLS};
use crate::{now_ms, Store, Visitor};

/// Tag keys an alias can name.
pub const CAMPAIGN_TAG_KEYS: &[&str] = &[
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
];
/// Most aliases a widget keeps.
pub const MAX_CAMPAIGN_ALIASES: i64 = 1000;
/// Most visitors [`Store::list_recent_visitors`] returns.
pub const MAX_RECENT_VISITORS: u32 = 5000;
/// Most events [`Store::recent_page_events`] returns.
pub const MAX_PAGE_EVENTS: u32 = 20_000;

/// A human-readable name for one campaign tag value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignAlias {
    /// One of [`CAMPAIGN_TAG_KEYS`].
    #[schemars(extend("enum" = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer"]))]
    pub tag_key: String,
    /// The raw value (e.g. the `utm_campaign` as it arrives).
    pub tag_value: String,
    /// The name to show.
    pub alias: String,
    /// Unix ms.
    pub updated_at: i64,
}

/// Chats and callbacks of one visitor of a widget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Engagement {
    /// Messages the visitor sent.
    pub messages: i64,
    /// Callback and lead submissions.
    pub callbacks: i64,
}

/// One page event (`page_view` or `page_change`) for the site directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageEvent {
    /// The page URL.
    pub url: String,
    /// The page title, when the widget sent one.
    pub title: Option<String>,
    /// Unix ms.
    pub at: i64,
}

impl Store {
    /// The widget's visitors, most recently seen first, at most `limit` (capped at
    /// [`MAX_RECENT_VISITORS`]).
    pub async fn list_recent_visitors(
        &self,
        tenant_id: &str,
        widget_id: &str,
        limit: u32,
    ) -> Result<Vec<Visitor>> {
        let sql = format!(
            "SELECT {VISITOR_COLS} FROM visitors WHERE tenant_id = $1 AND widget_id = $2 \
             ORDER BY last_seen_at DESC, visitor_id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(widget_id)
            .bind(i64::from(limit.min(MAX_RECENT_VISITORS)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(visitor_from_row).collect()
    }

    /// Per visitor of the widget: messages they sent and callbacks they submitted (visitors
    /// with neither are absent).
    pub async fn visitor_engagement(
        &self,
        tenant_id: &str,
        widget_id: &str,
    ) -> Result<Vec<(String, Engagement)>> {
        let rows = sqlx::query(
            "SELECT visitor_id, SUM(m) AS m, SUM(c) AS c FROM ( \
               SELECT visitor_id, 1 AS m, 0 AS c FROM messages \
                 WHERE tenant_id = $1 AND widget_id = $2 AND sender = 'visitor' \
               UNION ALL \
               SELECT visitor_id, 0 AS m, 1 AS c FROM callbacks \
                 WHERE tenant_id = $1 AND widget_id = $2 AND visitor_id IS NOT NULL \
             ) x GROUP BY visitor_id",
        )
        .bind(tenant_id)
        .bind(widget_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("visitor_id")?,
                    Engagement {
                        messages: r.try_get::<i64, _>("m")?,
                        callbacks: r.try_get::<i64, _>("c")?,
                    },
                ))
            })
            .collect()
    }

    /// The widget's most recent page events, newest first, at most `limit` (capped at
    /// [`MAX_PAGE_EVENTS`]).
    pub async fn recent_page_events(
        &self,
        tenant_id: &str,
        widget_id: &str,
        limit: u32,
    ) -> Result<Vec<PageEvent>> {
        let rows = sqlx::query(
            "SELECT url, data, at FROM visitor_events WHERE tenant_id = $1 AND widget_id = $2 \
             AND type IN ('page_view', 'page_change') AND url IS NOT NULL \
             ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(tenant_id)
        .bind(widget_id)
        .bind(i64::from(limit.min(MAX_PAGE_EVENTS)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                let title = serde_json::from_str::<serde_json::Value>(&data)
                    .ok()
                    .and_then(|d| d.get("title").and_then(|t| t.as_str()).map(str::to_owned));
                Ok(PageEvent {
                    url: r.try_get("url")?,
                    title,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// The widget's campaign aliases, by tag key and value.
    pub async fn list_campaign_aliases(
        &self,
        tenant_id: &str,
        widget_id: &str,
    ) -> Result<Vec<CampaignAlias>> {
        let rows = sqlx::query(
            "SELECT tag_key, tag_value, alias, updated_at FROM campaign_aliases \
             WHERE tenant_id = $1 AND widget_id = $2 ORDER BY tag_key, tag_value",
        )
        .bind(tenant_id)
        .bind(widget_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CampaignAlias {
                    tag_key: r.try_get("tag_key")?,
                    tag_value: r.try_get("tag_value")?,
                    alias: r.try_get("alias")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Sets aliases of the widget (which the caller checked is the tenant's) in one
    /// transaction: `Some(alias)` sets or replaces, `None` removes. All are validated
    /// before anything is written; more than [`MAX_CAMPAIGN_ALIASES`] in total is Invalid.
    pub async fn set_campaign_aliases(
        &self,
        tenant_id: &str,
        widget_id: &str,
        changes: &[(String, String, Option<String>)],
    ) -> Result<Vec<CampaignAlias>> {
        let mut checked = Vec::with_capacity(changes.len());
        for (key, value, alias) in changes {
            if !CAMPAIGN_TAG_KEYS.contains(&key.as_str()) {
                return Err(StorageError::Invalid("tagKey"));
            }
            let value = value.trim();
            if value.is_empty() {
                return Err(StorageError::Invalid("tagValue"));
            }
            let value = bounded(value, 500, "tagValue")?;
            let alias = match alias.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(a) => Some(bounded(a, 200, "alias")?),
            };
            checked.push((key.clone(), value, alias));
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        for (key, value, alias) in &checked {
            match alias {
                Some(a) => {
                    sqlx::query(
                        "INSERT INTO campaign_aliases \
                         (widget_id, tag_key, tag_value, tenant_id, alias, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (widget_id, tag_key, tag_value) DO UPDATE SET \
                         alias = excluded.alias, updated_at = excluded.updated_at",
                    )
                    .bind(widget_id)
                    .bind(key)
                    .bind(value)
                    .bind(tenant_id)
                    .bind(a)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StorageError::from_write(e, "alias"))?;
                }
                None => {
                    sqlx::query(
                        "DELETE FROM campaign_aliases WHERE widget_id = $1 AND tag_key = $2 \
                         AND tag_value = $3 AND tenant_id = $4",
                    )
                    .bind(widget_id)
                    .bind(key)
                    .bind(value)
                    .bind(tenant_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM campaign_aliases WHERE widget_id = $1 AND tenant_id = $2",
        )
        .bind(widget_id)
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if n > MAX_CAMPAIGN_ALIASES {
            // Dropping the transaction rolls every change back.
            return Err(StorageError::Invalid("aliases"));
        }
        tx.commit().await?;
        self.list_campaign_aliases(tenant_id, widget_id).await
    }
}
