/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The tc programs' L7 capture (tc_flow.bpf.h): the first bytes of DNS messages (UDP and TCP 53)
 * and of HTTP/1.x heads, copied raw into the ring buffer for the agent to parse. Cold paths are
 * BPF subprograms (__noinline).
 */
#ifndef FL_TC_L7_BPF_H
#define FL_TC_L7_BPF_H
static __always_inline void fill_pkt(struct __sk_buff *skb, struct fl_pkt *d, const struct fl_parsed *p, __u8 hook,
				     __u32 captured)
{
	const struct fl_flow_key *k = &p->key;
	__u32 sa[2] = {};

	d->ts_ns = bpf_ktime_get_ns(); /* fine clock: HTTP/DNS latencies come from these */
	__builtin_memcpy(d->saddr, p->swapped ? k->daddr : k->saddr, FL_ADDR_LEN); /* as the packet goes */
	__builtin_memcpy(d->daddr, p->swapped ? k->saddr : k->daddr, FL_ADDR_LEN);
	d->ifindex = k->ifindex;
	d->sport = p->swapped ? k->dport : k->sport;
	d->dport = p->swapped ? k->sport : k->dport;
	d->payload_len = p->payload_len > 0xffff ? 0xffff : p->payload_len;
	d->captured = captured;
	d->family = p->key.family;
	d->proto = p->key.proto;
	d->hook = hook;
	d->pad = 0;
	/* seq and ack: 4..11 of the TCP header (the parser checked it is in the packet) */
	if (p->key.proto == IPPROTO_TCP && bpf_skb_load_bytes(skb, p->l4_off + 4, sa, sizeof(sa)) < 0)
		sa[0] = sa[1] = 0;
	d->tcp_seq = bpf_ntohl(sa[0]);
	d->tcp_ack = bpf_ntohl(sa[1]);
}

static __noinline void capture_dns(struct __sk_buff *skb, const struct fl_parsed *p, __u8 hook)
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
	fill_pkt(skb, &rec->pkt, p, hook, n);
	bpf_ringbuf_submit(rec, rb_wake());
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

/* Copies the first bytes of one HTTP head into the ring buffer. */
static __noinline void copy_http(struct __sk_buff *skb, const struct fl_parsed *p, __u8 hook)
{
	struct fl_http *rec;
	__u32 n = p->payload_len;

	if (n < 8) /* the caller checked; the verifier needs it said here */
		return;
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
	fill_pkt(skb, &rec->pkt, p, hook, n);
	bpf_ringbuf_submit(rec, rb_wake());
}

/*
 * At most http_per_flow (0: all) HTTP heads per flow, direction and CPU are copied in each window
 * (http_window, from the first head of a window; 0: no window, only the first ones of the flow),
 * and counted in the flow. The segments
 * of a direction whose budget is spent are not looked at until the window ends: their first bytes
 * usually lie in page fragments, and reading them (bpf_skb_load_bytes) was a third of a packet's
 * cost. A request and its response may fall on different sides of a window (they are counted in
 * different flows when both ends are pods of this node): the agent pairs them by TCP sequence
 * numbers, not by order.
 */
static __always_inline void capture_http(struct __sk_buff *skb, const struct fl_parsed *p, __u8 hook,
					 struct fl_flow_val *v, int dir, bool bridge)
{
	struct fl_8bytes buf, *first;
	__u32 off = p->payload_off;
	int d = dir & 1;

	if (off > 0xff)
		return;
	if (v && http_per_flow && v->l7_n[d] >= http_per_flow) {
		if (!http_window || v->last_ns - v->l7_win < http_window)
			return;
		v->l7_n[0] = v->l7_n[1] = 0; /* a new window, opened by the next head */
		v->l7_win = 0;
	}
	first = FL_HDR(skb, off, &buf);
	if (!first || !http_start(first->b))
		return;
	/* only for what would be copied: body segments and a spent budget cost no map lookup */
	if (bridge && sent_by_our_pod(p))
		return;
	if (v) {
		if (!v->l7_win)
			v->l7_win = v->last_ns;
		v->l7[d]++;
		v->l7_n[d]++;
	}
	copy_http(skb, p, hook);
}

#endif
