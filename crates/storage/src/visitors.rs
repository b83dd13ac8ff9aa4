//! Website visitors seen by widgets ([`Visitor`]) and their activity log
//! ([`VisitorEvent`]).
//!
//! The API keeps live presence in memory and writes it here in batches
//! ([`Store::write_visitor_batch`]): ONE transaction of multi-row upserts of
//! visitors and multi-row inserts of events. Reads are tenant-scoped.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::util::{values_list, AnyQuery};
use crate::Store;

/// Most visitors [`Store::list_live_visitors`] returns.
pub const MAX_LIST_VISITORS: u32 = 1000;
/// Most events [`Store::list_visitor_events`] returns.
pub const MAX_LIST_VISITOR_EVENTS: u32 = 1000;

/// Visitors per multi-row statement (29 parameters each).
const VISITOR_CHUNK: usize = 30;
/// Events per multi-row statement (8 parameters each).
const EVENT_CHUNK: usize = 100;

/// One visitor of one widget, as the presence tracks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visitor {
    /// The widget the visitor was seen on.
    pub widget_id: String,
    /// The client-generated visitor id.
    pub visitor_id: String,
    /// The widget's tenant.
    pub tenant_id: String,
    /// The client's session id, when it sends one.
    pub session_id: Option<String>,
    /// First time seen, unix ms.
    pub first_seen_at: i64,
    /// Last event of any kind (heartbeats included), unix ms.
    pub last_seen_at: i64,
    /// `last_seen_at` of the previous visit, once the visitor came back.
    pub previous_seen_at: Option<i64>,
    /// Number of visits (sessions).
    pub visit_count: i64,
    /// Start of the current visit, unix ms.
    pub current_session_started_at: i64,
    /// When the visitor arrived on the current page, unix ms.
    pub current_page_started_at: Option<i64>,
    /// Last interaction event (not heartbeat), unix ms.
    pub last_interaction_at: Option<i64>,
    /// Interaction events in the current visit.
    pub session_event_count: i64,
    /// Current page URL.
    pub current_url: Option<String>,
    /// Current page title.
    pub page_title: Option<String>,
    /// Referrer of the visit.
    pub referrer: Option<String>,
    /// Client IP address.
    pub ip: Option<String>,
    /// Raw User-Agent header.
    pub user_agent: Option<String>,
    /// Browser family.
    pub browser: Option<String>,
    /// Operating system family.
    pub os: Option<String>,
    /// `desktop`, `mobile`, `tablet` or `bot`.
    pub device: Option<String>,
    /// Whether the User-Agent looks like a bot.
    pub is_bot: bool,
    /// `utm_source` of the landing URL.
    pub utm_source: Option<String>,
    /// `utm_medium`.
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    pub utm_term: Option<String>,
    /// `utm_content`.
    pub utm_content: Option<String>,
    /// Google Ads click id.
    pub gclid: Option<String>,
    /// Facebook click id.
    pub fbclid: Option<String>,
    /// Site-passed metadata, a JSON object as text.
    pub metadata: String,
}

/// Visits that started on one UTC day of one widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitDay {
    /// The widget.
    pub widget_id: String,
    /// Any time of the UTC day (rounded down when stored).
    pub day: i64,
    /// Visits that started that day.
    pub visits: i64,
}

/// A UTC day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// One logged interaction event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorEvent {
    /// Event id (UUID, see [`crate::new_id`]).
    pub id: String,
    /// The widget's tenant.
    pub tenant_id: String,
    /// The widget.
    pub widget_id: String,
    /// The visitor.
    pub visitor_id: String,
    /// Event type (`page_view`, `click`, ...).
    pub kind: String,
    /// Page URL at the time.
    pub url: Option<String>,
    /// When, unix ms.
    pub at: i64,
    /// Extra data, a JSON object as text.
    pub data: String,
}

