/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Socket-level destination, before any rewrite: cgroup/connect4, cgroup/connect6 (dual-stack
 * sockets dialling IPv4) and cgroup/sendmsg4 attached to the root cgroup (v2). A socket-level load balancer (Cilium's kube-proxy replacement)
 * rewrites the VIP to a backend in its own connect4 hook; the packets then never carry the
 * VIP, so tc and conntrack cannot see it. Our hook records what user space asked for:
 *  - connect4 (TCP, connected UDP): remembered by socket cookie; tcp_state emits it as an
 *    fl_sock_addr with the socket's address at CLOSE->SYN_SENT when the socket is being
 *    connected elsewhere (rewritten by a later hook), so the agent can join it with the
 *    connection's records (same skaddr);
 *  - sendmsg4 (unconnected UDP): emitted directly, once per socket and destination.
 * Which of several root-cgroup hooks runs first depends on attach order; see bpf/README.md.
 */
#ifndef FL_SOCK_ADDR_BPF_H
#define FL_SOCK_ADDR_BPF_H

struct fl_orig_dst {
	__u32 daddr; /* network order */
	__u16 dport; /* host order */
	__u8 proto;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket cookie */
	__type(value, struct fl_orig_dst);
} orig_dst SEC(".maps");

static __always_inline void emit_sock_addr(__u64 cookie, __u64 skaddr, const struct fl_orig_dst *d)
{
	struct fl_sock_addr *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!r) {
		count_lost(FL_LOST_RB_SOCK_ADDR);
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	fill_hdr(&r->hdr, FL_REC_SOCK_ADDR, sizeof(*r));
	r->ts_ns = bpf_ktime_get_ns();
	r->cookie = cookie;
	r->skaddr = skaddr;
	__builtin_memcpy(r->daddr, &d->daddr, 4);
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->pid = id >> 32;
	r->dport = d->dport;
	r->family = 4;
	r->proto = d->proto;
	bpf_ringbuf_submit(r, rb_wake());
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	struct fl_orig_dst d = {
		.daddr = ctx->user_ip4,
		.dport = bpf_ntohs((__u16)ctx->user_port),
		.proto = (__u8)ctx->protocol,
	};
	__u64 cookie = bpf_get_socket_cookie(ctx);

	if (ctx->protocol == IPPROTO_TCP)
		bpf_map_update_elem(&orig_dst, &cookie, &d, BPF_ANY);
	return 1; /* never changes the verdict */
}

/* A dual-stack (AF_INET6) socket dialling IPv4 (::ffff:a.b.c.d) runs the connect6 hooks, not the
 * connect4 ones: the same record, IPv4. Real IPv6 destinations are not tracked. */
SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	struct fl_orig_dst d = {
		.daddr = ctx->user_ip6[3],
		.dport = bpf_ntohs((__u16)ctx->user_port),
		.proto = (__u8)ctx->protocol,
	};
	__u64 cookie;

	if (ctx->user_ip6[0] || ctx->user_ip6[1] || ctx->user_ip6[2] != bpf_htonl(0xffff) || ctx->protocol != IPPROTO_TCP)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	bpf_map_update_elem(&orig_dst, &cookie, &d, BPF_ANY);
	return 1; /* never changes the verdict */
}

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx)
{
	struct fl_orig_dst d = {
		.daddr = ctx->user_ip4,
		.dport = bpf_ntohs((__u16)ctx->user_port),
		.proto = IPPROTO_UDP,
	};
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct fl_orig_dst *seen = bpf_map_lookup_elem(&orig_dst, &cookie);

	if (seen && seen->daddr == d.daddr && seen->dport == d.dport)
		return 1;
	bpf_map_update_elem(&orig_dst, &cookie, &d, BPF_ANY);
	emit_sock_addr(cookie, 0, &d);
	return 1;
}

/*
 * From tcp_state at CLOSE->SYN_SENT (daddr network order, dport host order: where the socket is
 * being connected): the connect4 destination of this socket, only when it differs, i.e. when a
 * hook after ours rewrote it (a socket-level load balancer). A plain connect sends nothing.
 */
static __always_inline void sock_addr_at_connect(const struct sock *sk, __u32 daddr, __u16 dport)
{
	__u64 cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	struct fl_orig_dst *d;

	if (!cookie)
		return;
	d = bpf_map_lookup_elem(&orig_dst, &cookie);
	if (!d)
		return;
	if (d->daddr != daddr || d->dport != dport)
		emit_sock_addr(cookie, (__u64)sk, d);
	bpf_map_delete_elem(&orig_dst, &cookie);
}

#endif
