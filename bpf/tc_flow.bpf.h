/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tc clsact programs for the host-side interface of each pod (ingress = the pod sent it,
 * egress = the pod receives it): per-flow counters in a per-CPU LRU hash (no ring-buffer
 * record per packet: the loader scans the map and emits flow records), plus the first
 * bytes of DNS messages (UDP and TCP 53) and HTTP/1.x requests/responses into the ring buffer.
 *
 * Headers are read in place (direct packet access) when they are in the linear area, else
 * with bpf_skb_load_bytes (non-linear skb); lengths are checked against each other and
 * against skb->len, and a packet whose headers do not add up is not accounted (and never
 * misparsed). Per packet in the common case: one hash lookup (canonical key), one clock
 * read, no helper call for headers. New flows and first FIN/RST send a tiny notice to the
 * loader (fl_flow_notice) so START/END records do not wait for the next map scan.
 * The programs never change a packet or its fate: they return TC_ACT_UNSPEC.
 *
 * Each packet is counted once on the node: tc egress returns at once for a packet that came in
 * through one of our ingress hooks (skb->ingress_ifindex is in `ingress_seen`), which already
 * counted it. A connection between two pods of this node is then counted at the sender's veth in
 * each direction, and the loader pairs the two veths' flows (flowscan.c) so that each still
 * reports both directions. A bridge port has no egress hook at all: tc_bridge_egress on its bridge
 * sees what reaches its pods through the host stack and keys it to their port (pod_addrs).
 */
#ifndef FL_TC_FLOW_BPF_H
#define FL_TC_FLOW_BPF_H

/*
 * The flow table (struct fl_slot in flowlens.h): a plain array, so every lookup is inlined by the
 * verifier (no helper call: a hash map lookup was the largest part of a packet's cost), one region
 * of tab_slots slots per possible CPU, written only by that CPU. A flow's slot is found by open
 * addressing from its key's hash, at most FL_PROBES slots; a miss takes a free slot, else the
 * probed slot quiet the longest (its counters go to the loader in a fl_flow_part first: an LRU
 * that loses nothing). The loader mmaps the array, reads the slots and frees a flow's slots after
 * its end (ack = gen).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* the loader sizes it: possible CPUs x tab_slots */
	__type(key, __u32);
	__type(value, struct fl_slot);
} flows SEC(".maps");

const volatile __u32 tab_slots = 1; /* slots per CPU, a power of two (the loader sets it) */

#include "tc_parse.bpf.h"


/*
 * Endpoints that started a flow through one of our ingress hooks, for protocols whose packets do
 * not say which end started (UDP but DNS, ICMP but echo, anything without ports). The other end's
 * veth (its egress skipped the first packet, counted where it came in) then sees the reply first:
 * a packet to such an endpoint starts its flow as the reply. Written and read only when a flow
 * is created.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct fl_endpoint);
	__type(value, __u8);
} initiators SEC(".maps");

/*
 * Pods behind our bridge ports: address (fl_endpoint: family 4 or 6 as in flow keys, port and
 * proto 0) -> the port's ifindex.
 * A bridge port runs only our ingress program; what a pod there receives from outside the bridge
 * (the host, other nodes, a Service VIP through the host stack) passes the bridge device's egress
 * first, where tc_bridge_egress keys it to the port this map names, as that port's egress would.
 * Learned where a pod sends (a flow's first packet on a CPU, ARP), seeded and cleaned by the loader.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FL_POD_ADDRS);
	__type(key, struct fl_endpoint);
	__type(value, __u32);
} pod_addrs SEC(".maps");

static __always_inline void learn_addr(const __u8 *addr, __u8 family, __u32 ifindex)
{
	struct fl_endpoint e = { .family = family };
	const __u32 *w = (const __u32 *)addr;
	__u32 *cur;

	if (!(w[0] | w[1] | w[2] | w[3]))
		return; /* unspecified: a duplicate address probe, not the pod's address */
	__builtin_memcpy(e.addr, addr, FL_ADDR_LEN);
	cur = bpf_map_lookup_elem(&pod_addrs, &e);
	if (!cur || *cur != ifindex)
		bpf_map_update_elem(&pod_addrs, &e, &ifindex, BPF_ANY);
}

/* ARP from a pod (requests and replies carry the sender's address): its port learns it, so that
 * a peer that resolved the pod before sending finds it keyed right. Off the IP fast path. */
static __noinline void learn_arp(struct __sk_buff *skb)
{
	struct {
		__be16 htype, ptype;
		__u8 hlen, plen;
		__be16 op;
		__u8 sha[6], spa[4];
	} __attribute__((packed)) arp;
	__u8 addr[FL_ADDR_LEN] = {};
	__be16 proto;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) || proto != bpf_htons(ETH_P_ARP))
		return;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &arp, sizeof(arp)))
		return;
	if (arp.htype != bpf_htons(1) || arp.ptype != bpf_htons(ETH_P_IP) || arp.hlen != 6 || arp.plen != 4)
		return;
	__builtin_memcpy(addr, arp.spa, 4);
	learn_addr(addr, 4, skb->ifindex);
}

