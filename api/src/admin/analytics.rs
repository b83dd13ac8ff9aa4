//! Visitor analytics, campaign report, campaign aliases and the site directory of a widget.
//!
//! - `GET /api/v1/widgets/{id}/analytics?limit=` (analytics:read): over the `limit` most
//!   recently seen visitors (1-5000, default 120): totals, UTM breakdowns, paid clicks,
//!   referrers, browsers / operating systems / devices, returning visitors, bot-like
//!   sessions and top IPs.
//! - `GET /api/v1/widgets/{id}/campaign-report?limit=` (analytics:read): per campaign tag
//!   value (UTM keys, referrer host, paid-click ids): visitors, sessions, returning visitors,
//!   chats and callbacks/leads, with the tag's alias.
//! - `GET|PATCH /api/v1/widgets/{id}/campaign-aliases` (analytics:read / widgets:write).
//! - `GET /api/v1/widgets/{id}/site-directory` (analytics:read): the site's pages as the
//!   widget saw them (URL, title, views, last view), for direct-navigate.
//!
//! Aggregation is plain functions over visitor records ([`report`], [`campaign_rows`]), so
//! it is tested without a server.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::Json;
use ringside_storage::{CampaignAlias, Engagement, PageEvent, Visitor, MAX_RECENT_VISITORS};
use serde::{Deserialize, Serialize};

use crate::auth::{AnalyticsRead, Scoped, WidgetsWrite};
use crate::extract::{query_limit, ApiJson};
use crate::openapi::{Auth, Body, DocRouter, Spec};
use crate::{ApiError, AppState};

/// What the analytics handlers use of the application state.
#[derive(Clone)]
pub struct AnalyticsState {
    store: ringside_storage::Store,
    presence: std::sync::Arc<crate::Presence>,
}

impl axum::extract::FromRef<AppState> for AnalyticsState {
    fn from_ref(st: &AppState) -> Self {
        AnalyticsState {
            store: st.store.clone(),
            presence: st.presence.clone(),
        }
    }
}

/// Default `?limit=` (visitors analysed).
const DEFAULT_LIMIT: u32 = 120;
/// Entries per breakdown list.
const TOP: usize = 20;
/// Bot-like sessions listed.
const BOT_LIST: usize = 50;
/// Page events read for the site directory, and pages listed.
const DIRECTORY_EVENTS: u32 = 10_000;
const DIRECTORY_PAGES: usize = 200;
/// `utm_medium` values that mean a paid click.
const PAID_MEDIUMS: &[&str] = &[
    "cpc",
    "ppc",
    "paid",
    "paidsearch",
    "paid_search",
    "paid-search",
    "paidsocial",
    "paid_social",
    "paid-social",
    "cpm",
    "display",
    "cpv",
];
/// Interactions within the first minute of a visit above which it looks automated.
const BURST_EVENTS: i64 = 30;

pub(crate) fn routes() -> DocRouter {
    const T: &str = "Analytics";
    let r = Auth::Scope("analytics:read");
    DocRouter::new("/api/v1")
        .get(
            "/widgets/{id}/analytics",
            analytics,
            Spec::new(T, r, "Visitor analytics: UTM, paid clicks, referrers, browsers, OS, returning visitors, bot-like sessions, top IPs")
                .query(&[("limit", "visitors analysed, 1-5000, default 120")])
                .returns::<Analytics>(),
        )
        .get(
            "/widgets/{id}/campaign-report",
            campaign_report,
            Spec::new(T, r, "Per campaign tag: visitors, sessions, chats and leads")
                .query(&[("limit", "visitors analysed, 1-5000, default 1000")])
                .returns::<CampaignReport>(),
        )
        .get(
            "/widgets/{id}/campaign-aliases",
            get_aliases,
            Spec::new(T, r, "Campaign tag aliases").returns::<AliasList>(),
        )
        .patch(
            "/widgets/{id}/campaign-aliases",
            patch_aliases,
            Spec::new(T, Auth::Scope("widgets:write"), "Set or remove campaign tag aliases")
                .body(Body::Json("aliases: [{tagKey, tagValue, alias (null removes)}]"))
                .takes::<AliasesBody>()
                .returns::<AliasList>(),
        )
        .get(
            "/widgets/{id}/site-directory",
            site_directory,
            Spec::new(T, r, "The site's pages as the widget saw them").returns::<SiteDirectory>(),
        )
}

