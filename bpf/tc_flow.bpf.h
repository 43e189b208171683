/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tc clsact programs for the host-side interface of each pod (ingress = the pod sent it,
 * egress = the pod receives it): per-flow counters in a per-CPU LRU hash (no ring-buffer
 * record per packet: the loader scans the map and emits flow records), plus the first
 * bytes of DNS messages (UDP 53) and HTTP/1.x requests/responses into the ring buffer.
 *
 * Every header is read with bpf_skb_load_bytes (works on non-linear skbs, keeps the
 * verifier simple); lengths are checked against each other and against skb->len, and a
 * packet whose headers do not add up is not accounted (and never misparsed).
 * The programs never change a packet or its fate: they return TC_ACT_UNSPEC.
 */
#ifndef FL_TC_FLOW_BPF_H
#define FL_TC_FLOW_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 65536); /* the loader may resize before load */
	__type(key, struct fl_flow_key);
	__type(value, struct fl_flow_val);
} flows SEC(".maps");

struct fl_parsed {
	struct fl_flow_key key; /* as the packet goes: saddr = sender */
	__u32 payload_off;
	__u32 payload_len;
	__u32 ip_len;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 has_l4; /* ports/flags parsed */
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Returns 0 with *off at the L4 header, 1 for a non-first fragment, -1 if malformed. */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct fl_parsed *p, __u32 *off, __u32 *l3_end)
{
	struct iphdr ip;
	__u32 ihl, tot, avail = skb->len - *off;

	if (bpf_skb_load_bytes(skb, *off, &ip, sizeof(ip)) < 0)
		return -1;
	ihl = ip.ihl * 4;
	tot = bpf_ntohs(ip.tot_len);
	if (ip.version != 4 || ihl < sizeof(ip))
		return -1;
	if (tot == 0 && avail > 0xffff) /* BIG TCP: tot_len 0 on a > 64 KiB GSO packet */
		tot = avail;
	if (tot < ihl || tot > avail)
		return -1;
	__builtin_memcpy(p->key.saddr, &ip.saddr, 4);
	__builtin_memcpy(p->key.daddr, &ip.daddr, 4);
	p->key.family = 4;
	p->key.proto = ip.protocol;
	p->ip_len = tot;
	*l3_end = *off + tot;
	*off += ihl;
	return (ip.frag_off & bpf_htons(0x1fff)) ? 1 : 0;
}

/* Extension headers are not walked: their packets count with proto = the first next header. */
static __always_inline int parse_ipv6(struct __sk_buff *skb, struct fl_parsed *p, __u32 *off, __u32 *l3_end)
{
	struct ipv6hdr ip;
	__u32 tot, avail = skb->len - *off;

	if (bpf_skb_load_bytes(skb, *off, &ip, sizeof(ip)) < 0)
		return -1;
	tot = sizeof(ip) + bpf_ntohs(ip.payload_len);
	if (ip.version != 6)
		return -1;
	if (tot == sizeof(ip) && avail > 0xffff + sizeof(ip)) /* BIG TCP jumbogram */
		tot = avail;
	if (tot > avail)
		return -1;
	__builtin_memcpy(p->key.saddr, &ip.saddr, 16);
	__builtin_memcpy(p->key.daddr, &ip.daddr, 16);
	p->key.family = 6;
	p->key.proto = ip.nexthdr;
	p->ip_len = tot;
	*l3_end = *off + tot;
	*off += sizeof(ip);
	return 0;
}

static __always_inline int parse_tcp(struct __sk_buff *skb, struct fl_parsed *p, __u32 off, __u32 l3_end)
{
	struct tcphdr th;
	__u32 doff;

	if (off + sizeof(th) > l3_end || bpf_skb_load_bytes(skb, off, &th, sizeof(th)) < 0)
		return -1;
	doff = th.doff * 4;
	if (doff < sizeof(th) || off + doff > l3_end)
		return -1;
	p->key.sport = bpf_ntohs(th.source);
	p->key.dport = bpf_ntohs(th.dest);
	p->tcp_flags = ((__u8 *)&th)[13];
	p->payload_off = off + doff;
	p->payload_len = l3_end - p->payload_off;
	return 0;
}

static __always_inline int parse_udp(struct __sk_buff *skb, struct fl_parsed *p, __u32 off, __u32 l3_end)
{
	struct udphdr uh;
	__u32 ulen;

	if (off + sizeof(uh) > l3_end || bpf_skb_load_bytes(skb, off, &uh, sizeof(uh)) < 0)
		return -1;
	ulen = bpf_ntohs(uh.len);
	if (ulen < sizeof(uh) || off + ulen > l3_end)
		return -1;
	p->key.sport = bpf_ntohs(uh.source);
	p->key.dport = bpf_ntohs(uh.dest);
	p->payload_off = off + sizeof(uh);
	p->payload_len = ulen - sizeof(uh);
	return 0;
}