static __always_inline bool packet_tells_initiator(const struct fl_parsed *p)
{
	if (p->key.proto == IPPROTO_TCP)
		return true; /* SYN, SYN-ACK, or the lower port is the server */
	if (p->key.proto == IPPROTO_UDP)
		return p->key.sport == 53 || p->key.dport == 53;
	if (p->key.proto == IPPROTO_ICMP)
		return p->icmp_type == 0 || p->icmp_type == 8;
	if (p->key.proto == IPPROTO_ICMPV6)
		return p->icmp_type == 128 || p->icmp_type == 129;
	return false;
}

/* The packet's sender (or receiver) as an endpoint. */
static __always_inline void packet_end(struct fl_endpoint *e, const struct fl_parsed *p, bool sender)
{
	bool d = sender == (bool)p->swapped; /* the sender is key.daddr when swapped */

	__builtin_memcpy(e->addr, d ? p->key.daddr : p->key.saddr, FL_ADDR_LEN);
	e->port = d ? p->key.dport : p->key.sport;
	e->family = p->key.family;
	e->proto = p->key.proto;
}

/* At an ingress hook: is this first packet a reply to a flow that another veth of ours saw start? */
static __always_inline bool reply_to_known_initiator(const struct fl_parsed *p)
{
	struct fl_endpoint e;
	__u8 one = 1;

	packet_end(&e, p, false);
	if (bpf_map_lookup_elem(&initiators, &e))
		return true;
	packet_end(&e, p, true);
	bpf_map_update_elem(&initiators, &e, &one, BPF_ANY);
	return false;
}

/* Tells the loader to look at this flow now; a failed reserve only delays it to the next scan.
 * Cold paths (a flow's first packet, its first FIN/RST, a DNS or HTTP copy) are BPF subprograms
 * (__noinline): their code stays out of the per-packet instruction stream. */
static __noinline void send_notice(const struct fl_flow_key *k, __u64 event_isn, __u32 slot, __u32 gen, __u64 at)
{
	struct fl_flow_notice *n;

	if (!tc_notices)
		return;
	n = bpf_ringbuf_reserve(&events, sizeof(*n), 0);
	if (!n) {
		count_slot(FL_SLOT_NOTICE_LOST);
		return;
	}
	fill_hdr(&n->hdr, FL_REC_FLOW_NOTICE, sizeof(*n));
	__builtin_memcpy(&n->key, k, sizeof(*k));
	n->event = (__u32)event_isn;
	n->isn = event_isn >> 32;
	n->slot = slot;
	n->gen = gen;
	n->at = at;
	bpf_ringbuf_submit(n, rb_wake());
}

static __always_inline bool key_eq(const struct fl_flow_key *a, const struct fl_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4] &&
	       ((const __u32 *)a)[10] == ((const __u32 *)b)[10];
}

static __always_inline bool slot_live(const struct fl_slot *s)
{
	return s->gen != s->ack;
}

/* Hands a live flow's counters on this CPU to the loader before its slot is reused. */
static __noinline void hand_over(struct fl_slot *s, __u32 idx)
{
	struct fl_flow_part *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		count_lost(FL_LOST_FLOW_EVICTED);
		return;
	}
	fill_hdr(&r->hdr, FL_REC_FLOW_PART, sizeof(*r));
	r->slot = idx;
	r->gen = s->gen;
	__builtin_memcpy(&r->key, &s->key, sizeof(r->key));
	r->pad = 0;
	__builtin_memcpy(&r->val, &s->val, sizeof(r->val));
	bpf_ringbuf_submit(r, rb_wake());
}

/*
 * A new flow in slot s (index idx): its gen goes odd while the key changes (the loader skips the
 * slot meanwhile), then even again. The atomic adds order the stores around them.
 */
static __noinline void take_slot(struct fl_slot *s, __u32 idx, struct fl_parsed *p, __u8 hook)
{
	bool rev = sender_is_responder(p);

	if (slot_live(s))
		hand_over(s, idx);
	if (hook == FL_HOOK_FROM_POD) {
		struct fl_endpoint me;

		packet_end(&me, p, true);
		learn_addr(me.addr, me.family, p->key.ifindex);
		if (!packet_tells_initiator(p))
			rev = reply_to_known_initiator(p);
	}
	if (s->gen & 1) /* a rewrite that never finished cannot happen: one CPU, no preemption */
		s->gen++;
	__sync_fetch_and_add(&s->gen, 1);
	__builtin_memcpy(&s->key, &p->key, sizeof(s->key));
	__builtin_memset(&s->val, 0, sizeof(s->val));
	s->val.first_ns = bpf_ktime_get_ns(); /* the fine clock, once: the earliest CPU's view orients the flow */
	s->val.origin = rev ? (3 - hook) : hook;
	s->val.init_rev = rev ^ p->swapped;
	if (!rev) {
		s->val.icmp_type = p->icmp_type;
		s->val.icmp_code = p->icmp_code;
	}
	__sync_fetch_and_add(&s->gen, 1);
	if (s->gen == s->ack) /* gen wrapped onto an old ack: never look free while live */
		s->gen += 2;
}

