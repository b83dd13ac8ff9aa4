//! Webhook events of calls, derived from the call records the B2BUA writes (sans-IO).
//!
//! [`CallEvents::observe`] sees every version of a call record, in order, and returns the
//! events its changes mean:
//! - `call.requested`: the first record of a call;
//! - `call.delivery_started`: the first callee leg (the call is ringing somewhere);
//! - `call.delivery_failed`: a callee leg that ended with a final failure (>= 300, but not the
//!   487 that answers Ringside's own CANCEL), once per leg, unless that leg answered;
//! - `call.answered`: the call's status became `answered`;
//! - `call.unavailable`: it ended as `missed` because no one was available to ring (end
//!   reason `unavailable`), followed by `call.missed`;
//! - `call.missed`: it ended as `missed` (nobody answered in time, or the caller gave up);
//! - `call.ended`: it ended after an answer, or `failed` (no target could take it).
//!
//! The storage writer queues them in the webhook outbox after the records are written.

use std::collections::{HashMap, HashSet};

use ringside_domain::{CallStatus, EndReason, LegRole};
use ringside_storage::CallRecord;
use serde_json::{json, Value};

/// One event to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// The call's tenant.
    pub tenant_id: String,
    /// `call.requested`, ...
    pub kind: &'static str,
    /// The payload.
    pub data: Value,
}

#[derive(Debug, Default)]
struct Seen {
    /// The status last announced (none before the first record).
    status: Option<CallStatus>,
    delivering: bool,
    failed_legs: HashSet<String>,
}

/// What has been announced of each call still in progress.
#[derive(Debug, Default)]
pub struct CallEvents {
    calls: HashMap<String, Seen>,
}

fn payload(c: &CallRecord) -> Value {
    json!({
        "callId": c.id,
        "kind": c.kind,
        "from": c.from_uri,
        "to": c.to_uri,
        "status": c.status,
        "startedAt": c.started_at,
        "answeredAt": c.answered_at,
        "endedAt": c.ended_at,
        "durationMs": match (c.answered_at, c.ended_at) {
            (Some(a), Some(e)) if e >= a => Some(e - a),
            _ => None,
        },
        "endReason": c.end_reason,
        "hangupSide": c.hangup_side,
        "widgetId": c.widget_id,
        "visitorId": c.visitor_id,
        "answeredBy": c.answered_by,
    })
}

impl CallEvents {
    /// Calls being followed (not ended yet).
    pub fn in_progress(&self) -> usize {
        self.calls.len()
    }

