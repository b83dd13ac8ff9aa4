//! Call routing as pure functions: whom a new INVITE stands for, and where it goes.
//!
//! No transaction layer, no sockets, no clock and no DNS: the inputs are the directory, the
//! registrar's bindings, the live channel numbers and facts read off the request; the outputs
//! are decisions the B2BUA carries out (answer, challenge, refuse, fork). The B2BUA does the
//! stateful parts around them: the digest check between [`admit`] and [`route`], resolving
//! an outbound trunk's host, anchoring media.
//!
//! ```text
//!  INVITE ─► admit(source, dest, credentials?) ─┬─ Trusted(trunk) ────────────┐
//!                                               ├─ NotFound → 404            │
//!                                               └─ Authenticate → digest ─ Caller
//!                                                                            ▼
//!                      route(caller, dest) ─► Extension | Outbound | Queue | Browser
//!                                          └► Refusal (404 | 480)
//! ```

use std::net::IpAddr;

use ringside_domain::channels::{Channel, ChannelLookup};
use ringside_sip::registrar::Registrar;
use ringside_sip::transaction::TransportKind;
use ringside_storage::Extension;

use crate::directory::{Directory, TrunkEntry};

/// What routing reads: the directory, registered contacts and live channel numbers.
pub struct Lookup<'a> {
    /// Extensions, trunks and queue numbers.
    pub dir: &'a Directory,
    /// Registered contacts of extensions.
    pub registrar: &'a Registrar,
    /// Visitors' channel numbers, when browser calls are enabled.
    pub channels: Option<&'a dyn ChannelLookup>,
    /// Unix milliseconds, to skip lapsed bindings.
    pub now_ms: i64,
}

/// How a request is admitted before anything else is decided.
#[derive(Debug)]
pub enum Admission<'a> {
    /// A trunk trusting the source address stands for the caller: the first (oldest) such
    /// trunk whose tenant owns the dialled number (an extension, queue or channel number).
    Trusted(&'a TrunkEntry),
    /// From a trusted network, without credentials, to a number nobody could reach: 404.
    NotFound,
    /// Everyone else proves who they are (digest; 407 until they do).
    Authenticate,
}

/// Who is calling once admission and authentication are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The caller's tenant: calls never leave it.
    pub tenant_id: &'a str,
    /// What kind of account the caller is.
    pub kind: CallerKind,
}

/// The kind of account a call comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    /// An authenticated extension (a phone): may also dial out through its tenant's trunks.
    Extension,
    /// A trunk (trusted by address, or authenticated as the trunk's inbound user): reaches
    /// extensions, queues and visitors of its tenant, never back out to a trunk.
    Trunk,
}

/// Where a call goes.
#[derive(Debug)]
pub enum Route<'a> {
    /// The tenant's extension: ring every registered contact (at least one).
    Extension {
        /// The dialled extension.
        extension: &'a Extension,
        /// Its live contacts: (Contact URI, where to send, username).
        contacts: Vec<Contact>,
    },
    /// A number the tenant's first allowed outbound trunk dials.
    Outbound(&'a TrunkEntry),
    /// A widget's queue number: the caller waits (hold music) while the widget's extensions
    /// ring; possibly none is registered yet.
    Queue {
        /// The widget.
        widget_id: String,
        /// Live contacts of the widget's extensions.
        contacts: Vec<Contact>,
    },
    /// A visitor's live channel number: ring that browser.
    Browser(Channel),
}

/// One registered contact to fork to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The Contact URI as registered (the Request-URI of leg B).
    pub uri: String,
    /// Where the REGISTER came from: requests go there.
    pub peer: ringside_sip::transaction::Peer,
    /// The registration's Path (RFC 3327): the Route of the INVITE, through the edge proxy
    /// the phone registered through.
    pub route: Vec<String>,
    /// The extension's username (leg B's To).
    pub user: String,
    /// The extension's SRTP policy.
    pub srtp: ringside_domain::SrtpPolicy,
    /// The extension allows SRTP passthrough.
    pub srtp_passthrough: bool,
    /// The session timer asked of it, seconds.
    pub session_secs: Option<u32>,
}

