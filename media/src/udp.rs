//! Batched UDP receive for the media workers: one `recvmmsg(2)` drains a socket; and
//! [`bind_with_buffers`] for the ports that take bursts.
//!
//! With edge-triggered polling a readable socket must be read until it would block. Reading one
//! datagram per `recvfrom` costs a second system call per wake-up that only learns the queue is
//! empty. `recvmmsg` with `MSG_DONTWAIT` returns every queued datagram up to the batch size in one
//! call, and fewer than the batch size means the queue was empty. Elsewhere than Linux it falls
//! back to one `recv_from` per call.
//!
//! This is the one place in the media core with `unsafe`: the kernel is handed pointers into
//! buffers owned by [`RecvBatch`], valid for the duration of the call.

use std::io;
use std::net::SocketAddr;

use mio::net::UdpSocket;

/// Binds a UDP socket on `bind` after asking for `size`-byte receive and send buffers, for a
/// port many peers share (the WebRTC edge, SIP), where a short stall of the reading thread
/// must not drop datagrams. The kernel caps the request at `net.core.rmem_max`/`wmem_max`;
/// when it grants less than half, a warning names the port (`what`). The socket is blocking.
pub fn bind_with_buffers(
    bind: SocketAddr,
    size: usize,
    what: &str,
) -> io::Result<std::net::UdpSocket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(bind),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    let _ = sock.set_recv_buffer_size(size);
    let _ = sock.set_send_buffer_size(size);
    // Linux reports twice the size it granted (bookkeeping included).
    let granted = sock.recv_buffer_size().unwrap_or(0) / 2;
    if granted < size / 2 {
        tracing::warn!(
            port = what,
            granted,
            wanted = size,
            "UDP receive buffer capped by the kernel (raise net.core.rmem_max): datagrams may drop under load"
        );
    }
    sock.bind(&bind.into())?;
    Ok(sock.into())
}

/// Receive buffers for up to `capacity` datagrams of up to `datagram` bytes each.
pub struct RecvBatch {
    datagram: usize,
    /// `capacity` buffers back to back.
    bufs: Vec<u8>,
    lens: Vec<usize>,
    addrs: Vec<Option<SocketAddr>>,
    #[cfg(target_os = "linux")]
    sys: linux::Scratch,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("capacity", &self.capacity())
            .field("datagram", &self.datagram)
            .finish()
    }
}

impl RecvBatch {
    /// Buffers for `capacity` datagrams (at least 1) of `datagram` bytes.
    pub fn new(capacity: usize, datagram: usize) -> Self {
        let capacity = if cfg!(target_os = "linux") {
            capacity.max(1)
        } else {
            1
        };
        RecvBatch {
            datagram,
            bufs: vec![0; capacity * datagram],
            lens: vec![0; capacity],
            addrs: vec![None; capacity],
            #[cfg(target_os = "linux")]
            sys: linux::Scratch::new(capacity),
        }
    }

    /// How many datagrams one [`recv`](Self::recv) can return.
    pub fn capacity(&self) -> usize {
        self.lens.len()
    }