    /// The events a new version of call record `c` means.
    pub fn observe(&mut self, c: &CallRecord) -> Vec<CallEvent> {
        let mut out = Vec::new();
        let mut push = |kind: &'static str, data: Value| {
            out.push(CallEvent {
                tenant_id: c.tenant_id.clone(),
                kind,
                data,
            })
        };
        let first = !self.calls.contains_key(&c.id);
        let seen = self.calls.entry(c.id.clone()).or_default();
        if first {
            push("call.requested", payload(c));
        }
        let callees: Vec<_> = c
            .legs
            .iter()
            .filter(|l| l.role == LegRole::Callee)
            .collect();
        if !seen.delivering && !callees.is_empty() {
            seen.delivering = true;
            let mut d = payload(c);
            d["targets"] = json!(callees.iter().map(|l| l.peer.as_str()).collect::<Vec<_>>());
            push("call.delivery_started", d);
        }
        for l in &callees {
            // 487 is the answer to Ringside's own CANCEL (another leg won, or time ran out).
            let failed =
                l.final_status.is_some_and(|s| s >= 300 && s != 487) && l.answered_at.is_none();
            if failed && seen.failed_legs.insert(l.id.clone()) {
                let mut d = payload(c);
                d["target"] = json!(l.peer);
                d["sipStatus"] = json!(l.final_status);
                push("call.delivery_failed", d);
            }
        }
        if seen.status != Some(c.status) {
            let was = seen.status.replace(c.status);
            match c.status {
                CallStatus::Answered => push("call.answered", payload(c)),
                CallStatus::Missed => {
                    // Nobody could take it at all (no phone registered, no target online).
                    if c.end_reason == Some(EndReason::Unavailable) {
                        push("call.unavailable", payload(c));
                    }
                    push("call.missed", payload(c));
                }
                CallStatus::Ended | CallStatus::Failed if was != Some(CallStatus::Ended) => {
                    push("call.ended", payload(c))
                }
                _ => {}
            }
        }
        if c.status.is_final() {
            self.calls.remove(&c.id);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_domain::CallKind;
    use ringside_storage::CallLeg;

    fn call(status: &str, legs: Vec<CallLeg>) -> CallRecord {
        CallRecord {
            id: "c1".into(),
            tenant_id: "t1".into(),
            kind: CallKind::Sip,
            from_uri: "sip:1001@x".into(),
            to_uri: "sip:1002@x".into(),
            status: status.parse().unwrap(),
            started_at: 1_000,
            answered_at: (status == "answered" || status == "ended").then_some(2_000),
            ended_at: status
                .parse::<CallStatus>()
                .is_ok_and(CallStatus::is_final)
                .then_some(5_000),
            end_reason: None,
            hangup_side: None,
            widget_id: None,
            visitor_id: None,
            answered_by: None,
            node_id: None,
            legs,
        }
    }

    fn leg(id: &str, role: &str, peer: &str, final_status: Option<i64>, answered: bool) -> CallLeg {
        CallLeg {
            id: id.into(),
            call_id: "c1".into(),
            idx: 0,
            role: role.parse().unwrap(),
            sip_call_id: format!("sip-{id}"),
            local_tag: "t".into(),
            remote_tag: None,
            peer: peer.into(),
            started_at: 1_000,
            answered_at: answered.then_some(2_000),
            ended_at: None,
            final_status,
            quality: None,
        }
    }

    fn kinds(v: &[CallEvent]) -> Vec<&'static str> {
        v.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn answered_call_lifecycle() {
        let mut ev = CallEvents::default();
        let a = leg("a", "caller", "sip:1001", None, false);
        assert_eq!(
            kinds(&ev.observe(&call("ringing", vec![a.clone()]))),
            ["call.requested"]
        );
        // Forked to two phones; one refuses (486), the other answers.
        let b1 = leg("b1", "callee", "sip:1002@phone1", None, false);
        let b2 = leg("b2", "callee", "sip:1002@phone2", None, false);
        let e = ev.observe(&call("ringing", vec![a.clone(), b1.clone(), b2.clone()]));
        assert_eq!(kinds(&e), ["call.delivery_started"]);
        assert_eq!(
            e[0].data["targets"],
            json!(["sip:1002@phone1", "sip:1002@phone2"])
        );
        let b1f = leg("b1", "callee", "sip:1002@phone1", Some(486), false);
        let e = ev.observe(&call("ringing", vec![a.clone(), b1f.clone(), b2.clone()]));
        assert_eq!(kinds(&e), ["call.delivery_failed"]);
        assert_eq!(e[0].data["sipStatus"], 486);
        let b2a = leg("b2", "callee", "sip:1002@phone2", Some(200), true);
        let e = ev.observe(&call("answered", vec![a.clone(), b1f.clone(), b2a.clone()]));
        assert_eq!(
            kinds(&e),
            ["call.answered"],
            "the failed leg is not repeated"
        );
        let e = ev.observe(&call("ended", vec![a, b1f, b2a]));
        assert_eq!(kinds(&e), ["call.ended"]);
        assert_eq!(e[0].data["durationMs"], 3_000);
        assert_eq!(e[0].tenant_id, "t1");
        assert_eq!(ev.in_progress(), 0);
    }

    #[test]
    fn missed_and_failed_calls() {
        let mut ev = CallEvents::default();
        // A record seen for the first time already missed: requested, then missed.
        let e = ev.observe(&call(
            "missed",
            vec![leg("b", "callee", "sip:1002", Some(487), false)],
        ));
        assert_eq!(
            kinds(&e),
            ["call.requested", "call.delivery_started", "call.missed"],
            "487 is our own CANCEL, not a failed delivery"
        );
        assert_eq!(ev.in_progress(), 0);
        let e = ev.observe(&CallRecord {
            id: "c2".into(),
            ..call("failed", vec![])
        });
        assert_eq!(kinds(&e), ["call.requested", "call.ended"]);
        assert_eq!(e[1].data["status"], "failed");
        // Nobody to ring.
        let e = ev.observe(&CallRecord {
            id: "c3".into(),
            end_reason: Some(EndReason::Unavailable),
            ..call(
                "missed",
                vec![leg("a", "caller", "sip:1001", Some(480), false)],
            )
        });
        assert_eq!(
            kinds(&e),
            ["call.requested", "call.unavailable", "call.missed"]
        );
    }
}
