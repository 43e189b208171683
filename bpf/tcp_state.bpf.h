/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TCP connection lifecycle: one fl_tcp_state record per state change of a TCP
 * socket that the agent turns into a flow (connect starts: -> SYN_SENT; connect and
 * accept: -> ESTABLISHED; close and connect failures: -> CLOSE), from the
 * sock/inet_sock_set_state tracepoint, into a BPF ring buffer. The changes in
 * between (FIN_WAIT1, CLOSE_WAIT, LISTEN, ...) are not sent: about half of a
 * connection's records, which the agent only dropped. Failed reserves are counted
 * per CPU in `lost` so nothing is dropped silently.
 */
#ifndef FL_TCP_STATE_BPF_H
#define FL_TCP_STATE_BPF_H

static __always_inline __u32 sock_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/*
 * Tracepoint context fields are CO-RE relocated, and the verifier refuses a
 * load through a pointer computed into ctx (as an array copy makes), so the
 * address arrays are copied with bpf_core_read (a relocated probe read).
 */
static __always_inline void copy_addrs(struct fl_tcp_state *rec,
				       const struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (rec->family == AF_INET) {
		bpf_core_read(rec->saddr, 4, &ctx->saddr);
		bpf_core_read(rec->daddr, 4, &ctx->daddr);
	} else {
		bpf_core_read(rec->saddr, FL_ADDR_LEN, &ctx->saddr_v6);
		bpf_core_read(rec->daddr, FL_ADDR_LEN, &ctx->daddr_v6);
	}
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const struct sock *sk = ctx->skaddr;
	struct fl_tcp_state *rec;
	__u16 family = ctx->family;
	__u64 id;
	__u32 netns;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (ctx->newstate != 1 /* ESTABLISHED */ && ctx->newstate != 2 /* SYN_SENT */ && ctx->newstate != 7 /* CLOSE */)
		return 0;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	netns = sock_netns(sk);
	if (targ_netns && netns != targ_netns)
		return 0;

	/* AF_INET6 too: a dual-stack socket dialling IPv4 has its IPv4 destination in daddr (connect6
	 * recorded only such destinations; a real IPv6 one finds no entry). */
	if (ctx->oldstate == 7 /* CLOSE */ && ctx->newstate == 2 /* SYN_SENT */) {
		__u32 daddr = 0;

		bpf_core_read(&daddr, 4, &ctx->daddr);
		sock_addr_at_connect(sk, daddr, ctx->dport);
	}
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_lost(FL_LOST_RB_TCP_STATE);
		return 0;
	}
	__builtin_memset(rec, 0, sizeof(*rec)); /* reserved memory is not zeroed */
	rec->hdr.type = FL_REC_TCP_STATE;
	rec->hdr.version = FL_REC_VERSION;
	rec->hdr.len = sizeof(*rec);
	rec->ts_ns = bpf_ktime_get_ns();
	rec->skaddr = (__u64)sk;
	rec->netns = netns;
	id = bpf_get_current_pid_tgid();
	rec->pid = id >> 32;
	rec->tid = (__u32)id;
	bpf_get_current_comm(rec->comm, sizeof(rec->comm));
	rec->family = family;
	rec->protocol = IPPROTO_TCP;
	rec->sport = ctx->sport;
	rec->dport = ctx->dport;
	rec->oldstate = (__u8)ctx->oldstate;
	rec->newstate = (__u8)ctx->newstate;
	copy_addrs(rec, ctx);
	bpf_ringbuf_submit(rec, rb_wake());
	return 0;
}

#endif
