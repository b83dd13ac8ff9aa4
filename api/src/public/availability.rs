//! Is anyone there? A widget's availability as its visitors' page needs it: within business
//! hours (in the widget's time zone, from the system's zone database), and with someone who
//! can answer now — an operator available in the dashboard (the console socket), a SIP phone
//! of the widget registered, or numbers it forwards to. Outside hours, the widget shows its
//! offline form and says when the team is back.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use ringside_storage::BusinessHours;
use serde::Serialize;

use crate::ApiError;

/// A widget's availability now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    /// Within business hours and someone can answer.
    pub online: bool,
    /// Within business hours (always, without hours).
    pub open: bool,
    /// Why not online: `outside_hours` or `no_operator`.
    #[schemars(extend("enum" = ["outside_hours", "no_operator", null]))]
    pub reason: Option<&'static str>,
    /// When the hours open next (unix ms), when closed now.
    pub back_at: Option<i64>,
    /// The hours' time zone, when hours apply.
    pub time_zone: Option<String>,
}

/// The time zone named `name` (`UTC` when empty); an unknown name is a 422 on `timeZone`.
pub fn zone(name: &str) -> Result<TimeZone, ApiError> {
    if name.is_empty() || name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|_| ApiError::InvalidField {
        field: "timeZone",
        reason: "not a time zone of the zone database (e.g. Europe/Lisbon)",
    })
}

/// Whether `h` is open at `now_ms`, and if not, when it opens next (within a week).
pub fn hours_at(h: &BusinessHours, now_ms: i64) -> Result<(bool, Option<i64>), ApiError> {
    if !h.enabled {
        return Ok((true, None));
    }
    let tz = zone(&h.time_zone)?;
    let now = Timestamp::from_millisecond(now_ms).map_err(|_| ApiError::Internal)?;
    let here = now.to_zoned(tz.clone());
    let today = here.date();
    let minute =
        u32::from(here.hour().unsigned_abs()) * 60 + u32::from(here.minute().unsigned_abs());
    let spans: Vec<(usize, u32, u32)> = h.intervals.iter().filter_map(|i| i.minutes()).collect();
    let weekday = |d: Date| d.weekday().to_monday_zero_offset() as usize;
    if spans
        .iter()
        .any(|&(d, o, c)| d == weekday(today) && o <= minute && minute < c)
    {
        return Ok((true, None));
    }
    let mut next: Option<i64> = None;
    for offset in 0..=7i64 {
        let Ok(day) = today.checked_add(Span::new().days(offset)) else {
            continue;
        };
        for &(_, o, _) in spans.iter().filter(|s| s.0 == weekday(day)) {
            if offset == 0 && o <= minute {
                continue;
            }
            let (hh, mm) = (
                i8::try_from(o / 60).unwrap_or(0),
                i8::try_from(o % 60).unwrap_or(0),
            );
            if let Ok(at) = day.at(hh, mm, 0, 0).to_zoned(tz.clone()) {
                let ms = at.timestamp().as_millisecond();
                if ms > now_ms && next.is_none_or(|n| ms < n) {
                    next = Some(ms);
                }
            }
        }
        if next.is_some() {
            break;
        }
    }
    Ok((false, next))
}

/// The availability at `now_ms` of a widget with hours `h`, given whether someone can answer.
pub fn availability(h: &BusinessHours, someone: bool, now_ms: i64) -> Availability {
    // Hours that cannot be evaluated (a zone removed from the system) count as open.
    let (open, back_at) = hours_at(h, now_ms).unwrap_or((true, None));
    Availability {
        online: open && someone,
        open,
        reason: if !open {
            Some("outside_hours")
        } else if !someone {
            Some("no_operator")
        } else {
            None
        },
        back_at,
        time_zone: h.enabled.then(|| {
            if h.time_zone.is_empty() {
                "UTC".to_owned()
            } else {
                h.time_zone.clone()
            }
        }),
    }
}

/// The availability of widget `w` now: its hours, and whether an operator is available in the
/// dashboard, one of its SIP phones is registered, or it forwards to numbers. A storage error
/// counts as "someone is there" (the chat still reaches the inbox).
pub(crate) async fn now_for(
    store: &ringside_storage::Store,
    console: &crate::console::ConsoleOperators,
    w: &ringside_storage::Widget,
    now_ms: i64,
) -> Availability {
    let hours = store.widget_business_hours(&w.id).await.unwrap_or_default();
    let someone = console.available(&w.tenant_id, &w.id)
        || store
            .widget_has_live_phone(&w.tenant_id, &w.id, now_ms)
            .await
            .unwrap_or(true)
        || store
            .get_call_settings(&w.tenant_id, &w.id)
            .await
            .map(|c| !c.pstn_numbers.is_empty())
            .unwrap_or(true);
    availability(&hours, someone, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_storage::OpenInterval;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn hours(tz: &str, iv: &[(&str, &str, &str)]) -> BusinessHours {
        BusinessHours {
            enabled: true,
            time_zone: tz.into(),
            intervals: iv
                .iter()
                .map(|(d, o, c)| OpenInterval {
                    day: (*d).into(),
                    open: (*o).into(),
                    close: (*c).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn hours_follow_the_zone_and_find_the_next_opening() {
        // Weekdays 09:00-17:00 in Lisbon (UTC+0 in winter, UTC+1 in summer).
        let week: Vec<(&str, &str, &str)> = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| (*d, "09:00", "17:00"))
            .collect();
        let h = hours("Europe/Lisbon", &week);
        // Thursday 3 Dec 2026, 10:00 UTC = 10:00 in Lisbon: open.
        assert_eq!(
            hours_at(&h, ms("2026-12-03T10:00:00Z")).unwrap(),
            (true, None)
        );
        // 17:00 is closed; back Friday 09:00.
        assert_eq!(
            hours_at(&h, ms("2026-12-03T17:00:00Z")).unwrap(),
            (false, Some(ms("2026-12-04T09:00:00Z")))
        );
        // Saturday: back Monday 09:00.
        assert_eq!(
            hours_at(&h, ms("2026-12-05T12:00:00Z")).unwrap(),
            (false, Some(ms("2026-12-07T09:00:00Z")))
        );
        // Early Thursday: back the same day.
        assert_eq!(
            hours_at(&h, ms("2026-12-03T07:30:00Z")).unwrap(),
            (false, Some(ms("2026-12-03T09:00:00Z")))
        );
        // Summer time: 08:30 UTC on a July Wednesday is 09:30 in Lisbon.
        assert_eq!(
            hours_at(&h, ms("2026-07-01T08:30:00Z")).unwrap(),
            (true, None)
        );
        // Another zone: New York 09:00 is 14:00 UTC in winter.
        let ny = hours("America/New_York", &week);
        assert_eq!(
            hours_at(&ny, ms("2026-12-03T13:00:00Z")).unwrap(),
            (false, Some(ms("2026-12-03T14:00:00Z")))
        );
        // A day open till midnight; hours off mean always open.
        let late = hours("UTC", &[("thu", "20:00", "24:00")]);
        assert_eq!(
            hours_at(&late, ms("2026-12-03T23:59:00Z")).unwrap(),
            (true, None)
        );
        let off = BusinessHours::default();
        assert_eq!(
            hours_at(&off, ms("2026-12-05T12:00:00Z")).unwrap(),
            (true, None)
        );
        assert!(zone("Mars/Olympus").is_err());
    }
}
