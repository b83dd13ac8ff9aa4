//! The registrar (RFC 3261 §10), sans-IO.
//!
//! [`Registrar::handle_register`] takes a REGISTER whose digest credentials the
//! [`DigestGuard`](crate::auth::DigestGuard) accepted and answers with the response to send:
//! `403` when the To user is not the authenticated account, `423` for a too-brief expiry, or
//! `200` with the current bindings. Several contacts per account are kept; `Expires: 0` (or `Contact: *`)
//! removes them. Every change is queued as a [`BindingChange`] for the driver to persist.
//! Wall-clock time comes in as `now_ms` (unix milliseconds) since bindings outlive restarts.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Request, Response};

pub use crate::auth::{Account, AccountLookup, DigestGuard, DigestOutcome};
use crate::hdr;
use crate::message::make_response;
use crate::transaction::{Peer, TransportKind};

/// One registered contact of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Account (extension) id.
    pub account_id: String,
    /// The Contact URI as registered.
    pub contact: String,
    /// Where the REGISTER came from: requests go here (NAT-friendly, connection reuse on TCP).
    pub source: SocketAddr,
    /// Transport the REGISTER came over.
    pub transport: TransportKind,
    /// Unix milliseconds when the binding lapses.
    pub expires_at: i64,
    /// Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// The phone's User-Agent.
    pub user_agent: Option<String>,
    /// The REGISTER's Path (RFC 3327), top first: the proxies requests for this phone go back
    /// through, sent as the Route of each request (the first is where `source` points).
    pub path: Vec<String>,
}

impl Binding {
    /// Where to send requests for this binding.
    pub fn peer(&self) -> Peer {
        Peer {
            addr: self.source,
            transport: self.transport,
            tls_profile: 0,
        }
    }
}

/// A change the driver must persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// Insert or refresh a binding.
    Upsert(Binding),
    /// Remove one binding.
    Remove {
        /// Account id.
        account_id: String,
        /// Contact URI.
        contact: String,
        /// Set when the binding lapsed (at this unix ms) rather than being removed by a
        /// REGISTER: a stored copy the phone has refreshed since through another node (its
        /// expiry later than this) is kept.
        lapsed_at: Option<i64>,
    },
}

/// Registrar settings.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Expiry used when the phone asks for none (seconds).
    pub default_expires: u32,
    /// Shortest expiry accepted (seconds); shorter non-zero requests get 423.
    pub min_expires: u32,
    /// Longest expiry granted (seconds); longer requests are cut to this.
    pub max_expires: u32,
    /// Most contacts per account.
    pub max_contacts: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            default_expires: 3600,
            min_expires: 60,
            max_expires: 7200,
            max_contacts: 10,
        }
    }
}

/// The registrar's bindings and logic.
#[derive(Debug, Default)]
pub struct Registrar {
    cfg: RegistrarConfig,
    bindings: HashMap<String, Vec<Binding>>,
    changes: VecDeque<BindingChange>,
}

impl Registrar {
    /// An empty registrar.
    pub fn new(cfg: RegistrarConfig) -> Self {
        Registrar {
            cfg,
            ..Default::default()
        }
    }

    /// Put back a binding loaded from storage at start.
    pub fn restore(&mut self, b: Binding) {
        self.bindings
            .entry(b.account_id.clone())
            .or_default()
            .push(b);
    }

    /// Applies a registration change another node made (and stored): a refresh replaces this
    /// node's copy of the same contact unless that one lapses later; a removal removes it (a
    /// lapse only when this copy has lapsed too). Nothing is queued for storage.
    pub fn apply_replica(&mut self, change: BindingChange) {
        match change {
            BindingChange::Upsert(b) => {
                let list = self.bindings.entry(b.account_id.clone()).or_default();
                match list.iter_mut().find(|x| x.contact == b.contact) {
                    Some(x) if x.expires_at > b.expires_at => {}
                    Some(x) => *x = b,
                    None => list.push(b),
                }
            }
            BindingChange::Remove {
                account_id,
                contact,
                lapsed_at,
            } => {
                if let Some(list) = self.bindings.get_mut(&account_id) {
                    list.retain(|x| {
                        x.contact != contact || lapsed_at.is_some_and(|t| x.expires_at > t)
                    });
                    if list.is_empty() {
                        self.bindings.remove(&account_id);
                    }
                }
            }
        }
    }

