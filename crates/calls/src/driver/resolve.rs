//! The trunk resolver: finds the addresses of every trunk's outbound host with an async
//! resolver (hickory-resolver) following RFC 3263 (NAPTR, SRV, A/AAAA; the order and the
//! failover list come from [`ringside_sip::locate`]), keeps them while their TTL runs and
//! looks again when it has, and hands each new list to the core as a directory change. The
//! SIP core never waits on DNS: a call to a trunk uses the last list found.
//!
//! A lookup that fails keeps the last list (a DNS outage does not take working trunks down)
//! and is retried after [`RETRY`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{ResolveError, TokioResolver};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use ringside_sip::locate::{default_port, naptr_services, order_srv, srv_name, Naptr, Plan, Srv};
use ringside_sip::transaction::TransportKind;
use ringside_storage::Trunk;

use crate::directory::{DirectoryChange, TrunkEntry};

/// After a failed lookup, the next try.
const RETRY: Duration = Duration::from_secs(30);
/// Records are looked up again at least this often, whatever their TTL says.
const MAX_TTL: Duration = Duration::from_secs(3600);
/// ... and at most this often.
const MIN_TTL: Duration = Duration::from_secs(5);

/// What the resolver is told.
pub(super) enum ResolveCmd {
    /// A trunk was created or changed.
    Trunk(Box<Trunk>),
    /// A trunk was deleted.
    Removed(String),
}

/// The resolver of `servers` (`host:port` or `ip`, port 53), or of the system's
/// configuration (`/etc/resolv.conf` and `/etc/hosts`) when there are none. Host names
/// resolve to the addresses the SIP sockets, bound to `bind`, can send to: an IPv4 socket, or
/// an IPv6 one bound to a specific address, only to its own family (a trunk whose host has
/// both would otherwise fail over only after a transaction timeout); a dual-stack socket
/// (`[::]`) to both, IPv6 first.
pub fn resolver(servers: &[SocketAddr], bind: IpAddr) -> Result<TokioResolver, String> {
    let provider = TokioConnectionProvider::default();
    let mut builder = if servers.is_empty() {
        TokioResolver::builder(provider)
            .map_err(|e| format!("reading the system's DNS settings: {e}"))?
    } else {
        let mut group = NameServerConfigGroup::new();
        for s in servers {
            group.merge(NameServerConfigGroup::from_ips_clear(
                &[s.ip()],
                s.port(),
                true,
            ));
        }
        TokioResolver::builder_with_config(
            ResolverConfig::from_parts(None, vec![], group),
            provider,
        )
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 2;
    use hickory_resolver::config::LookupIpStrategy;
    opts.ip_strategy = match bind {
        IpAddr::V4(_) => LookupIpStrategy::Ipv4Only,
        IpAddr::V6(a) if a.is_unspecified() => LookupIpStrategy::Ipv6thenIpv4,
        IpAddr::V6(_) => LookupIpStrategy::Ipv6Only,
    };
    Ok(builder.build())
}

/// Start resolving; trunks come and go on the returned sender, lists go out on `dir`.
pub(super) fn spawn(
    resolver: TokioResolver,
    dir: mpsc::UnboundedSender<DirectoryChange>,
) -> mpsc::UnboundedSender<ResolveCmd> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(resolver, rx, dir));
    tx
}

/// A trunk whose host needs DNS.
struct Job {
    host: String,
    plan: Plan,
    due: Instant,
    last: Option<Vec<(SocketAddr, TransportKind)>>,
}