/// Why a call cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No Request-URI user, or nothing of the caller's tenant (or, for extensions, no
    /// outbound trunk) answers to it: 404.
    NotFound,
    /// The tenant's extension has no registered phone: 480, kept in the history as missed.
    Unavailable,
}

impl Refusal {
    /// The SIP status to answer with.
    pub fn status(self) -> u16 {
        match self {
            Refusal::NotFound => 404,
            Refusal::Unavailable => 480,
        }
    }
}

impl<'a> Lookup<'a> {
    fn channel(&self, number: &str) -> Option<Channel> {
        self.channels.and_then(|c| c.lookup(number))
    }

    fn contacts(&self, ext: &Extension) -> impl Iterator<Item = Contact> + '_ {
        let user = ext.username.clone();
        let srtp = ringside_domain::SrtpPolicy::from_stored(ext.srtp.as_deref());
        let session_secs = ext.session_timer_secs;
        let srtp_passthrough = ext.srtp_passthrough;
        self.registrar.lookup(&ext.id, self.now_ms).map(move |b| {
            let peer = b.peer();
            // A WebSocket phone's media is DTLS-SRTP already, through the WebRTC edge:
            // its SIP leg is the edge's plain side, which neither SDES nor a DTLS offer
            // of Ringside's own can key.
            let srtp = match peer.transport {
                TransportKind::Ws | TransportKind::Wss if srtp.requires_srtp() => {
                    ringside_domain::SrtpPolicy::Optional
                }
                _ => srtp,
            };
            // A WebSocket phone's leg is the WebRTC edge's plain side: no SDES to pass.
            let ws = matches!(peer.transport, TransportKind::Ws | TransportKind::Wss);
            Contact {
                uri: b.contact.clone(),
                peer,
                route: b.path.clone(),
                user: user.clone(),
                srtp,
                srtp_passthrough: srtp_passthrough && !ws,
                session_secs,
            }
        })
    }

    /// Whether `number` belongs to `tenant` as an extension, a queue or a channel number.
    fn owned_by(&self, tenant: &str, number: &str) -> bool {
        self.dir
            .extension(number)
            .is_some_and(|e| e.tenant_id == tenant)
            || self.dir.queue_widget(tenant, number).is_some()
            || self.channel(number).is_some_and(|c| c.tenant_id == tenant)
    }

    /// Whether anyone could reach `number`: an extension, a queue or channel number of any
    /// tenant, or a number some outbound trunk dials.
    fn reachable(&self, number: &str) -> bool {
        self.dir.extension(number).is_some()
            || self.dir.has_queue_number(number)
            || self.dir.dialable(number)
            || self.channel(number).is_some()
    }
}

/// Step 1: whether a trunk trusting `source` stands for the caller.
///
/// A request with credentials for our realm is authenticated whatever its source (it may be
/// a phone behind the PBX's address). Without, a trunk trusting the address stands for the
/// caller, but only towards numbers of the trunk's own tenant: one tenant's trusted network
/// never captures calls meant for another. A trusted source dialling a number nobody could
/// reach gets 404; one that exists elsewhere (another tenant's extension, a number a trunk
/// dials out to) is challenged, since the caller may be that tenant's authenticated phone.
pub fn admit<'a>(
    l: &Lookup<'a>,
    source: IpAddr,
    dest: Option<&str>,
    has_credentials: bool,
) -> Admission<'a> {
    if has_credentials {
        return Admission::Authenticate;
    }
    let mut trusting = l.dir.trunks_for_source(source).peekable();
    if trusting.peek().is_none() {
        return Admission::Authenticate;
    }
    let Some(dest) = dest else {
        return Admission::NotFound;
    };
    if let Some(t) = trusting.find(|t| l.owned_by(&t.trunk.tenant_id, dest)) {
        return Admission::Trusted(t);
    }
    if l.reachable(dest) {
        Admission::Authenticate
    } else {
        Admission::NotFound
    }
}

