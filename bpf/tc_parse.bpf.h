/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The tc programs' packet parsers (tc_flow.bpf.h): Ethernet, IPv4/IPv6 (extension headers
 * walked), TCP/UDP/ICMP, bounded and verifier-friendly; the canonical flow key and which end of
 * a flow a first-seen packet came from. Headers are read in place (direct packet access) when
 * they are in the linear area, else copied with bpf_skb_load_bytes; every length is checked
 * against the next and against skb->len, and a frame whose headers do not add up is not accounted.
 */
#ifndef FL_TC_PARSE_BPF_H
#define FL_TC_PARSE_BPF_H
struct fl_parsed {
	struct fl_flow_key key; /* canonical (see fl_flow_key); 8-aligned for the u64 compares */
	__u32 payload_off;
	__u32 payload_len;
	__u32 ip_len;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 has_l4;  /* ports/flags parsed */
	__u8 swapped; /* the sender is key.daddr (the packet's saddr/sport were swapped into daddr) */
	__u16 l4_off; /* TCP: where its header starts (the L7 copies read seq and ack from it) */
} __attribute__((aligned(8)));

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/*
 * A header at byte `off` of the frame: in place when it lies in the linear area (direct packet
 * access: no helper call, no copy), else copied into *buf with bpf_skb_load_bytes (non-linear
 * skb). NULL when the frame is too short. `off` must be bounded (the verifier checks
 * data + off + size <= data_end). The programs never pull or change the packet.
 */
#define FL_HDR(skb, off, buf) ({							\
	void *_d = (void *)(long)(skb)->data, *_e = (void *)(long)(skb)->data_end;	\
	typeof(buf) _p = _d + (off);							\
	if (!tc_direct || (void *)(_p + 1) > _e)					\
		_p = bpf_skb_load_bytes(skb, off, buf, sizeof(*(buf))) < 0 ? NULL : (buf); \
	_p;										\
})

/* Returns 0 with *off at the L4 header, 1 for a non-first fragment, -1 if malformed. */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct fl_parsed *p, __u32 *off, __u32 *l3_end)
{
	struct iphdr buf, *ip = FL_HDR(skb, 14, &buf);
	__u32 ihl, tot, avail = skb->len - 14;

	if (!ip)
		return -1;
	ihl = (((__u8 *)ip)[0] & 0x0f) * 4;
	tot = bpf_ntohs(ip->tot_len);
	if ((((__u8 *)ip)[0] >> 4) != 4 || ihl < sizeof(*ip))
		return -1;
	if (tot == 0 && avail > 0xffff) /* BIG TCP: tot_len 0 on a > 64 KiB GSO packet */
		tot = avail;
	if (tot < ihl || tot > avail)
		return -1;
	*(__u32 *)p->key.saddr = ip->saddr;
	*(__u32 *)p->key.daddr = ip->daddr;
	p->key.family = 4;
	p->key.proto = ip->protocol;
	p->ip_len = tot;
	*l3_end = 14 + tot;
	*off = 14 + ihl;
	return (ip->frag_off & bpf_htons(0x1fff)) ? 1 : 0;
}

/* First 8 bytes of an ICMP header, an IPv6 extension header or a TCP payload. */
struct fl_8bytes {
	__u8 b[8];
};

#define FL_V6_EXT_MAX 4 /* extension headers walked; a packet with more counts by addresses and proto only */

static __always_inline bool v6_ext(__u8 nh)
{
	return nh == 0 /* hop-by-hop */ || nh == 43 /* routing */ || nh == 60 /* destination options */ ||
	       nh == 44 /* fragment */ || nh == 51 /* AH */;
}

/*
 * Extension headers are walked (up to FL_V6_EXT_MAX): the flow's proto is the upper layer. Returns 1
 * (addresses and proto only) for a non-first fragment or too many extension headers, -1 when one
 * runs past the packet.
 */
static __always_inline int parse_ipv6(struct __sk_buff *skb, struct fl_parsed *p, __u32 *off, __u32 *l3_end)
{
	struct ipv6hdr buf, *ip = FL_HDR(skb, 14, &buf);
	struct fl_8bytes ebuf, *e;
	__u32 tot, avail = skb->len - 14, o;
	__u8 nh;

	if (!ip)
		return -1;
	tot = sizeof(*ip) + bpf_ntohs(ip->payload_len);
	if ((((__u8 *)ip)[0] >> 4) != 6)
		return -1;
	if (tot == sizeof(*ip) && avail > 0xffff + sizeof(*ip)) /* BIG TCP jumbogram */
		tot = avail;
	if (tot > avail)
		return -1;
	__builtin_memcpy(p->key.saddr, &ip->saddr, 16);
	__builtin_memcpy(p->key.daddr, &ip->daddr, 16);
	p->key.family = 6;
	p->ip_len = tot;
	*l3_end = 14 + tot;
	nh = ip->nexthdr;
	o = 14 + sizeof(*ip);
#pragma unroll
	for (int i = 0; i < FL_V6_EXT_MAX; i++) {
		if (!v6_ext(nh))
			break;
		if (o + sizeof(ebuf) > *l3_end || !(e = FL_HDR(skb, o, &ebuf)))
			return -1;
		if (nh == 44) { /* fragment: 8 bytes; offset != 0 = no L4 header here */
			nh = e->b[0];
			if (((e->b[2] << 8) | e->b[3]) & 0xfff8) {
				p->key.proto = nh;
				return 1;
			}
			o += 8;
			continue;
		}
		o += nh == 51 ? (e->b[1] + 2) * 4 : (e->b[1] + 1) * 8;
		nh = e->b[0];
	}
	p->key.proto = nh;
	if (v6_ext(nh))
		return 1;
	if (o > *l3_end)
		return -1;
	*off = o;
	return 0;
}

