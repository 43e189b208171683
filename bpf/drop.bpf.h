/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Drops with reasons: skb:kfree_skb for IPv4/IPv6 packets. The reason is the running kernel's
 * enum skb_drop_reason value (the loader sends the names, read from BTF). Kernels without the
 * field (< 5.17) give reason 0. "Consumed" frees are not drops and are skipped.
 */
#ifndef FL_DROP_BPF_H
#define FL_DROP_BPF_H

static __always_inline __u32 drop_reason(struct trace_event_raw_kfree_skb *ctx)
{
	if (!bpf_core_field_exists(ctx->reason))
		return 0;
	return (__u32)BPF_CORE_READ(ctx, reason);
}

static __always_inline bool is_consumed(__u32 reason)
{
	if (!bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED))
		return false;
	return reason == (__u32)bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED);
}

static __always_inline void drop_where(const struct sk_buff *skb, struct fl_drop *rec)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	struct sock *sk;

	if (dev) {
		rec->ifindex = BPF_CORE_READ(dev, ifindex);
		rec->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
		return;
	}
	sk = BPF_CORE_READ(skb, sk);
	if (sk)
		rec->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

SEC("tracepoint/skb/kfree_skb")
int kfree_skb(struct trace_event_raw_kfree_skb *ctx)
{
	const struct sk_buff *skb = BPF_CORE_READ(ctx, skbaddr);
	__u16 proto = BPF_CORE_READ(ctx, protocol);
	struct fl_tuple t = {};
	struct fl_drop *rec;
	__u32 reason = drop_reason(ctx);

	if (proto != ETH_P_IP && proto != ETH_P_IPV6) /* the tracepoint stores ntohs(skb->protocol) */
		return 0;
	if (is_consumed(reason) || skb_tuple(skb, &t) < 0)
		return 0;
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_lost(FL_LOST_RB_DROP);
		return 0;
	}
	__builtin_memset(rec, 0, sizeof(*rec));
	fill_hdr(&rec->hdr, FL_REC_DROP, sizeof(*rec));
	rec->ts_ns = bpf_ktime_get_ns();
	rec->location = (__u64)BPF_CORE_READ(ctx, location);
	__builtin_memcpy(rec->saddr, t.saddr, FL_ADDR_LEN);
	__builtin_memcpy(rec->daddr, t.daddr, FL_ADDR_LEN);
	rec->reason = reason;
	rec->sport = t.sport;
	rec->dport = t.dport;
	rec->family = t.family;
	rec->proto = t.proto;
	drop_where(skb, rec);
	bpf_ringbuf_submit(rec, rb_wake());
	return 0;
}

#endif
