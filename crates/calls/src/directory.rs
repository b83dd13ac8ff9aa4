//! The in-memory directory of extensions and trunks the SIP core routes with.
//!
//! Loaded from storage at start and owned by the SIP core, which the API keeps current with
//! [`DirectoryChange`] commands, so the SIP hot path never waits on the database or a lock.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use ringside_domain::{DestinationPatterns, TrustedNet};
use ringside_sip::locate::{plan, Plan};
use ringside_sip::registrar::{Account, AccountLookup};
use ringside_sip::transaction::TransportKind;
use ringside_storage::{Extension, Trunk};

/// A trunk with its rules parsed.
#[derive(Debug, Clone)]
pub struct TrunkEntry {
    /// The stored trunk.
    pub trunk: Trunk,
    /// Parsed inbound networks (an entry that does not parse is not trusted).
    pub nets: Vec<TrustedNet>,
    /// Parsed outbound destination patterns (empty: dials nothing).
    pub destinations: DestinationPatterns,
    /// Where outbound calls go, in the order to try (RFC 3263): the host's address when it is
    /// one, else what the driver's resolver found (empty until it has).
    pub targets: Vec<(SocketAddr, TransportKind)>,
}

impl From<Trunk> for TrunkEntry {
    fn from(trunk: Trunk) -> Self {
        TrunkEntry::new(trunk)
    }
}

impl TrunkEntry {
    fn new(trunk: Trunk) -> Self {
        let nets = trunk
            .inbound_cidrs
            .iter()
            .filter_map(|c| TrustedNet::stored(c).ok())
            .collect();
        let destinations = trunk
            .allowed_destinations
            .as_deref()
            .and_then(|p| DestinationPatterns::parse(p).ok())
            .unwrap_or_default();
        let targets = match TrunkEntry::plan_of(&trunk) {
            Some((_, Plan::Direct(addr, t))) => vec![(addr, t)],
            _ => Vec::new(),
        };
        TrunkEntry {
            trunk,
            nets,
            destinations,
            targets,
        }
    }

    /// The configured transport, if any.
    pub fn transport(&self) -> Option<TransportKind> {
        self.trunk
            .outbound_transport
            .as_deref()
            .map(TransportKind::from_name)
    }

    /// How to locate the trunk's outbound host (`None`: it dials nothing).
    pub fn plan(&self) -> Option<(&str, Plan)> {
        TrunkEntry::plan_of(&self.trunk)
    }

    fn plan_of(t: &Trunk) -> Option<(&str, Plan)> {
        let host = t.outbound_host.as_deref()?;
        let transport = t
            .outbound_transport
            .as_deref()
            .map(TransportKind::from_name);
        Some((host, plan(host, t.outbound_port, transport)))
    }

    /// The [`Peer::tls_profile`](ringside_sip::transaction::Peer) of connections to this trunk.
    pub fn tls_profile(&self) -> u64 {
        tls_profile_of(&self.trunk)
    }
}

/// The TLS profile number of a trunk: 0 when it has no TLS settings of its own (the defaults,
/// which any trunk may share), else FNV-1a of its id and settings (never 0). The core puts it
/// on the trunk's peer and the transport finds the trunk's settings by it; changed settings
/// are a new number, so the next request opens a new connection with them.
pub fn tls_profile_of(t: &Trunk) -> u64 {
    if t.tls_ca_pem.is_none() && t.tls_client_cert_pem.is_none() {
        return 0;
    }
    let parts = [
        Some(t.id.as_str()),
        t.tls_ca_pem.as_deref(),
        t.tls_client_cert_pem.as_deref(),
        t.tls_client_key_pem.as_deref(),
    ];
    let h = parts.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, part| {
        part.unwrap_or("\0")
            .bytes()
            .chain([0xff])
            .fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    });
    h.max(1)
}

/// Extensions and trunks by the keys the SIP core needs.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    ext_by_username: HashMap<String, Extension>,
    ext_username_by_id: HashMap<String, String>,
    trunks: HashMap<String, TrunkEntry>,
    /// (tenant, queue number) → widget.
    queues: HashMap<(String, String), String>,
}

impl Directory {
    /// Build from everything stored.
    pub fn load(extensions: Vec<Extension>, trunks: Vec<Trunk>) -> Self {
        let mut d = Directory::default();
        for e in extensions {
            d.upsert_extension(e);
        }
        for t in trunks {
            d.upsert_trunk(t);
        }
        d
    }

