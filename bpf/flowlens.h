/* SPDX-License-Identifier: MIT */
/*
 * flowlens.h: THE wire contract between the BPF programs, the loader and the
 * TypeScript decoder. Keep in step with src/agent/records.ts (a unit test
 * compares the offsets printed by bpf/layout.c with the decoder's table).
 *
 * Framing: the loader writes records back to back on stdout, each one exactly
 * hdr.len bytes. Every record starts with struct fl_hdr.
 *
 * Byte order: unless a field says otherwise, integers are in HOST byte order
 * (the loader and the agent always run on the same machine; the decoder reads
 * little-endian, i.e. x86_64 and arm64). Addresses are raw network-order bytes
 * (IPv4 in bytes 0..3, rest zero). Ports are host order.
 *
 * Rules: fixed-width fields only, largest first, explicit padding (always
 * zero), sizes pinned by _Static_assert. Changing a layout means bumping
 * FL_REC_VERSION and the decoder together.
 */
#ifndef FLOWLENS_H
#define FLOWLENS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define FL_REC_VERSION 3

/* Record types (fl_hdr.type). */
#define FL_REC_HELLO 1
#define FL_REC_TCP_STATE 2
#define FL_REC_LOST 3
#define FL_REC_FLOW 4        /* loader: aggregated tc flow (start/update/end/timeout) */
#define FL_REC_DNS 5         /* tc: one DNS message (UDP 53), payload copied */
#define FL_REC_HTTP 6        /* tc: first bytes of an HTTP/1.x request or response */
#define FL_REC_DROP 7        /* tracepoint skb:kfree_skb */
#define FL_REC_DROP_REASON 8 /* loader: one name of enum skb_drop_reason (from BTF), at start */
#define FL_REC_TCP_EVENT 9   /* tracepoints tcp:tcp_retransmit_skb, tcp_send_reset, tcp_receive_reset */
#define FL_REC_CMD_RESULT 10 /* loader: answer to one stdin command */
#define FL_REC_SOCK_ADDR 11  /* cgroup/connect4 + sendmsg4: destination before any socket-level rewrite */
#define FL_REC_FLOW_NOTICE 12 /* tc -> loader ONLY (never written to stdout): a flow was created,
                               * or saw its first FIN (per direction) or RST */
#define FL_REC_FLOW_PART 13   /* tc -> loader ONLY: a live flow's counters on one CPU, from a slot the tc
                               * program took over for another flow (the loader keeps them) */

/* Largest record the loader will ever forward; the decoder rejects more. */
#define FL_REC_MAX_BYTES 4096

#define FL_COMM_LEN 16
#define FL_ADDR_LEN 16
#define FL_DNS_MAX 512   /* bytes of a DNS message copied (classic UDP DNS limit) */
#define FL_HTTP_MAX 192  /* first bytes of an HTTP message copied (request line up to ~180) */
#define FL_REASON_NAME_LEN 56
#define FL_RELEASE_LEN 64

/* fl_hello.attached bits: one per BPF program the loader attached (or loaded, for tc). */
#define FL_PROG_TCP_STATE (1u << 0)
#define FL_PROG_TC_INGRESS (1u << 1)
#define FL_PROG_TC_EGRESS (1u << 2)
#define FL_PROG_KFREE_SKB (1u << 3)
#define FL_PROG_TCP_RETRANSMIT (1u << 4)
#define FL_PROG_TCP_SEND_RESET (1u << 5)
#define FL_PROG_TCP_RECV_RESET (1u << 6)
#define FL_PROG_CONNECT4 (1u << 7)
#define FL_PROG_SENDMSG4 (1u << 8)
#define FL_PROG_TC_BRIDGE_EGRESS (1u << 9) /* tc egress on a bridge whose pod ports run only tc ingress */
#define FL_PROG_CONNECT6 (1u << 10) /* cgroup/connect6: dual-stack sockets dialling IPv4 (::ffff:a.b.c.d) */

