//! `/analytics?widget=`: visitor analytics of one of the viewer's widgets (the first they see
//! unless they pick another): totals, visits per day over the last 30 days (an SVG bar chart
//! drawn here, with the same numbers as a table for screen readers), UTM sources, mediums and
//! campaigns, referrers, paid clicks, browsers, systems and devices, the most viewed pages and
//! the campaign report.
//!
//! The numbers come from the analytics API's own code ([`crate::admin::analytics`]:
//! `report`, `campaign_rows`, `directory`) over bounded reads: the [`VISITORS`] most recently
//! seen visitors of the widget, its [`PAGE_EVENTS`] most recent page events and its campaign
//! aliases (at most [`ringside_storage::MAX_CAMPAIGN_ALIASES`]). Every table shows at most
//! [`TOP`] rows. The chart reads the per-day visit counters
//! ([`ringside_storage::Store::visits_per_day`]).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use ringside_storage::Engagement;

use super::home::my_widgets;
use super::page::{not_found, table, when, Viewer};
use crate::admin::analytics::{alias_map, campaign_rows, directory, report, TopValue};
use crate::extract::html_escape as esc;
use crate::{ApiError, AppState};

/// Visitors analysed: the most recently seen.
const VISITORS: u32 = 500;
/// Page events read for the most viewed pages: the most recent.
const PAGE_EVENTS: u32 = 2_000;
/// Rows per table.
const TOP: usize = 20;
/// Days the chart covers, today included.
const DAYS: i64 = 30;
/// A day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// The chart's drawing box (SVG user units): width, height, room above the bars for the
/// peak's label and below them for the dates.
const CHART_W: i64 = 600;
const CHART_H: i64 = 180;
const CHART_TOP: i64 = 18;
const CHART_BOTTOM: i64 = 22;

