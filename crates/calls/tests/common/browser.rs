//! What the browser-call tests share: the signals a browser session got, the last call
//! record, a channel lookup with one visitor, browser rings, and a widget queue number.

use std::time::Duration;

use ringside_calls::b2bua::BrowserSignal;
use ringside_calls::core::CoreOutput;
use ringside_calls::directory::DirectoryChange;
use ringside_storage::CallRecord;

use super::*;

pub fn signals(sim: &mut Sim, session: u64) -> Vec<BrowserSignal> {
    let (mine, rest): (Vec<_>, Vec<_>) = sim
        .other
        .drain(..)
        .partition(|o| matches!(o, CoreOutput::Browser { session: s, .. } if *s == session));
    sim.other = rest;
    mine.into_iter()
        .filter_map(|o| match o {
            CoreOutput::Browser { signal, .. } => Some(signal),
            _ => None,
        })
        .collect()
}

pub fn last_record(sim: &Sim) -> CallRecord {
    sim.other
        .iter()
        .rev()
        .find_map(|o| match o {
            CoreOutput::InsertCall(c) | CoreOutput::UpdateCall(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a call record")
}

pub struct OneVisitor;

impl ringside_domain::channels::ChannelLookup for OneVisitor {
    fn lookup(&self, number: &str) -> Option<ringside_domain::channels::Channel> {
        (number == "555123").then(visitor_target)
    }
}

pub fn visitor_target() -> ringside_domain::channels::Channel {
    ringside_domain::channels::Channel {
        tenant_id: "t1".into(),
        widget_id: "w1".into(),
        visitor_id: "v_visitor1".into(),
    }
}

pub fn rings(sim: &mut Sim) -> Vec<ringside_calls::b2bua::BrowserRing> {
    let (mine, rest): (Vec<_>, Vec<_>) = sim
        .other
        .drain(..)
        .partition(|o| matches!(o, CoreOutput::BrowserRing(_)));
    sim.other = rest;
    mine.into_iter()
        .filter_map(|o| match o {
            CoreOutput::BrowserRing(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// Widget w1 of tenant t1 gets queue number `number` (or none).
pub fn queue_number(number: Option<&str>) -> DirectoryChange {
    DirectoryChange::QueueNumber {
        tenant_id: "t1".into(),
        widget_id: "w1".into(),
        number: number.map(str::to_string),
    }
}

/// Widget w1 of tenant t1 with queue number 700, answered by its extension 1002 (registered
/// at 6002).
pub fn queue_700() -> Sim {
    let mut sim = Sim::new(Duration::from_secs(30));
    let mut e = ext("e2", "1002", "pw-1002-secret", "t1");
    e.widget_ids = vec!["w1".into()];
    sim.change(DirectoryChange::ExtensionUpserted(e));
    sim.change(queue_number(Some("700")));
    register_1002(&mut sim, 6002);
    sim
}
