//! Account usage and configured limits.
//!
//! `GET /api/v1/account/usage` (analytics:read) reports what the tenant uses (widgets,
//! webhooks, contacts, extensions, trunks, recordings; visitors, messages, callbacks, calls
//! and call minutes of the current calendar month, UTC) next to the configured
//! [`UsageLimits`] (0 = unlimited).
//!
//! Limits are enforced where the counted thing is made: creating a widget, a webhook or a
//! contact, storing a chat message (visitor, operator or automation; the assistant's answers
//! are not chat messages here) or a callback/lead. Model answers (`monthlyAiMessages`,
//! `monthlyAiTokens`) are limited by the deployment and by the allowance a tenant sets with
//! its AI provider, whichever is lower; over it the assistant answers without the model.
//! Over a limit the request answers 429 `usage_limit_exceeded` (with `Retry-After` until the
//! month ends for monthly limits) and nothing is stored. Crossing 80 % and 100 % of a limit
//! queues one `usage.updated` webhook event per metric, threshold and month.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{AnalyticsRead, Scoped};
use crate::openapi::{Auth, DocRouter, Spec};
use crate::{ApiError, AppState};

/// Limits per tenant; 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageLimits {
    /// Widgets.
    pub widgets: u64,
    /// Webhooks.
    pub webhooks: u64,
    /// Contacts (not merged away).
    pub contacts: u64,
    /// Chat messages per calendar month.
    pub monthly_messages: u64,
    /// Callbacks and leads per calendar month.
    pub monthly_callbacks: u64,
    /// Answers written by a language model per calendar month (a tenant's own allowance,
    /// set with its provider, may be lower).
    pub monthly_ai_messages: u64,
    /// Model tokens per calendar month (likewise).
    pub monthly_ai_tokens: u64,
}

/// A limited metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Widgets.
    Widgets,
    /// Webhooks.
    Webhooks,
    /// Contacts.
    Contacts,
    /// Chat messages this month.
    MonthlyMessages,
    /// Callbacks and leads this month.
    MonthlyCallbacks,
    /// Model answers this month.
    MonthlyAiMessages,
    /// Model tokens this month.
    MonthlyAiTokens,
}

impl Metric {
    /// The name in the usage document and in storage.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Widgets => "widgets",
            Metric::Webhooks => "webhooks",
            Metric::Contacts => "contacts",
            Metric::MonthlyMessages => "monthlyMessages",
            Metric::MonthlyCallbacks => "monthlyCallbacks",
            Metric::MonthlyAiMessages => "monthlyAiMessages",
            Metric::MonthlyAiTokens => "monthlyAiTokens",
        }
    }

    fn monthly(self) -> bool {
        matches!(
            self,
            Metric::MonthlyMessages
                | Metric::MonthlyCallbacks
                | Metric::MonthlyAiMessages
                | Metric::MonthlyAiTokens
        )
    }

    fn limit(self, l: &UsageLimits) -> u64 {
        match self {
            Metric::Widgets => l.widgets,
            Metric::Webhooks => l.webhooks,
            Metric::Contacts => l.contacts,
            Metric::MonthlyMessages => l.monthly_messages,
            Metric::MonthlyCallbacks => l.monthly_callbacks,
            Metric::MonthlyAiMessages => l.monthly_ai_messages,
            Metric::MonthlyAiTokens => l.monthly_ai_tokens,
        }
    }
}

const ALL: [Metric; 7] = [
    Metric::Widgets,
    Metric::Webhooks,
    Metric::Contacts,
    Metric::MonthlyMessages,
    Metric::MonthlyCallbacks,
    Metric::MonthlyAiMessages,
    Metric::MonthlyAiTokens,
];