/// `GET /analytics?widget=`: the widget picker, then the chosen widget's analytics; 404 for a
/// widget the viewer does not see.
pub(crate) async fn analytics(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let widgets = my_widgets(&st, &v).await?;
    let w = match q.get("widget").map(String::as_str).filter(|w| !w.is_empty()) {
        Some(id) => match widgets.iter().find(|w| w.id == id) {
            Some(w) => w,
            None => return Ok(not_found(&v, "No such widget.")),
        },
        None => match widgets.first() {
            Some(w) => w,
            None => {
                return Ok(v.page(
                    "Analytics",
                    "/analytics",
                    "<section class=\"card\"><h2>No widget yet</h2>\
                     <p>Analytics show who visits the sites your widgets run on. \
                     <a href=\"/widgets\">Create a widget</a> and paste its snippet into your site.</p></section>",
                ))
            }
        },
    };
    let tenant = v.auth.tenant_id.as_str();
    let now = st.presence.now_ms();
    let visitors = st.presence.recent_visitors(tenant, &w.id, VISITORS).await?;
    let aliases = alias_map(st.store.list_campaign_aliases(tenant, &w.id).await?);
    let events = st.presence.page_events(tenant, &w.id, PAGE_EVENTS).await?;
    let r = report(
        &visitors,
        &aliases,
        now,
        st.presence.config().live_timeout_ms,
    );
    // Chats and leads per campaign need every message and callback of the widget
    // (`Store::visitor_engagement` has no bound), too slow for a page: the campaign table
    // shows visitors and visits, and the campaign report API has the rest.
    let no_engagement: HashMap<String, Engagement> = HashMap::new();
    let campaigns = campaign_rows(&visitors, &no_engagement, &aliases);
    let pages = directory(&events);

    // The picker.
    let mut opts = String::new();
    for x in &widgets {
        opts.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(&x.id),
            if x.id == w.id { " selected" } else { "" },
            esc(&x.name)
        ));
    }
    let pick = format!(
        "<form method=\"get\" action=\"/analytics\" class=\"inline\">\
         <label for=\"widget-pick\">Widget</label><select id=\"widget-pick\" name=\"widget\">{opts}</select>\
         <button type=\"submit\" class=\"secondary\">Show</button></form>"
    );

    // What the numbers cover.
    let analysed = visitors.len();
    let scope = if analysed == 0 {
        "<p class=\"hint\">No visitor yet: once the widget's snippet is on your site, visits show here.</p>"
            .to_owned()
    } else {
        format!(
            "<p class=\"hint\">Over the {analysed} most recently seen visitor{}{}.</p>",
            if analysed == 1 { "" } else { "s" },
            r.from
                .map(|t| format!(", seen since {}", when(t)))
                .unwrap_or_default()
        )
    };

    // Totals.
    let totals = &r.totals;
    let stat = |id: &str, label: &str, n: &dyn std::fmt::Display| {
        format!(
            "<section class=\"card\" aria-labelledby=\"{id}\"><h2 id=\"{id}\">{label}</h2>\
             <p class=\"stat\">{n}</p></section>"
        )
    };
    let stats = format!(
        "<div class=\"grid\">{}{}{}{}{}{}</div>",
        stat("t-visitors", "Visitors", &totals.visitors),
        stat("t-visits", "Visits", &totals.sessions),
        stat("t-live", "On the site now", &totals.live_now),
        stat(
            "t-returning",
            "Returning visitors",
            &totals.returning_visitors
        ),
        stat("t-paid", "Paid clicks", &totals.paid_clicks),
        stat("t-bots", "Bot-like visitors", &totals.bot_like_sessions),
    );

    // Visits per day.
    let today = now - now.rem_euclid(DAY_MS);
    let first = today - (DAYS - 1) * DAY_MS;
    let days = visits_per_day(&st.store.visits_per_day(tenant, &w.id, first).await?, now);
    let chart_html = format!(
        "<figure class=\"chart-box\">{}<figcaption class=\"hint\">Visits started per day (UTC).</figcaption>\
         </figure><div class=\"visually-hidden\">{}</div>",
        chart(&days),
        // Without the scrolling wrapper: a hidden region must not scroll (axe).
        table(
            "Visits per day, last 30 days",
            &["Day", "Visits"],
            &days
                .iter()
                .map(|(d, n)| vec![day_label(*d, true), n.to_string()])
                .collect::<Vec<_>>(),
            "No day.",
        )
        .replacen("<div class=\"table-wrap\">", "<div>", 1),
    );

    // Where visitors come from.
    let total = totals.visitors;
    let sources = format!(
        "<h3>UTM source</h3>{}<h3>UTM medium</h3>{}<h3>UTM campaign</h3>{}<h3>Referrers</h3>{}",
        breakdown(
            &r.utm.source,
            "Source",
            total,
            "No visitor came with a utm_source."
        ),
        breakdown(
            &r.utm.medium,
            "Medium",
            total,
            "No visitor came with a utm_medium."
        ),
        breakdown(
            &r.utm.campaign,
            "Campaign",
            total,
            "No visitor came with a utm_campaign."
        ),
        breakdown(&r.referrers, "Referrer", total, "No visitor yet."),
    );
    let paid = &r.paid_clicks;
    let paid_html = format!(
        "<dl class=\"facts\"><dt>Google Ads (gclid)</dt><dd>{}</dd><dt>Meta (fbclid)</dt><dd>{}</dd>\
         <dt>Paid medium (cpc, display, …)</dt><dd>{}</dd><dt>Paid clicks in all</dt><dd>{}</dd></dl>",
        paid.gclid, paid.fbclid, paid.paid_medium, paid.total,
    );
    let tech = format!(
        "<h3>Browsers</h3>{}<h3>Operating systems</h3>{}<h3>Devices</h3>{}",
        breakdown(&r.browsers, "Browser", total, "No browser known yet."),
        breakdown(
            &r.operating_systems,
            "System",
            total,
            "No system known yet."
        ),
        breakdown(&r.devices, "Device", total, "No device known yet."),
    );

    // Most viewed pages.
    let page_rows: Vec<Vec<String>> = pages
        .iter()
        .take(TOP)
        .map(|p| {
            let url = p.url.as_str();
            let path = p.path.as_str();
            let title = p.title.as_deref().filter(|t| !t.is_empty());
            let link = if url.starts_with("http://") || url.starts_with("https://") {
                format!(
                    "<a href=\"{}\" rel=\"noreferrer noopener\" target=\"_blank\">{}</a>",
                    esc(url),
                    esc(path)
                )
            } else {
                esc(path)
            };
            vec![
                match title {
                    Some(t) => format!("{}<br><span class=\"hint\">{link}</span>", esc(t)),
                    None => link,
                },
                p.views.to_string(),
                when(p.last_viewed_at),
            ]
        })
        .collect();
    let pages_html = format!(
        "{}<p class=\"hint\">From the {} most recent page views.</p>",
        table(
            "",
            &["Page", "Views", "Last viewed"],
            &page_rows,
            "No page view yet."
        ),
        events.len()
    );

    // The campaign report.
    let campaign_rows_html: Vec<Vec<String>> = campaigns
        .iter()
        .take(TOP)
        .map(|c| {
            vec![
                esc(tag_label(c.tag_key)),
                value_with_alias(&c.tag_value, c.alias.as_deref()),
                c.visitors.to_string(),
                c.sessions.to_string(),
                c.returning_visitors.to_string(),
            ]
        })
        .collect();
    let campaigns_html = format!(
        "{}<p class=\"hint\">Chats and leads per campaign: <code>GET /api/v1/widgets/{}/campaign-report</code>.</p>",
        table(
            "",
            &["Tag", "Value", "Visitors", "Visits", "Returning"],
            &campaign_rows_html,
            "No campaign tag, referrer or paid click yet.",
        ),
        esc(&w.id),
    );

    let main = format!(
        "{pick}{scope}{stats}\
         <section class=\"card\" aria-labelledby=\"c-h\"><h2 id=\"c-h\">Visits, last 30 days</h2>{chart_html}</section>\
         <section class=\"card\" aria-labelledby=\"s-h\"><h2 id=\"s-h\">Where visitors come from</h2>{sources}</section>\
         <section class=\"card\" aria-labelledby=\"p-h\"><h2 id=\"p-h\">Paid clicks</h2>{paid_html}</section>\
         <section class=\"card\" aria-labelledby=\"pg-h\"><h2 id=\"pg-h\">Most viewed pages</h2>{pages_html}</section>\
         <section class=\"card\" aria-labelledby=\"cr-h\"><h2 id=\"cr-h\">Campaign report</h2>{campaigns_html}</section>\
         <section class=\"card\" aria-labelledby=\"d-h\"><h2 id=\"d-h\">Browsers, systems and devices</h2>{tech}</section>"
    );
    Ok(v.page(&format!("Analytics: {}", w.name), "/analytics", &main))
}

