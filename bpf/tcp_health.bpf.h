/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TCP health: retransmits and resets sent/received, one fl_tcp_event each, tuple from the
 * socket (CO-RE) or, for a reset sent without a socket, from the segment that caused it.
 * The tracepoint contexts are declared here by their stable prefix (common header, then the
 * skb/sock pointers), identical on every kernel since 4.15/4.16.
 */
#ifndef FL_TCP_HEALTH_BPF_H
#define FL_TCP_HEALTH_BPF_H

struct fl_tp_sk_skb {
	__u64 common;
	const void *skbaddr;
	const void *skaddr;
};

struct fl_tp_sk {
	__u64 common;
	const void *skaddr;
};

static __always_inline void sock_tuple(const struct sock *sk, struct fl_tcp_event *e)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)e->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->daddr, sk, __sk_common.skc_daddr);
		e->family = 4;
	} else {
		BPF_CORE_READ_INTO((struct in6_addr *)e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)e->daddr, sk, __sk_common.skc_v6_daddr);
		e->family = 6;
	}
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* The segment came in: we are its destination. */
static __always_inline int segment_tuple(const struct sk_buff *skb, struct fl_tcp_event *e)
{
	struct fl_tuple t = {};

	if (!skb || skb_tuple(skb, &t) < 0)
		return -1;
	__builtin_memcpy(e->saddr, t.daddr, FL_ADDR_LEN);
	__builtin_memcpy(e->daddr, t.saddr, FL_ADDR_LEN);
	e->sport = t.dport;
	e->dport = t.sport;
	e->family = t.family;
	return 0;
}

static __always_inline int tcp_event(const struct sock *sk, const struct sk_buff *skb, __u8 kind)
{
	struct fl_tcp_event *e;

	if (!sk && !skb)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(FL_LOST_RB_TCP_EVENT);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	if (sk) {
		sock_tuple(sk, e);
	} else if (segment_tuple(skb, e) < 0) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	fill_hdr(&e->hdr, FL_REC_TCP_EVENT, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->skaddr = (__u64)sk;
	e->kind = kind;
	bpf_ringbuf_submit(e, rb_wake());
	return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit(struct fl_tp_sk_skb *ctx)
{
	return tcp_event(ctx->skaddr, NULL, FL_TCP_RETRANSMIT);
}

SEC("tracepoint/tcp/tcp_send_reset")
int tcp_send_reset(struct fl_tp_sk_skb *ctx)
{
	return tcp_event(ctx->skaddr, ctx->skbaddr, FL_TCP_SEND_RESET);
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tcp_recv_reset(struct fl_tp_sk *ctx)
{
	return tcp_event(ctx->skaddr, NULL, FL_TCP_RECV_RESET);
}

#endif