fn limit(q: &HashMap<String, String>) -> Result<u32, ApiError> {
    query_limit(q, DEFAULT_LIMIT, MAX_RECENT_VISITORS)
}

/// Aliases by (tag key, tag value).
type Aliases = HashMap<(String, String), String>;

pub(crate) fn alias_map(list: Vec<CampaignAlias>) -> Aliases {
    list.into_iter()
        .map(|a| ((a.tag_key, a.tag_value), a.alias))
        .collect()
}

/// The host of a referrer URL, lowercased (`None` for an empty or unparsable one).
pub fn referrer_host(r: Option<&str>) -> Option<String> {
    crate::http::urls::host_of(r?)
}

/// Why a visit looks automated (empty: it does not).
pub fn bot_reasons(v: &Visitor) -> Vec<&'static str> {
    let mut r = Vec::new();
    if v.is_bot {
        r.push("bot_user_agent");
    }
    match v.user_agent.as_deref() {
        None | Some("") => r.push("no_user_agent"),
        Some(ua) => {
            let ua = ua.to_ascii_lowercase();
            if [
                "headless",
                "phantomjs",
                "puppeteer",
                "playwright",
                "selenium",
            ]
            .iter()
            .any(|k| ua.contains(k))
            {
                r.push("headless_browser");
            }
        }
    }
    if v.session_event_count >= BURST_EVENTS
        && v.last_interaction_at
            .is_some_and(|t| t - v.current_session_started_at < 60_000)
    {
        r.push("interaction_burst");
    }
    r
}

fn is_paid(v: &Visitor) -> bool {
    v.gclid.is_some()
        || v.fbclid.is_some()
        || v.utm_medium
            .as_deref()
            .is_some_and(|m| PAID_MEDIUMS.contains(&m.to_ascii_lowercase().as_str()))
}

/// One value of a breakdown (a UTM tag, referrer host, browser...).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TopValue {
    /// The value as tracked (`(direct)` for visits without a referrer).
    #[schemars(example = &"google")]
    pub value: String,
    /// Its alias (set with PATCH campaign-aliases), if any.
    pub alias: Option<String>,
    /// Visitors with this value.
    pub visitors: u64,
}

/// `[{value, alias, visitors}]`, most visitors first (then by value), at most [`TOP`].
fn top(counts: BTreeMap<String, u64>, key: &str, aliases: &Aliases) -> Vec<TopValue> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter()
        .take(TOP)
        .map(|(value, visitors)| TopValue {
            alias: aliases.get(&(key.to_owned(), value.clone())).cloned(),
            value,
            visitors,
        })
        .collect()
}

fn count_by<'a>(
    visitors: &'a [Visitor],
    f: impl Fn(&'a Visitor) -> Option<String>,
) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for v in visitors {
        if let Some(k) = f(v) {
            *m.entry(k).or_insert(0) += 1;
        }
    }
    m
}

/// Visitor analytics of a widget over its most recently seen visitors.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analytics {
    /// The widget.
    pub widget_id: String,
    /// The `?limit=` in force (visitors asked for).
    pub limit: u32,
    /// Visitors analysed (at most `limit`).
    pub visitors_analysed: u64,
    /// The oldest last-seen time among them, Unix ms (null when none).
    pub from: Option<i64>,
    /// The newest last-seen time among them, Unix ms.
    pub to: Option<i64>,
    /// Headline counts.
    pub totals: Totals,
    /// UTM breakdowns.
    pub utm: Utm,
    /// Paid clicks by kind.
    pub paid_clicks: PaidClicks,
    /// Referrer hosts, `(direct)` for none.
    pub referrers: Vec<TopValue>,
    /// Browsers.
    pub browsers: Vec<TopValue>,
    /// Operating systems.
    pub operating_systems: Vec<TopValue>,
    /// Device kinds.
    pub devices: Vec<TopValue>,
    /// The most frequent returning visitors.
    pub returning_visitors: Vec<Returning>,
    /// Sessions that look automated, with why.
    pub bot_like_sessions: Vec<BotLike>,
    /// The IP addresses with most visitors.
    pub top_ips: Vec<TopIp>,
}