pub(crate) const VISITOR_COLS: &str =
    "widget_id, visitor_id, tenant_id, session_id, first_seen_at, \
    last_seen_at, previous_seen_at, visit_count, current_session_started_at, \
    current_page_started_at, last_interaction_at, session_event_count, current_url, page_title, \
    referrer, ip, user_agent, browser, os, device, is_bot, utm_source, utm_medium, utm_campaign, \
    utm_term, utm_content, gclid, fbclid, metadata";
const VISITOR_NCOLS: usize = 29;

const VISITOR_UPSERT: &str = " ON CONFLICT (widget_id, visitor_id) DO UPDATE SET \
    session_id = excluded.session_id, first_seen_at = excluded.first_seen_at, \
    last_seen_at = excluded.last_seen_at, previous_seen_at = excluded.previous_seen_at, \
    visit_count = excluded.visit_count, \
    current_session_started_at = excluded.current_session_started_at, \
    current_page_started_at = excluded.current_page_started_at, \
    last_interaction_at = excluded.last_interaction_at, \
    session_event_count = excluded.session_event_count, current_url = excluded.current_url, \
    page_title = excluded.page_title, referrer = excluded.referrer, ip = excluded.ip, \
    user_agent = excluded.user_agent, browser = excluded.browser, os = excluded.os, \
    device = excluded.device, is_bot = excluded.is_bot, utm_source = excluded.utm_source, \
    utm_medium = excluded.utm_medium, utm_campaign = excluded.utm_campaign, \
    utm_term = excluded.utm_term, utm_content = excluded.utm_content, gclid = excluded.gclid, \
    fbclid = excluded.fbclid, metadata = excluded.metadata, node_id = excluded.node_id \
    WHERE visitors.tenant_id = excluded.tenant_id \
    AND excluded.last_seen_at >= visitors.last_seen_at";

const EVENT_COLS: &str = "id, tenant_id, widget_id, visitor_id, type, url, at, data";
const EVENT_NCOLS: usize = 8;

fn bind_visitor<'q>(q: AnyQuery<'q>, v: &'q Visitor) -> AnyQuery<'q> {
    q.bind(v.widget_id.as_str())
        .bind(v.visitor_id.as_str())
        .bind(v.tenant_id.as_str())
        .bind(v.session_id.as_deref())
        .bind(v.first_seen_at)
        .bind(v.last_seen_at)
        .bind(v.previous_seen_at)
        .bind(v.visit_count)
        .bind(v.current_session_started_at)
        .bind(v.current_page_started_at)
        .bind(v.last_interaction_at)
        .bind(v.session_event_count)
        .bind(v.current_url.as_deref())
        .bind(v.page_title.as_deref())
        .bind(v.referrer.as_deref())
        .bind(v.ip.as_deref())
        .bind(v.user_agent.as_deref())
        .bind(v.browser.as_deref())
        .bind(v.os.as_deref())
        .bind(v.device.as_deref())
        .bind(i64::from(v.is_bot))
        .bind(v.utm_source.as_deref())
        .bind(v.utm_medium.as_deref())
        .bind(v.utm_campaign.as_deref())
        .bind(v.utm_term.as_deref())
        .bind(v.utm_content.as_deref())
        .bind(v.gclid.as_deref())
        .bind(v.fbclid.as_deref())
        .bind(v.metadata.as_str())
}

