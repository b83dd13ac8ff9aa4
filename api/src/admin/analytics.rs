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
use serde::Deserialize;
use serde_json::{json, Value};

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
                .query(&[("limit", "visitors analysed, 1-5000, default 120")]),
        )
        .get(
            "/widgets/{id}/campaign-report",
            campaign_report,
            Spec::new(T, r, "Per campaign tag: visitors, sessions, chats and leads")
                .query(&[("limit", "visitors analysed, 1-5000, default 1000")]),
        )
        .get(
            "/widgets/{id}/campaign-aliases",
            get_aliases,
            Spec::new(T, r, "Campaign tag aliases"),
        )
        .patch(
            "/widgets/{id}/campaign-aliases",
            patch_aliases,
            Spec::new(T, Auth::Scope("widgets:write"), "Set or remove campaign tag aliases")
                .body(Body::Json("aliases: [{tagKey, tagValue, alias (null removes)}]")),
        )
        .get(
            "/widgets/{id}/site-directory",
            site_directory,
            Spec::new(T, r, "The site's pages as the widget saw them"),
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

/// `[{value, alias, visitors}]`, most visitors first (then by value), at most [`TOP`].
fn top(counts: BTreeMap<String, u64>, key: &str, aliases: &Aliases) -> Value {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Value::Array(
        v.into_iter()
            .take(TOP)
            .map(|(value, n)| {
                let alias = aliases.get(&(key.to_owned(), value.clone()));
                json!({"value": value, "alias": alias, "visitors": n})
            })
            .collect(),
    )
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

/// The analytics document over `visitors` (most recent first) at `now_ms`.
pub fn report(visitors: &[Visitor], aliases: &Aliases, now_ms: i64, live_timeout_ms: i64) -> Value {
    let n = visitors.len() as u64;
    let sessions: i64 = visitors.iter().map(|v| v.visit_count).sum();
    let returning: Vec<&Visitor> = visitors.iter().filter(|v| v.visit_count > 1).collect();
    let bots: Vec<(&Visitor, Vec<&str>)> = visitors
        .iter()
        .map(|v| (v, bot_reasons(v)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    let gclid = visitors.iter().filter(|v| v.gclid.is_some()).count();
    let fbclid = visitors.iter().filter(|v| v.fbclid.is_some()).count();
    let paid_medium = visitors
        .iter()
        .filter(|v| {
            v.utm_medium
                .as_deref()
                .is_some_and(|m| PAID_MEDIUMS.contains(&m.to_ascii_lowercase().as_str()))
        })
        .count();
    let paid = visitors.iter().filter(|v| is_paid(v)).count();
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
    let direct = "(direct)".to_owned();
    json!({
        "visitorsAnalysed": n,
        "from": visitors.iter().map(|v| v.last_seen_at).min(),
        "to": visitors.iter().map(|v| v.last_seen_at).max(),
        "totals": {
            "visitors": n,
            "sessions": sessions,
            "liveNow": visitors.iter().filter(|v| v.last_seen_at >= now_ms - live_timeout_ms).count(),
            "newVisitors": n - returning.len() as u64,
            "returningVisitors": returning.len(),
            "botLikeSessions": bots.len(),
            "paidClicks": paid,
            "interactionEvents": visitors.iter().map(|v| v.session_event_count).sum::<i64>(),
        },
        "utm": {
            "source": top(count_by(visitors, |v| v.utm_source.clone()), "utm_source", aliases),
            "medium": top(count_by(visitors, |v| v.utm_medium.clone()), "utm_medium", aliases),
            "campaign": top(count_by(visitors, |v| v.utm_campaign.clone()), "utm_campaign", aliases),
            "term": top(count_by(visitors, |v| v.utm_term.clone()), "utm_term", aliases),
            "content": top(count_by(visitors, |v| v.utm_content.clone()), "utm_content", aliases),
        },
        "paidClicks": {"total": paid, "gclid": gclid, "fbclid": fbclid, "paidMedium": paid_medium},
        "referrers": top(
            count_by(visitors, |v| Some(referrer_host(v.referrer.as_deref()).unwrap_or_else(|| direct.clone()))),
            "referrer",
            aliases,
        ),
        "browsers": top(count_by(visitors, |v| v.browser.clone()), "browser", aliases),
        "operatingSystems": top(count_by(visitors, |v| v.os.clone()), "os", aliases),
        "devices": top(count_by(visitors, |v| v.device.clone()), "device", aliases),
        "returningVisitors": returning_list.iter().take(TOP).map(|v| json!({
            "visitorId": v.visitor_id, "visitCount": v.visit_count,
            "previousSeenAt": v.previous_seen_at, "lastSeenAt": v.last_seen_at,
        })).collect::<Vec<_>>(),
        "botLikeSessions": bots.iter().take(BOT_LIST).map(|(v, r)| json!({
            "visitorId": v.visitor_id, "ip": v.ip, "userAgent": v.user_agent,
            "sessionEventCount": v.session_event_count, "reasons": r,
        })).collect::<Vec<_>>(),
        "topIps": ips.iter().take(TOP).map(|(ip, (vis, ses))| json!({
            "ip": ip, "visitors": vis, "sessions": ses,
        })).collect::<Vec<_>>(),
    })
}

/// Campaign report rows: one per (tag key, tag value) seen among `visitors`.
pub fn campaign_rows(
    visitors: &[Visitor],
    engagement: &HashMap<String, Engagement>,
    aliases: &Aliases,
) -> Vec<Value> {
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
    let mut out: Vec<(u64, Value)> = rows
        .into_iter()
        .map(|((k, val), r)| {
            let alias = aliases.get(&(k.to_owned(), val.clone()));
            let rate = if r.visitors == 0 {
                0.0
            } else {
                r.leads as f64 / r.visitors as f64
            };
            (
                r.visitors,
                json!({
                    "tagKey": k, "tagValue": val, "alias": alias,
                    "visitors": r.visitors, "sessions": r.sessions,
                    "returningVisitors": r.returning, "chattedVisitors": r.chatted,
                    "leadVisitors": r.leads, "messages": r.messages, "callbacks": r.callbacks,
                    "leadRate": (rate * 10_000.0).round() / 10_000.0,
                }),
            )
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.0));
    out.into_iter().map(|x| x.1).collect()
}

/// The site's pages from page events (newest first): views, last view and latest title.
pub fn directory(events: &[PageEvent]) -> Vec<Value> {
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
        .map(|(url, p)| {
            let path = crate::http::urls::path_of(&url);
            json!({"url": url, "path": path, "title": p.title, "views": p.views, "lastViewedAt": p.last})
        })
        .collect()
}

async fn analytics(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
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
    out["widgetId"] = json!(w.id);
    out["limit"] = json!(n);
    Ok(Json(out))
}

async fn campaign_report(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
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
    let rows = campaign_rows(&visitors, &engagement, &aliases);
    Ok(Json(json!({
        "widgetId": w.id,
        "visitorsAnalysed": visitors.len(),
        "campaigns": rows,
    })))
}

async fn get_aliases(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let list = st.store.list_campaign_aliases(&w.tenant_id, &w.id).await?;
    Ok(Json(json!({"widgetId": w.id, "aliases": list})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AliasIn {
    tag_key: String,
    tag_value: String,
    /// `null` or empty removes the alias.
    #[serde(default)]
    alias: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasesBody {
    aliases: Vec<AliasIn>,
}

async fn patch_aliases(
    Scoped(ctx, _): Scoped<WidgetsWrite>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AliasesBody>,
) -> Result<Json<Value>, ApiError> {
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
    let list = st
        .store
        .set_campaign_aliases(&w.tenant_id, &w.id, &changes)
        .await?;
    Ok(Json(json!({"widgetId": w.id, "aliases": list})))
}

async fn site_directory(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<AnalyticsState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let w = st.store.get_widget(&ctx.tenant_id, &id).await?;
    let events = st
        .presence
        .page_events(&w.tenant_id, &w.id, DIRECTORY_EVENTS)
        .await?;
    Ok(Json(json!({"widgetId": w.id, "pages": directory(&events)})))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = report(&[a, b, c, d], &aliases, 0, 90_000);
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
        let rows = campaign_rows(&[a, b], &engagement, &Aliases::new());
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
        let pages = directory(&[
            e(
                "https://example.com/pricing?utm_source=x",
                Some("Pricing v2"),
                30,
            ),
            e("https://example.com/pricing", Some("Pricing"), 20),
            e("https://example.com/", None, 10),
        ]);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0]["url"], "https://example.com/pricing");
        assert_eq!(pages[0]["path"], "/pricing");
        assert_eq!(pages[0]["views"], 2);
        assert_eq!(pages[0]["title"], "Pricing v2", "latest title");
        assert_eq!(pages[0]["lastViewedAt"], 30);
        assert_eq!(pages[1]["path"], "/");
    }
}