/// Step 2: where a call of `caller` to `dest` goes. Everything stays inside the caller's
/// tenant, tried in this order: its extension, (for extensions) a number its outbound
/// trunks may dial, its widget's queue number, a visitor's channel number.
pub fn route<'a>(
    l: &Lookup<'a>,
    caller: Caller<'_>,
    dest: Option<&str>,
) -> Result<Route<'a>, Refusal> {
    let dest = dest.ok_or(Refusal::NotFound)?;
    let tenant = caller.tenant_id;
    if let Some(ext) = l.dir.extension(dest).filter(|e| e.tenant_id == tenant) {
        let contacts: Vec<Contact> = l.contacts(ext).collect();
        if contacts.is_empty() {
            return Err(Refusal::Unavailable);
        }
        return Ok(Route::Extension {
            extension: ext,
            contacts,
        });
    }
    if caller.kind == CallerKind::Extension {
        // A phone dials out, or reaches nothing: a queue or channel number of its own tenant
        // is for callers from outside.
        return l
            .dir
            .outbound_trunk_for(tenant, dest)
            .map(Route::Outbound)
            .ok_or(Refusal::NotFound);
    }
    if let Some(w) = l.dir.queue_widget(tenant, dest) {
        let contacts = l
            .dir
            .extensions_for_widget(tenant, w)
            .into_iter()
            .flat_map(|e| l.contacts(e))
            .collect();
        return Ok(Route::Queue {
            widget_id: w.to_owned(),
            contacts,
        });
    }
    match l.channel(dest).filter(|c| c.tenant_id == tenant) {
        Some(ch) => Ok(Route::Browser(ch)),
        // Trunk calls may only reach extensions, queues and visitors: never forwarded back
        // out to a trunk.
        None => Err(Refusal::NotFound),
    }
}

/// What a visitor's browser call asks to ring (from the widget's call settings).
#[derive(Debug, Clone, Copy)]
pub struct BrowserRequest<'r> {
    /// The widget's tenant.
    pub tenant_id: &'r str,
    /// The widget.
    pub widget_id: &'r str,
    /// Ring the extensions assigned to the widget.
    pub ring_extensions: bool,
    /// Further extensions by username.
    pub extensions: &'r [String],
    /// Numbers to forward to (the answerer must accept).
    pub pstn_numbers: &'r [String],
    /// The trunk to forward through; by default the tenant's first trunk allowed to dial
    /// each number.
    pub pstn_trunk_id: Option<&'r str>,
}

/// Where a browser call rings.
#[derive(Debug, Default)]
pub struct BrowserRoute<'a, 'r> {
    /// Registered contacts of the extensions (each extension once).
    pub contacts: Vec<Contact>,
    /// Numbers and the trunk each is dialled through.
    pub numbers: Vec<(&'r str, &'a TrunkEntry)>,
    /// Numbers no trunk of the tenant may dial (logged, not rung).
    pub refused: Vec<&'r str>,
}

