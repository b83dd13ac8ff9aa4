//! Visitor channel numbers: each visitor with an open widget socket gets a short number
//! (6 digits) a trusted PBX can dial to ring that visitor's browser. Numbers live as long as
//! the visitor has a socket open (several tabs share one) and are unique in the process.
//!
//! The widget sockets open and close numbers; the call core looks them up through the
//! [`ChannelLookup`] port when a PBX dials one.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;

/// Who a channel number rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The widget's tenant.
    pub tenant_id: String,
    /// The widget.
    pub widget_id: String,
    /// The visitor.
    pub visitor_id: String,
}

#[derive(Debug, Default)]
struct Inner {
    by_number: HashMap<String, (Channel, usize)>,
    by_visitor: HashMap<(String, String), String>,
}

/// Where visitors' channel numbers lead, as the call core asks.
pub trait ChannelLookup: Send + Sync {
    /// The visitor `number` rings, if it is a live channel number.
    fn lookup(&self, number: &str) -> Option<Channel>;
}

impl ChannelLookup for Channels {
    fn lookup(&self, number: &str) -> Option<Channel> {
        Channels::lookup(self, number)
    }
}

/// The live channel numbers.
#[derive(Debug, Default)]
pub struct Channels {
    inner: Mutex<Inner>,
}

impl Channels {
    /// A socket of the visitor opened: its number (the existing one for another tab).
    pub fn open(&self, tenant_id: &str, widget_id: &str, visitor_id: &str) -> String {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key = (widget_id.to_owned(), visitor_id.to_owned());
        if let Some(n) = g.by_visitor.get(&key).cloned() {
            if let Some(e) = g.by_number.get_mut(&n) {
                e.1 += 1;
            }
            return n;
        }
        let mut rng = rand::thread_rng();
        let number = loop {
            let n = rng.gen_range(100_000..1_000_000u32).to_string();
            if !g.by_number.contains_key(&n) {
                break n;
            }
        };
        let ch = Channel {
            tenant_id: tenant_id.to_owned(),
            widget_id: widget_id.to_owned(),
            visitor_id: visitor_id.to_owned(),
        };
        g.by_number.insert(number.clone(), (ch, 1));
        g.by_visitor.insert(key, number.clone());
        number
    }

    /// A socket of the visitor closed; the number goes with the last one.
    pub fn close(&self, widget_id: &str, visitor_id: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key = (widget_id.to_owned(), visitor_id.to_owned());
        let Some(n) = g.by_visitor.get(&key).cloned() else {
            return;
        };
        let gone = match g.by_number.get_mut(&n) {
            Some(e) => {
                e.1 = e.1.saturating_sub(1);
                e.1 == 0
            }
            None => true,
        };
        if gone {
            g.by_number.remove(&n);
            g.by_visitor.remove(&key);
        }
    }

    /// Who `number` rings.
    pub fn lookup(&self, number: &str) -> Option<Channel> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.by_number.get(number).map(|(c, _)| c.clone())
    }

    /// The visitor's number, if it has a socket open.
    pub fn number_of(&self, widget_id: &str, visitor_id: &str) -> Option<String> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.by_visitor
            .get(&(widget_id.to_owned(), visitor_id.to_owned()))
            .cloned()
    }

    /// Numbers in use.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_number
            .len()
    }

    /// No number in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_visitors_sockets() {
        let c = Channels::default();
        let a = c.open("t", "w", "v1");
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(c.open("t", "w", "v1"), a, "a second tab shares the number");
        let b = c.open("t", "w", "v2");
        assert_ne!(a, b);
        assert_eq!(c.lookup(&a).unwrap().visitor_id, "v1");
        c.close("w", "v1");
        assert!(c.lookup(&a).is_some(), "one tab still open");
        c.close("w", "v1");
        assert!(c.lookup(&a).is_none());
        assert_eq!(c.number_of("w", "v2"), Some(b));
        c.close("w", "v2");
        c.close("w", "v2");
        assert!(c.is_empty());
    }
}