/// Headline counts of [`Analytics`].
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Visitors analysed.
    pub visitors: u64,
    /// Their visits (sessions) in all.
    pub sessions: i64,
    /// Seen within the live timeout.
    pub live_now: u64,
    /// On their first visit.
    pub new_visitors: u64,
    /// Back for another visit.
    pub returning_visitors: u64,
    /// Looking automated.
    pub bot_like_sessions: u64,
    /// Arrived through a paid click.
    pub paid_clicks: u64,
    /// Tracked interactions (clicks, scrolls, forms) in their current sessions.
    pub interaction_events: i64,
}

/// UTM breakdowns of [`Analytics`].
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Utm {
    /// `utm_source` values.
    pub source: Vec<TopValue>,
    /// `utm_medium` values.
    pub medium: Vec<TopValue>,
    /// `utm_campaign` values.
    pub campaign: Vec<TopValue>,
    /// `utm_term` values.
    pub term: Vec<TopValue>,
    /// `utm_content` values.
    pub content: Vec<TopValue>,
}

/// Paid clicks of [`Analytics`].
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaidClicks {
    /// Visitors with any of the below.
    pub total: u64,
    /// With a Google Ads click id.
    pub gclid: u64,
    /// With a Meta click id.
    pub fbclid: u64,
    /// With a paid `utm_medium` (cpc, ppc, paid_social, display...).
    pub paid_medium: u64,
}

/// A returning visitor.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Returning {
    /// The visitor.
    pub visitor_id: String,
    /// Visits so far.
    pub visit_count: i64,
    /// The visit before the current one began, Unix ms.
    pub previous_seen_at: Option<i64>,
    /// Last seen, Unix ms.
    pub last_seen_at: i64,
}

/// A session that looks automated.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BotLike {
    /// The visitor.
    pub visitor_id: String,
    /// Its address.
    pub ip: Option<String>,
    /// Its browser's User-Agent.
    pub user_agent: Option<String>,
    /// Interactions in the current session.
    pub session_event_count: i64,
    /// Why it looks automated.
    #[schemars(extend("items" = {"enum": ["bot_user_agent", "no_user_agent", "headless_browser", "interaction_burst"]}))]
    pub reasons: Vec<&'static str>,
}

/// An address and its traffic.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TopIp {
    /// The address.
    #[schemars(example = &"203.0.113.7")]
    pub ip: String,
    /// Visitors from it.
    pub visitors: u64,
    /// Their visits.
    pub sessions: i64,
}