/// A tag value with its alias (the alias first, the raw value under it).
fn value_with_alias(value: &str, alias: Option<&str>) -> String {
    match alias.filter(|a| !a.is_empty()) {
        Some(a) => format!("{}<br><span class=\"hint\">{}</span>", esc(a), esc(value)),
        None => esc(value),
    }
}

/// A campaign tag key for people.
fn tag_label(key: &str) -> &str {
    match key {
        "utm_source" => "UTM source",
        "utm_medium" => "UTM medium",
        "utm_campaign" => "UTM campaign",
        "utm_term" => "UTM term",
        "utm_content" => "UTM content",
        "referrer" => "Referrer",
        "paid_click" => "Paid click",
        other => other,
    }
}

/// A breakdown (`[{value, alias, visitors}]`, most visitors first) as a table with each
/// value's share of the `total` visitors analysed; at most [`TOP`] rows.
fn breakdown(list: &[TopValue], head: &str, total: u64, empty: &str) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .take(TOP)
        .map(|e| {
            let n = e.visitors;
            let share = (n * 100 + total / 2).checked_div(total).unwrap_or(0);
            vec![
                value_with_alias(&e.value, e.alias.as_deref()),
                n.to_string(),
                format!("{share} %"),
            ]
        })
        .collect();
    table("", &[head, "Visitors", "Share"], &rows, empty)
}

/// The last [`DAYS`] UTC days up to `now`'s, oldest first, with the visits stored for each
/// (`stored`: (day start, visits), any order; other days are left out): (day start, visits).
fn visits_per_day(stored: &[(i64, i64)], now: i64) -> Vec<(i64, u64)> {
    let today = now - now.rem_euclid(DAY_MS);
    let first = today - (DAYS - 1) * DAY_MS;
    let mut days: Vec<(i64, u64)> = (0..DAYS).map(|i| (first + i * DAY_MS, 0)).collect();
    for &(day, n) in stored {
        if day < first || day.rem_euclid(DAY_MS) != 0 {
            continue;
        }
        if let Some(d) = usize::try_from((day - first) / DAY_MS)
            .ok()
            .and_then(|i| days.get_mut(i))
        {
            d.1 += u64::try_from(n).unwrap_or(0);
        }
    }
    days
}

