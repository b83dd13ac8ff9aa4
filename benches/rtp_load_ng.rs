//! rtp_load's client of rtpengine's ng control protocol (bencode over UDP): allocating calls with
//! `offer`/`answer` and reading the ports from the rewritten SDPs.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Ben {
    Int(i64),
    Str(Vec<u8>),
    List(Vec<Ben>),
    Dict(Vec<(Vec<u8>, Ben)>),
}

pub fn s(v: &str) -> Ben {
    Ben::Str(v.as_bytes().to_vec())
}

pub fn ben_encode(b: &Ben, out: &mut Vec<u8>) {
    match b {
        Ben::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
        Ben::Str(v) => {
            out.extend_from_slice(format!("{}:", v.len()).as_bytes());
            out.extend_from_slice(v);
        }
        Ben::List(l) => {
            out.push(b'l');
            for x in l {
                ben_encode(x, out);
            }
            out.push(b'e');
        }
        Ben::Dict(d) => {
            let mut d = d.clone();
            d.sort_by(|a, b| a.0.cmp(&b.0));
            out.push(b'd');
            for (k, v) in &d {
                ben_encode(&Ben::Str(k.clone()), out);
                ben_encode(v, out);
            }
            out.push(b'e');
        }
    }
}

pub fn ben_decode(b: &[u8], pos: &mut usize) -> Option<Ben> {
    match *b.get(*pos)? {
        b'i' => {
            let end = *pos + b[*pos..].iter().position(|&c| c == b'e')?;
            let v = std::str::from_utf8(&b[*pos + 1..end]).ok()?.parse().ok()?;
            *pos = end + 1;
            Some(Ben::Int(v))
        }
        b'l' => {
            *pos += 1;
            let mut l = Vec::new();
            while *b.get(*pos)? != b'e' {
                l.push(ben_decode(b, pos)?);
            }
            *pos += 1;
            Some(Ben::List(l))
        }
        b'd' => {
            *pos += 1;
            let mut d = Vec::new();
            while *b.get(*pos)? != b'e' {
                let Ben::Str(k) = ben_decode(b, pos)? else {
                    return None;
                };
                let v = ben_decode(b, pos)?;
                d.push((k, v));
            }
            *pos += 1;
            Some(Ben::Dict(d))
        }
        b'0'..=b'9' => {
            let colon = *pos + b[*pos..].iter().position(|&c| c == b':')?;
            let len: usize = std::str::from_utf8(&b[*pos..colon]).ok()?.parse().ok()?;
            let start = colon + 1;
            let v = b.get(start..start + len)?.to_vec();
            *pos = start + len;
            Some(Ben::Str(v))
        }
        _ => None,
    }
}

pub fn dict_get<'a>(d: &'a Ben, key: &str) -> Option<&'a Ben> {
    match d {
        Ben::Dict(d) => d.iter().find(|(k, _)| k == key.as_bytes()).map(|x| &x.1),
        _ => None,
    }
}

pub struct Ng {
    pub sock: StdUdpSocket,
    pub server: SocketAddr,
    pub n: u64,
}

impl Ng {
    pub fn new(server: SocketAddr) -> Self {
        let sock = StdUdpSocket::bind("127.0.0.1:0").expect("ng socket");
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        Ng { sock, server, n: 0 }
    }

    pub fn request(&mut self, msg: &Ben) -> Ben {
        self.n += 1;
        let cookie = format!("bench{}_{} ", std::process::id(), self.n);
        let mut out = cookie.as_bytes().to_vec();
        ben_encode(msg, &mut out);
        let mut buf = vec![0u8; 65536];
        for _ in 0..10 {
            self.sock.send_to(&out, self.server).expect("ng send");
            // Until the read timeout: then retransmit.
            while let Ok((len, _)) = self.sock.recv_from(&mut buf) {
                let r = &buf[..len];
                if !r.starts_with(cookie.as_bytes()) {
                    continue; // a late reply to an earlier retransmission
                }
                let mut pos = cookie.len();
                let d = ben_decode(r, &mut pos).expect("ng reply bencode");
                match dict_get(&d, "result") {
                    Some(Ben::Str(v)) if v == b"ok" => return d,
                    _ => panic!("ng error reply: {}", String::from_utf8_lossy(r)),
                }
            }
        }
        panic!("rtpengine does not answer on {}", self.server);
    }

    /// Port (and address) from the rewritten SDP of a reply.
    pub fn sdp_addr(reply: &Ben) -> SocketAddr {
        let Some(Ben::Str(sdp)) = dict_get(reply, "sdp") else {
            panic!("no sdp in ng reply");
        };
        let sdp = String::from_utf8_lossy(sdp);
        let mut ip = None;
        let mut port = None;
        for l in sdp.lines() {
            if let Some(c) = l.strip_prefix("c=IN IP4 ") {
                ip = Some(c.trim().to_string());
            }
            if let Some(m) = l.strip_prefix("m=audio ") {
                port = m
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<u16>().ok());
            }
        }
        format!("{}:{}", ip.expect("c= line"), port.expect("m= line"))
            .parse()
            .expect("sdp address")
    }
}

pub fn sdp(port: u16, id: usize) -> String {
    format!(
        "v=0\r\no=- {id} 1 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}