/// Where a browser call of `req` rings. Only the tenant's own extensions and trunks are
/// used, and a number only through a trunk whose destination patterns allow it: a widget's
/// settings never reach another tenant's phones or carrier.
pub fn browser_route<'a, 'r>(l: &Lookup<'a>, req: BrowserRequest<'r>) -> BrowserRoute<'a, 'r> {
    let tenant = req.tenant_id;
    let mut exts = if req.ring_extensions {
        l.dir.extensions_for_widget(tenant, req.widget_id)
    } else {
        Vec::new()
    };
    for name in req.extensions {
        if let Some(e) = l.dir.extension(name).filter(|e| e.tenant_id == tenant) {
            if !exts.iter().any(|x| x.id == e.id) {
                exts.push(e);
            }
        }
    }
    let mut out = BrowserRoute {
        contacts: exts.into_iter().flat_map(|e| l.contacts(e)).collect(),
        ..BrowserRoute::default()
    };
    for number in req.pstn_numbers {
        let trunk = match req.pstn_trunk_id {
            Some(id) => l
                .dir
                .trunk(id)
                .filter(|t| t.trunk.tenant_id == tenant && t.destinations.allows(number)),
            None => l.dir.outbound_trunk_for(tenant, number),
        };
        match trunk {
            Some(t) => out.numbers.push((number, t)),
            None => out.refused.push(number),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;

    use ringside_sip::registrar::{Binding, RegistrarConfig};
    use ringside_sip::transaction::TransportKind;
    use ringside_storage::Trunk;

    use super::*;

    const NOW: i64 = 1_000_000;

    fn ext(id: &str, user: &str, tenant: &str, widgets: &[&str]) -> Extension {
        Extension {
            id: id.into(),
            tenant_id: tenant.into(),
            username: user.into(),
            display_name: user.into(),
            realm: "ringside".into(),
            ha1_md5: String::new(),
            ha1_sha256: String::new(),
            widget_ids: widgets.iter().map(|w| w.to_string()).collect(),
            digest_algorithms: Vec::new(),
            srtp: None,
            session_timer_secs: None,
            srtp_passthrough: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn trunk(id: &str, tenant: &str, cidr: &str, created: i64, dials: Option<&str>) -> Trunk {
        Trunk {
            id: id.into(),
            tenant_id: tenant.into(),
            name: id.into(),
            inbound_cidrs: vec![cidr.into()],
            inbound_username: None,
            inbound_realm: None,
            inbound_ha1_md5: None,
            inbound_ha1_sha256: None,
            outbound_host: dials.map(|_| "carrier.example".into()),
            outbound_port: dials.map(|_| 5060),
            outbound_transport: dials.map(|_| "udp".into()),
            outbound_username: None,
            outbound_password: None,
            allowed_destinations: dials.map(str::to_string),
            digest_algorithms: Vec::new(),
            srtp: None,
            session_timer_secs: None,
            srtp_passthrough: false,
            tls_ca_pem: None,
            tls_client_cert_pem: None,
            tls_client_key_pem: None,
            created_at: created,
            updated_at: created,
        }
    }

    fn binding(account: &str, port: u16, expires_at: i64) -> Binding {
        Binding {
            account_id: account.into(),
            contact: format!("sip:{account}@127.0.0.1:{port}"),
            source: SocketAddr::from(([127, 0, 0, 1], port)),
            transport: TransportKind::Udp,
            expires_at,
            call_id: format!("reg-{port}"),
            cseq: 1,
            user_agent: None,
            path: Vec::new(),
        }
    }

    #[derive(Default)]
    struct Channels(HashMap<String, Channel>);

    impl ChannelLookup for Channels {
        fn lookup(&self, number: &str) -> Option<Channel> {
            self.0.get(number).cloned()
        }
    }

    /// Tenant A: extensions 1001 (two phones) and 1002 (none registered, on widget wa),
    /// 1003 (one phone, on widget wa), queue number 500 for wa, channel 7001 for a visitor,
    /// a PBX trunk trusting 10.0.0.0/24 and a carrier trunk dialling +1NXXNXXXXXX.
    /// Tenant B: extension 2001 (registered), channel 7002, a PBX trunk trusting the same
    /// 10.0.0.0/24 (created later) and a queue number 600.
    struct World {
        dir: Directory,
        registrar: Registrar,
        channels: Channels,
    }

    impl World {
        fn new() -> Self {
            let mut dir = Directory::load(
                vec![
                    ext("e1", "1001", "ta", &[]),
                    ext("e2", "1002", "ta", &["wa"]),
                    ext("e3", "1003", "ta", &["wa"]),
                    ext("e4", "2001", "tb", &[]),
                ],
                vec![
                    trunk("pbx-a", "ta", "10.0.0.0/24", 1, None),
                    trunk("carrier-a", "ta", "192.0.2.0/24", 2, Some("+1NXXNXXXXXX")),
                    trunk("pbx-b", "tb", "10.0.0.0/24", 3, None),
                ],
            );
            dir.set_queue_number("ta", "wa", Some("500"));
            dir.set_queue_number("tb", "wb", Some("600"));
            let mut registrar = Registrar::new(RegistrarConfig::default());
            registrar.restore(binding("e1", 5061, NOW + 60_000));
            registrar.restore(binding("e1", 5062, NOW + 60_000));
            registrar.restore(binding("e3", 5063, NOW + 60_000));
            registrar.restore(binding("e4", 5064, NOW + 60_000));
            // A lapsed binding is no contact.
            registrar.restore(binding("e2", 5065, NOW - 1));
            let mut channels = Channels::default();
            for (n, t, w, v) in [("7001", "ta", "wa", "va"), ("7002", "tb", "wb", "vb")] {
                channels.0.insert(
                    n.into(),
                    Channel {
                        tenant_id: t.into(),
                        widget_id: w.into(),
                        visitor_id: v.into(),
                    },
                );
            }
            World {
                dir,
                registrar,
                channels,
            }
        }

        fn lookup(&self) -> Lookup<'_> {
            Lookup {
                dir: &self.dir,
                registrar: &self.registrar,
                channels: Some(&self.channels),
                now_ms: NOW,
            }
        }
    }

    const PHONE: Caller<'static> = Caller {
        tenant_id: "ta",
        kind: CallerKind::Extension,
    };
    const PBX: Caller<'static> = Caller {
        tenant_id: "ta",
        kind: CallerKind::Trunk,
    };

    /// Why `caller`'s call to `dest` is refused (it must be).
    fn refusal(w: &World, caller: Caller<'_>, dest: Option<&str>) -> Refusal {
        route(&w.lookup(), caller, dest).unwrap_err()
    }

    fn pbx_ip() -> IpAddr {
        "10.0.0.7".parse().unwrap()
    }

    fn trusted_id(a: Admission<'_>) -> Option<String> {
        match a {
            Admission::Trusted(t) => Some(t.trunk.id.clone()),
            _ => None,
        }
    }

    #[test]
    fn an_extension_rings_every_live_contact() {
        let w = World::new();
        let Ok(Route::Extension {
            extension,
            contacts,
        }) = route(&w.lookup(), PHONE, Some("1001"))
        else {
            panic!("1001 is a registered extension of the caller's tenant");
        };
        assert_eq!(extension.id, "e1");
        let ports: Vec<u16> = contacts.iter().map(|c| c.peer.addr.port()).collect();
        assert_eq!(ports, [5061, 5062]);
        assert!(contacts.iter().all(|c| c.user == "1001"));
        // The PBX of the same tenant reaches it too.
        assert!(matches!(
            route(&w.lookup(), PBX, Some("1001")),
            Ok(Route::Extension { .. })
        ));
    }

    #[test]
    fn directory_changes_change_the_routes_at_once() {
        use crate::directory::DirectoryChange;
        let mut w = World::new();
        // A new extension of tenant ta with a live phone.
        w.dir.apply(DirectoryChange::ExtensionUpserted(ext(
            "e9",
            "1009",
            "ta",
            &[],
        )));
        w.registrar.restore(binding("e9", 5069, NOW + 60_000));
        assert!(matches!(
            route(&w.lookup(), PHONE, Some("1009")),
            Ok(Route::Extension { .. })
        ));
        // Removed: unknown again.
        w.dir.apply(DirectoryChange::ExtensionRemoved("e9".into()));
        assert_eq!(refusal(&w, PHONE, Some("1009")), Refusal::NotFound);
        // A queue number moves from 500 to 501.
        w.dir.apply(DirectoryChange::QueueNumber {
            tenant_id: "ta".into(),
            widget_id: "wa".into(),
            number: Some("501".into()),
        });
        assert!(w.dir.queue_widget("ta", "500").is_none());
        assert_eq!(w.dir.queue_widget("ta", "501"), Some("wa"));
        // The PBX trunk removed: its network is no longer trusted for ta.
        w.dir.apply(DirectoryChange::TrunkRemoved("pbx-a".into()));
        let a = admit(&w.lookup(), pbx_ip(), Some("1001"), false);
        assert_ne!(trusted_id(a), Some("pbx-a".into()));
        // And back.
        w.dir.apply(DirectoryChange::TrunkUpserted(trunk(
            "pbx-a",
            "ta",
            "10.0.0.0/24",
            1,
            None,
        )));
        let a = admit(&w.lookup(), pbx_ip(), Some("1001"), false);
        assert_eq!(trusted_id(a), Some("pbx-a".into()));
    }

    #[test]
    fn an_extension_without_a_live_phone_is_unavailable() {
        let w = World::new();
        let r = route(&w.lookup(), PHONE, Some("1002"));
        assert_eq!(r.unwrap_err(), Refusal::Unavailable);
        assert_eq!(Refusal::Unavailable.status(), 480);
    }

    #[test]
    fn another_tenants_extension_is_not_found() {
        let w = World::new();
        for caller in [PHONE, PBX] {
            assert_eq!(refusal(&w, caller, Some("2001")), Refusal::NotFound);
        }
    }

    #[test]
    fn a_phone_dials_the_pstn_only_where_a_trunk_allows_it() {
        let w = World::new();
        match route(&w.lookup(), PHONE, Some("+12125550123")) {
            Ok(Route::Outbound(t)) => assert_eq!(t.trunk.id, "carrier-a"),
            other => panic!("allowed destination: {other:?}"),
        }
        // Outside the carrier trunk's destination pattern +1NXXNXXXXXX: international, an
        // area code starting with 0 or 1, too short, too long.
        for n in [
            "+442071234567",
            "011442071234567",
            "+10125550123",
            "+1212555012",
            "+121255501234",
        ] {
            assert_eq!(refusal(&w, PHONE, Some(n)), Refusal::NotFound, "{n}");
        }
        // Tenant B has no outbound trunk: its phones dial nothing out, not even through A's.
        let b = Caller {
            tenant_id: "tb",
            kind: CallerKind::Extension,
        };
        assert_eq!(refusal(&w, b, Some("+12125550123")), Refusal::NotFound);
    }

    #[test]
    fn a_trunk_call_is_never_forwarded_back_out_to_a_trunk() {
        let w = World::new();
        assert_eq!(refusal(&w, PBX, Some("+12125550123")), Refusal::NotFound);
    }

    #[test]
    fn a_queue_number_rings_the_widgets_extensions() {
        let w = World::new();
        let Ok(Route::Queue {
            widget_id,
            contacts,
        }) = route(&w.lookup(), PBX, Some("500"))
        else {
            panic!("500 is tenant A's queue number");
        };
        assert_eq!(widget_id, "wa");
        // 1002's binding lapsed; 1003's is live.
        let users: Vec<&str> = contacts.iter().map(|c| c.user.as_str()).collect();
        assert_eq!(users, ["1003"]);
        // Another tenant's queue number, or a queue number dialled by a phone: not found.
        assert_eq!(refusal(&w, PBX, Some("600")), Refusal::NotFound);
        assert_eq!(refusal(&w, PHONE, Some("500")), Refusal::NotFound);
    }

    #[test]
    fn a_channel_number_rings_the_visitors_browser_of_the_same_tenant_only() {
        let w = World::new();
        match route(&w.lookup(), PBX, Some("7001")) {
            Ok(Route::Browser(ch)) => assert_eq!(ch.visitor_id, "va"),
            other => panic!("7001 is tenant A's channel: {other:?}"),
        }
        assert_eq!(refusal(&w, PBX, Some("7002")), Refusal::NotFound);
        // Without browser calls there are no channel numbers.
        let mut l = w.lookup();
        l.channels = None;
        assert_eq!(route(&l, PBX, Some("7001")).unwrap_err(), Refusal::NotFound);
    }

    #[test]
    fn unknown_or_missing_numbers_are_not_found() {
        let w = World::new();
        for caller in [PHONE, PBX] {
            for dest in [Some("9999"), None] {
                assert_eq!(refusal(&w, caller, dest), Refusal::NotFound);
            }
        }
        assert_eq!(Refusal::NotFound.status(), 404);
    }

    #[test]
    fn a_trusted_network_stands_for_the_tenant_that_owns_the_number() {
        let w = World::new();
        let l = w.lookup();
        // Both tenants trust 10.0.0.0/24: each number picks its own tenant's trunk.
        assert_eq!(
            trusted_id(admit(&l, pbx_ip(), Some("1001"), false)).as_deref(),
            Some("pbx-a")
        );
        assert_eq!(
            trusted_id(admit(&l, pbx_ip(), Some("2001"), false)).as_deref(),
            Some("pbx-b")
        );
        assert_eq!(
            trusted_id(admit(&l, pbx_ip(), Some("500"), false)).as_deref(),
            Some("pbx-a")
        );
        assert_eq!(
            trusted_id(admit(&l, pbx_ip(), Some("600"), false)).as_deref(),
            Some("pbx-b")
        );
        assert_eq!(
            trusted_id(admit(&l, pbx_ip(), Some("7002"), false)).as_deref(),
            Some("pbx-b")
        );
    }

    #[test]
    fn a_trusted_network_never_captures_another_tenants_number() {
        let w = World::new();
        let l = w.lookup();
        // The carrier network trusts only tenant A's carrier trunk: tenant B's extension is
        // not reached through it, the caller must authenticate (it may be B's own phone).
        let carrier: IpAddr = "192.0.2.9".parse().unwrap();
        assert!(matches!(
            admit(&l, carrier, Some("2001"), false),
            Admission::Authenticate
        ));
        // A number only a trunk dials out to: challenged too, never trusted.
        assert!(matches!(
            admit(&l, carrier, Some("+12125550123"), false),
            Admission::Authenticate
        ));
    }

    #[test]
    fn a_trusted_network_dialling_nothing_anyone_could_reach_gets_not_found() {
        let w = World::new();
        let l = w.lookup();
        assert!(matches!(
            admit(&l, pbx_ip(), Some("9999"), false),
            Admission::NotFound
        ));
        assert!(matches!(
            admit(&l, pbx_ip(), None, false),
            Admission::NotFound
        ));
    }

    #[test]
    fn credentials_or_an_untrusted_source_mean_authenticate() {
        let w = World::new();
        let l = w.lookup();
        assert!(matches!(
            admit(&l, pbx_ip(), Some("1001"), true),
            Admission::Authenticate
        ));
        let stranger: IpAddr = "203.0.113.5".parse().unwrap();
        for dest in [Some("1001"), Some("+12125550123"), Some("9999"), None] {
            assert!(matches!(
                admit(&l, stranger, dest, false),
                Admission::Authenticate
            ));
        }
    }

    fn browser<'r>(
        extensions: &'r [String],
        numbers: &'r [String],
        trunk: Option<&'r str>,
    ) -> BrowserRequest<'r> {
        BrowserRequest {
            tenant_id: "ta",
            widget_id: "wa",
            ring_extensions: true,
            extensions,
            pstn_numbers: numbers,
            pstn_trunk_id: trunk,
        }
    }

    #[test]
    fn a_browser_call_rings_the_widgets_and_the_named_extensions_once_each() {
        let w = World::new();
        let named = [
            "1003".to_string(),
            "1001".into(),
            "2001".into(),
            "9999".into(),
        ];
        let r = browser_route(&w.lookup(), browser(&named, &[], None));
        // Widget wa: 1002 (lapsed) and 1003; named: 1003 again (once), 1001 (two phones);
        // 2001 is tenant B's, 9999 nobody's.
        let ports: Vec<u16> = r.contacts.iter().map(|c| c.peer.addr.port()).collect();
        assert_eq!(ports, [5063, 5061, 5062]);
        let mut req = browser(&named, &[], None);
        req.ring_extensions = false;
        let r = browser_route(&w.lookup(), req);
        let users: Vec<&str> = r.contacts.iter().map(|c| c.user.as_str()).collect();
        assert_eq!(users, ["1003", "1001", "1001"]);
    }

    #[test]
    fn a_browser_call_forwards_only_through_the_tenants_trunk_to_allowed_numbers() {
        let w = World::new();
        let numbers = ["+12125550123".to_string(), "+442071234567".into()];
        let r = browser_route(&w.lookup(), browser(&[], &numbers, None));
        assert_eq!(r.numbers.len(), 1);
        assert_eq!(r.numbers[0].0, "+12125550123");
        assert_eq!(r.numbers[0].1.trunk.id, "carrier-a");
        assert_eq!(r.refused, ["+442071234567"]);
        // Naming the trunk: the tenant's own is used; another tenant's, or one that does
        // not allow the number, dials nothing.
        let r = browser_route(&w.lookup(), browser(&[], &numbers[..1], Some("carrier-a")));
        assert_eq!(r.numbers.len(), 1);
        for trunk in ["pbx-b", "pbx-a", "missing"] {
            let r = browser_route(&w.lookup(), browser(&[], &numbers[..1], Some(trunk)));
            assert!(r.numbers.is_empty(), "{trunk}");
            assert_eq!(r.refused, ["+12125550123"], "{trunk}");
        }
    }
}