    /// Insert or replace an extension.
    pub fn upsert_extension(&mut self, e: Extension) {
        if let Some(old) = self
            .ext_username_by_id
            .insert(e.id.clone(), e.username.clone())
        {
            self.ext_by_username.remove(&old);
        }
        self.ext_by_username.insert(e.username.clone(), e);
    }

    /// Remove an extension.
    pub fn remove_extension(&mut self, id: &str) {
        if let Some(u) = self.ext_username_by_id.remove(id) {
            self.ext_by_username.remove(&u);
        }
    }

    /// Set (or with `None` clear) the queue number of a widget.
    pub fn set_queue_number(&mut self, tenant_id: &str, widget_id: &str, number: Option<&str>) {
        self.queues
            .retain(|(t, _), w| !(t == tenant_id && w == widget_id));
        if let Some(n) = number {
            self.queues
                .insert((tenant_id.to_owned(), n.to_owned()), widget_id.to_owned());
        }
    }

    /// The tenant's widget whose queue number is `number`.
    pub fn queue_widget(&self, tenant_id: &str, number: &str) -> Option<&str> {
        self.queues
            .get(&(tenant_id.to_owned(), number.to_owned()))
            .map(String::as_str)
    }

    /// Insert or replace a trunk. Addresses already found for its host stay while the host,
    /// port and transport do.
    pub fn upsert_trunk(&mut self, t: Trunk) {
        let mut entry = TrunkEntry::new(t);
        if let Some(old) = self.trunks.get(&entry.trunk.id) {
            let (a, b) = (&old.trunk, &entry.trunk);
            let same = a.outbound_host == b.outbound_host
                && a.outbound_port == b.outbound_port
                && a.outbound_transport == b.outbound_transport;
            if entry.targets.is_empty() && same {
                entry.targets = old.targets.clone();
            }
        }
        self.trunks.insert(entry.trunk.id.clone(), entry);
    }

    /// The resolver found `targets` for trunk `id`'s outbound `host` (dropped if the trunk
    /// has since moved to another host).
    pub fn trunk_resolved(
        &mut self,
        id: &str,
        host: &str,
        targets: Vec<(SocketAddr, TransportKind)>,
    ) {
        if let Some(t) = self.trunks.get_mut(id) {
            if t.trunk.outbound_host.as_deref() == Some(host) {
                t.targets = targets;
            }
        }
    }

    /// Remove a trunk.
    pub fn remove_trunk(&mut self, id: &str) {
        self.trunks.remove(id);
    }

    /// The extension with this SIP username.
    pub fn extension(&self, username: &str) -> Option<&Extension> {
        self.ext_by_username.get(username)
    }

    /// Extensions of `tenant_id` assigned to `widget_id` (its SIP ring targets), by username.
    pub fn extensions_for_widget(&self, tenant_id: &str, widget_id: &str) -> Vec<&Extension> {
        let mut v: Vec<&Extension> = self
            .ext_by_username
            .values()
            .filter(|e| e.tenant_id == tenant_id && e.widget_ids.iter().any(|w| w == widget_id))
            .collect();
        v.sort_by(|a, b| a.username.cmp(&b.username));
        v
    }

    /// The extension with this id.
    pub fn extension_by_id(&self, id: &str) -> Option<&Extension> {
        self.ext_username_by_id
            .get(id)
            .and_then(|u| self.ext_by_username.get(u))
    }

    /// A trunk by id.
    pub fn trunk(&self, id: &str) -> Option<&TrunkEntry> {
        self.trunks.get(id)
    }

    /// The trunks whose inbound networks hold `ip` (trusted without digest), oldest first.
    pub fn trunks_for_source(&self, ip: IpAddr) -> impl Iterator<Item = &TrunkEntry> {
        let mut v: Vec<&TrunkEntry> = self
            .trunks
            .values()
            .filter(|t| t.nets.iter().any(|n| n.contains(ip)))
            .collect();
        v.sort_by(|a, b| (a.trunk.created_at, &a.trunk.id).cmp(&(b.trunk.created_at, &b.trunk.id)));
        v.into_iter()
    }

    /// The tenant's first trunk allowed to dial `number`.
    pub fn outbound_trunk_for(&self, tenant_id: &str, number: &str) -> Option<&TrunkEntry> {
        let mut candidates: Vec<&TrunkEntry> = self
            .trunks
            .values()
            .filter(|t| {
                t.trunk.tenant_id == tenant_id
                    && t.trunk.outbound_host.is_some()
                    && t.destinations.allows(number)
            })
            .collect();
        candidates.sort_by_key(|t| t.trunk.created_at);
        candidates.into_iter().next()
    }

