//! Business hours per widget: the weekly intervals the team answers in, in a time zone.
//! Outside them the widget shows its offline form and says when the team is back (the API
//! evaluates the hours; storage keeps and validates them). A widget without hours is always
//! open. Also: whether a widget has a SIP phone registered now (part of "is anyone there").

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::{now_ms, Store};

/// Day names, Monday first.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Most intervals a week may have.
pub const MAX_INTERVALS: usize = 28;

/// One opening interval of a weekday, `HH:MM` to `HH:MM` (close after open; `24:00` ends the
/// day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenInterval {
    /// `mon` .. `sun`.
    #[schemars(extend("enum" = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]))]
    pub day: String,
    /// Opening time, `HH:MM`.
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-4]):[0-5][0-9]$"), example = &"09:00")]
    pub open: String,
    /// Closing time, `HH:MM` (after `open`; `24:00` is midnight).
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-4]):[0-5][0-9]$"), example = &"17:30")]
    pub close: String,
}

impl OpenInterval {
    /// (weekday from Monday = 0, open minute of the day, close minute of the day).
    pub fn minutes(&self) -> Option<(usize, u32, u32)> {
        let day = DAYS.iter().position(|d| *d == self.day)?;
        let (open, close) = (minute_of_day(&self.open)?, minute_of_day(&self.close)?);
        (open < close).then_some((day, open, close))
    }
}

/// `HH:MM` as minutes since midnight (`24:00` is 1440).
pub fn minute_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// A widget's business hours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BusinessHours {
    /// Whether the hours apply (off: always open).
    #[serde(default)]
    pub enabled: bool,
    /// IANA time zone name the intervals are in (`Europe/Lisbon`); `UTC` when empty.
    #[serde(default)]
    #[schemars(example = &"Europe/Lisbon")]
    pub time_zone: String,
    /// The weekly opening intervals.
    #[serde(default)]
    pub intervals: Vec<OpenInterval>,
}

impl BusinessHours {
    /// Checks the shape: known days, `HH:MM` times with close after open, at most
    /// [`MAX_INTERVALS`], a plausible zone name (the API checks it against the zone
    /// database), and at least one interval when enabled.
    pub fn validate(&self) -> Result<()> {
        if self.intervals.len() > MAX_INTERVALS
            || self.intervals.iter().any(|i| i.minutes().is_none())
        {
            return Err(StorageError::Invalid("intervals"));
        }
        if self.enabled && self.intervals.is_empty() {
            return Err(StorageError::Invalid("intervals"));
        }
        let tz = &self.time_zone;
        if tz.len() > 64
            || !tz
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
        {
            return Err(StorageError::Invalid("timeZone"));
        }
        Ok(())
    }
}

impl Store {
    /// The business hours of the tenant's widget (disabled when never set); NotFound when the
    /// widget is not the tenant's.
    pub async fn get_business_hours(
        &self,
        tenant_id: &str,
        widget_id: &str,
    ) -> Result<BusinessHours> {
        self.get_widget(tenant_id, widget_id).await?;
        self.widget_business_hours(widget_id).await
    }

    /// The business hours of widget `widget_id` (disabled when never set), for the public
    /// runtime, which has already resolved the widget.
    pub async fn widget_business_hours(&self, widget_id: &str) -> Result<BusinessHours> {
        let row = sqlx::query("SELECT settings FROM widget_hours WHERE widget_id = $1")
            .bind(widget_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(BusinessHours::default()),
            Some(r) => {
                let text: String = r.try_get("settings")?;
                serde_json::from_str(&text).map_err(|_| StorageError::Corrupt("settings"))
            }
        }
    }

    /// Replaces the business hours of the tenant's widget (validated; nothing changes on
    /// error).
    pub async fn put_business_hours(
        &self,
        tenant_id: &str,
        widget_id: &str,
        h: &BusinessHours,
    ) -> Result<()> {
        h.validate()?;
        self.get_widget(tenant_id, widget_id).await?;
        let text = serde_json::to_string(h).map_err(|_| StorageError::Invalid("hours"))?;
        sqlx::query(
            "INSERT INTO widget_hours (widget_id, tenant_id, settings, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (widget_id) DO UPDATE SET \
             settings = excluded.settings, updated_at = excluded.updated_at \
             WHERE widget_hours.tenant_id = excluded.tenant_id",
        )
        .bind(widget_id)
        .bind(tenant_id)
        .bind(text)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether a SIP phone of an extension that rings for the tenant's widget is registered
    /// (a binding that has not expired at `now`).
    pub async fn widget_has_live_phone(
        &self,
        tenant_id: &str,
        widget_id: &str,
        now: i64,
    ) -> Result<bool> {
        // widget_ids is a JSON list of ids: the quoted id matches one element exactly.
        let pattern = format!("%\"{}\"%", widget_id.replace(['%', '_', '"'], ""));
        let row = sqlx::query(
            "SELECT 1 AS one FROM bindings b JOIN extensions e ON e.id = b.extension_id \
             WHERE e.tenant_id = $1 AND e.widget_ids LIKE $2 AND b.expires_at > $3 LIMIT 1",
        )
        .bind(tenant_id)
        .bind(pattern)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(day: &str, open: &str, close: &str) -> OpenInterval {
        OpenInterval {
            day: day.into(),
            open: open.into(),
            close: close.into(),
        }
    }

    #[test]
    fn intervals_and_zones_are_checked() {
        assert_eq!(minute_of_day("09:30"), Some(570));
        assert_eq!(minute_of_day("24:00"), Some(1440));
        for bad in ["9:30", "24:01", "12:60", "ab:cd", "", "0930"] {
            assert_eq!(minute_of_day(bad), None, "{bad}");
        }
        assert_eq!(iv("mon", "09:00", "17:00").minutes(), Some((0, 540, 1020)));
        assert_eq!(iv("sun", "00:00", "24:00").minutes(), Some((6, 0, 1440)));
        assert_eq!(iv("mon", "17:00", "09:00").minutes(), None);
        assert_eq!(iv("monday", "09:00", "17:00").minutes(), None);
        let ok = BusinessHours {
            enabled: true,
            time_zone: "Europe/Lisbon".into(),
            intervals: vec![iv("mon", "09:00", "17:00")],
        };
        assert!(ok.validate().is_ok());
        let none = BusinessHours {
            intervals: vec![],
            ..ok.clone()
        };
        assert!(matches!(
            none.validate(),
            Err(StorageError::Invalid("intervals"))
        ));
        let tz = BusinessHours {
            time_zone: "Europe/Lisbon; DROP".into(),
            ..ok.clone()
        };
        assert!(matches!(
            tz.validate(),
            Err(StorageError::Invalid("timeZone"))
        ));
        let many = BusinessHours {
            intervals: vec![iv("mon", "09:00", "10:00"); MAX_INTERVALS + 1],
            ..ok
        };
        assert!(many.validate().is_err());
    }
}