/* fl_hello.features bits: what the running kernel offers (probed at start). */
#define FL_FEAT_BTF (1ull << 0)              /* /sys/kernel/btf/vmlinux loads */
#define FL_FEAT_RINGBUF (1ull << 1)          /* BPF_MAP_TYPE_RINGBUF (5.8) */
#define FL_FEAT_MMAP_ARRAY (1ull << 2)       /* BPF_F_MMAPABLE arrays (5.5): the tc flow table */
#define FL_FEAT_SCHED_CLS (1ull << 3)        /* tc programs */
#define FL_FEAT_TRACEPOINT (1ull << 4)
#define FL_FEAT_CGROUP_SOCK_ADDR (1ull << 5) /* cgroup/connect4, sendmsg4 */
#define FL_FEAT_DROP_REASON_ENUM (1ull << 6) /* enum skb_drop_reason in BTF (5.17+) */
#define FL_FEAT_KFREE_SKB_REASON (1ull << 7) /* skb:kfree_skb has a reason field */
#define FL_FEAT_TCP_RETRANSMIT_TP (1ull << 8)
#define FL_FEAT_TCP_RESET_TPS (1ull << 9)    /* tcp_send_reset + tcp_receive_reset */
#define FL_FEAT_SOCK_STATE_TP (1ull << 10)   /* sock:inet_sock_set_state (4.16) */
#define FL_FEAT_LRU_HASH (1ull << 11)        /* BPF_MAP_TYPE_LRU_HASH (4.10): the tc initiators map */
#define FL_FEAT_CGROUP2 (1ull << 12)         /* cgroup v2 mounted on /sys/fs/cgroup */
#define FL_FEAT_SYSCALL_PROG (1ull << 13)    /* BPF_PROG_TYPE_SYSCALL (5.14): jiffies calibrated, the flows' clock */

/* fl_lost.source values: one per place where a record can be lost. */
#define FL_LOST_RB_TCP_STATE 1  /* ring buffer reserve failed in tcp_state */
#define FL_LOST_RB_DNS 2        /* ... in the tc DNS capture */
#define FL_LOST_RB_HTTP 3       /* ... in the tc HTTP capture */
#define FL_LOST_RB_DROP 4       /* ... in kfree_skb */
#define FL_LOST_RB_TCP_EVENT 5  /* ... in the TCP health tracepoints */
#define FL_LOST_RB_SOCK_ADDR 6  /* ... in cgroup connect4/sendmsg4 */
#define FL_LOST_FLOW_CREATE 7   /* a new flow could not be inserted in the flow map (not with the flow table: 0) */
#define FL_LOST_FLOW_EVICTED 8  /* a flow's counters from a slot taken over for another flow could not be
                                 * handed to the loader (ring buffer full) */
#define FL_LOST_MAX 9           /* FL_LOST_* sources (the per-CPU `lost` array has two more slots) */
#define FL_SLOT_NOTICE_LOST (FL_LOST_MAX + 1) /* `lost` slot: failed fl_flow_notice reserves (loader-internal) */

/* fl_flow.event */
#define FL_FLOW_START 1   /* first time the loader saw the flow */
#define FL_FLOW_UPDATE 2  /* periodic flush: counters changed */
#define FL_FLOW_END 3     /* TCP FIN both ways or RST, then quiet for the end grace time */
#define FL_FLOW_TIMEOUT 4 /* idle for the idle timeout */

/* Hooks (fl_flow.origin, fl_pkt.hook): seen on the host-side veth, i.e. relative to the pod. */
#define FL_HOOK_FROM_POD 1 /* tc ingress on the host-side interface: the pod sent it */
#define FL_HOOK_TO_POD 2   /* tc egress on the host-side interface: the pod receives it */
#define FL_SEEN_SLOTS 65536 /* entries of the ingress_seen map (tc_flow.bpf.h) */
#define FL_POD_ADDRS 16384  /* entries of the pod_addrs map (tc_flow.bpf.h) */

/* fl_tcp_event.kind */
#define FL_TCP_RETRANSMIT 1
#define FL_TCP_SEND_RESET 2
#define FL_TCP_RECV_RESET 3

/* fl_cmd_result.cmd */
#define FL_CMD_ATTACH 1
#define FL_CMD_DETACH 2
#define FL_CMD_FLUSH 3
#define FL_CMD_RUN 4 /* --prog-run mode: one BPF_PROG_RUN of a tc program */
#define FL_CMD_LEARN 5 /* an address of a pod behind one of our bridge ports */