/// The tenant's limit of `metric` (0: unlimited): the deployment's, and for the AI metrics
/// the allowance set with the tenant's provider, whichever is lower.
async fn limit_for(st: &UsageGate, tenant_id: &str, metric: Metric) -> Result<u64, ApiError> {
    let deployment = metric.limit(&st.usage_limits);
    let own = match metric {
        Metric::MonthlyAiMessages | Metric::MonthlyAiTokens => {
            match st.store.get_ai_provider(tenant_id).await? {
                Some(p) if metric == Metric::MonthlyAiMessages => p.monthly_messages,
                Some(p) => p.monthly_tokens,
                None => 0,
            }
        }
        _ => 0,
    };
    let own = u64::try_from(own).unwrap_or(0);
    Ok(match (deployment, own) {
        (0, o) => o,
        (d, 0) => d,
        (d, o) => d.min(o),
    })
}

/// Thresholds (percent of a limit) that queue `usage.updated`.
const THRESHOLDS: [i64; 2] = [80, 100];

pub(crate) fn routes() -> DocRouter {
    DocRouter::new("/api/v1").get(
        "/account/usage",
        usage,
        Spec::new(
            "Account",
            Auth::Scope("analytics:read"),
            "Usage this month against the configured limits",
        )
        .returns::<UsageReport>(),
    )
}

/// Days since 1970-01-01 to (year, month) and back (proleptic Gregorian, UTC).
fn civil_from_days(z: i64) -> (i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

fn days_from_civil(y: i64, m: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar month (UTC) holding `now_ms`: (start, end) in unix ms.
pub fn month_bounds(now_ms: i64) -> (i64, i64) {
    const DAY: i64 = 86_400_000;
    let (y, m) = civil_from_days(now_ms.div_euclid(DAY));
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (days_from_civil(y, m) * DAY, days_from_civil(ny, nm) * DAY)
}

/// What the usage limits are checked and counted with: storage, the limits, and the clock
/// (the presence's, which tests set). Handlers that create counted things take it as part of
/// their sub-state.
#[derive(Clone)]
pub struct UsageGate {
    store: ringside_storage::Store,
    usage_limits: UsageLimits,
    presence: std::sync::Arc<crate::Presence>,
}

impl axum::extract::FromRef<AppState> for UsageGate {
    fn from_ref(st: &AppState) -> Self {
        UsageGate {
            store: st.store.clone(),
            usage_limits: st.usage_limits,
            presence: st.presence.clone(),
        }
    }
}

/// Refuses (429 `usage_limit_exceeded`) when the tenant is at its limit of `metric`.
pub(crate) async fn enforce(
    st: &UsageGate,
    tenant_id: &str,
    metric: Metric,
) -> Result<(), ApiError> {
    let limit = limit_for(st, tenant_id, metric).await?;
    if limit == 0 {
        return Ok(());
    }
    let now = st.presence.now_ms();
    let (start, end) = month_bounds(now);
    let used = st
        .store
        .count_usage(tenant_id, metric.name(), start)
        .await?;
    if used >= i64::try_from(limit).unwrap_or(i64::MAX) {
        return Err(ApiError::UsageLimitExceeded {
            metric: metric.name(),
            limit,
            retry_after_secs: metric
                .monthly()
                .then(|| u64::try_from((end - now) / 1000 + 1).unwrap_or(1)),
        });
    }
    Ok(())
}

/// After something counted was stored: queues `usage.updated` for each threshold of the
/// limit crossed for the first time this month. Failures are logged, never returned (what
/// was stored stays stored).
pub(crate) async fn counted(st: &UsageGate, tenant_id: &str, metric: Metric) {
    let limit = match limit_for(st, tenant_id, metric).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, metric = metric.name(), "usage limit lookup failed");
            return;
        }
    };
    if limit == 0 {
        return;
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (start, end) = month_bounds(st.presence.now_ms());
    let res = async {
        let used = st
            .store
            .count_usage(tenant_id, metric.name(), start)
            .await?;
        for t in THRESHOLDS {
            if used.saturating_mul(100) >= limit.saturating_mul(t)
                && st
                    .store
                    .record_usage_alert(tenant_id, metric.name(), start, t)
                    .await?
            {
                st.store
                    .enqueue_webhook_event(
                        tenant_id,
                        "usage.updated",
                        None,
                        &json!({
                            "metric": metric.name(), "used": used, "limit": limit,
                            "thresholdPercent": t, "periodStart": start, "periodEnd": end,
                        }),
                    )
                    .await?;
            }
        }
        Ok::<_, ringside_storage::StorageError>(())
    }
    .await;
    if let Err(e) = res {
        tracing::error!(error = %e, metric = metric.name(), "usage alert failed");
    }
}

