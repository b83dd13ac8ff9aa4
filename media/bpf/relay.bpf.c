// SPDX-License-Identifier: GPL-2.0 OR MIT
//
// Ringside's kernel fast path for relayed RTP: a TC ingress program.
//
// A packet to one of a call's relay ports (UDP over IPv4 or IPv6, RTP version 2) whose entry in `legs`
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
// telephone event, comfort noise), a sequence jump, not RTP, IPv4 options or fragments, no
// route. IPv6 packets with extension headers are not matched at all (nor counted).
// The userspace relay then handles it as if there were no fast path, and takes the call back
// when it must.
//
// The layout of `struct leg` and `struct key` is mirrored in media/src/fastpath/kernel.rs.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// The leg's peer is on this host: deliver up the stack instead of out of an interface.
#define LEG_LOCAL_PEER 1
// Count and punt everything (an RTCP port, a port being taken back).
#define LEG_PUNT_ALL 2
// An IPv6 leg: the addresses are in the *6 fields.
#define LEG_V6 4

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
	// IPv6 legs (LEG_V6): the addresses above, 16 bytes each, network order.
	__u32 local6[4];     // all zero: any
	__u32 peer6[4];
	__u32 out_saddr6[4]; // all zero: the address the packet came to
	__u32 out_daddr6[4];
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

// Offsets in a packet with an Ethernet header, IPv4 without options or IPv6 without extension
// headers.
#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + 10)
#define UDP_OFF (IP_OFF + 20)
#define UDP6_OFF (IP_OFF + 40)

struct rtp_fixed {
	__u8 b0;
	__u8 b1;
	__u16 seq;
	__u32 ts;
	__u32 ssrc;
};

// What the RTP header becomes, and whether the packet is forwarded.
struct out {
	__u16 seq; // network order
	__u32 ts;  // network order
	__u32 ssrc; // network order
	__u8 b1;
	__u8 jump;
};

// The RTP checks after the source's: version, payload type, SSRC, length. 0 when forwarded,
// else the punt counter's index.
static __always_inline int check_rtp(struct leg *leg, struct rtp_fixed *rtp, void *data_end,
				     __u16 udp_len)
{
	if ((void *)(rtp + 1) > data_end || (rtp->b0 & 0xc0) != 0x80)
		return C_PUNT_NOT_RTP;
	if ((rtp->b1 & 0x7f) != leg->in_pt)
		return C_PUNT_PT;
	if (bpf_ntohl(rtp->ssrc) != leg->in_ssrc)
		return C_PUNT_SSRC;
	if (udp_len < sizeof(struct udphdr) + sizeof(*rtp))
		return C_PUNT_NOT_RTP;
	return 0;
}