/*
 * The flow's slot on this CPU (*created: a new one; *slot: its index). Probes stop at a slot never
 * used; a live slot of the flow wins, else the first free slot probed, else the one quiet the longest.
 */
static __always_inline struct fl_slot *flow_slot(struct fl_parsed *p, __u8 hook, bool *created, __u32 *slot)
{
	__u32 base = bpf_get_smp_processor_id() * tab_slots, h = fl_key_hash(&p->key), idx, pick = 0;
	struct fl_slot *s, *victim = NULL;

#pragma unroll
	for (int i = 0; i < FL_PROBES; i++) {
		idx = base + ((h + i) & (tab_slots - 1));
		s = bpf_map_lookup_elem(&flows, &idx);
		if (!s)
			return NULL;
		if (slot_live(s)) {
			if (key_eq(&s->key, &p->key)) {
				*slot = idx;
				return s;
			}
			if (!victim || (slot_live(victim) && s->val.last_ns < victim->val.last_ns)) {
				victim = s;
				pick = idx;
			}
			continue;
		}
		if (!victim || slot_live(victim)) {
			victim = s;
			pick = idx;
		}
		if (s->gen == 0)
			break; /* never used: the flow is not further on */
	}
	if (!victim)
		return NULL;
	take_slot(victim, pick, p, hook);
	*created = true;
	*slot = pick;
	return victim;
}

/*
 * One clock read per packet, at tick resolution: flow first/last seen need no better. jiffies
 * where the loader converts them (tc_jiffies: the verifier inlines bpf_jiffies64, a load; each
 * helper call costs a return thunk on kernels with return-stack mitigations), else the coarse
 * clock (same CLOCK_MONOTONIC base, 5.11+), else the fine one.
 */
static __always_inline __u64 flow_now(void)
{
	if (tc_jiffies)
		return bpf_jiffies64();
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ktime_get_coarse_ns))
		return bpf_ktime_get_coarse_ns();
	return bpf_ktime_get_ns();
}

/* The handshake notice (cold: a subprogram). The ISN names the connection: a SYN's seq, a SYN-ACK's ack - 1. */
static __noinline void handshake(struct __sk_buff *skb, const struct fl_parsed *p, struct fl_slot *s, __u32 slot, bool created)
{
	__u32 sa[2] = {};
	__u32 isn;
	bool ack = p->tcp_flags & TCP_ACK;

	if (bpf_skb_load_bytes(skb, p->l4_off + 4, sa, sizeof(sa)) < 0) {
		if (created) /* the parser read this header, so not expected: still a prompt START */
			send_notice(&p->key, FL_NOTICE_CREATED, slot, s->gen, 0);
		return;
	}
	isn = ack ? bpf_ntohl(sa[1]) - 1 : bpf_ntohl(sa[0]);
	if (!created)
		s->val.noticed = 0;
	send_notice(&p->key, (__u64)isn << 32 | (ack ? FL_NOTICE_REOPEN_ACK : FL_NOTICE_REOPEN), slot, s->gen,
		    created ? s->val.first_ns : bpf_ktime_get_ns()); /* exact, like first_ns */
}

static __always_inline struct fl_flow_val *account(struct __sk_buff *skb, struct fl_parsed *p, __u8 hook)
{
	struct fl_flow_val *v;
	struct fl_slot *s;
	__u32 segs = skb->gso_segs;
	__u32 dir = p->swapped & 1, slot = 0;
	__u8 fin, ends;
	bool created = false, syn;

	s = flow_slot(p, hook, &created, &slot);
	if (!s)
		return NULL;
	v = &s->val;
	v->last_ns = flow_now();
	v->pkts[dir] += segs > 1 ? segs : 1;
	v->bytes[dir] += p->ip_len;
	v->payload[dir] += p->payload_len;
	v->flags[dir] |= p->tcp_flags;
	/* A TCP handshake packet (SYN, or SYN-ACK: at a server's port the first packet) is told with
	 * its time and the client's ISN, also on a flow this CPU already counts: retransmitted, or a
	 * new connection on the same 5-tuple (a client port reused while the flow's counters are still
	 * kept), which the loader tells apart by the ISN. This CPU then tells the connection's FIN/RST
	 * again. Never per packet: handshakes and a flow's first packet only. */
	syn = p->key.proto == IPPROTO_TCP && (p->tcp_flags & TCP_SYN);
	if (syn)
		handshake(skb, p, s, slot, created);
	else if (created)
		send_notice(&p->key, FL_NOTICE_CREATED, slot, s->gen, 0);
	if (p->key.proto != IPPROTO_TCP)
		return v;
	fin = dir ? FL_NOTICE_FIN1 : FL_NOTICE_FIN0;
	ends = (p->tcp_flags & TCP_FIN ? fin : 0) | (p->tcp_flags & TCP_RST ? FL_NOTICE_RST : 0);
	if (ends & ~v->noticed) {
		v->noticed |= ends;
		send_notice(&p->key, ends, slot, s->gen, 0);
	}
	return v;
}

