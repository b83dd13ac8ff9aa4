// SPDX-License-Identifier: GPL-2.0 OR MIT
//
// Ringside's kernel fast path for relayed RTP: a TC ingress program.
//
// A packet to one of a call's relay ports (UDP over IPv4, RTP version 2) whose entry in `legs`
// matches it (the latched peer as source, the leg's incoming SSRC and payload type, no jump in
// its sequence numbers) is rewritten as the userspace relay would send it on: source and
// destination address and port, SSRC, sequence number and timestamp offsets and the other leg's
// payload type; its checksums are fixed and it goes on to the peer of the other leg, up the
// stack when that peer is on this host, out of the route's interface otherwise. The
// entry counts it (packets, payload octets, the RFC 3550 sequence and jitter inputs).
//
// Anything else goes on unchanged (TC_ACT_UNSPEC: the next program attached, if any, then the
// stack) to the userspace relay, counted by reason when
// it was addressed to a relay port: another source, another SSRC, another payload type (a
// telephone event, comfort noise), a sequence jump, not RTP, IP options or fragments, no route.
// The userspace relay then handles it as if there were no fast path, and takes the call back
// when it must.
//
// The layout of `struct leg` and `struct key` is mirrored in media/src/fastpath/maps.rs.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// The leg's peer is on this host: deliver up the stack instead of out of an interface.
#define LEG_LOCAL_PEER 1
// Count and punt everything (an RTCP port, a port being taken back).
#define LEG_PUNT_ALL 2

// RFC 3550 A.1.
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100

// Indexes of `counters`.
enum {
	C_FORWARDED = 0,
	C_PUNT_SOURCE,   // not from the latched peer (a stranger, a moved peer)
	C_PUNT_SSRC,     // another SSRC (a new source)
	C_PUNT_PT,       // another payload type (telephone events, comfort noise)
	C_PUNT_JUMP,     // a sequence jump (a restarted source)
	C_PUNT_NOT_RTP,  // not RTP version 2, or too short
	C_PUNT_IP,       // IP options or a fragment
	C_PUNT_ROUTE,    // no route towards the other leg's peer (none known at install)
	C_PUNT_ALL,      // an entry that punts everything (RTCP ports)
	C_MAX,
};

struct key {
	__u32 port; // the relay port the packet is addressed to (host order)
};

struct leg {
	// Matching: what comes in (network order for addresses and ports).
	__u32 local_addr; // the relay's address the packet is sent to; 0: any
	__u32 peer_addr;  // the latched peer
	__u16 peer_port;
	__u8 in_pt;
	__u8 out_pt;
	__u32 in_ssrc; // host order
	__u32 flags;
	// Rewriting: what goes out.
	__u32 out_saddr;
	__u32 out_daddr;
	__u16 out_sport;
	__u16 out_dport;
	__u32 out_ssrc;  // host order
	__u32 ts_offset; // added to the timestamp
	__u16 seq_offset;
	__u16 _pad0;
	__u32 clock_rate; // Hz, for jitter
	__u32 out_ifindex; // the interface towards a peer elsewhere (0: unknown, punted)
	// Counters, under `lock`.
	struct bpf_spin_lock lock;
	__u32 max_seq; // highest sequence number seen (low 16 bits) ...
	__u32 cycles;  // ... and its wrap count << 16 (RFC 3550 A.1)
	__u64 packets;
	__u64 octets; // payload octets
	__u64 last_arrival_ns;
	__u32 jitter_q4; // RFC 3550 A.8, in timestamp units, scaled by 16
	__u32 last_transit;
	__u32 last_out_ts;
	__u16 last_out_seq;
	__u16 have_transit;
	__u64 reordered; // packets older than the highest seen (late, duplicated)
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct key);
	__type(value, struct leg);
} legs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

// Not ours, or not forwarded: on to the next program (TCX chains several; another Ringside
// process on this host has its own), then up the stack.
#define NEXT TC_ACT_UNSPEC

static __always_inline int count(__u32 what)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &what);
	if (c)
		*c += 1;
	return NEXT;
}

// Offsets in a packet with an Ethernet header and IPv4 without options.
#define IP_OFF ETH_HLEN
#define IP_TTL_OFF (IP_OFF + 8)
#define IP_CSUM_OFF (IP_OFF + 10)
#define IP_SRC_OFF (IP_OFF + 12)
#define IP_DST_OFF (IP_OFF + 16)
#define UDP_OFF (IP_OFF + 20)
#define UDP_CSUM_OFF (UDP_OFF + 6)
#define RTP_OFF (UDP_OFF + 8)

struct rtp_fixed {
	__u8 b0;
	__u8 b1;
	__u16 seq;
	__u32 ts;
	__u32 ssrc;
};