static __always_inline int parse_tcp(struct __sk_buff *skb, struct fl_parsed *p, __u32 off, __u32 l3_end)
{
	struct tcphdr buf, *th;
	__u32 doff;

	if (off + sizeof(buf) > l3_end || !(th = FL_HDR(skb, off, &buf)))
		return -1;
	doff = (((__u8 *)th)[12] >> 4) * 4;
	if (doff < sizeof(buf) || off + doff > l3_end)
		return -1;
	p->key.sport = bpf_ntohs(th->source);
	p->key.dport = bpf_ntohs(th->dest);
	p->tcp_flags = ((__u8 *)th)[13];
	p->l4_off = off;
	p->payload_off = off + doff;
	p->payload_len = l3_end - p->payload_off;
	return 0;
}

static __always_inline int parse_udp(struct __sk_buff *skb, struct fl_parsed *p, __u32 off, __u32 l3_end)
{
	struct udphdr buf, *uh;
	__u32 ulen;

	if (off + sizeof(buf) > l3_end || !(uh = FL_HDR(skb, off, &buf)))
		return -1;
	ulen = bpf_ntohs(uh->len);
	if (ulen < sizeof(buf) || off + ulen > l3_end)
		return -1;
	p->key.sport = bpf_ntohs(uh->source);
	p->key.dport = bpf_ntohs(uh->dest);
	p->payload_off = off + sizeof(buf);
	p->payload_len = ulen - sizeof(buf);
	return 0;
}

static __always_inline int parse_icmp(struct __sk_buff *skb, struct fl_parsed *p, __u32 off, __u32 l3_end)
{
	struct fl_8bytes buf, *h;
	__u16 id;

	if (off + sizeof(buf) > l3_end || !(h = FL_HDR(skb, off, &buf)))
		return -1;
	p->icmp_type = h->b[0];
	p->icmp_code = h->b[1];
	if ((p->key.proto == IPPROTO_ICMP && (h->b[0] == 8 || h->b[0] == 0)) ||
	    (p->key.proto == IPPROTO_ICMPV6 && (h->b[0] == 128 || h->b[0] == 129))) {
		id = ((__u16)h->b[4] << 8) | h->b[5];
		p->key.sport = id; /* both ports = echo id: request and reply share the flow */
		p->key.dport = id;
	}
	return 0;
}

/* 0 = parsed (p->has_l4 says whether L4 was), -1 = not IP or malformed: not accounted. */
static __always_inline int parse_packet(struct __sk_buff *skb, struct fl_parsed *p)
{
	struct ethhdr buf, *eth = FL_HDR(skb, 0, &buf);
	__u32 off = 0, l3_end = 0;
	int r, l4 = -1;

	if (!eth)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		r = parse_ipv4(skb, p, &off, &l3_end);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
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

/* Orders the key's endpoints: (saddr, sport) <= (daddr, dport); p->swapped = they were swapped. */
static __always_inline void canonicalize(struct fl_parsed *p)
{
	__u64 *s = (__u64 *)p->key.saddr, *d = (__u64 *)p->key.daddr, t;
	__u16 port;
	bool swap;

	if (s[0] != d[0])
		swap = s[0] > d[0];
	else if (s[1] != d[1])
		swap = s[1] > d[1];
	else
		swap = p->key.sport > p->key.dport;
	p->swapped = swap;
	if (!swap)
		return;
	t = s[0]; s[0] = d[0]; d[0] = t;
	t = s[1]; s[1] = d[1]; d[1] = t;
	port = p->key.sport;
	p->key.sport = p->key.dport;
	p->key.dport = port;
}

/* Is the sender of this first-seen packet the responder of its flow? */
static __always_inline bool sender_is_responder(const struct fl_parsed *p)
{
	__u8 f = p->tcp_flags;
	__u16 sport = p->swapped ? p->key.dport : p->key.sport;
	__u16 dport = p->swapped ? p->key.sport : p->key.dport;

	if (p->key.proto == IPPROTO_TCP) {
		if (f & TCP_SYN)
			return f & TCP_ACK;
		return sport < dport; /* mid-stream: the lower port is the server */
	}
	if (p->key.proto == IPPROTO_UDP)
		return sport == 53 && dport != 53;
	if (p->key.proto == IPPROTO_ICMP)
		return p->icmp_type == 0;
	if (p->key.proto == IPPROTO_ICMPV6)
		return p->icmp_type == 129;
	return false;
}

#endif