    /// Live bindings of an account.
    pub fn lookup(&self, account_id: &str, now_ms: i64) -> impl Iterator<Item = &Binding> {
        self.bindings
            .get(account_id)
            .into_iter()
            .flatten()
            .filter(move |b| b.expires_at > now_ms)
    }

    /// Number of bindings held.
    pub fn len(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    /// Whether no binding is held.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Drop every binding of an account (extension deleted).
    pub fn remove_account(&mut self, account_id: &str) {
        self.bindings.remove(account_id);
    }

    /// Drop lapsed bindings; returns how many.
    pub fn expire(&mut self, now_ms: i64) -> usize {
        let mut n = 0;
        let changes = &mut self.changes;
        self.bindings.retain(|_, list| {
            list.retain(|b| {
                let live = b.expires_at > now_ms;
                if !live {
                    n += 1;
                    changes.push_back(BindingChange::Remove {
                        account_id: b.account_id.clone(),
                        contact: b.contact.clone(),
                        lapsed_at: Some(now_ms),
                    });
                }
                live
            });
            !list.is_empty()
        });
        n
    }

    /// Next change to persist.
    pub fn poll_change(&mut self) -> Option<BindingChange> {
        self.changes.pop_front()
    }

    /// Handle an authenticated REGISTER for `account`, returning the response to send.
    pub fn handle_register(
        &mut self,
        now_ms: i64,
        req: &Request,
        from: Peer,
        account: &Account,
    ) -> Response {
        // The To user must be the authenticated account: no registering for someone else.
        let to_user = hdr::header_value(&req.headers, "To")
            .map(hdr::uri_part)
            .and_then(hdr::uri_user);
        if to_user != Some(account.username.as_str()) {
            return make_response(req, 403.into(), Some(&crate::message::new_tag()));
        }
        let call_id = hdr::call_id(&req.headers).unwrap_or_default().to_string();
        let cseq = hdr::cseq_num(&req.headers).unwrap_or(0);
        let header_expires =
            hdr::header_value(&req.headers, "Expires").and_then(|v| v.trim().parse::<u32>().ok());
        let user_agent = hdr::header_value(&req.headers, "User-Agent").map(str::to_string);
        let path: Vec<String> = hdr::all_values(&req.headers, "Path")
            .iter()
            .flat_map(|v| hdr::split_list(v).into_iter().map(str::to_string))
            .filter(|v| !v.is_empty())
            .collect();
        let contacts: Vec<String> = hdr::all_values(&req.headers, "Contact")
            .iter()
            .flat_map(|v| hdr::split_list(v).into_iter().map(str::to_string))
            .collect();

        if contacts.iter().any(|c| c.trim() == "*") {
            if header_expires != Some(0) || contacts.len() != 1 {
                return make_response(req, 400.into(), Some(&crate::message::new_tag()));
            }
            for b in self.bindings.remove(&account.id).unwrap_or_default() {
                self.changes.push_back(BindingChange::Remove {
                    account_id: b.account_id,
                    contact: b.contact,
                    lapsed_at: None,
                });
            }
            return self.ok(req, account, now_ms);
        }

        for c in &contacts {
            let uri = hdr::uri_part(c).to_string();
            let asked = hdr::param(c, "expires")
                .and_then(|v| v.parse::<u32>().ok())
                .or(header_expires)
                .unwrap_or(self.cfg.default_expires);
            if asked != 0 && asked < self.cfg.min_expires {
                let mut r = make_response(req, 423.into(), Some(&crate::message::new_tag()));
                r.headers.push(Header::MinExpires(headers::MinExpires::new(
                    self.cfg.min_expires.to_string(),
                )));
                return r;
            }
            let list = self.bindings.entry(account.id.clone()).or_default();
            let existing = list.iter().position(|b| b.contact == uri);
            if let Some(i) = existing {
                // RFC 3261 §10.3 step 7: an older or repeated REGISTER of the same Call-ID loses.
                if list[i].call_id == call_id && list[i].cseq >= cseq {
                    continue;
                }
            }
            if asked == 0 {
                if let Some(i) = existing {
                    let b = list.remove(i);
                    self.changes.push_back(BindingChange::Remove {
                        account_id: b.account_id,
                        contact: b.contact,
                        lapsed_at: None,
                    });
                }
                continue;
            }
            let b = Binding {
                account_id: account.id.clone(),
                contact: uri,
                source: from.addr,
                transport: from.transport,
                expires_at: now_ms + i64::from(asked.min(self.cfg.max_expires)) * 1000,
                call_id: call_id.clone(),
                cseq,
                user_agent: user_agent.clone(),
                path: path.clone(),
            };
            match existing {
                Some(i) => list[i] = b.clone(),
                None => {
                    if list.len() >= self.cfg.max_contacts {
                        // Replace the binding closest to lapsing.
                        if let Some((j, _)) =
                            list.iter().enumerate().min_by_key(|(_, b)| b.expires_at)
                        {
                            let old = list.remove(j);
                            self.changes.push_back(BindingChange::Remove {
                                account_id: old.account_id,
                                contact: old.contact,
                                lapsed_at: None,
                            });
                        }
                    }
                    list.push(b.clone());
                }
            }
            self.changes.push_back(BindingChange::Upsert(b));
        }
        if self.bindings.get(&account.id).is_some_and(Vec::is_empty) {
            self.bindings.remove(&account.id);
        }
        self.ok(req, account, now_ms)
    }

    fn ok(&self, req: &Request, account: &Account, now_ms: i64) -> Response {
        let mut resp = make_response(req, 200.into(), Some(&crate::message::new_tag()));
        // RFC 3327 §5.3: the Path stored is returned to a phone that supports it (to one
        // that does not, the proxies' Path is kept all the same, as most registrars do).
        if hdr::values(&req.headers, "Supported")
            .iter()
            .any(|t| t.eq_ignore_ascii_case("path"))
        {
            for p in hdr::all_values(&req.headers, "Path") {
                resp.headers.push(Header::Other("Path".into(), p));
            }
        }
        for b in self.lookup(&account.id, now_ms) {
            let secs = ((b.expires_at - now_ms) / 1000).max(0);
            resp.headers
                .push(Header::Contact(headers::Contact::new(format!(
                    "<{}>;expires={secs}",
                    b.contact
                ))));
        }
        resp.headers
            .push(Header::Date(headers::Date::new(httpdate_now(now_ms))));
        resp
    }
}

/// RFC 1123 date for the Date header.
fn httpdate_now(now_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = now_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(contact: &str, expires_at: i64) -> Binding {
        Binding {
            account_id: "ext1".into(),
            contact: contact.into(),
            source: "192.0.2.1:5060".parse().unwrap(),
            transport: TransportKind::Udp,
            expires_at,
            call_id: "c1".into(),
            cseq: 1,
            user_agent: None,
            path: Vec::new(),
        }
    }

    #[test]
    fn another_nodes_registrations_are_copied_without_being_stored_again() {
        let mut r = Registrar::new(RegistrarConfig::default());
        r.apply_replica(BindingChange::Upsert(binding("sip:a@x", 10_000)));
        r.apply_replica(BindingChange::Upsert(binding("sip:b@x", 20_000)));
        assert_eq!(r.lookup("ext1", 0).count(), 2);
        // An older copy does not replace a newer one; a newer one does.
        r.apply_replica(BindingChange::Upsert(binding("sip:a@x", 5_000)));
        assert_eq!(r.lookup("ext1", 9_000).count(), 2);
        r.apply_replica(BindingChange::Upsert(binding("sip:a@x", 30_000)));
        assert_eq!(r.lookup("ext1", 25_000).count(), 1);
        // A lapse elsewhere keeps a copy refreshed since; an unregister removes it.
        let remove = |contact: &str, lapsed_at| BindingChange::Remove {
            account_id: "ext1".into(),
            contact: contact.into(),
            lapsed_at,
        };
        r.apply_replica(remove("sip:a@x", Some(10_000)));
        assert_eq!(r.lookup("ext1", 0).count(), 2);
        r.apply_replica(remove("sip:a@x", None));
        r.apply_replica(remove("sip:b@x", Some(20_000)));
        assert!(r.is_empty());
        assert!(r.poll_change().is_none(), "nothing to store");
    }

    #[test]
    fn date_header_is_rfc1123() {
        assert_eq!(httpdate_now(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            httpdate_now(1_795_305_600_000),
            "Sun, 22 Nov 2026 00:00:00 GMT"
        );
    }
}