static __always_inline int parse_icmp(struct __sk_buff *skb, struct fl_parsed *p, __u32 off, __u32 l3_end)
{
	__u8 h[8];
	__u16 id;

	if (off + sizeof(h) > l3_end || bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0)
		return -1;
	p->icmp_type = h[0];
	p->icmp_code = h[1];
	if ((p->key.proto == IPPROTO_ICMP && (h[0] == 8 || h[0] == 0)) ||
	    (p->key.proto == IPPROTO_ICMPV6 && (h[0] == 128 || h[0] == 129))) {
		id = ((__u16)h[4] << 8) | h[5];
		p->key.sport = id; /* both ports = echo id: request and reply share the flow */
		p->key.dport = id;
	}
	return 0;
}

/* 0 = parsed (p->has_l4 says whether L4 was), -1 = not IP or malformed: not accounted. */
static __always_inline int parse_packet(struct __sk_buff *skb, struct fl_parsed *p)
{
	__u32 off = 14, l3_end = 0;
	__u16 proto;
	int r, l4 = -1;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0)
		return -1;
	if (proto == bpf_htons(ETH_P_IP))
		r = parse_ipv4(skb, p, &off, &l3_end);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = parse_ipv6(skb, p, &off, &l3_end);
	else
		return -1;
	if (r < 0)
		return -1;
	if (r > 0)
		return 0; /* fragment: addresses and proto only */
	if (p->key.proto == IPPROTO_TCP)
		l4 = parse_tcp(skb, p, off, l3_end);
	else if (p->key.proto == IPPROTO_UDP)
		l4 = parse_udp(skb, p, off, l3_end);
	else if (p->key.proto == IPPROTO_ICMP || p->key.proto == IPPROTO_ICMPV6)
		l4 = parse_icmp(skb, p, off, l3_end);
	else
		return 0;
	if (l4 < 0)
		return -1;
	p->has_l4 = 1;
	return 0;
}

static __always_inline void reverse_key(const struct fl_flow_key *k, struct fl_flow_key *r)
{
	__builtin_memcpy(r->saddr, k->daddr, FL_ADDR_LEN);
	__builtin_memcpy(r->daddr, k->saddr, FL_ADDR_LEN);
	r->ifindex = k->ifindex;
	r->sport = k->dport;
	r->dport = k->sport;
	r->family = k->family;
	r->proto = k->proto;
}

/* Is the sender of this first-seen packet the responder of its flow? */
static __always_inline bool sender_is_responder(const struct fl_parsed *p)
{
	__u8 f = p->tcp_flags;

	if (p->key.proto == IPPROTO_TCP) {
		if (f & TCP_SYN)
			return f & TCP_ACK;
		return p->key.sport < p->key.dport; /* mid-stream: the lower port is the server */
	}
	if (p->key.proto == IPPROTO_UDP)
		return p->key.sport == 53 && p->key.dport != 53;
	if (p->key.proto == IPPROTO_ICMP)
		return p->icmp_type == 0;
	if (p->key.proto == IPPROTO_ICMPV6)
		return p->icmp_type == 129;
	return false;
}

static __always_inline struct fl_flow_val *create_flow(struct fl_parsed *p, struct fl_flow_key *rk, __u8 hook, int *dir)
{
	struct fl_flow_val zero = {};
	bool rev = sender_is_responder(p);
	struct fl_flow_key *k = rev ? rk : &p->key;
	long err;

	zero.origin = rev ? (3 - hook) : hook;
	if (!rev) {
		zero.icmp_type = p->icmp_type;
		zero.icmp_code = p->icmp_code;
	}
	err = bpf_map_update_elem(&flows, k, &zero, BPF_NOEXIST);
	if (err == 0)
		count_slot(FL_LOST_MAX); /* created: the loader derives evictions from it */
	else if (err != -17 /* EEXIST: another CPU was first */)
		count_lost(FL_LOST_FLOW_CREATE);
	*dir = rev;
	return bpf_map_lookup_elem(&flows, k);
}

static __always_inline struct fl_flow_val *account(struct __sk_buff *skb, struct fl_parsed *p, __u8 hook, int *dirp)
{
	struct fl_flow_key rk = {};
	struct fl_flow_val *v;
	__u64 now = bpf_ktime_get_ns();
	__u32 segs = skb->gso_segs;
	int dir = 0;

	reverse_key(&p->key, &rk);
	v = bpf_map_lookup_elem(&flows, &p->key);
	if (!v) {
		v = bpf_map_lookup_elem(&flows, &rk);
		dir = 1;
	}
	if (!v)
		v = create_flow(p, &rk, hook, &dir);
	if (!v)
		return NULL;
	if (!v->first_ns)
		v->first_ns = now;
	v->last_ns = now;
	dir &= 1;
	v->pkts[dir] += segs > 1 ? segs : 1;
	v->bytes[dir] += p->ip_len;
	v->payload[dir] += p->payload_len;
	v->flags[dir] |= p->tcp_flags;
	*dirp = dir;
	return v;
}

