//! Connection caps shared by the TCP listeners (SIP over TCP and HTTP): connections open in
//! all and per source IP, counted by [`ConnTable`], so idle or trickling connections cannot
//! exhaust the process's file descriptors. Only counting lives here; the drivers own the
//! sockets and the timeouts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Caps and timeouts of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections open at once, in all.
    pub max_total: usize,
    /// Connections open at once from one IP address.
    pub max_per_ip: usize,
    /// A connection with no byte read or written for this long is closed.
    pub idle: Duration,
    /// Time to send the first complete message (HTTP: each request's head; SIP: a message
    /// once one has started, and the first one once connected).
    pub header: Duration,
}

impl ConnLimits {
    /// Defaults for SIP over TCP under a descriptor limit of `nofile`: an eighth of it (at
    /// most 4096) in all, 256 per IP (a NAT with many phones), 10 s to send a message, and an
    /// hour and five minutes idle once a message came (registered phones keep their
    /// connection between re-registrations; RFC 5626 CRLF keep-alives count as traffic).
    pub fn sip_default(nofile: u64) -> ConnLimits {
        ConnLimits {
            max_total: (nofile / 8).clamp(64, 4096) as usize,
            max_per_ip: 256,
            idle: Duration::from_secs(3900),
            header: Duration::from_secs(10),
        }
    }

    /// Defaults for HTTP under a descriptor limit of `nofile`: a quarter of it (at most 8192)
    /// in all, 256 per IP, 120 s idle (sockets ping every 30 s), 10 s for a request head.
    pub fn http_default(nofile: u64) -> ConnLimits {
        ConnLimits {
            max_total: (nofile / 4).clamp(64, 8192) as usize,
            max_per_ip: 256,
            idle: Duration::from_secs(120),
            header: Duration::from_secs(10),
        }
    }
}

/// Connections open now, in all and per IP, with the refusals counted.
#[derive(Debug, Default)]
pub struct ConnTable {
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    /// Connections refused because a cap was reached.
    pub refused: AtomicU64,
    /// Connections closed by a timeout.
    pub timed_out: AtomicU64,
}

impl ConnTable {
    /// Count a new connection from `ip`, unless that exceeds a cap (then `None`, counted).
    pub fn admit(self: &Arc<Self>, ip: IpAddr, limits: &ConnLimits) -> Option<ConnGuard> {
        let mut g = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let per_ip = g.1.get(&ip).copied().unwrap_or(0);
        if g.0 >= limits.max_total || per_ip >= limits.max_per_ip {
            drop(g);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        g.0 += 1;
        *g.1.entry(ip).or_insert(0) += 1;
        Some(ConnGuard {
            table: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).0
    }
}

/// One admitted connection; uncounted when dropped.
#[derive(Debug)]
pub struct ConnGuard {
    table: Arc<ConnTable>,
    ip: IpAddr,
}

impl ConnGuard {
    /// The table this connection is counted in.
    pub fn table(&self) -> &Arc<ConnTable> {
        &self.table
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut g = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = g.0.saturating_sub(1);
        if let Some(n) = g.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                g.1.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_ip() {
        let t = Arc::new(ConnTable::default());
        let l = ConnLimits {
            max_total: 3,
            max_per_ip: 2,
            idle: Duration::from_secs(1),
            header: Duration::from_secs(1),
        };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let g1 = t.admit(a, &l).unwrap();
        let _g2 = t.admit(a, &l).unwrap();
        assert!(t.admit(a, &l).is_none(), "per IP");
        let _g3 = t.admit(b, &l).unwrap();
        assert!(t.admit(b, &l).is_none(), "in all");
        assert_eq!(t.open(), 3);
        drop(g1);
        assert!(t.admit(b, &l).is_some(), "a place freed");
        assert_eq!(t.refused.load(Ordering::Relaxed), 2);
    }
}