pub(crate) fn visitor_from_row(row: &AnyRow) -> Result<Visitor> {
    Ok(Visitor {
        widget_id: row.try_get("widget_id")?,
        visitor_id: row.try_get("visitor_id")?,
        tenant_id: row.try_get("tenant_id")?,
        session_id: row.try_get("session_id")?,
        first_seen_at: row.try_get("first_seen_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        previous_seen_at: row.try_get("previous_seen_at")?,
        visit_count: row.try_get("visit_count")?,
        current_session_started_at: row.try_get("current_session_started_at")?,
        current_page_started_at: row.try_get("current_page_started_at")?,
        last_interaction_at: row.try_get("last_interaction_at")?,
        session_event_count: row.try_get("session_event_count")?,
        current_url: row.try_get("current_url")?,
        page_title: row.try_get("page_title")?,
        referrer: row.try_get("referrer")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        browser: row.try_get("browser")?,
        os: row.try_get("os")?,
        device: row.try_get("device")?,
        is_bot: row.try_get::<i64, _>("is_bot")? != 0,
        utm_source: row.try_get("utm_source")?,
        utm_medium: row.try_get("utm_medium")?,
        utm_campaign: row.try_get("utm_campaign")?,
        utm_term: row.try_get("utm_term")?,
        utm_content: row.try_get("utm_content")?,
        gclid: row.try_get("gclid")?,
        fbclid: row.try_get("fbclid")?,
        metadata: row.try_get("metadata")?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<VisitorEvent> {
    Ok(VisitorEvent {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        widget_id: row.try_get("widget_id")?,
        visitor_id: row.try_get("visitor_id")?,
        kind: row.try_get("type")?,
        url: row.try_get("url")?,
        at: row.try_get("at")?,
        data: row.try_get("data")?,
    })
}

impl Store {
    /// Writes a batch of visitor snapshots (upserted by widget and visitor id)
    /// and activity events (inserted) in ONE transaction of multi-row
    /// statements. All or nothing. A snapshot never moves a visitor row to
    /// another tenant, and never overwrites a newer one (`last_seen_at`: in a cluster
    /// another node may have written the visitor since).
    pub async fn write_visitor_batch(
        &self,
        visitors: &[Visitor],
        events: &[VisitorEvent],
    ) -> Result<()> {
        self.write_activity(visitors, events, &[]).await
    }

    /// The node whose presence last wrote the visitor ([`Store::with_node_id`]), and when it
    /// last saw them (unix ms); `None` when the visitor is unknown (or not the tenant's).
    pub async fn visitor_node(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
    ) -> Result<Option<(Option<String>, i64)>> {
        let row = sqlx::query(
            "SELECT node_id, last_seen_at FROM visitors \
             WHERE widget_id = $1 AND visitor_id = $2 AND tenant_id = $3",
        )
        .bind(widget_id)
        .bind(visitor_id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("node_id")?, r.try_get("last_seen_at")?)))
            .transpose()
    }

    /// [`write_visitor_batch`](Self::write_visitor_batch), adding in the same transaction the
    /// visits seen to start (`visits`, added to each widget's and day's count).
    pub async fn write_activity(
        &self,
        visitors: &[Visitor],
        events: &[VisitorEvent],
        visits: &[VisitDay],
    ) -> Result<()> {
        if visitors.is_empty() && events.is_empty() && visits.is_empty() {
            return Ok(());
        }
        if visitors
            .iter()
            .any(|v| v.widget_id.is_empty() || v.visitor_id.is_empty() || v.tenant_id.is_empty())
            || events
                .iter()
                .any(|e| e.id.is_empty() || e.tenant_id.is_empty())
        {
            return Err(StorageError::Invalid(
                "visitor widget_id, visitor_id and tenant_id are required",
            ));
        }
        let anonymous = self.anonymous_params();
        // Rows are locked in one order (widget, visitor; widget, day) by every writer, so that
        // two nodes flushing the same visitors at once wait for each other rather than
        // deadlock (PostgreSQL).
        let mut visitors: Vec<&Visitor> = visitors.iter().collect();
        visitors.sort_unstable_by(|a, b| {
            (&a.widget_id, &a.visitor_id).cmp(&(&b.widget_id, &b.visitor_id))
        });
        let mut visits: Vec<&VisitDay> = visits.iter().filter(|d| d.visits > 0).collect();
        visits.sort_unstable_by(|a, b| (&a.widget_id, a.day).cmp(&(&b.widget_id, b.day)));
        let mut tx = self.pool.begin().await?;
        for chunk in visitors.chunks(VISITOR_CHUNK) {
            let sql = format!(
                "INSERT INTO visitors ({VISITOR_COLS}, node_id) VALUES {}{VISITOR_UPSERT}",
                values_list(chunk.len(), VISITOR_NCOLS + 1, anonymous)
            );
            let mut q =
                sqlx::query(&sql).persistent(chunk.len() == VISITOR_CHUNK || chunk.len() == 1);
            for v in chunk {
                q = bind_visitor(q, v).bind(self.node_id());
            }
            q.execute(&mut *tx)
                .await
                .map_err(|e| StorageError::from_write(e, "visitor"))?;
        }
        for chunk in events.chunks(EVENT_CHUNK) {
            let sql = format!(
                "INSERT INTO visitor_events ({EVENT_COLS}) VALUES {}",
                values_list(chunk.len(), EVENT_NCOLS, anonymous)
            );
            let mut q =
                sqlx::query(&sql).persistent(chunk.len() == EVENT_CHUNK || chunk.len() == 1);
            for e in chunk {
                q = q
                    .bind(e.id.as_str())
                    .bind(e.tenant_id.as_str())
                    .bind(e.widget_id.as_str())
                    .bind(e.visitor_id.as_str())
                    .bind(e.kind.as_str())
                    .bind(e.url.as_deref())
                    .bind(e.at)
                    .bind(e.data.as_str());
            }
            q.execute(&mut *tx)
                .await
                .map_err(|e| StorageError::from_write(e, "visitor event id"))?;
        }
        for d in visits {
            sqlx::query(
                "INSERT INTO visit_days (widget_id, day, visits) VALUES ($1, $2, $3) \
                 ON CONFLICT (widget_id, day) DO UPDATE SET visits = visit_days.visits + excluded.visits",
            )
            .bind(d.widget_id.as_str())
            .bind(d.day - d.day.rem_euclid(DAY_MS))
            .bind(d.visits)
            .execute(&mut *tx)
            .await
            .map_err(|e| StorageError::from_write(e, "visit day"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Visits started on each UTC day of widget `widget_id` of tenant `tenant_id` from
    /// `from_ms` on (rounded down to its day), oldest first: (day start, visits); days without
    /// visits are left out.
    pub async fn visits_per_day(
        &self,
        tenant_id: &str,
        widget_id: &str,
        from_ms: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT d.day, d.visits FROM visit_days d JOIN widgets w ON w.id = d.widget_id \
             WHERE d.widget_id = $1 AND w.tenant_id = $2 AND d.day >= $3 ORDER BY d.day LIMIT 400",
        )
        .bind(widget_id)
        .bind(tenant_id)
        .bind(from_ms - from_ms.rem_euclid(DAY_MS))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }

    /// One visitor of a widget, whatever the tenant (for the presence's lazy
    /// load); `Ok(None)` when never stored.
    pub async fn find_visitor(&self, widget_id: &str, visitor_id: &str) -> Result<Option<Visitor>> {
        let sql =
            format!("SELECT {VISITOR_COLS} FROM visitors WHERE widget_id = $1 AND visitor_id = $2");
        let row = sqlx::query(&sql)
            .bind(widget_id)
            .bind(visitor_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(visitor_from_row).transpose()
    }

    /// Visitors of the tenant's widget last seen at or after `since_ms`, most
    /// recent first, at most `limit` (capped at [`MAX_LIST_VISITORS`]).
    pub async fn list_live_visitors(
        &self,
        tenant_id: &str,
        widget_id: &str,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<Visitor>> {
        let sql = format!(
            "SELECT {VISITOR_COLS} FROM visitors WHERE tenant_id = $1 AND widget_id = $2 \
             AND last_seen_at >= $3 ORDER BY last_seen_at DESC, visitor_id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(widget_id)
            .bind(since_ms)
            .bind(i64::from(limit.min(MAX_LIST_VISITORS)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(visitor_from_row).collect()
    }

    /// The activity log of one visitor of the tenant's widget, newest first,
    /// at most `limit` (capped at [`MAX_LIST_VISITOR_EVENTS`]).
    pub async fn list_visitor_events(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        limit: u32,
    ) -> Result<Vec<VisitorEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM visitor_events WHERE tenant_id = $1 AND widget_id = $2 \
             AND visitor_id = $3 ORDER BY at DESC, id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(widget_id)
            .bind(visitor_id)
            .bind(i64::from(limit.min(MAX_LIST_VISITOR_EVENTS)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }
}