SEC("classifier")
int ringside_relay(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NEXT;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP)
		return NEXT;
	struct udphdr *udp = (void *)ip + sizeof(*ip);
	if ((void *)(udp + 1) > data_end)
		return NEXT;
	struct key k = {.port = bpf_ntohs(udp->dest)};
	struct leg *leg = bpf_map_lookup_elem(&legs, &k);
	if (!leg)
		return NEXT;
	if (leg->local_addr && leg->local_addr != ip->daddr)
		return NEXT;
	if (leg->flags & LEG_PUNT_ALL)
		return count(C_PUNT_ALL);
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return count(C_PUNT_IP);
	if (ip->saddr != leg->peer_addr || udp->source != leg->peer_port)
		return count(C_PUNT_SOURCE);
	struct rtp_fixed *rtp = (void *)(udp + 1);
	if ((void *)(rtp + 1) > data_end || (rtp->b0 & 0xc0) != 0x80)
		return count(C_PUNT_NOT_RTP);
	if ((rtp->b1 & 0x7f) != leg->in_pt)
		return count(C_PUNT_PT);
	if (bpf_ntohl(rtp->ssrc) != leg->in_ssrc)
		return count(C_PUNT_SSRC);
	__u16 udp_len = bpf_ntohs(udp->len);
	if (udp_len < sizeof(*udp) + sizeof(*rtp))
		return count(C_PUNT_NOT_RTP);

	__u16 seq = bpf_ntohs(rtp->seq);
	__u32 ts = bpf_ntohl(rtp->ts);
	__u8 b1 = rtp->b1;
	__u16 old_sport = udp->source, old_dport = udp->dest;
	__u32 old_saddr = ip->saddr, old_daddr = ip->daddr;
	__u16 old_ttl_proto = *(__u16 *)&ip->ttl;
	__u32 old_ssrc = rtp->ssrc;
	__u16 old_seq = rtp->seq;
	__u32 old_ts = rtp->ts;
	__u16 old_b01 = *(__u16 *)rtp;

	// Where it goes: up the stack to a peer on this host, or out of the interface of the
	// route towards the peer (found by userspace when the rule went in).
	__u32 to_ifindex = 0;
	if (!(leg->flags & LEG_LOCAL_PEER)) {
		to_ifindex = leg->out_ifindex;
		if (!to_ifindex)
			return count(C_PUNT_ROUTE);
	}

	// The sequence and jitter inputs (RFC 3550 A.1, A.8); a jump goes to userspace.
	__u64 now = bpf_ktime_get_ns();
	__u32 payload = udp_len - sizeof(*udp) - sizeof(*rtp);
	__u32 out_ts = ts + leg->ts_offset;
	__u16 out_seq = seq + leg->seq_offset;
	int jump = 0;
	bpf_spin_lock(&leg->lock);
	__u16 udelta = seq - (__u16)leg->max_seq;
	if (udelta < MAX_DROPOUT) {
		if (seq < (__u16)leg->max_seq)
			leg->cycles += 65536;
		leg->max_seq = seq;
		leg->last_out_seq = out_seq;
		leg->last_out_ts = out_ts;
	} else if (udelta <= 65535 - MAX_MISORDER + 1) {
		jump = 1;
	} else {
		leg->reordered += 1;
	}
	if (!jump) {
		leg->packets += 1;
		leg->octets += payload;
		leg->last_arrival_ns = now;
		// Arrival in timestamp units (microsecond resolution; wraps like the timestamp).
		__u32 arrival = (__u32)((now / 1000) * leg->clock_rate / 1000000);
		__u32 transit = arrival - ts;
		if (leg->have_transit) {
			__s32 d = (__s32)(transit - leg->last_transit);
			__u32 ad = d < 0 ? -d : d;
			leg->jitter_q4 += ad - ((leg->jitter_q4 + 8) >> 4);
		}
		leg->last_transit = transit;
		leg->have_transit = 1;
	}
	// No source address given (the relay listens on every address): the one this packet
	// came to.
	__u32 out_saddr = leg->out_saddr ? leg->out_saddr : old_daddr;
	__u32 out_daddr = leg->out_daddr;
	__u16 out_sport = leg->out_sport, out_dport = leg->out_dport;
	__u32 out_ssrc = bpf_htonl(leg->out_ssrc);
	__u8 out_pt = leg->out_pt;
	bpf_spin_unlock(&leg->lock);
	if (jump)
		return count(C_PUNT_JUMP);

	__u16 new_ttl_proto = old_ttl_proto;
	((__u8 *)&new_ttl_proto)[0] = 64;
	__u8 new_b01[2] = {((__u8 *)&old_b01)[0], (b1 & 0x80) | (out_pt & 0x7f)};
	__u32 new_ts = bpf_htonl(out_ts);
	__u16 new_seq = bpf_htons(out_seq);

	// Checksums first (the helpers take offsets), then the bytes.
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_saddr, out_saddr, 4);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_daddr, out_daddr, 4);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ttl_proto, new_ttl_proto, 2);
	__u64 f = BPF_F_MARK_MANGLED_0;
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_saddr, out_saddr, f | BPF_F_PSEUDO_HDR | 4);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_daddr, out_daddr, f | BPF_F_PSEUDO_HDR | 4);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_sport, out_sport, f | 2);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_dport, out_dport, f | 2);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_b01, *(__u16 *)new_b01, f | 2);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_seq, new_seq, f | 2);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_ts, new_ts, f | 4);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_ssrc, out_ssrc, f | 4);

	// The helpers may have moved the packet: check it again before writing.
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	udp = (void *)ip + sizeof(*ip);
	rtp = (void *)(udp + 1);
	if ((void *)(rtp + 1) > data_end)
		return TC_ACT_SHOT;
	ip->saddr = out_saddr;
	ip->daddr = out_daddr;
	ip->ttl = 64;
	udp->source = out_sport;
	udp->dest = out_dport;
	rtp->b1 = new_b01[1];
	rtp->seq = new_seq;
	rtp->ts = new_ts;
	rtp->ssrc = out_ssrc;
	count(C_FORWARDED);
	if (!to_ifindex)
		return TC_ACT_OK;
	// The kernel routes it out of that interface and fills in the link-layer addresses of the
	// next hop (resolving the neighbour if need be), as for a packet this host sends: no IP
	// forwarding needed (bpf_fib_lookup would need it on the ingress interface).
	return bpf_redirect_neigh(to_ifindex, NULL, 0, 0);
}

char LICENSE[] SEC("license") = "GPL";