// Counts the packet in the leg (RFC 3550 A.1 sequence, A.8 jitter) and says what its RTP header
// becomes; a jump is not counted and goes to userspace.
static __always_inline struct out account(struct leg *leg, struct rtp_fixed *rtp, __u16 udp_len)
{
	struct out o = {};
	__u16 seq = bpf_ntohs(rtp->seq);
	__u32 ts = bpf_ntohl(rtp->ts);
	__u64 now = bpf_ktime_get_ns();
	__u32 payload = udp_len - sizeof(struct udphdr) - sizeof(*rtp);
	__u32 out_ts = ts + leg->ts_offset;
	__u16 out_seq = seq + leg->seq_offset;
	bpf_spin_lock(&leg->lock);
	__u16 udelta = seq - (__u16)leg->max_seq;
	if (udelta < MAX_DROPOUT) {
		if (seq < (__u16)leg->max_seq)
			leg->cycles += 65536;
		leg->max_seq = seq;
		leg->last_out_seq = out_seq;
		leg->last_out_ts = out_ts;
	} else if (udelta <= 65535 - MAX_MISORDER + 1) {
		o.jump = 1;
	} else {
		leg->reordered += 1;
	}
	if (!o.jump) {
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
	bpf_spin_unlock(&leg->lock);
	o.seq = bpf_htons(out_seq);
	o.ts = bpf_htonl(out_ts);
	o.ssrc = bpf_htonl(leg->out_ssrc);
	o.b1 = (rtp->b1 & 0x80) | (leg->out_pt & 0x7f);
	return o;
}

// The UDP and RTP header fields the rewrite changes, as they came (read before any checksum
// helper runs: those may move the packet, and the verifier forgets every packet pointer).
struct old_fields {
	__u16 sport;
	__u16 dport;
	__u16 b01;
	__u16 seq;
	__u32 ts;
	__u32 ssrc;
};

static __always_inline struct old_fields read_old(struct udphdr *udp, struct rtp_fixed *rtp)
{
	struct old_fields of = {
		.sport = udp->source,
		.dport = udp->dest,
		.b01 = *(__u16 *)rtp,
		.seq = rtp->seq,
		.ts = rtp->ts,
		.ssrc = rtp->ssrc,
	};
	return of;
}

// Fixes the UDP checksum at `csum_off` for the new ports and RTP header (the addresses are the
// caller's: they are in the pseudo-header).
static __always_inline void csum_udp_rtp(struct __sk_buff *skb, __u32 csum_off,
					 struct old_fields *of, struct leg *leg, struct out *o)
{
	__u64 f = BPF_F_MARK_MANGLED_0;
	__u8 new_b01[2] = {((__u8 *)&of->b01)[0], o->b1};
	bpf_l4_csum_replace(skb, csum_off, of->sport, leg->out_sport, f | 2);
	bpf_l4_csum_replace(skb, csum_off, of->dport, leg->out_dport, f | 2);
	bpf_l4_csum_replace(skb, csum_off, of->b01, *(__u16 *)new_b01, f | 2);
	bpf_l4_csum_replace(skb, csum_off, of->seq, o->seq, f | 2);
	bpf_l4_csum_replace(skb, csum_off, of->ts, o->ts, f | 4);
	bpf_l4_csum_replace(skb, csum_off, of->ssrc, o->ssrc, f | 4);
}

// Writes the new ports and RTP header.
static __always_inline void write_udp_rtp(struct udphdr *udp, struct rtp_fixed *rtp,
					  struct leg *leg, struct out *o)
{
	udp->source = leg->out_sport;
	udp->dest = leg->out_dport;
	rtp->b1 = o->b1;
	rtp->seq = o->seq;
	rtp->ts = o->ts;
	rtp->ssrc = o->ssrc;
}

// On to the other leg's peer: up the stack when it is on this host; otherwise the kernel
// routes it out of the route's interface and fills in the link-layer addresses of the next hop
// (resolving the neighbour if need be), as for a packet this host sends: no IP forwarding
// needed (bpf_fib_lookup would need it on the ingress interface).
static __always_inline int deliver(struct leg *leg)
{
	count(C_FORWARDED);
	if (leg->flags & LEG_LOCAL_PEER)
		return TC_ACT_OK;
	return bpf_redirect_neigh(leg->out_ifindex, NULL, 0, 0);
}

// The leg's peer is on this host, or there is a way out towards it.
static __always_inline int routed(struct leg *leg)
{
	return (leg->flags & LEG_LOCAL_PEER) || leg->out_ifindex;
}

// The checks after the source's, then the accounting: 0 when the packet is forwarded (`o`
// says what its RTP header becomes), else the punt counter's index.
static __always_inline int admit(struct leg *leg, struct rtp_fixed *rtp, void *data_end,
				 __u16 udp_len, struct out *o)
{
	int punt = check_rtp(leg, rtp, data_end, udp_len);
	if (punt)
		return punt;
	if (!routed(leg))
		return C_PUNT_ROUTE;
	*o = account(leg, rtp, udp_len);
	return o->jump ? C_PUNT_JUMP : 0;
}

static __always_inline int relay4(struct __sk_buff *skb, struct iphdr *ip, void *data_end)
{
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP)
		return NEXT;
	struct udphdr *udp = (void *)ip + sizeof(*ip);
	if ((void *)(udp + 1) > data_end)
		return NEXT;
	struct key k = {.port = bpf_ntohs(udp->dest)};
	struct leg *leg = bpf_map_lookup_elem(&legs, &k);
	if (!leg)
		return NEXT;
	if (leg->flags & LEG_V6)
		return NEXT; // an IPv6 relay's port: not this packet's
	if (leg->local_addr && leg->local_addr != ip->daddr)
		return NEXT;
	if (leg->flags & LEG_PUNT_ALL)
		return count(C_PUNT_ALL);
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return count(C_PUNT_IP);
	if (ip->saddr != leg->peer_addr || udp->source != leg->peer_port)
		return count(C_PUNT_SOURCE);
	struct rtp_fixed *rtp = (void *)(udp + 1);
	struct out o = {};
	int punt = admit(leg, rtp, data_end, bpf_ntohs(udp->len), &o);
	if (punt)
		return count(punt);

	// No source address given (the relay listens on every address): the one this packet
	// came to.
	__u32 old_saddr = ip->saddr, old_daddr = ip->daddr;
	__u32 out_saddr = leg->out_saddr ? leg->out_saddr : old_daddr;
	__u32 out_daddr = leg->out_daddr;
	__u16 old_ttl_proto = *(__u16 *)&ip->ttl;
	__u16 new_ttl_proto = old_ttl_proto;
	((__u8 *)&new_ttl_proto)[0] = 64;

	struct old_fields of = read_old(udp, rtp);

	// Checksums first (the helpers take offsets), then the bytes.
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_saddr, out_saddr, 4);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_daddr, out_daddr, 4);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ttl_proto, new_ttl_proto, 2);
	__u64 f = BPF_F_MARK_MANGLED_0 | BPF_F_PSEUDO_HDR;
	bpf_l4_csum_replace(skb, UDP_OFF + 6, old_saddr, out_saddr, f | 4);
	bpf_l4_csum_replace(skb, UDP_OFF + 6, old_daddr, out_daddr, f | 4);
	csum_udp_rtp(skb, UDP_OFF + 6, &of, leg, &o);

	// The helpers may have moved the packet: check it again before writing.
	void *data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	ip = data + IP_OFF;
	udp = data + UDP_OFF;
	rtp = (void *)(udp + 1);
	if ((void *)(rtp + 1) > data_end)
		return TC_ACT_SHOT;
	ip->saddr = out_saddr;
	ip->daddr = out_daddr;
	ip->ttl = 64;
	write_udp_rtp(udp, rtp, leg, &o);
	return deliver(leg);
}