/// The analytics of `visitors` (most recent first) at `now_ms`; `widget_id` and `limit`
/// are filled in by the caller.
pub fn report(
    visitors: &[Visitor],
    aliases: &Aliases,
    now_ms: i64,
    live_timeout_ms: i64,
) -> Analytics {
    let n = visitors.len() as u64;
    let sessions: i64 = visitors.iter().map(|v| v.visit_count).sum();
    let returning: Vec<&Visitor> = visitors.iter().filter(|v| v.visit_count > 1).collect();
    let bots: Vec<(&Visitor, Vec<&'static str>)> = visitors
        .iter()
        .map(|v| (v, bot_reasons(v)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    let count = |f: &dyn Fn(&Visitor) -> bool| visitors.iter().filter(|v| f(v)).count() as u64;
    let gclid = count(&|v| v.gclid.is_some());
    let fbclid = count(&|v| v.fbclid.is_some());
    let paid_medium = count(&|v| {
        v.utm_medium
            .as_deref()
            .is_some_and(|m| PAID_MEDIUMS.contains(&m.to_ascii_lowercase().as_str()))
    });
    let paid = count(&is_paid);
    let mut ips: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    for v in visitors {
        if let Some(ip) = &v.ip {
            let e = ips.entry(ip.clone()).or_default();
            e.0 += 1;
            e.1 += v.visit_count;
        }
    }
    let mut ips: Vec<(String, (u64, i64))> = ips.into_iter().collect();
    ips.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut returning_list = returning.clone();
    returning_list.sort_by(|a, b| {
        b.visit_count
            .cmp(&a.visit_count)
            .then_with(|| b.last_seen_at.cmp(&a.last_seen_at))
    });
    let by =
        |key: &str, f: fn(&Visitor) -> Option<String>| top(count_by(visitors, f), key, aliases);
    Analytics {
        widget_id: String::new(),
        limit: 0,
        visitors_analysed: n,
        from: visitors.iter().map(|v| v.last_seen_at).min(),
        to: visitors.iter().map(|v| v.last_seen_at).max(),
        totals: Totals {
            visitors: n,
            sessions,
            live_now: count(&|v| v.last_seen_at >= now_ms - live_timeout_ms),
            new_visitors: n - returning.len() as u64,
            returning_visitors: returning.len() as u64,
            bot_like_sessions: bots.len() as u64,
            paid_clicks: paid,
            interaction_events: visitors.iter().map(|v| v.session_event_count).sum(),
        },
        utm: Utm {
            source: by("utm_source", |v| v.utm_source.clone()),
            medium: by("utm_medium", |v| v.utm_medium.clone()),
            campaign: by("utm_campaign", |v| v.utm_campaign.clone()),
            term: by("utm_term", |v| v.utm_term.clone()),
            content: by("utm_content", |v| v.utm_content.clone()),
        },
        paid_clicks: PaidClicks {
            total: paid,
            gclid,
            fbclid,
            paid_medium,
        },
        referrers: by("referrer", |v| {
            Some(referrer_host(v.referrer.as_deref()).unwrap_or_else(|| "(direct)".to_owned()))
        }),
        browsers: by("browser", |v| v.browser.clone()),
        operating_systems: by("os", |v| v.os.clone()),
        devices: by("device", |v| v.device.clone()),
        returning_visitors: returning_list
            .iter()
            .take(TOP)
            .map(|v| Returning {
                visitor_id: v.visitor_id.clone(),
                visit_count: v.visit_count,
                previous_seen_at: v.previous_seen_at,
                last_seen_at: v.last_seen_at,
            })
            .collect(),
        bot_like_sessions: bots
            .into_iter()
            .take(BOT_LIST)
            .map(|(v, reasons)| BotLike {
                visitor_id: v.visitor_id.clone(),
                ip: v.ip.clone(),
                user_agent: v.user_agent.clone(),
                session_event_count: v.session_event_count,
                reasons,
            })
            .collect(),
        top_ips: ips
            .into_iter()
            .take(TOP)
            .map(|(ip, (visitors, sessions))| TopIp {
                ip,
                visitors,
                sessions,
            })
            .collect(),
    }
}

/// One campaign tag value and what its visitors did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignRow {
    /// The tag: a UTM key, `referrer` (host) or `paid_click` (`gclid`/`fbclid`).
    #[schemars(extend("enum" = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "paid_click"]))]
    pub tag_key: &'static str,
    /// The value as tracked.
    #[schemars(example = &"spring-demo")]
    pub tag_value: String,
    /// Its alias, if any.
    pub alias: Option<String>,
    /// Visitors with the tag.
    pub visitors: u64,
    /// Their visits.
    pub sessions: i64,
    /// Those back for another visit.
    pub returning_visitors: u64,
    /// Those who sent a chat message.
    pub chatted_visitors: u64,
    /// Those who left a callback request or lead.
    pub lead_visitors: u64,
    /// Chat messages they sent.
    pub messages: i64,
    /// Callback requests and leads they left.
    pub callbacks: i64,
    /// leadVisitors / visitors, to four decimals.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub lead_rate: f64,
}

/// The campaign report of a widget.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignReport {
    /// The widget.
    pub widget_id: String,
    /// Visitors analysed.
    pub visitors_analysed: u64,
    /// One row per tag and value, most visitors first.
    pub campaigns: Vec<CampaignRow>,
}

/// A widget's campaign aliases.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AliasList {
    /// The widget.
    pub widget_id: String,
    /// Every alias of the widget.
    pub aliases: Vec<CampaignAlias>,
}

/// One page of the site.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SitePage {
    /// The URL without query string or fragment.
    #[schemars(extend("format" = "uri"), example = &"https://shop.example/pricing")]
    pub url: String,
    /// Its path.
    #[schemars(example = &"/pricing")]
    pub path: String,
    /// The latest title seen.
    pub title: Option<String>,
    /// Views among the events read.
    pub views: u64,
    /// The latest view, Unix ms.
    pub last_viewed_at: i64,
}

