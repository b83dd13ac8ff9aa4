//! Shared inputs for Ringside's benchmarks (criterion benches in this folder; load scripts
//! beside them print their headline figure as the last line `name: value`).

/// A typical INVITE with SDP from a desk phone.
pub const INVITE: &str = "INVITE sip:1002@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.55:5062;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:1002@192.0.2.10>\r\n\
From: \"Front Desk\" <sip:1001@192.0.2.10>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:1001@192.0.2.55:5062;transport=udp>\r\n\
User-Agent: Ringside-bench/1.0\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 237\r\n\
\r\n\
v=0\r\n\
o=desk 2890844526 2890844526 IN IP4 192.0.2.55\r\n\
s=-\r\n\
c=IN IP4 192.0.2.55\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// This process's resident set size in KiB (Linux `/proc/self/status`; 0 elsewhere).
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