struct fl_hdr {
	__u16 type;    /* FL_REC_*, host order */
	__u16 version; /* FL_REC_VERSION, host order */
	__u32 len;     /* bytes of the whole record including this header, host order */
};

/* Written once by the loader, first thing on stdout, after every program is attached. */
struct fl_hello {
	struct fl_hdr hdr;
	__s64 mono_to_wall_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC in ns at start, host order;
	                        * wall = ts_ns (bpf_ktime_get_ns) + mono_to_wall_ns */
	__u64 ringbuf_bytes;   /* ring buffer size in bytes, host order */
	__u64 features;        /* FL_FEAT_* bits, host order */
	__u32 loader_version;  /* FL_LOADER_VERSION, host order */
	__u32 attached;        /* FL_PROG_* bitmask of attached programs, host order */
	__u32 attached_count;  /* number of attached programs, host order */
	__u32 ncpus;           /* possible CPUs (size of per-CPU maps), host order */
	__u32 flow_entries;    /* max entries of the flow map, host order */
	__u32 flush_ms;        /* flow map scan interval, host order */
	char kernel_release[FL_RELEASE_LEN]; /* uname -r, NUL padded */
};

/* From tracepoint sock/inet_sock_set_state, IPPROTO_TCP only. */
struct fl_tcp_state {
	struct fl_hdr hdr;
	__u64 ts_ns;               /* bpf_ktime_get_ns() (CLOCK_MONOTONIC), host order */
	__u64 skaddr;              /* kernel address of the struct sock: opaque connection id, host order */
	__u8 saddr[FL_ADDR_LEN];   /* network order; IPv4 in bytes 0..3, rest zero */
	__u8 daddr[FL_ADDR_LEN];   /* network order; IPv4 in bytes 0..3, rest zero */
	char comm[FL_COMM_LEN];    /* current task's comm, NUL padded */
	__u32 netns;               /* inode of the socket's network namespace, host order */
	__u32 pid;                 /* current tgid (user-space pid), host order; 0 in softirq on idle */
	__u32 tid;                 /* current thread id, host order */
	__u16 sport;               /* HOST order (the tracepoint already converted it) */
	__u16 dport;               /* HOST order (the tracepoint already converted it) */
	__u16 family;              /* AF_INET (2) or AF_INET6 (10), host order */
	__u16 protocol;            /* IPPROTO_TCP (6), host order */
	__u8 oldstate;             /* TCP_* state (1..12) as in include/net/tcp_states.h */
	__u8 newstate;             /* TCP_* state (1..12) */
	__u8 pad[2];               /* zero */
};

/* Emitted by the loader: once per source after HELLO (baseline 0), then at most
 * once a second per source whose total changed. Totals are cumulative since start. */
struct fl_lost {
	struct fl_hdr hdr;
	__u64 total;  /* records lost so far from this source, host order */
	__u32 source; /* FL_LOST_*, host order */
	__u32 pad;    /* zero */
};

/* The flow map's key (kernel side). Canonical: (saddr, sport) <= (daddr, dport) compared as
 * two u64 address words then the port, so both directions of a flow find it with ONE lookup;
 * which end initiated is in the value (fl_flow_val.init_rev), the loader orients fl_flow. */
struct fl_flow_key {
	__u8 saddr[FL_ADDR_LEN]; /* the lower endpoint, network order */
	__u8 daddr[FL_ADDR_LEN]; /* the higher endpoint, network order */
	__u32 ifindex;           /* interface of the tc hook */
	__u16 sport;             /* host order; ICMP echo: the identifier (both ports) */
	__u16 dport;             /* host order */
	__u8 family;             /* 4 or 6 */
	__u8 proto;              /* IPPROTO_* */
	__u8 pad[2];             /* zero */
};