/// The site's pages as a widget saw them.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteDirectory {
    /// The widget.
    pub widget_id: String,
    /// Most viewed first.
    pub pages: Vec<SitePage>,
}

/// Campaign report rows: one per (tag key, tag value) seen among `visitors`.
pub fn campaign_rows(
    visitors: &[Visitor],
    engagement: &HashMap<String, Engagement>,
    aliases: &Aliases,
) -> Vec<CampaignRow> {
    #[derive(Default)]
    struct Row {
        visitors: u64,
        sessions: i64,
        returning: u64,
        chatted: u64,
        leads: u64,
        messages: i64,
        callbacks: i64,
    }
    let mut rows: BTreeMap<(&'static str, String), Row> = BTreeMap::new();
    for v in visitors {
        let mut tags: Vec<(&'static str, String)> = Vec::new();
        for (k, val) in [
            ("utm_source", &v.utm_source),
            ("utm_medium", &v.utm_medium),
            ("utm_campaign", &v.utm_campaign),
            ("utm_term", &v.utm_term),
            ("utm_content", &v.utm_content),
        ] {
            if let Some(val) = val {
                tags.push((k, val.clone()));
            }
        }
        if let Some(h) = referrer_host(v.referrer.as_deref()) {
            tags.push(("referrer", h));
        }
        if v.gclid.is_some() {
            tags.push(("paid_click", "gclid".into()));
        }
        if v.fbclid.is_some() {
            tags.push(("paid_click", "fbclid".into()));
        }
        let e = engagement.get(&v.visitor_id).cloned().unwrap_or_default();
        for t in tags {
            let r = rows.entry(t).or_default();
            r.visitors += 1;
            r.sessions += v.visit_count;
            r.returning += u64::from(v.visit_count > 1);
            r.chatted += u64::from(e.messages > 0);
            r.leads += u64::from(e.callbacks > 0);
            r.messages += e.messages;
            r.callbacks += e.callbacks;
        }
    }
    let mut out: Vec<CampaignRow> = rows
        .into_iter()
        .map(|((k, val), r)| {
            let rate = if r.visitors == 0 {
                0.0
            } else {
                r.leads as f64 / r.visitors as f64
            };
            CampaignRow {
                tag_key: k,
                alias: aliases.get(&(k.to_owned(), val.clone())).cloned(),
                tag_value: val,
                visitors: r.visitors,
                sessions: r.sessions,
                returning_visitors: r.returning,
                chatted_visitors: r.chatted,
                lead_visitors: r.leads,
                messages: r.messages,
                callbacks: r.callbacks,
                lead_rate: (rate * 10_000.0).round() / 10_000.0,
            }
        })
        .collect();
    // Stable: rows of equal visitors stay in (key, value) order.
    out.sort_by_key(|r| std::cmp::Reverse(r.visitors));
    out
}

/// The site's pages from page events (newest first): views, last view and latest title.
pub fn directory(events: &[PageEvent]) -> Vec<SitePage> {
    struct Page {
        title: Option<String>,
        views: u64,
        last: i64,
    }
    let mut pages: HashMap<String, Page> = HashMap::new();
    for e in events {
        // Without the query string and fragment: `/pricing?utm_source=x` is `/pricing`.
        let url = e.url.split(['?', '#']).next().unwrap_or(&e.url).to_owned();
        let p = pages.entry(url).or_insert(Page {
            title: None,
            views: 0,
            last: e.at,
        });
        p.views += 1;
        if p.title.is_none() {
            p.title = e.title.clone();
        }
        p.last = p.last.max(e.at);
    }
    let mut v: Vec<(String, Page)> = pages.into_iter().collect();
    v.sort_by(|a, b| b.1.views.cmp(&a.1.views).then_with(|| a.0.cmp(&b.0)));
    v.into_iter()
        .take(DIRECTORY_PAGES)
        .map(|(url, p)| SitePage {
            path: crate::http::urls::path_of(&url),
            url,
            title: p.title,
            views: p.views,
            last_viewed_at: p.last,
        })
        .collect()
}

async fn analytics(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Analytics>, ApiError> {
    let n = limit(&q)?;
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let visitors = st.presence.recent_visitors(&w.tenant_id, &w.id, n).await?;
    let aliases = alias_map(st.store.list_campaign_aliases(&w.tenant_id, &w.id).await?);
    let mut out = report(
        &visitors,
        &aliases,
        st.presence.now_ms(),
        st.presence.config().live_timeout_ms,
    );
    out.widget_id = w.id;
    out.limit = n;
    Ok(Json(out))
}

async fn campaign_report(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<CampaignReport>, ApiError> {
    let n = match q.get("limit") {
        None => 1000,
        Some(_) => limit(&q)?,
    };
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let visitors = st.presence.recent_visitors(&w.tenant_id, &w.id, n).await?;
    let engagement: HashMap<String, Engagement> = st
        .store
        .visitor_engagement(&w.tenant_id, &w.id)
        .await?
        .into_iter()
        .collect();
    let aliases = alias_map(st.store.list_campaign_aliases(&w.tenant_id, &w.id).await?);
    Ok(Json(CampaignReport {
        campaigns: campaign_rows(&visitors, &engagement, &aliases),
        visitors_analysed: visitors.len() as u64,
        widget_id: w.id,
    }))
}

async fn get_aliases(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
) -> Result<Json<AliasList>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let aliases = st.store.list_campaign_aliases(&w.tenant_id, &w.id).await?;
    Ok(Json(AliasList {
        widget_id: w.id,
        aliases,
    }))
}

/// One alias to set or remove.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AliasIn {
    /// The tag.
    #[schemars(extend("enum" = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer"]))]
    tag_key: String,
    /// The value as tracked.
    #[schemars(length(min = 1, max = 500), example = &"q3_bf_2026")]
    tag_value: String,
    /// The name to show; `null` or empty removes the alias.
    #[serde(default)]
    #[schemars(length(max = 200), example = &"Black Friday")]
    alias: Option<String>,
}

/// Aliases to set or remove.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasesBody {
    /// At most 200 per request.
    #[schemars(length(max = 200))]
    aliases: Vec<AliasIn>,
}

async fn patch_aliases(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AliasesBody>,
) -> Result<Json<AliasList>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    if b.aliases.len() > 200 {
        return Err(ApiError::InvalidField {
            field: "aliases",
            reason: "at most 200 per request",
        });
    }
    let changes: Vec<(String, String, Option<String>)> = b
        .aliases
        .into_iter()
        .map(|a| (a.tag_key, a.tag_value, a.alias))
        .collect();
    let aliases = st
        .store
        .set_campaign_aliases(&w.tenant_id, &w.id, &changes)
        .await?;
    Ok(Json(AliasList {
        widget_id: w.id,
        aliases,
    }))
}