static __always_inline void fill_pkt(struct fl_pkt *d, const struct fl_parsed *p, __u8 hook, __u32 captured)
{
	d->ts_ns = bpf_ktime_get_ns();
	__builtin_memcpy(d->saddr, p->key.saddr, FL_ADDR_LEN);
	__builtin_memcpy(d->daddr, p->key.daddr, FL_ADDR_LEN);
	d->ifindex = p->key.ifindex;
	d->sport = p->key.sport;
	d->dport = p->key.dport;
	d->payload_len = p->payload_len > 0xffff ? 0xffff : p->payload_len;
	d->captured = captured;
	d->family = p->key.family;
	d->proto = p->key.proto;
	d->hook = hook;
	d->pad = 0;
}

static __always_inline void capture_dns(struct __sk_buff *skb, const struct fl_parsed *p, __u8 hook)
{
	struct fl_dns *rec;
	__u32 n = p->payload_len;

	if (n < 12) /* shorter than a DNS header: not DNS */
		return;
	if (n > FL_DNS_MAX)
		n = FL_DNS_MAX;
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_lost(FL_LOST_RB_DNS);
		return;
	}
	__builtin_memset(rec->data, 0, sizeof(rec->data)); /* reserved memory is not zeroed */
	if (bpf_skb_load_bytes(skb, p->payload_off, rec->data, n) < 0) {
		bpf_ringbuf_discard(rec, 0);
		return;
	}
	fill_hdr(&rec->hdr, FL_REC_DNS, sizeof(*rec));
	fill_pkt(&rec->pkt, p, hook, n);
	bpf_ringbuf_submit(rec, 0);
}

/* "GET ", "POST", "PUT ", "HEAD", "DELE", "PATC", "OPTI", "CONN", "TRAC" or "HTTP/1." */
static __always_inline bool http_start(const __u8 *b)
{
	__u32 w = b[0] | (b[1] << 8) | (b[2] << 16) | ((__u32)b[3] << 24);

	switch (w) {
	case 0x20544547: case 0x54534f50: case 0x20545550: case 0x44414548: case 0x454c4544:
	case 0x43544150: case 0x4954504f: case 0x4e4e4f43: case 0x43415254:
		return true;
	case 0x50545448:
		return b[4] == '/' && b[5] == '1' && b[6] == '.';
	}
	return false;
}

/* Every HTTP head is counted in the flow; the first http_per_flow per direction are copied. */
static __always_inline void capture_http(struct __sk_buff *skb, const struct fl_parsed *p, __u8 hook,
					 struct fl_flow_val *v, int dir)
{
	struct fl_http *rec;
	__u8 first[8];
	__u32 n = p->payload_len, seen = 0;

	if (n < 8 || bpf_skb_load_bytes(skb, p->payload_off, first, sizeof(first)) < 0 || !http_start(first))
		return;
	if (v) {
		seen = v->l7[dir & 1]++;
		if (http_per_flow && seen >= http_per_flow)
			return;
	}
	if (n > FL_HTTP_MAX)
		n = FL_HTTP_MAX;
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_lost(FL_LOST_RB_HTTP);
		return;
	}
	__builtin_memset(rec->data, 0, sizeof(rec->data));
	if (bpf_skb_load_bytes(skb, p->payload_off, rec->data, n) < 0) {
		bpf_ringbuf_discard(rec, 0);
		return;
	}
	fill_hdr(&rec->hdr, FL_REC_HTTP, sizeof(*rec));
	fill_pkt(&rec->pkt, p, hook, n);
	bpf_ringbuf_submit(rec, 0);
}

static __always_inline int on_packet(struct __sk_buff *skb, __u8 hook)
{
	struct fl_parsed p = {};
	struct fl_flow_val *v;
	int dir = 0;

	if (parse_packet(skb, &p) < 0)
		return TC_ACT_UNSPEC;
	p.key.ifindex = skb->ifindex;
	v = account(skb, &p, hook, &dir);
	if (!p.has_l4)
		return TC_ACT_UNSPEC;
	if (dns_capture && p.key.proto == IPPROTO_UDP && (p.key.sport == 53 || p.key.dport == 53))
		capture_dns(skb, &p, hook);
	else if (http_capture && p.key.proto == IPPROTO_TCP)
		capture_http(skb, &p, hook, v, dir);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return on_packet(skb, FL_HOOK_FROM_POD);
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	return on_packet(skb, FL_HOOK_TO_POD);
}

#endif
