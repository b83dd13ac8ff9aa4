//! Console operators' availability: which tenants have an operator in the browser console
//! now, for which widgets. The console socket joins and leaves; the browser-call gateway asks
//! whether a visitor's call should ring the console too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One available operator socket: its id and the widgets it takes (empty: all).
type Seat = (u64, Vec<String>);

/// Operators available in the console, per tenant.
#[derive(Debug, Default)]
pub struct ConsoleOperators {
    /// tenant → one entry per available socket.
    inner: Mutex<HashMap<String, Vec<Seat>>>,
    next: AtomicU64,
}

impl ConsoleOperators {
    /// An operator socket of `tenant_id` became available for `widgets` (empty: all).
    pub fn join(&self, tenant_id: &str, widgets: Vec<String>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tenant_id.to_owned())
            .or_default()
            .push((id, widgets));
        id
    }

    /// The socket `id` of `tenant_id` went away.
    pub fn leave(&self, tenant_id: &str, id: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = g.get_mut(tenant_id) {
            v.retain(|(i, _)| *i != id);
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
                v.iter()
                    .any(|(_, w)| w.is_empty() || w.iter().any(|x| x == widget_id))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_while_a_seat_takes_the_widget() {
        let c = ConsoleOperators::default();
        assert!(!c.available("t", "w1"));
        let a = c.join("t", vec!["w1".into()]);
        assert!(c.available("t", "w1"));
        assert!(!c.available("t", "w2"), "a seat takes only its widgets");
        assert!(!c.available("other", "w1"), "per tenant");
        let b = c.join("t", vec![]);
        assert!(c.available("t", "w2"), "an empty list takes every widget");
        c.leave("t", b);
        assert!(!c.available("t", "w2"));
        c.leave("t", a);
        assert!(!c.available("t", "w1"));
    }
}
