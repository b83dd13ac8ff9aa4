//! What an alert says, per channel: the ntfy message (title, priority, tags, click URL,
//! actions; a grouped alert counting its events), the email of an alert with each event's
//! details, and the daily summary; from the events' webhook data.

use super::*;

/// At most `n` characters of `s` on one line, with `…` when cut.
pub(super) fn excerpt(s: &str, n: usize) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        return one;
    }
    let mut out: String = one.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub(super) fn text<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// What an event is, for people: (title of one, title of many, urgency, tags).
pub(super) fn kind_of(event_type: &str) -> (&'static str, &'static str, u8, &'static str) {
    match event_type {
        "call.requested" | "call.delivery_started" => {
            ("Incoming call", "incoming calls", 5, "telephone_receiver")
        }
        "call.missed" => ("Missed call", "missed calls", 4, "telephone_receiver,x"),
        "call.unavailable" => (
            "Call while unavailable",
            "calls while unavailable",
            4,
            "telephone_receiver,zzz",
        ),
        "call.delivery_failed" => (
            "A call could not reach a phone",
            "calls that could not reach a phone",
            4,
            "telephone_receiver,warning",
        ),
        "call.answered" => (
            "Call answered",
            "calls answered",
            2,
            "telephone_receiver,white_check_mark",
        ),
        "call.ended" => ("Call ended", "calls ended", 2, "telephone_receiver"),
        "call.assigned" => ("Call assigned", "calls assigned", 3, "telephone_receiver"),
        "chat.message.created" => ("New chat message", "new chat messages", 4, "speech_balloon"),
        "visitor.connected" => ("Visitor on your site", "visitors on your site", 3, "eyes"),
        "callback.submitted" => ("Callback request", "callback requests", 4, "memo"),
        "conversation.assigned" => (
            "Conversation assigned",
            "conversations assigned",
            3,
            "speech_balloon",
        ),
        "conversation.state_changed" => (
            "Conversation changed",
            "conversations changed",
            2,
            "speech_balloon",
        ),
        "usage.updated" => ("Usage", "usage updates", 3, "chart_with_upwards_trend"),
        TEST_ALERT => ("Ringside test alert", "test alerts", 3, "white_check_mark"),
        _ => ("Ringside", "events", 3, "bell"),
    }
}

/// The dashboard page of one event (`None`: the home page).
pub(super) fn page_of(event_type: &str, data: &Value, widget: Option<&str>, base: &str) -> String {
    if let Some(u) = text(data, "dashboardUrl").filter(|u| u.starts_with(base)) {
        return u.to_owned();
    }
    if event_type.starts_with("call.") {
        if let Some(id) = text(data, "callId") {
            return crate::http::urls::call_page(base, id);
        }
    }
    if let (Some(w), Some(v)) = (widget, text(data, "visitorId")) {
        return crate::http::urls::chat_page(base, w, v);
    }
    format!("{base}/")
}

/// One line about one event.
pub(super) fn line_of(event_type: &str, data: &Value) -> String {
    let who = text(data, "name")
        .or_else(|| text(data, "email"))
        .or_else(|| text(data, "phone"));
    let line = match event_type {
        t if t.starts_with("call.") => match (text(data, "visitorId"), text(data, "from")) {
            (Some(_), _) => "A visitor on your site".to_owned(),
            (None, Some(from)) => from.to_owned(),
            (None, None) => "A caller".to_owned(),
        },
        "chat.message.created" => format!("“{}”", text(data, "body").unwrap_or("")),
        "visitor.connected" => {
            let page = text(data, "pageTitle")
                .or_else(|| text(data, "currentUrl"))
                .unwrap_or("a page");
            match text(data, "utmCampaign") {
                Some(c) => format!("On {page} (campaign {c})"),
                None => format!("On {page}"),
            }
        }
        "callback.submitted" => {
            let kind = text(data, "kind").unwrap_or("callback");
            let from = who.unwrap_or("A visitor");
            match text(data, "message") {
                Some(m) => format!("{from} ({kind}): {m}"),
                None => format!("{from} ({kind})"),
            }
        }
        TEST_ALERT => text(data, "message")
            .unwrap_or("Alerts of this rule reach this topic.")
            .to_owned(),
        _ => text(data, "callId")
            .or_else(|| text(data, "visitorId"))
            .unwrap_or("")
            .to_owned(),
    };
    excerpt(&line, 200)
}