/* The flow map's per-CPU value. Index 0 = key.saddr -> key.daddr, 1 = the other way. */
struct fl_flow_val {
	__u64 first_ns;   /* first packet on this CPU: bpf_ktime_get_ns (CLOCK_MONOTONIC ns, set once) */
	__u64 last_ns;    /* last packet on this CPU: jiffies (tc_jiffies; the loader converts), else ns */
	__u64 bytes[2];   /* IP bytes (header + payload) */
	__u64 payload[2]; /* L4 payload bytes */
	__u64 pkts[2];
	__u8 flags[2];    /* TCP flags seen (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80) */
	__u8 origin;      /* FL_HOOK_* the initiator's packets pass (0 on CPUs that did not create it) */
	__u8 icmp_type;   /* first ICMP type/code seen from the initiator */
	__u8 icmp_code;
	__u8 init_rev;    /* 1: the initiator is key.daddr (set with origin, on the creating CPU) */
	__u8 noticed;     /* FL_NOTICE_* already sent from this CPU (FIN per direction, RST) */
	__u8 pad;
	__u32 l7[2];      /* HTTP/1 heads captured per direction on this CPU (all time) */
	__u64 l7_win;     /* start of the current HTTP capture window (last_ns units; 0: none yet) */
	__u16 l7_n[2];    /* heads captured per direction in that window (at most http_per_flow) */
	__u32 pad2;
};

/* Written by the clock_pair program (BPF_PROG_RUN): the loader converts jiffies with it. */
struct fl_clock_pair {
	__u64 jiffies;
	__u64 ns; /* bpf_ktime_get_ns() right after */
};

/* Key of the tc programs' `initiators` map: an endpoint that started a flow at one of our ingress hooks. */
struct fl_endpoint {
	__u8 addr[FL_ADDR_LEN]; /* network order */
	__u16 port;             /* host order */
	__u8 family;
	__u8 proto;
};

/* fl_flow_notice.event, also fl_flow_val.noticed bits */
#define FL_NOTICE_CREATED 0
#define FL_NOTICE_FIN0 1 /* first FIN from key.saddr */
#define FL_NOTICE_FIN1 2 /* first FIN from key.daddr */
#define FL_NOTICE_RST 4
#define FL_NOTICE_REOPEN 8 /* a TCP SYN: the flow's first packet, or on a flow this CPU already counts
			    * (retransmitted, or a new connection on the same 5-tuple, a reused client
			    * port: the loader tells them apart by the ISN). Event only, never a noticed bit. */
#define FL_NOTICE_REOPEN_ACK 16 /* the same for a SYN-ACK (a server's port may see no SYN) */

/*
 * The flow table (tc_flow.bpf.h): a plain array, mmapped by the loader, one region of
 * tab_slots slots per possible CPU. Only that CPU's tc programs write a region's slots (no
 * atomics on the per-packet path); only the loader writes `ack`. gen: odd while the tc program
 * rewrites the slot's key; even when valid (0: never used); the slot holds a live flow while
 * gen != ack, and is free for another flow once the loader set ack = gen (it emitted the flow's
 * end). The loader reads a slot by gen, contents, gen again (a changed gen: skip it this time).
 */
struct fl_slot {
	struct fl_flow_key key;
	__u32 gen;
	__u32 ack;
	__u32 pad;
	struct fl_flow_val val;
};

#define FL_PROBES 8 /* slots a key may be in, from its hash: fl_key_hash + 0..FL_PROBES-1 in a CPU's region */

/* Where a key's slots start in each CPU's region (the tc programs and the loader must agree). */
static inline __u32 fl_key_hash(const struct fl_flow_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = (w[0] ^ w[2]) * 0x9E3779B97F4A7C15ull;

	h ^= (w[1] ^ w[3]) * 0xC2B2AE3D27D4EB4Full;
	h ^= (w[4] + ((const __u32 *)k)[10]) * 0x165667B19E3779F9ull;
	return (__u32)(h >> 32);
}

/* Kernel -> loader only: the counters a CPU had for a live flow whose slot it took over. */
struct fl_flow_part {
	struct fl_hdr hdr;
	__u32 slot;   /* index in the flow table */
	__u32 gen;    /* the slot's gen while it held this flow: ignored if the loader acked it meanwhile */
	struct fl_flow_key key;
	__u32 pad;
	struct fl_flow_val val;
};

/* Kernel -> loader only (never on stdout, not decoded by the agent): look at this flow now
 * (START at once; END after the grace, sooner than the periodic scan). */