async fn site_directory(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
) -> Result<Json<SiteDirectory>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let events = st
        .presence
        .page_events(&w.tenant_id, &w.id, DIRECTORY_EVENTS)
        .await?;
    Ok(Json(SiteDirectory {
        pages: directory(&events),
        widget_id: w.id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(id: &str) -> Visitor {
        Visitor {
            widget_id: "w".into(),
            visitor_id: id.into(),
            tenant_id: "t".into(),
            visit_count: 1,
            user_agent: Some("Mozilla/5.0 Chrome/120".into()),
            metadata: "{}".into(),
            ..Visitor::default()
        }
    }

    #[test]
    fn referrer_hosts() {
        assert_eq!(
            referrer_host(Some("https://www.Google.com/search?q=x")).as_deref(),
            Some("www.google.com")
        );
        assert_eq!(
            referrer_host(Some("http://user@host.example:8080/p")).as_deref(),
            Some("host.example")
        );
        assert_eq!(referrer_host(Some("")), None);
        assert_eq!(referrer_host(None), None);
    }

    #[test]
    fn report_counts_everything() {
        let mut a = v("a");
        a.utm_source = Some("google".into());
        a.utm_medium = Some("CPC".into());
        a.utm_campaign = Some("spring-demo".into());
        a.gclid = Some("G1".into());
        a.ip = Some("203.0.113.1".into());
        a.visit_count = 3;
        a.browser = Some("Chrome".into());
        a.referrer = Some("https://www.google.com/".into());
        let mut b = v("b");
        b.utm_source = Some("google".into());
        b.ip = Some("203.0.113.1".into());
        b.fbclid = Some("F1".into());
        b.browser = Some("Chrome".into());
        let mut c = v("c");
        c.is_bot = true;
        c.ip = Some("198.51.100.9".into());
        c.browser = Some("Googlebot".into());
        let mut d = v("d");
        d.user_agent = Some("Mozilla/5.0 HeadlessChrome/120".into());
        d.session_event_count = 40;
        d.current_session_started_at = 1000;
        d.last_interaction_at = Some(20_000);
        let aliases: Aliases = [(
            ("utm_campaign".to_owned(), "spring-demo".to_owned()),
            "Spring demo ads".to_owned(),
        )]
        .into_iter()
        .collect();
        let r = serde_json::to_value(report(&[a, b, c, d], &aliases, 0, 90_000)).unwrap();
        assert_eq!(r["totals"]["visitors"], 4);
        assert_eq!(r["totals"]["sessions"], 6);
        assert_eq!(r["totals"]["returningVisitors"], 1);
        assert_eq!(r["totals"]["botLikeSessions"], 2);
        assert_eq!(r["totals"]["paidClicks"], 2);
        assert_eq!(r["paidClicks"]["gclid"], 1);
        assert_eq!(r["paidClicks"]["fbclid"], 1);
        assert_eq!(r["paidClicks"]["paidMedium"], 1);
        assert_eq!(
            r["utm"]["source"][0],
            json!({"value": "google", "alias": null, "visitors": 2})
        );
        assert_eq!(r["utm"]["campaign"][0]["alias"], "Spring demo ads");
        assert_eq!(
            r["referrers"][0],
            json!({"value": "(direct)", "alias": null, "visitors": 3})
        );
        assert_eq!(r["browsers"][0]["value"], "Chrome");
        assert_eq!(
            r["topIps"][0],
            json!({"ip": "203.0.113.1", "visitors": 2, "sessions": 4})
        );
        assert_eq!(r["returningVisitors"][0]["visitorId"], "a");
        let bots = r["botLikeSessions"].as_array().unwrap();
        assert_eq!(bots[0]["reasons"], json!(["bot_user_agent"]));
        assert_eq!(
            bots[1]["reasons"],
            json!(["headless_browser", "interaction_burst"])
        );
    }

    #[test]
    fn campaign_rows_join_engagement() {
        let mut a = v("a");
        a.utm_campaign = Some("spring".into());
        let mut b = v("b");
        b.utm_campaign = Some("spring".into());
        b.visit_count = 2;
        let engagement: HashMap<String, Engagement> = [(
            "a".to_owned(),
            Engagement {
                messages: 3,
                callbacks: 1,
            },
        )]
        .into_iter()
        .collect();
        let rows =
            serde_json::to_value(campaign_rows(&[a, b], &engagement, &Aliases::new())).unwrap();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r["tagKey"], "utm_campaign");
        assert_eq!(r["visitors"], 2);
        assert_eq!(r["sessions"], 3);
        assert_eq!(r["returningVisitors"], 1);
        assert_eq!(r["chattedVisitors"], 1);
        assert_eq!(r["leadVisitors"], 1);
        assert_eq!(r["messages"], 3);
        assert_eq!(r["leadRate"], 0.5);
    }

    #[test]
    fn directory_groups_urls() {
        let e = |url: &str, title: Option<&str>, at: i64| PageEvent {
            url: url.into(),
            title: title.map(Into::into),
            at,
        };
        let pages = serde_json::to_value(directory(&[
            e(
                "https://example.com/pricing?utm_source=x",
                Some("Pricing v2"),
                30,
            ),
            e("https://example.com/pricing", Some("Pricing"), 20),
            e("https://example.com/", None, 10),
        ]))
        .unwrap();
        let pages = pages.as_array().unwrap();
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0]["url"], "https://example.com/pricing");
        assert_eq!(pages[0]["path"], "/pricing");
        assert_eq!(pages[0]["views"], 2);
        assert_eq!(pages[0]["title"], "Pricing v2", "latest title");
        assert_eq!(pages[0]["lastViewedAt"], 30);
        assert_eq!(pages[1]["path"], "/");
    }
}