    /// Receives what is queued on `sock`, up to the capacity, without blocking. `Ok(n)` with
    /// `n < capacity` means the socket's queue was empty after those `n`; `WouldBlock` that it
    /// was empty to begin with.
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        {
            let n = linux::recvmmsg(
                sock,
                &mut self.bufs,
                self.datagram,
                &mut self.sys,
                &mut self.lens,
                &mut self.addrs,
            )?;
            Ok(n)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let (len, from) = sock.recv_from(&mut self.bufs[..self.datagram])?;
            self.lens[0] = len;
            self.addrs[0] = Some(ringside_domain::net::canonical(from));
            Ok(1)
        }
    }

    /// Datagram `i` of the last receive: its buffer (the whole `datagram` bytes, writable so the
    /// packet can be rewritten in place), its length and its source.
    pub fn get(&mut self, i: usize) -> (&mut [u8], usize, Option<SocketAddr>) {
        let d = self.datagram;
        (
            &mut self.bufs[i * d..(i + 1) * d],
            self.lens[i],
            self.addrs[i],
        )
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod linux {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use mio::net::UdpSocket;

    /// The kernel-facing arrays, rebuilt on every call (their pointers must point at the
    /// buffers as they are then).
    pub struct Scratch {
        hdrs: Vec<libc::mmsghdr>,
        iovs: Vec<libc::iovec>,
        names: Vec<libc::sockaddr_storage>,
    }

    // The raw pointers in `hdrs`/`iovs` are only meaningful during `recvmmsg` below, which
    // rewrites them first; between calls they are dead values.
    unsafe impl Send for Scratch {}

    impl Scratch {
        pub fn new(capacity: usize) -> Self {
            // SAFETY: mmsghdr, iovec and sockaddr_storage are plain C structs for which all-zero
            // bytes are a valid value.
            let (hdr, iov, name) = unsafe {
                (
                    zeroed::<libc::mmsghdr>(),
                    zeroed::<libc::iovec>(),
                    zeroed::<libc::sockaddr_storage>(),
                )
            };
            Scratch {
                hdrs: vec![hdr; capacity],
                iovs: vec![iov; capacity],
                names: vec![name; capacity],
            }
        }
    }

    pub fn recvmmsg(
        sock: &UdpSocket,
        bufs: &mut [u8],
        datagram: usize,
        s: &mut Scratch,
        lens: &mut [usize],
        addrs: &mut [Option<SocketAddr>],
    ) -> io::Result<usize> {
        let cap = s.hdrs.len();
        debug_assert!(bufs.len() >= cap * datagram && lens.len() >= cap && addrs.len() >= cap);
        for (i, chunk) in bufs.chunks_exact_mut(datagram).take(cap).enumerate() {
            s.iovs[i] = libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: datagram,
            };
            let h = &mut s.hdrs[i];
            h.msg_hdr.msg_name = (&mut s.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut s.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: `hdrs[..cap]` point at `cap` iovecs, each at its own `datagram`-byte chunk of
        // `bufs`, and at `cap` sockaddr_storage slots with their true size; all of them outlive
        // the call, and the kernel writes within those bounds only.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                s.hdrs.as_mut_ptr(),
                cap as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            let h = &s.hdrs[i];
            lens[i] = (h.msg_len as usize).min(datagram);
            addrs[i] =
                sockaddr(&s.names[i], h.msg_hdr.msg_namelen).map(ringside_domain::net::canonical);
        }
        Ok(n)
    }

    fn sockaddr(st: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        match i32::from(st.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in, which is smaller than
                // sockaddr_storage and has no stricter alignment.
                let a =
                    unsafe { &*(st as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let a =
                    unsafe { &*(st as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UdpSocket, std::net::UdpSocket) {
        let r = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        r.set_nonblocking(true).unwrap();
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(r.local_addr().unwrap()).unwrap();
        (UdpSocket::from_std(r), s)
    }

    #[test]
    fn empty_socket_would_block() {
        let (r, _s) = pair();
        let mut b = RecvBatch::new(8, 1500);
        let e = b.recv(&r).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn drains_queued_datagrams_in_order_with_sources() {
        let (r, s) = pair();
        for i in 0..11u8 {
            s.send(&vec![i; 10 + usize::from(i)]).unwrap();
        }
        let mut b = RecvBatch::new(8, 1500);
        let mut got = Vec::new();
        loop {
            match b.recv(&r) {
                Ok(n) => {
                    for i in 0..n {
                        let (buf, len, from) = b.get(i);
                        assert_eq!(from, Some(s.local_addr().unwrap()));
                        got.push(buf[..len].to_vec());
                    }
                    if n < b.capacity() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got.len(), 11);
        for (i, d) in got.iter().enumerate() {
            assert_eq!(d.len(), 10 + i);
            assert!(d.iter().all(|&x| x == i as u8));
        }
        // A short batch meant the queue was empty.
        assert_eq!(b.recv(&r).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn oversized_datagram_is_truncated_to_the_buffer() {
        let (r, s) = pair();
        s.send(&[7u8; 300]).unwrap();
        let mut b = RecvBatch::new(2, 100);
        assert_eq!(b.recv(&r).unwrap(), 1);
        let (buf, len, _) = b.get(0);
        assert_eq!(len, 100);
        assert!(buf[..len].iter().all(|&x| x == 7));
    }

    #[test]
    fn ipv6_sources() {
        let Ok(r) = std::net::UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 loopback on this machine
        };
        r.set_nonblocking(true).unwrap();
        let s = std::net::UdpSocket::bind("[::1]:0").unwrap();
        s.send_to(b"v6", r.local_addr().unwrap()).unwrap();
        let r = UdpSocket::from_std(r);
        let mut b = RecvBatch::new(4, 1500);
        let mut n = 0;
        for _ in 0..100 {
            match b.recv(&r) {
                Ok(k) => {
                    n = k;
                    break;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        assert_eq!(n, 1);
        let (buf, len, from) = b.get(0);
        assert_eq!(&buf[..len], b"v6");
        assert_eq!(from, Some(s.local_addr().unwrap()));
    }
}
