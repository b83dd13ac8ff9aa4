//! Loading the program (aya: a pure-Rust loader on stable Rust; the program itself is C built
//! by clang, since Rust eBPF programs need a nightly toolchain), attaching it (TCX links on
//! kernels from 6.6, a clsact qdisc before), and its maps.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use aya::maps::{HashMap, MapData, PerCpuArray};
use aya::programs::{SchedClassifier, TcAttachType};
use aya::{Ebpf, EbpfLoader, Pod};

use super::{LegCounters, LegRule, Totals, Unavailable};

/// The program object, built by build.rs.
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/relay.bpf.o"));

/// `LEG_LOCAL_PEER`, `LEG_PUNT_ALL` and `LEG_V6` in the program.
const LOCAL_PEER: u32 = 1;
const PUNT_ALL: u32 = 2;
const V6: u32 = 4;
/// `BPF_F_LOCK`: read a value with its spin lock held.
const F_LOCK: u64 = 4;
/// Counter slots: forwarded, then the punt reasons.
const COUNTERS: u32 = 9;

/// `struct key` of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
struct Key {
    port: u32,
}

/// `struct leg` of the program, field for field (addresses and ports in network order).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct Leg {
    local_addr: u32,
    peer_addr: u32,
    peer_port: u16,
    in_pt: u8,
    out_pt: u8,
    in_ssrc: u32,
    flags: u32,
    out_saddr: u32,
    out_daddr: u32,
    out_sport: u16,
    out_dport: u16,
    out_ssrc: u32,
    ts_offset: u32,
    seq_offset: u16,
    _pad0: u16,
    clock_rate: u32,
    out_ifindex: u32,
    local6: [u32; 4],
    peer6: [u32; 4],
    out_saddr6: [u32; 4],
    out_daddr6: [u32; 4],
    lock: u32,
    max_seq: u32,
    cycles: u32,
    packets: u64,
    octets: u64,
    last_arrival_ns: u64,
    jitter_q4: u32,
    last_transit: u32,
    last_out_ts: u32,
    last_out_seq: u16,
    have_transit: u16,
    reordered: u64,
}

const _: () = assert!(std::mem::size_of::<Leg>() == 176);