/// The ntfy JSON publish body of an alert standing for `count` events, `events` those of them
/// it carries (the first ten at most), `names` the widgets' names.
pub fn ntfy_message(
    rule: &AlertRule,
    event_type: &str,
    events: &[Value],
    count: i64,
    names: &HashMap<String, String>,
    base: &str,
) -> Value {
    let (one, many, urgency, tags) = kind_of(event_type);
    let priority = rule.channel["priority"]
        .as_u64()
        .and_then(|p| u8::try_from(p).ok())
        .filter(|p| (1..=5).contains(p))
        .unwrap_or(urgency);
    let tags: Vec<&str> = tags.split(',').collect();
    let topic = rule.channel["topic"].as_str().unwrap_or_default();
    let widget_of = |e: &Value| e["widgetId"].as_str().map(str::to_owned);
    let name_of = |e: &Value| widget_of(e).and_then(|w| names.get(&w).cloned());
    if count <= 1 {
        let e = events.first().cloned().unwrap_or(Value::Null);
        let data = &e["data"];
        let widget = widget_of(&e);
        let title = match name_of(&e) {
            Some(n) => format!("{one} · {}", excerpt(&n, 60)),
            None => one.to_owned(),
        };
        let click = page_of(event_type, data, widget.as_deref(), base);
        let mut actions = Vec::new();
        if matches!(event_type, "call.requested" | "call.delivery_started") {
            actions.push(json!({"action": "view", "label": "Answer", "url": click, "clear": true}));
        }
        if let (Some(w), Some(v)) = (widget.as_deref(), text(data, "visitorId")) {
            actions.push(json!({"action": "view", "label": "Open chat",
                                "url": crate::http::urls::chat_page(base, w, v), "clear": true}));
        }
        return json!({
            "topic": topic,
            "title": title,
            "message": line_of(event_type, data),
            "priority": priority,
            "tags": tags,
            "click": click,
            "actions": actions,
        });
    }
    let list_page = match event_type {
        t if t.starts_with("call.") => format!("{base}/calls"),
        "chat.message.created" | "callback.submitted" | "conversation.assigned" => {
            format!("{base}/inbox")
        }
        _ => format!("{base}/"),
    };
    let mut lines: Vec<String> = events
        .iter()
        .map(|e| {
            let l = line_of(event_type, &e["data"]);
            match name_of(e) {
                Some(n) => format!("• {l} · {}", excerpt(&n, 40)),
                None => format!("• {l}"),
            }
        })
        .collect();
    let more = count - events.len() as i64;
    if more > 0 {
        lines.push(format!("and {more} more"));
    }
    json!({
        "topic": topic,
        "title": format!("{count} {many}"),
        "message": lines.join("\n"),
        "priority": priority,
        "tags": tags,
        "click": list_page,
        "actions": [{"action": "view", "label": "Open dashboard", "url": list_page, "clear": true}],
    })
}

/// Today's summary instant (unix ms) in `tz` at `at` (`HH:MM`), when it is not later than
/// `now`; `None` before it (or for an unreadable setting).
pub fn digest_instant(now: i64, tz: &str, at: &str) -> Option<i64> {
    let (h, m) = at.split_once(':')?;
    let time = jiff::civil::Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()?;
    let tz = jiff::tz::TimeZone::get(tz).ok()?;
    let today = jiff::Timestamp::from_millisecond(now)
        .ok()?
        .to_zoned(tz.clone())
        .date();
    let instant = today
        .to_datetime(time)
        .to_zoned(tz)
        .ok()?
        .timestamp()
        .as_millisecond();
    (instant <= now).then_some(instant)
}

