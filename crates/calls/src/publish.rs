//! The call core's events on the one bus ([`ringside_domain::Bus`]): call events for the
//! dashboards (`call:*`, scope `calls:read`), and calls ringing a visitor's browser or
//! offered to console operators (to that visitor's widget socket, or to the operators).
//!
//! The storage writer publishes call events after their records are written (a dashboard
//! reading the call back finds it); the core task publishes rings as they happen.

use ringside_domain::{call_event_kind, Audience, Bus, Event};
use serde_json::json;

use crate::b2bua::BrowserRing;
use crate::events::CallEvent;

/// Publish `e` to the tenant's dashboards (nothing is built when none listens).
pub(crate) fn call_event(bus: &Bus, e: &CallEvent, at_ms: i64) {
    let Some(kind) = call_event_kind(e.kind) else {
        return;
    };
    bus.publish(&e.tenant_id, || {
        Event::new(
            kind,
            Audience::Tenant("calls:read"),
            None,
            None,
            e.data.clone(),
            at_ms,
        )
    });
}

/// Publish a call starting or stopping to ring a visitor's browser (`visitor:call`) or
/// being offered to console operators (`console:call`).
pub(crate) fn browser_ring(bus: &Bus, r: &BrowserRing, at_ms: i64) {
    let (kind, audience) = if r.console {
        ("console:call", Audience::Console)
    } else {
        ("visitor:call", Audience::Visitor)
    };
    bus.publish(&r.tenant_id, || {
        let data = match (r.console, r.ringing) {
            (false, true) => {
                json!({"type": "call.incoming", "callId": r.call_id, "from": r.from})
            }
            (false, false) => {
                json!({"type": "call.incoming.stopped", "callId": r.call_id, "reason": r.reason})
            }
            (true, true) => json!({
                "type": "call.offered",
                "callId": r.call_id,
                "widgetId": r.widget_id,
                "visitorId": r.visitor_id,
                "from": r.from,
            }),
            (true, false) => {
                json!({"type": "call.offer.stopped", "callId": r.call_id, "reason": r.reason})
            }
        };
        Event::new(
            kind,
            audience,
            Some(&r.widget_id),
            Some(&r.visitor_id),
            data,
            at_ms,
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(console: bool, ringing: bool) -> BrowserRing {
        BrowserRing {
            call_id: "call_1".into(),
            tenant_id: "t1".into(),
            widget_id: "w1".into(),
            visitor_id: "v1".into(),
            from: "sip:pbx@example.com".into(),
            ringing,
            reason: if ringing { "" } else { "cancelled" },
            console,
        }
    }

    #[test]
    fn call_events_reach_the_tenants_dashboards_only() {
        let bus = Bus::default();
        let mut rx = bus.subscribe("t1");
        let mut other = bus.subscribe("t2");
        let e = CallEvent {
            tenant_id: "t1".into(),
            kind: "call.answered",
            data: json!({"callId": "call_1"}),
        };
        call_event(&bus, &e, 42);
        // Webhook-only kinds have no dashboard event.
        call_event(
            &bus,
            &CallEvent {
                kind: "call.recording_ready",
                ..e.clone()
            },
            43,
        );
        let got = rx.try_recv().unwrap();
        assert_eq!(got.kind, "call:answered");
        assert_eq!(got.audience, Audience::Tenant("calls:read"));
        let frame: serde_json::Value = serde_json::from_slice(got.frame()).unwrap();
        assert_eq!(
            frame,
            json!({"type": "call:answered", "data": {"callId": "call_1"}, "at": 42})
        );
        assert!(rx.try_recv().is_err());
        assert!(other.try_recv().is_err());
    }

    #[test]
    fn rings_go_to_the_visitor_and_offers_to_the_console() {
        let bus = Bus::default();
        let mut rx = bus.subscribe("t1");
        for (console, ringing) in [(false, true), (false, false), (true, true), (true, false)] {
            browser_ring(&bus, &ring(console, ringing), 1);
        }
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        let seen: Vec<(&str, Audience, &str)> = got
            .iter()
            .map(|e| (e.kind, e.audience, e.data["type"].as_str().unwrap()))
            .collect();
        assert_eq!(
            seen,
            [
                ("visitor:call", Audience::Visitor, "call.incoming"),
                ("visitor:call", Audience::Visitor, "call.incoming.stopped"),
                ("console:call", Audience::Console, "call.offered"),
                ("console:call", Audience::Console, "call.offer.stopped"),
            ]
        );
        assert!(
            got.iter()
                .all(|e| e.visitor_id.as_deref() == Some("v1")
                    && e.widget_id.as_deref() == Some("w1"))
        );
        assert_eq!(got[1].data["reason"], "cancelled");
        assert_eq!(got[2].data["visitorId"], "v1");
    }
}
