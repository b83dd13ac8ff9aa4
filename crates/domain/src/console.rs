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

/// A seat held on another node of the cluster, as that node last told.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedSeat {
    /// Its tenant.
    pub tenant: String,
    /// Its user.
    pub user: String,
    /// The widgets it takes (empty: all).
    pub widgets: Vec<String>,
    /// Whether it takes calls (a console) or only watches (a dashboard).
    pub takes_calls: bool,
}

/// Operators available in the console, and dashboards open, per tenant: this node's own
/// seats, and the other nodes' of a cluster as they last told (until that lapses).
#[derive(Debug, Default)]
pub struct ConsoleOperators {
    /// tenant → one entry per socket.
    inner: Mutex<HashMap<String, Vec<Seat>>>,
    next: AtomicU64,
    /// node → (its seats, unix ms when the copy lapses).
    remote: Mutex<HashMap<String, (Vec<SharedSeat>, i64)>>,
    /// Woken when this node's seats change (for the cluster to tell the others).
    changed: tokio::sync::Notify,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl ConsoleOperators {
    /// This node's seats, to tell the other nodes.
    pub fn local_seats(&self) -> Vec<SharedSeat> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.iter()
            .flat_map(|(t, seats)| {
                seats.iter().map(|s| SharedSeat {
                    tenant: t.clone(),
                    user: s.user.clone(),
                    widgets: s.widgets.clone(),
                    takes_calls: s.takes_calls,
                })
            })
            .collect()
    }

    /// Node `node`'s seats as it just told, kept until `until_ms` unless told again.
    pub fn set_remote(&self, node: &str, seats: Vec<SharedSeat>, until_ms: i64) {
        self.remote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.to_owned(), (seats, until_ms));
    }

    /// Waits until this node's seats change.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Whether a live remote seat of `tenant_id` satisfies `f`.
    fn remote_any(&self, tenant_id: &str, f: impl Fn(&SharedSeat) -> bool) -> bool {
        let now = now_ms();
        let mut g = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        g.retain(|_, (_, until)| *until > now);
        g.values()
            .flat_map(|(seats, _)| seats)
            .any(|s| s.tenant == tenant_id && f(s))
    }

    fn add(&self, tenant_id: &str, seat: Seat) -> u64 {
        let id = seat.id;
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tenant_id.to_owned())
            .or_default()
            .push(seat);
        self.changed.notify_one();
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
        drop(g);
        self.changed.notify_one();
    }

    /// Whether some operator, on this node or another, takes calls of `widget_id`.
    pub fn available(&self, tenant_id: &str, widget_id: &str) -> bool {
        let here = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant_id)
            .is_some_and(|v| {
                v.iter().any(|s| {
                    s.takes_calls
                        && (s.widgets.is_empty() || s.widgets.iter().any(|x| x == widget_id))
                })
            });
        here || self.remote_any(tenant_id, |s| {
            s.takes_calls && (s.widgets.is_empty() || s.widgets.iter().any(|x| x == widget_id))
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
        drop(g);
        if self.remote_any(tenant_id, |s| s.user == user_id && s.takes_calls) {
            return AgentStatus::Online;
        }
        if status == AgentStatus::Offline && self.remote_any(tenant_id, |s| s.user == user_id) {
            return AgentStatus::Away;
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
    fn another_nodes_seats_count_until_they_lapse() {
        let c = ConsoleOperators::default();
        let seat = |user: &str, takes_calls| SharedSeat {
            tenant: "t".into(),
            user: user.into(),
            widgets: vec!["w1".into()],
            takes_calls,
        };
        c.set_remote(
            "b",
            vec![seat("u1", true), seat("u2", false)],
            now_ms() + 60_000,
        );
        assert!(c.available("t", "w1"));
        assert!(!c.available("t", "w2"));
        assert_eq!(c.status("t", "u1"), AgentStatus::Online);
        assert_eq!(c.status("t", "u2"), AgentStatus::Away);
        assert!(
            c.local_seats().is_empty(),
            "only this node's seats are told"
        );
        let mine = c.join("t", "u3", vec![]);
        assert_eq!(c.local_seats().len(), 1);
        c.leave("t", mine);
        // Told again with nothing, or not told in time: gone.
        c.set_remote("b", vec![seat("u1", true)], now_ms() - 1);
        assert!(!c.available("t", "w1"));
        assert_eq!(c.status("t", "u1"), AgentStatus::Offline);
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
