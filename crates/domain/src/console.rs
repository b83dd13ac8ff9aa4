//! The team's presence: which tenants have an operator in the browser console now, for which
//! widgets, and who has a dashboard open at all. The console socket joins and leaves (its
//! operator takes calls: *online*); a dashboard page's socket watches (its user is there but
//! does not take calls: *away*); a user with neither is *offline*. The browser-call gateway
//! asks whether a visitor's call should ring the console too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One socket: its id, its user, the widgets it takes (empty: all), whether it takes calls.
#[derive(Debug)]
struct Seat {
    id: u64,
    user: String,
    widgets: Vec<String>,
    takes_calls: bool,
}

/// A team member's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    /// Available: calls are offered to them.
    Online,
    /// A dashboard is open, but they do not take calls now.
    Away,
    /// Nothing open.
    Offline,
}

impl AgentStatus {
    /// `online`, `away` or `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }
}

/// Operators available in the console, and dashboards open, per tenant.
#[derive(Debug, Default)]
pub struct ConsoleOperators {
    /// tenant → one entry per socket.
    inner: Mutex<HashMap<String, Vec<Seat>>>,
    next: AtomicU64,
}

impl ConsoleOperators {
    fn add(&self, tenant_id: &str, seat: Seat) -> u64 {
        let id = seat.id;
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tenant_id.to_owned())
            .or_default()
            .push(seat);
        id
    }

    /// An operator socket of `user_id` (tenant `tenant_id`) became available for `widgets`
    /// (empty: all).
    pub fn join(&self, tenant_id: &str, user_id: &str, widgets: Vec<String>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.add(
            tenant_id,
            Seat {
                id,
                user: user_id.to_owned(),
                widgets,
                takes_calls: true,
            },
        )
    }

    /// A dashboard socket of `user_id` opened (they are there, not taking calls by it).
    pub fn watch(&self, tenant_id: &str, user_id: &str) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.add(
            tenant_id,
            Seat {
                id,
                user: user_id.to_owned(),
                widgets: Vec::new(),
                takes_calls: false,
            },
        )
    }

    /// The socket `id` of `tenant_id` went away.
    pub fn leave(&self, tenant_id: &str, id: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = g.get_mut(tenant_id) {
            v.retain(|s| s.id != id);
            if v.is_empty() {
                g.remove(tenant_id);
            }
        }
    }

    /// Whether some operator takes calls of `widget_id`.
    pub fn available(&self, tenant_id: &str, widget_id: &str) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant_id)
            .is_some_and(|v| {
                v.iter().any(|s| {
                    s.takes_calls
                        && (s.widgets.is_empty() || s.widgets.iter().any(|x| x == widget_id))
                })
            })
    }

    /// The presence of `user_id`.
    pub fn status(&self, tenant_id: &str, user_id: &str) -> AgentStatus {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seats = g.get(tenant_id).map(Vec::as_slice).unwrap_or_default();
        let mine = seats.iter().filter(|s| s.user == user_id);
        let mut status = AgentStatus::Offline;
        for s in mine {
            if s.takes_calls {
                return AgentStatus::Online;
            }
            status = AgentStatus::Away;
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_while_a_seat_takes_the_widget() {
        let c = ConsoleOperators::default();
        assert!(!c.available("t", "w1"));
        let a = c.join("t", "u1", vec!["w1".into()]);
        assert!(c.available("t", "w1"));
        assert!(!c.available("t", "w2"), "a seat takes only its widgets");
        assert!(!c.available("other", "w1"), "per tenant");
        let b = c.join("t", "u2", vec![]);
        assert!(c.available("t", "w2"), "an empty list takes every widget");
        c.leave("t", b);
        assert!(!c.available("t", "w2"));
        c.leave("t", a);
        assert!(!c.available("t", "w1"));
    }

    #[test]
    fn presence_is_online_away_or_offline() {
        let c = ConsoleOperators::default();
        assert_eq!(c.status("t", "u1"), AgentStatus::Offline);
        let page = c.watch("t", "u1");
        assert_eq!(c.status("t", "u1"), AgentStatus::Away);
        assert!(!c.available("t", "w1"), "an open dashboard takes no calls");
        let phone = c.join("t", "u1", vec![]);
        assert_eq!(c.status("t", "u1"), AgentStatus::Online);
        assert_eq!(c.status("t", "u2"), AgentStatus::Offline);
        assert_eq!(c.status("other", "u1"), AgentStatus::Offline);
        c.leave("t", phone);
        assert_eq!(c.status("t", "u1"), AgentStatus::Away);
        c.leave("t", page);
        assert_eq!(c.status("t", "u1"), AgentStatus::Offline);
        assert_eq!(AgentStatus::Away.as_str(), "away");
    }
}