/*
 * At a bridge's egress, a packet sent by one of our pods has come back through the host stack (to
 * a Service VIP that kube-proxy's DNAT turned into a pod of this node, or hairpinned): its DNS or
 * HTTP bytes were copied at its pod's port, where it left addressed as the client addressed it
 * (the agent names the backend from the flows). Copying them again would make a second message.
 */
static __always_inline bool sent_by_our_pod(const struct fl_parsed *p)
{
	struct fl_endpoint e = { .family = p->key.family };

	__builtin_memcpy(e.addr, p->swapped ? p->key.daddr : p->key.saddr, FL_ADDR_LEN);
	return bpf_map_lookup_elem(&pod_addrs, &e) != NULL;
}

#include "tc_l7.bpf.h"

/* bridge: at a bridge's egress, keyed to the pod port of the destination (pod_addrs), else to
 * the bridge itself (an address no pod of ours has used yet, broadcast, multicast). */
static __always_inline int on_packet(struct __sk_buff *skb, __u8 hook, bool bridge)
{
	struct fl_parsed p = {};
	struct fl_flow_val *v;
	bool dns, http;

	if (parse_packet(skb, &p) < 0) {
		if (hook == FL_HOOK_FROM_POD)
			learn_arp(skb);
		return TC_ACT_UNSPEC;
	}
	p.key.ifindex = skb->ifindex;
	if (bridge) {
		struct fl_endpoint e = { .family = p.key.family };
		__u32 *port;

		__builtin_memcpy(e.addr, p.key.daddr, FL_ADDR_LEN);
		port = bpf_map_lookup_elem(&pod_addrs, &e);
		if (port)
			p.key.ifindex = *port;
	}
	canonicalize(&p);
	v = account(skb, &p, hook);
	if (!p.has_l4)
		return TC_ACT_UNSPEC;
	/* DNS: UDP 53, and TCP 53 segments that can hold a length prefix and a header (the agent
	 * strips the prefix; a segment that continues a message does not parse and is counted so) */
	dns = dns_capture && (p.key.sport == 53 || p.key.dport == 53) &&
	      (p.key.proto == IPPROTO_UDP || (p.key.proto == IPPROTO_TCP && p.payload_len >= 14));
	http = !dns && http_capture && p.key.proto == IPPROTO_TCP && p.payload_len >= 8;
	if (dns && !(bridge && sent_by_our_pod(&p)))
		capture_dns(skb, &p, hook);
	else if (http)
		capture_http(skb, &p, hook, v, p.swapped, bridge);
	return TC_ACT_UNSPEC;
}

/* jiffies and CLOCK_MONOTONIC read together; the loader runs it (BPF_PROG_RUN) to convert flow times. */
struct fl_clock_pair fl_clock;

SEC("syscall")
int clock_pair(void *ctx)
{
	fl_clock.jiffies = bpf_jiffies64();
	fl_clock.ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return on_packet(skb, FL_HOOK_FROM_POD, false);
}

/*
 * Interfaces whose tc ingress runs our program, by ifindex modulo the size: the slot holds the
 * ifindex (0 = free; the loader leaves an interface whose slot is taken out, and its packets
 * are then counted at egress too). An array: the lookup is inlined, no hashing.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_SEEN_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} ingress_seen SEC(".maps");

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	__u32 in = skb->ingress_ifindex, slot = in % FL_SEEN_SLOTS;
	__u32 *seen = bpf_map_lookup_elem(&ingress_seen, &slot);

	if (in && seen && *seen == in)
		return TC_ACT_UNSPEC; /* counted (and looked at for DNS/HTTP) where it came in */
	return on_packet(skb, FL_HOOK_TO_POD, false);
}

/* On a bridge instead of tc_egress on each pod port: bridged frames between ports never pass the
 * bridge device's egress (each was counted at its sender's ingress), so nothing needs skipping. */
SEC("tc")
int tc_bridge_egress(struct __sk_buff *skb)
{
	return on_packet(skb, FL_HOOK_TO_POD, true);
}

#endif