async fn run(
    resolver: TokioResolver,
    mut rx: mpsc::UnboundedReceiver<ResolveCmd>,
    dir: mpsc::UnboundedSender<DirectoryChange>,
) {
    let mut jobs: HashMap<String, Job> = HashMap::new();
    loop {
        let next = jobs.values().map(|j| j.due).min();
        let wait = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None => return,
                Some(ResolveCmd::Removed(id)) => { jobs.remove(&id); }
                Some(ResolveCmd::Trunk(t)) => {
                    let entry = TrunkEntry::from(*t);
                    match entry.plan() {
                        Some((host, plan)) if !matches!(plan, Plan::Direct(..)) => {
                            let host = host.to_owned();
                            jobs.insert(entry.trunk.id.clone(), Job { host, plan, due: Instant::now(), last: None });
                        }
                        _ => { jobs.remove(&entry.trunk.id); }
                    }
                }
            },
            _ = wait => {}
        }
        let now = Instant::now();
        for (id, job) in jobs.iter_mut().filter(|(_, j)| j.due <= now) {
            match locate(&resolver, &job.host, &job.plan).await {
                Ok((targets, valid_until)) => {
                    let ttl = valid_until.saturating_duration_since(Instant::now());
                    job.due = Instant::now() + ttl.clamp(MIN_TTL, MAX_TTL);
                    if targets.is_empty() {
                        warn!(trunk = %id, host = %job.host, "outbound trunk host has no address");
                    }
                    if job.last.as_ref() != Some(&targets) {
                        debug!(trunk = %id, host = %job.host, ?targets, "outbound trunk host resolved");
                        job.last = Some(targets.clone());
                        let _ = dir.send(DirectoryChange::TrunkResolved {
                            id: id.clone(),
                            host: job.host.clone(),
                            targets,
                        });
                    }
                }
                Err(e) => {
                    warn!(trunk = %id, host = %job.host, error = %e, "resolving the outbound trunk host; keeping the last addresses");
                    job.due = Instant::now() + RETRY;
                }
            }
        }
    }
}

type Found = (Vec<(SocketAddr, TransportKind)>, Instant);

/// The addresses to try for `host`, in order, and until when they hold.
async fn locate(resolver: &TokioResolver, host: &str, plan: &Plan) -> Result<Found, ResolveError> {
    let mut found: Found = (Vec::new(), Instant::now() + MAX_TTL);
    match *plan {
        Plan::Direct(addr, t) => found.0.push((addr, t)),
        Plan::Address(port, t) => addresses(resolver, host, port, t, &mut found).await?,
        Plan::Srv(t) => {
            srv(resolver, &srv_name(host, t), t, &mut found).await?;
            if found.0.is_empty() {
                addresses(resolver, host, default_port(t), t, &mut found).await?;
            }
        }
        Plan::Naptr => {
            let services = naptr(resolver, host, &mut found).await?;
            for (name, t) in services {
                srv(resolver, &name, t, &mut found).await?;
            }
            if found.0.is_empty() {
                for t in [TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls] {
                    srv(resolver, &srv_name(host, t), t, &mut found).await?;
                }
            }
            if found.0.is_empty() {
                addresses(resolver, host, 5060, TransportKind::Udp, &mut found).await?;
            }
        }
    }
    Ok(found)
}

/// An absent name or record type is no answer, not a failure.
fn none_is_empty<T>(r: Result<T, ResolveError>) -> Result<Option<T>, ResolveError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn addresses(
    resolver: &TokioResolver,
    host: &str,
    port: u16,
    t: TransportKind,
    found: &mut Found,
) -> Result<(), ResolveError> {
    if let Some(ips) = none_is_empty(resolver.lookup_ip(host).await)? {
        found.1 = found.1.min(ips.valid_until());
        for ip in ips.iter() {
            let target = (SocketAddr::new(ip, port), t);
            if !found.0.contains(&target) {
                found.0.push(target);
            }
        }
    }
    Ok(())
}

async fn srv(
    resolver: &TokioResolver,
    name: &str,
    t: TransportKind,
    found: &mut Found,
) -> Result<(), ResolveError> {
    let Some(lookup) = none_is_empty(resolver.srv_lookup(name).await)? else {
        return Ok(());
    };
    found.1 = found.1.min(lookup.as_lookup().valid_until());
    let records = lookup
        .iter()
        .map(|r| Srv {
            priority: r.priority(),
            weight: r.weight(),
            port: r.port(),
            target: r.target().to_utf8(),
        })
        .collect();
    let ordered = order_srv(records, &mut rand::thread_rng());
    for r in ordered {
        addresses(resolver, &r.target, r.port, t, found).await?;
    }
    Ok(())
}

async fn naptr(
    resolver: &TokioResolver,
    host: &str,
    found: &mut Found,
) -> Result<Vec<(String, TransportKind)>, ResolveError> {
    let Some(lookup) = none_is_empty(resolver.lookup(host, RecordType::NAPTR).await)? else {
        return Ok(Vec::new());
    };
    found.1 = found.1.min(lookup.valid_until());
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let records = lookup
        .iter()
        .filter_map(|r| match r {
            RData::NAPTR(n) => Some(Naptr {
                order: n.order(),
                preference: n.preference(),
                flags: text(n.flags()),
                services: text(n.services()),
                replacement: n.replacement().to_utf8(),
            }),
            _ => None,
        })
        .collect();
    Ok(naptr_services(records))
}