static __always_inline int same6(const __u32 *a, const __u32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

static __always_inline int zero6(const __u32 *a)
{
	return !(a[0] | a[1] | a[2] | a[3]);
}

static __always_inline int relay6(struct __sk_buff *skb, struct ipv6hdr *ip6, void *data_end)
{
	// Extension headers (fragments among them) are not parsed: such packets are not ours.
	if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_UDP)
		return NEXT;
	struct udphdr *udp = (void *)(ip6 + 1);
	if ((void *)(udp + 1) > data_end)
		return NEXT;
	struct key k = {.port = bpf_ntohs(udp->dest)};
	struct leg *leg = bpf_map_lookup_elem(&legs, &k);
	if (!leg)
		return NEXT;
	if (!(leg->flags & LEG_V6) && !(leg->flags & LEG_PUNT_ALL))
		return NEXT; // an IPv4 relay's port: not this packet's
	__u32 saddr[4], daddr[4];
	__builtin_memcpy(saddr, &ip6->saddr, 16);
	__builtin_memcpy(daddr, &ip6->daddr, 16);
	if (!zero6(leg->local6) && !same6(leg->local6, daddr))
		return NEXT;
	if (leg->flags & LEG_PUNT_ALL)
		return count(C_PUNT_ALL);
	if (!same6(saddr, leg->peer6) || udp->source != leg->peer_port)
		return count(C_PUNT_SOURCE);
	struct rtp_fixed *rtp = (void *)(udp + 1);
	struct out o = {};
	int punt = admit(leg, rtp, data_end, bpf_ntohs(udp->len), &o);
	if (punt)
		return count(punt);

	// The new addresses (no source given: the one this packet came to), and the checksum's
	// pseudo-header part for them in one difference. IPv6 has no header checksum.
	__u32 old[8], new[8];
	__builtin_memcpy(old, saddr, 16);
	__builtin_memcpy(old + 4, daddr, 16);
	if (zero6(leg->out_saddr6))
		__builtin_memcpy(new, daddr, 16);
	else
		__builtin_memcpy(new, leg->out_saddr6, 16);
	__builtin_memcpy(new + 4, leg->out_daddr6, 16);
	struct old_fields of = read_old(udp, rtp);
	// The header word holding the hop limit (payload length, next header, hop limit).
	__u32 old_word, new_word;
	__builtin_memcpy(&old_word, (void *)ip6 + 4, 4);
	new_word = old_word;
	((__u8 *)&new_word)[3] = 64;
	__s64 diff = bpf_csum_diff(old, sizeof(old), new, sizeof(new), 0);
	bpf_l4_csum_replace(skb, UDP6_OFF + 6, 0, diff, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0);
	// A packet whose checksum the device computed over it (CHECKSUM_COMPLETE): the helper
	// also took `diff` off skb->csum, as IPv4 needs (its header checksum moves the other way);
	// in IPv6 the new addresses and the UDP checksum's change cancel out, so it goes back, with
	// the hop limit's change. bpf_csum_update acts on CHECKSUM_COMPLETE only. (Kernels from
	// 6.16 have BPF_F_IPV6 for the first part; older ones refuse that flag.)
	bpf_csum_update(skb, bpf_csum_diff(&old_word, 4, &new_word, 4, diff));
	csum_udp_rtp(skb, UDP6_OFF + 6, &of, leg, &o);

	void *data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	ip6 = data + IP_OFF;
	udp = data + UDP6_OFF;
	rtp = (void *)(udp + 1);
	if ((void *)(rtp + 1) > data_end)
		return TC_ACT_SHOT;
	__builtin_memcpy(&ip6->saddr, new, 16);
	__builtin_memcpy(&ip6->daddr, new + 4, 16);
	ip6->hop_limit = 64;
	write_udp_rtp(udp, rtp, leg, &o);
	return deliver(leg);
}

SEC("classifier")
int ringside_relay(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return NEXT;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return relay4(skb, (void *)(eth + 1), data_end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return relay6(skb, (void *)(eth + 1), data_end);
	return NEXT;
}

char LICENSE[] SEC("license") = "GPL";