// SAFETY: both are plain `repr(C)` integers with no padding the kernel would read as data
// (explicit padding fields) and any bit pattern is valid.
#[allow(unsafe_code)]
unsafe impl Pod for Key {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Pod for Leg {}

fn net(a: Ipv4Addr) -> u32 {
    u32::from(a).to_be()
}

/// An IPv6 address as the program's `__u32[4]`, network order in memory.
fn net6(a: Ipv6Addr) -> [u32; 4] {
    let o = a.octets();
    [0, 1, 2, 3].map(|i| u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
}

/// The IPv4 field of an address (0 for IPv6 or unspecified).
fn v4(a: IpAddr) -> u32 {
    match a.to_canonical() {
        IpAddr::V4(a) => net(a),
        IpAddr::V6(_) => 0,
    }
}

/// The IPv6 field of an address (all zero for IPv4 or unspecified).
fn v6(a: IpAddr) -> [u32; 4] {
    match a {
        IpAddr::V6(a) if a.to_ipv4_mapped().is_none() => net6(a),
        _ => [0; 4],
    }
}

impl Leg {
    fn from_rule(r: &LegRule) -> Leg {
        let family = if v6(r.peer.ip()) != [0; 4] { V6 } else { 0 };
        Leg {
            local_addr: v4(r.local),
            peer_addr: v4(r.peer.ip()),
            peer_port: r.peer.port().to_be(),
            in_pt: r.in_pt & 0x7f,
            out_pt: r.out_pt & 0x7f,
            in_ssrc: r.in_ssrc,
            flags: family | if r.local_peer { LOCAL_PEER } else { 0 },
            out_saddr: v4(r.out_src.ip()),
            out_daddr: v4(r.out_dst.ip()),
            out_sport: r.out_src.port().to_be(),
            out_dport: r.out_dst.port().to_be(),
            out_ssrc: r.out_ssrc,
            ts_offset: r.ts_offset,
            seq_offset: r.seq_offset,
            clock_rate: r.clock_rate.max(1),
            out_ifindex: r.out_ifindex,
            local6: v6(r.local),
            peer6: v6(r.peer.ip()),
            out_saddr6: v6(r.out_src.ip()),
            out_daddr6: v6(r.out_dst.ip()),
            max_seq: u32::from(r.max_seq),
            jitter_q4: (r.jitter * 16.0).clamp(0.0, f64::from(u32::MAX)) as u32,
            ..Leg::default()
        }
    }

    fn counters(&self) -> LegCounters {
        LegCounters {
            packets: self.packets,
            octets: self.octets,
            max_seq: self.max_seq as u16,
            wraps: self.cycles >> 16,
            reordered: self.reordered,
            jitter: f64::from(self.jitter_q4) / 16.0,
            last_out: (self.last_out_seq, self.last_out_ts),
            last_arrival_ns: self.last_arrival_ns,
        }
    }
}

pub(super) struct Kernel {
    legs: Mutex<HashMap<MapData, Key, Leg>>,
    counters: PerCpuArray<MapData, u64>,
    /// Holds the program and its links: dropping it detaches them.
    _ebpf: Ebpf,
}

impl Kernel {
    pub(super) fn load(interfaces: &[String]) -> Result<Kernel, Unavailable> {
        let mut ebpf = EbpfLoader::new()
            .load(OBJECT)
            .map_err(|e| Unavailable::Load(chain(&e)))?;
        let prog: &mut SchedClassifier = ebpf
            .program_mut("ringside_relay")
            .ok_or_else(|| Unavailable::Load("the object has no ringside_relay".into()))?
            .try_into()
            .map_err(|e| Unavailable::Load(chain(&e)))?;
        prog.load().map_err(|e| Unavailable::Load(chain(&e)))?;
        // From kernel 6.6 the program is attached as a TCX link, which goes when the process
        // does; before, a clsact qdisc holds it as a filter (an existing qdisc is kept).
        let tcx = aya::util::KernelVersion::current()
            .is_ok_and(|v| v >= aya::util::KernelVersion::new(6, 6, 0));
        for i in interfaces {
            if !tcx {
                let _ = aya::programs::tc::qdisc_add_clsact(i);
            }
            prog.attach(i, TcAttachType::Ingress)
                .map_err(|e| Unavailable::Attach(i.clone(), chain(&e)))?;
        }
        let legs = ebpf
            .take_map("legs")
            .ok_or_else(|| Unavailable::Load("the object has no legs map".into()))?;
        let legs = HashMap::try_from(legs).map_err(|e| Unavailable::Load(chain(&e)))?;
        let counters = ebpf
            .take_map("counters")
            .ok_or_else(|| Unavailable::Load("the object has no counters map".into()))?;
        let counters = PerCpuArray::try_from(counters).map_err(|e| Unavailable::Load(chain(&e)))?;
        Ok(Kernel {
            legs: Mutex::new(legs),
            counters,
            _ebpf: ebpf,
        })
    }

    fn legs(&self) -> std::sync::MutexGuard<'_, HashMap<MapData, Key, Leg>> {
        self.legs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn install(&self, port: u16, rule: &LegRule) -> std::io::Result<()> {
        self.put(port, Leg::from_rule(rule))
    }

    pub(super) fn punt_all(&self, port: u16) -> std::io::Result<()> {
        self.put(
            port,
            Leg {
                flags: PUNT_ALL,
                ..Leg::default()
            },
        )
    }

    fn put(&self, port: u16, leg: Leg) -> std::io::Result<()> {
        self.legs()
            .insert(
                Key {
                    port: u32::from(port),
                },
                leg,
                0,
            )
            .map_err(std::io::Error::other)
    }

    pub(super) fn read(&self, port: u16) -> Option<LegCounters> {
        let key = Key {
            port: u32::from(port),
        };
        self.legs().get(&key, F_LOCK).ok().map(|l| l.counters())
    }

    pub(super) fn remove(&self, port: u16) -> Option<LegCounters> {
        let key = Key {
            port: u32::from(port),
        };
        let mut legs = self.legs();
        // Read, then removed: a packet forwarded in between (microseconds) is missing from the
        // counters, and reaches its peer all the same.
        let last = legs.get(&key, F_LOCK).ok();
        legs.remove(&key).ok()?;
        last.map(|l| l.counters())
    }

    pub(super) fn rules(&self) -> usize {
        self.legs().keys().filter(Result::is_ok).count()
    }

    pub(super) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for i in 0..COUNTERS {
            let n: u64 = self
                .counters
                .get(&i, 0)
                .map(|v| v.iter().sum())
                .unwrap_or(0);
            match i {
                0 => t.forwarded = n,
                _ => t.punted[(i - 1) as usize] = n,
            }
        }
        t
    }
}

/// An error and its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}