    /// Whether some tenant's widget has `number` as its queue number.
    pub fn has_queue_number(&self, number: &str) -> bool {
        self.queues.keys().any(|(_, n)| n == number)
    }

    /// Whether some tenant's outbound trunk may dial `number`.
    pub fn dialable(&self, number: &str) -> bool {
        self.trunks
            .values()
            .any(|t| t.trunk.outbound_host.is_some() && t.destinations.allows(number))
    }

    /// Counts for metrics: (extensions, trunks).
    pub fn counts(&self) -> (usize, usize) {
        (self.ext_by_username.len(), self.trunks.len())
    }
}

/// Stored algorithm names (`MD5`, `SHA-256`) as the guard's; unknown names are left out
/// (storage accepts only these two).
fn algorithms(names: &[String]) -> Vec<ringside_sip::auth::Algorithm> {
    names
        .iter()
        .filter_map(|n| ringside_sip::auth::Algorithm::from_name(n))
        .collect()
}

impl AccountLookup for Directory {
    /// Extension and trunk logins share one namespace (the API refuses a username either
    /// already uses); should stored data still hold both, neither authenticates, so no
    /// tenant's login can shadow another's.
    fn account(&self, username: &str) -> Option<Account> {
        let mut trunks = self
            .trunks
            .values()
            .filter(|t| t.trunk.inbound_username.as_deref() == Some(username));
        let trunk = trunks.next();
        let ext = self.ext_by_username.get(username);
        if trunks.next().is_some() || (ext.is_some() && trunk.is_some()) {
            return None;
        }
        if let Some(e) = ext {
            return Some(Account {
                id: e.id.clone(),
                tenant_id: e.tenant_id.clone(),
                username: e.username.clone(),
                realm: e.realm.clone(),
                ha1_md5: e.ha1_md5.clone(),
                ha1_sha256: e.ha1_sha256.clone(),
                algorithms: algorithms(&e.digest_algorithms),
            });
        }
        trunk.map(|t| {
            let tr = &t.trunk;
            Account {
                id: tr.id.clone(),
                tenant_id: tr.tenant_id.clone(),
                username: username.to_string(),
                realm: tr.inbound_realm.clone().unwrap_or_default(),
                ha1_md5: tr.inbound_ha1_md5.clone().unwrap_or_default(),
                ha1_sha256: tr.inbound_ha1_sha256.clone().unwrap_or_default(),
                algorithms: algorithms(&tr.digest_algorithms),
            }
        })
    }
}

/// A change to the directory. The API's writes reach the SIP core, which owns the directory,
/// as these commands (applied between two SIP events, never during one).
#[derive(Debug, Clone)]
pub enum DirectoryChange {
    /// An extension was created or changed.
    ExtensionUpserted(Extension),
    /// An extension was deleted (its registrations go with it).
    ExtensionRemoved(String),
    /// A trunk was created or changed.
    TrunkUpserted(Trunk),
    /// A trunk was deleted.
    TrunkRemoved(String),
    /// The resolver found the addresses of a trunk's outbound host, in the order to try.
    TrunkResolved {
        /// The trunk.
        id: String,
        /// The host that was resolved.
        host: String,
        /// Addresses and transports.
        targets: Vec<(SocketAddr, TransportKind)>,
    },
    /// A widget's queue number changed (`None`: it has none now).
    QueueNumber {
        /// The widget's tenant.
        tenant_id: String,
        /// The widget.
        widget_id: String,
        /// The new number.
        number: Option<String>,
    },
}

impl Directory {
    /// Apply one change.
    pub fn apply(&mut self, change: DirectoryChange) {
        match change {
            DirectoryChange::ExtensionUpserted(e) => self.upsert_extension(e),
            DirectoryChange::ExtensionRemoved(id) => self.remove_extension(&id),
            DirectoryChange::TrunkUpserted(t) => self.upsert_trunk(t),
            DirectoryChange::TrunkRemoved(id) => self.remove_trunk(&id),
            DirectoryChange::TrunkResolved { id, host, targets } => {
                self.trunk_resolved(&id, &host, targets)
            }
            DirectoryChange::QueueNumber {
                tenant_id,
                widget_id,
                number,
            } => self.set_queue_number(&tenant_id, &widget_id, number.as_deref()),
        }
    }
}