struct fl_flow_notice {
	struct fl_hdr hdr;
	struct fl_flow_key key;
	__u32 event;  /* FL_NOTICE_* */
	__u32 slot;   /* the flow's slot on the sending CPU (index into the flow table) */
	__u32 gen;    /* that slot's gen: the loader's scan reads the slots it was told of */
	__u32 isn;    /* REOPEN / REOPEN_ACK: the client's initial sequence number (a SYN's seq, a SYN-ACK's ack - 1) */
	__u64 at;     /* REOPEN / REOPEN_ACK: the handshake packet's time, CLOCK_MONOTONIC ns (exact, as first_ns); else 0 */
};

/* Made by the loader from the flow map (sum over CPUs). */
struct fl_flow {
	struct fl_hdr hdr;
	__u64 first_ns;             /* CLOCK_MONOTONIC ns, host order */
	__u64 last_ns;
	__u64 bytes[2];             /* [0] initiator -> responder, [1] reply; host order */
	__u64 payload[2];
	__u64 pkts[2];
	__u8 saddr[FL_ADDR_LEN];    /* initiator, network order */
	__u8 daddr[FL_ADDR_LEN];    /* responder, network order */
	__u32 ifindex;              /* host order */
	__u16 sport;                /* host order */
	__u16 dport;                /* host order */
	__u8 family;                /* 4 or 6 */
	__u8 proto;                 /* IPPROTO_* */
	__u8 event;                 /* FL_FLOW_* */
	__u8 origin;                /* FL_HOOK_* of the initiator's packets */
	__u8 flags[2];              /* TCP flags seen per direction */
	__u8 icmp_type;
	__u8 icmp_code;
	__u32 l7[2];                /* HTTP/1 heads captured per direction (sent as fl_http records): at
	                             * most --http-per-flow per direction and CPU in each --http-window-ms;
	                             * the segments between are not looked at */
};

/* What the tc programs know of one packet; first part of DNS and HTTP records. */
struct fl_pkt {
	__u64 ts_ns;              /* bpf_ktime_get_ns(), host order */
	__u8 saddr[FL_ADDR_LEN];  /* network order */
	__u8 daddr[FL_ADDR_LEN];  /* network order */
	__u32 ifindex;            /* host order */
	__u16 sport;              /* host order */
	__u16 dport;              /* host order */
	__u16 payload_len;        /* L4 payload bytes in the packet (may exceed what was copied) */
	__u16 captured;           /* bytes copied into data[] */
	__u8 family;              /* 4 or 6 */
	__u8 proto;               /* IPPROTO_UDP or IPPROTO_TCP */
	__u8 hook;                /* FL_HOOK_* */
	__u8 pad;                 /* zero */
	__u32 tcp_seq;            /* TCP: the segment's sequence number, host order (0: UDP); */
	__u32 tcp_ack;            /* its acknowledgment number: an HTTP/1 response's seq is its request's ack */
};

struct fl_dns {
	struct fl_hdr hdr;
	struct fl_pkt pkt;
	__u8 data[FL_DNS_MAX];    /* the DNS message, as on the wire */
};

struct fl_http {
	struct fl_hdr hdr;
	struct fl_pkt pkt;
	__u8 data[FL_HTTP_MAX];   /* first bytes of the TCP payload ("GET /x HTTP/1.1..." or "HTTP/1.1 200 ...") */
};

/* From tracepoint skb:kfree_skb (IPv4/IPv6 packets with a drop reason other than "consumed"). */
struct fl_drop {
	struct fl_hdr hdr;
	__u64 ts_ns;              /* host order */
	__u64 location;           /* kernel address of the dropping function, host order */
	__u8 saddr[FL_ADDR_LEN];  /* network order */
	__u8 daddr[FL_ADDR_LEN];  /* network order */
	__u32 reason;             /* enum skb_drop_reason value (0: kernel without reasons), host order */
	__u32 ifindex;            /* skb->dev (0: none), host order */
	__u32 netns;              /* netns inode of skb->dev, else of the socket, host order */
	__u16 sport;              /* host order (0: not TCP/UDP or not readable) */
	__u16 dport;
	__u8 family;              /* 4 or 6 */
	__u8 proto;               /* IPPROTO_* */
	__u8 pad[6];
};