/// A day for people: `04 Dec`, or `04 Dec 2026` with the year.
fn day_label(ms: i64, year: bool) -> String {
    // `when` gives `04 Dec 2026, 21:40 UTC`.
    let full = when(ms);
    let date = full.split(',').next().unwrap_or(&full);
    if year {
        date.to_owned()
    } else {
        date.split(' ').take(2).collect::<Vec<_>>().join(" ")
    }
}

/// The days as an SVG bar chart: one bar per day (its number in a tooltip), the peak's
/// value over the plot, the first, middle and last dates under it. `role="img"` with a label
/// that says what it shows; the numbers are also in a table beside it for screen readers.
fn chart(days: &[(i64, u64)]) -> String {
    let total: u64 = days.iter().map(|d| d.1).sum();
    let peak = days
        .iter()
        .copied()
        .fold(None::<(i64, u64)>, |best, d| match best {
            Some(b) if b.1 >= d.1 => Some(b),
            _ => Some(d),
        });
    let max = peak.map_or(0, |p| p.1).max(1);
    let label = match (days.first(), days.last(), peak) {
        (Some(a), Some(b), Some(p)) if total > 0 => format!(
            "Visits per day from {} to {}: {total} in all; the busiest day was {} with {}.",
            day_label(a.0, false),
            day_label(b.0, true),
            day_label(p.0, false),
            p.1
        ),
        _ => "Visits per day over the last 30 days: none yet.".to_owned(),
    };
    let plot_h = CHART_H - CHART_TOP - CHART_BOTTOM;
    let base = CHART_TOP + plot_h;
    let n = i64::try_from(days.len()).unwrap_or(1).max(1);
    let slot = CHART_W / n;
    let bar_w = (slot * 7 / 10).max(1);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\" aria-label=\"{}\">\
         <line class=\"axis\" x1=\"0\" y1=\"{base}\" x2=\"{CHART_W}\" y2=\"{base}\"></line>",
        esc(&label)
    );
    for (i, (day, count)) in (0_i64..).zip(days) {
        let h = i64::try_from(*count)
            .unwrap_or(i64::MAX)
            .saturating_mul(plot_h)
            / i64::try_from(max).unwrap_or(1);
        // A day with visits shows at least a sliver.
        let h = if *count > 0 { h.max(2) } else { 0 };
        svg.push_str(&format!(
            "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{bar_w}\" height=\"{h}\">\
             <title>{}: {count} visit{}</title></rect>",
            i * slot + (slot - bar_w) / 2,
            base - h,
            day_label(*day, false),
            if *count == 1 { "" } else { "s" },
        ));
    }
    if let Some(p) = peak.filter(|p| p.1 > 0) {
        svg.push_str(&format!(
            "<text class=\"tick\" x=\"0\" y=\"{}\">Most: {}</text>",
            CHART_TOP - 6,
            p.1
        ));
    }
    let y = CHART_H - 6;
    let last = days.len().saturating_sub(1);
    for (idx, anchor) in [(0, "start"), (last / 2, "middle"), (last, "end")] {
        if let Some((day, _)) = days.get(idx) {
            let i = i64::try_from(idx).unwrap_or(0);
            let x = match anchor {
                "start" => 0,
                "end" => CHART_W,
                _ => i * slot + slot / 2,
            };
            svg.push_str(&format!(
                "<text class=\"tick\" x=\"{x}\" y=\"{y}\" text-anchor=\"{anchor}\">{}</text>",
                day_label(*day, false)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_fall_on_their_day() {
        let now = 100 * DAY_MS + 5_000;
        let days = visits_per_day(
            &[
                (100 * DAY_MS, 2),
                (99 * DAY_MS, 1),
                (60 * DAY_MS, 7),
                (101 * DAY_MS, 4),
            ],
            now,
        );
        assert_eq!(days.len(), 30);
        assert_eq!(days[29], (100 * DAY_MS, 2));
        assert_eq!(days[28].1, 1);
        assert_eq!(days[0].0, 71 * DAY_MS);
        assert_eq!(
            days.iter().map(|d| d.1).sum::<u64>(),
            3,
            "older and later days are left out"
        );
    }

    #[test]
    fn chart_is_labelled_and_escaped() {
        let now = 100 * DAY_MS;
        let days = visits_per_day(&[(now, 2)], now);
        let svg = chart(&days);
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("2 in all"));
        assert_eq!(svg.matches("<rect").count(), 30);
        let empty = chart(&visits_per_day(&[], now));
        assert!(empty.contains("none yet"));
    }
}