/// The daily summary: how many of each kind, the latest thirty with their time, links.
pub fn digest_message(rule: &AlertRule, events: &[Value], to: &str, base: &str, tz: &str) -> Mail {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for e in events {
        let t = e["type"].as_str().unwrap_or("").to_owned();
        match counts.iter_mut().find(|(k, _)| *k == t) {
            Some(c) => c.1 += 1,
            None => counts.push((t, 1)),
        }
    }
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    let mut text = match events.len() {
        1 => "Since your last summary: 1 alert.\n\n".to_owned(),
        n => format!("Since your last summary: {n} alerts.\n\n"),
    };
    for (t, n) in &counts {
        let (one, many, _, _) = kind_of(t);
        if *n == 1 {
            text.push_str(&format!("1 × {one}\n"));
        } else {
            text.push_str(&format!("{n} {many}\n"));
        }
    }
    if !events.is_empty() {
        text.push_str("\nLatest:\n");
    }
    for e in events.iter().rev().take(30) {
        let at = e["at"]
            .as_i64()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|t| {
                t.to_zoned(zone.clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        let t = e["type"].as_str().unwrap_or("");
        text.push_str(&format!(
            "• {at} · {} · {}\n",
            kind_of(t).0,
            line_of(t, &e["data"])
        ));
    }
    text.push_str(&format!(
        "\nOpen Ringside: {base}/\n\n-- \nYour daily summary of the alert \u{201c}{}\u{201d}. Change it or turn it off: {base}/settings/alerts\n",
        rule.name
    ));
    Mail {
        to: to.to_owned(),
        subject: match events.len() {
            1 => "Ringside: your daily summary (1 alert)".to_owned(),
            n => format!("Ringside: your daily summary ({n} alerts)"),
        },
        text,
    }
}

/// When, for people: `2026-12-06 14:05 UTC`.
pub(super) fn at_utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The details an email has room for, per event: who called and when, what a callback
/// left, a visitor's page.
pub(super) fn details(event_type: &str, data: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |label: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            out.push(format!("{label}: {}", excerpt(&v, 300)));
        }
    };
    let s = |k: &str| text(data, k).map(str::to_owned);
    match event_type {
        t if t.starts_with("call.") => {
            add("From", s("from"));
            add("To", s("to"));
            add("Started", data["startedAt"].as_i64().map(at_utc));
            add("Status", s("status"));
            add("Reason", s("endReason"));
        }
        "callback.submitted" => {
            add("Kind", s("kind"));
            add("Name", s("name"));
            add("Phone", s("phone"));
            add("Email", s("email"));
            add("Message", s("message"));
            add(
                "Voice note",
                data["voiceNote"]["url"].as_str().map(str::to_owned),
            );
        }
        "visitor.connected" => {
            add("Page", s("currentUrl"));
            add("Referrer", s("referrer"));
            add("Campaign", s("utmCampaign"));
        }
        "chat.message.created" => add("Message", s("body")),
        _ => {}
    }
    out
}

/// The mail of an alert: the ntfy message's title as the subject, its text, each event's
/// details, the links of its click URL and actions, and how to change the rule.
pub fn email_message(
    rule: &AlertRule,
    event_type: &str,
    events: &[Value],
    msg: &Value,
    to: &str,
    base: &str,
) -> Mail {
    let title = msg["title"].as_str().unwrap_or("Ringside");
    let mut text = String::new();
    text.push_str(msg["message"].as_str().unwrap_or(""));
    text.push('\n');
    if events.len() == 1 {
        let d = details(event_type, &events[0]["data"]);
        if !d.is_empty() {
            text.push('\n');
            for line in d {
                text.push_str(&line);
                text.push('\n');
            }
        }
    }
    text.push('\n');
    if let Some(click) = msg["click"].as_str() {
        text.push_str(&format!("Open in Ringside: {click}\n"));
    }
    for a in msg["actions"].as_array().into_iter().flatten() {
        if let (Some(l), Some(u)) = (a["label"].as_str(), a["url"].as_str()) {
            if Some(u) != msg["click"].as_str() || l != "Answer" {
                text.push_str(&format!("{l}: {u}\n"));
            }
        }
    }
    text.push_str(&format!(
        "\n-- \nYou get this because of your alert \u{201c}{}\u{201d}. Change it or turn it off: {base}/settings/alerts\n",
        rule.name
    ));
    Mail {
        to: to.to_owned(),
        subject: format!("Ringside: {title}"),
        text,
    }
}