/* Written by the loader at start, after HELLO: the running kernel's reason names. */
struct fl_drop_reason {
	struct fl_hdr hdr;
	__u32 value;                      /* enum value, host order */
	__u32 pad;
	char name[FL_REASON_NAME_LEN];    /* without the SKB_DROP_REASON_ prefix, NUL padded */
};

/* TCP health, tuple from the socket (or, for a reset sent without one, from the segment). */
struct fl_tcp_event {
	struct fl_hdr hdr;
	__u64 ts_ns;              /* host order */
	__u64 skaddr;             /* 0 when no socket */
	__u8 saddr[FL_ADDR_LEN];  /* local, network order */
	__u8 daddr[FL_ADDR_LEN];  /* remote, network order */
	__u32 netns;              /* host order; 0 when unknown */
	__u16 sport;              /* local, host order */
	__u16 dport;              /* remote, host order */
	__u8 family;              /* 4 or 6 */
	__u8 kind;                /* FL_TCP_* */
	__u8 state;               /* TCP_* state of the socket (0: none) */
	__u8 pad;
};

/* Answer to a stdin command. */
struct fl_cmd_result {
	struct fl_hdr hdr;
	__s32 err;      /* 0 or -errno; for FL_CMD_RUN: the program's return value */
	__u32 cmd;      /* FL_CMD_* */
	__u32 arg;      /* ifindex (attach/detach/run) */
	__u32 seq;      /* the command's sequence number (1, 2, ... in stdin order) */
};

/* cgroup/connect4, sendmsg4: where a socket was pointed before any socket-level rewrite. */
struct fl_sock_addr {
	struct fl_hdr hdr;
	__u64 ts_ns;             /* host order */
	__u64 cookie;            /* bpf_get_socket_cookie(), host order */
	__u64 skaddr;            /* connect4: the socket (emitted from tcp_state at CLOSE->SYN_SENT, same
	                          * id as fl_tcp_state.skaddr); sendmsg4: 0 */
	__u8 daddr[FL_ADDR_LEN]; /* the destination user space asked for, network order */
	char comm[FL_COMM_LEN];
	__u32 netns;             /* host order */
	__u32 pid;               /* host order */
	__u16 dport;             /* host order */
	__u8 family;             /* 4 */
	__u8 proto;              /* IPPROTO_TCP (connect4) or IPPROTO_UDP (sendmsg4) */
	__u8 pad[4];
};

_Static_assert(sizeof(struct fl_hdr) == 8, "fl_hdr size");
_Static_assert(sizeof(struct fl_hello) == 120, "fl_hello size");
_Static_assert(sizeof(struct fl_tcp_state) == 96, "fl_tcp_state size");
_Static_assert(sizeof(struct fl_lost) == 24, "fl_lost size");
_Static_assert(sizeof(struct fl_flow_key) == 44, "fl_flow_key size");
_Static_assert(sizeof(struct fl_flow_val) == 96, "fl_flow_val size");
_Static_assert(sizeof(struct fl_flow) == 128, "fl_flow size");
_Static_assert(sizeof(struct fl_flow_notice) == 80, "fl_flow_notice size");
_Static_assert(sizeof(struct fl_slot) == 152, "fl_slot size");
_Static_assert(sizeof(struct fl_flow_part) == 160, "fl_flow_part size");
_Static_assert(sizeof(struct fl_endpoint) == 20, "fl_endpoint size");
_Static_assert(sizeof(struct fl_pkt) == 64, "fl_pkt size");
_Static_assert(sizeof(struct fl_dns) == 8 + 64 + FL_DNS_MAX, "fl_dns size");
_Static_assert(sizeof(struct fl_http) == 8 + 64 + FL_HTTP_MAX, "fl_http size");
_Static_assert(sizeof(struct fl_drop) == 80, "fl_drop size");
_Static_assert(sizeof(struct fl_drop_reason) == 72, "fl_drop_reason size");
_Static_assert(sizeof(struct fl_tcp_event) == 72, "fl_tcp_event size");
_Static_assert(sizeof(struct fl_cmd_result) == 24, "fl_cmd_result size");
_Static_assert(sizeof(struct fl_sock_addr) == 80, "fl_sock_addr size");

#endif /* FLOWLENS_H */