async fn usage(
    Scoped(ctx, _): Scoped<AnalyticsRead>,
    State(st): State<UsageGate>,
) -> Result<Json<UsageReport>, ApiError> {
    usage_report(&st, &ctx.tenant_id).await.map(Json)
}

/// The month a report covers.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct Period {
    /// The first millisecond of the month (UTC), Unix milliseconds.
    pub start: i64,
    /// The first millisecond of the next month.
    pub end: i64,
}

/// Answer of `GET /api/v1/account/usage`: this month's usage against the limits.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// The tenant.
    pub tenant_id: String,
    /// This month.
    pub period: Period,
    /// Totals now, and what was created this month (`monthly*`).
    pub usage: ringside_storage::UsageCounts,
    /// Each metric's limit (by the `usage` key), null when unlimited.
    pub limits: std::collections::BTreeMap<String, Option<i64>>,
    /// What is left of each limit, null when unlimited.
    pub remaining: std::collections::BTreeMap<String, Option<i64>>,
    /// The metrics at or over their limit.
    pub at_limit: Vec<String>,
}

/// The tenant's usage this month against its limits (the body of `GET /api/v1/account/usage`).
pub(crate) async fn usage_report(st: &UsageGate, tenant_id: &str) -> Result<UsageReport, ApiError> {
    let (start, end) = month_bounds(st.presence.now_ms());
    let u = st.store.usage_counts(tenant_id, start).await?;
    let counts = serde_json::to_value(&u).unwrap_or(Value::Null);
    let mut limits = std::collections::BTreeMap::new();
    let mut remaining = std::collections::BTreeMap::new();
    let mut at_limit = Vec::new();
    for m in ALL {
        let limit = limit_for(st, tenant_id, m).await?;
        let used = counts[m.name()].as_i64().unwrap_or(0);
        if limit == 0 {
            limits.insert(m.name().to_owned(), None);
            remaining.insert(m.name().to_owned(), None);
        } else {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            limits.insert(m.name().to_owned(), Some(limit));
            remaining.insert(m.name().to_owned(), Some((limit - used).max(0)));
            if used >= limit {
                at_limit.push(m.name().to_owned());
            }
        }
    }
    Ok(UsageReport {
        tenant_id: tenant_id.to_owned(),
        period: Period { start, end },
        usage: u,
        limits,
        remaining,
        at_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_in_utc() {
        // 2026-12-02T05:54:57Z -> December 2026.
        let (s, e) = month_bounds(1_796_190_897_000);
        assert_eq!(s, 1_796_083_200_000); // 2026-12-01T00:00:00Z
        assert_eq!(e, 1_798_761_600_000); // 2027-01-01T00:00:00Z
                                          // Leap February.
        let (s, e) = month_bounds(1_709_251_199_000); // 2024-02-29T23:59:59Z
        assert_eq!(s, 1_706_745_600_000); // 2024-02-01
        assert_eq!(e, 1_709_251_200_000); // 2024-03-01
                                          // The first millisecond of a month belongs to it.
        assert_eq!(month_bounds(1_709_251_200_000).0, 1_709_251_200_000);
        assert_eq!(month_bounds(0), (0, 2_678_400_000));
    }
}
