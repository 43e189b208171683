/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* 5-tuple of a kernel sk_buff (tracing context): reads through skb->head + network_header. */
#ifndef FL_SKB_TUPLE_BPF_H
#define FL_SKB_TUPLE_BPF_H

struct fl_tuple {
	__u8 saddr[FL_ADDR_LEN];
	__u8 daddr[FL_ADDR_LEN];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 proto;
};

/* 0 when the skb has a readable IPv4/IPv6 header; ports stay 0 unless TCP/UDP and readable. */
static __always_inline int skb_tuple(const struct sk_buff *skb, struct fl_tuple *t)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u8 first, proto;
	bool frag = false;
	__u32 l4;
	__u16 ports[2];

	if (!head || nh == (__u16)~0U)
		return -1;
	if (bpf_probe_read_kernel(&first, 1, head + nh))
		return -1;
	if ((first >> 4) == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.ihl < 5)
			return -1;
		__builtin_memcpy(t->saddr, &ip.saddr, 4);
		__builtin_memcpy(t->daddr, &ip.daddr, 4);
		t->family = 4;
		proto = ip.protocol;
		l4 = nh + ip.ihl * 4;
		frag = ip.frag_off & bpf_htons(0x1fff); /* later fragment: no ports */
	} else if ((first >> 4) == 6) {
		struct ipv6hdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return -1;
		__builtin_memcpy(t->saddr, &ip.saddr, 16);
		__builtin_memcpy(t->daddr, &ip.daddr, 16);
		t->family = 6;
		proto = ip.nexthdr;
		l4 = nh + sizeof(ip);
	} else {
		return -1;
	}
	t->proto = proto;
	if (!frag && (proto == IPPROTO_TCP || proto == IPPROTO_UDP) &&
	    !bpf_probe_read_kernel(ports, sizeof(ports), head + l4)) {
		t->sport = bpf_ntohs(ports[0]);
		t->dport = bpf_ntohs(ports[1]);
	}
	return 0;
}

#endif
