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
 * little-endian, i.e. x86_64 and arm64). Addresses are raw network-order bytes.
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

#define FL_REC_VERSION 1

/* Record types (fl_hdr.type). */
#define FL_REC_HELLO 1
#define FL_REC_TCP_STATE 2
#define FL_REC_LOST 3

/* Largest record the loader will ever forward; the decoder rejects more. */
#define FL_REC_MAX_BYTES 4096

#define FL_COMM_LEN 16
#define FL_ADDR_LEN 16

/* fl_hello.attached bits: one per BPF program the loader attached. */
#define FL_PROG_TCP_STATE (1u << 0)

/* fl_lost.source values. */
#define FL_LOST_RINGBUF_RESERVE 1

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
	__u32 loader_version;  /* FL_LOADER_VERSION, host order */
	__u32 attached;        /* FL_PROG_* bitmask of attached programs, host order */
	__u32 attached_count;  /* number of attached programs, host order */
	__u32 ncpus;           /* possible CPUs (size of per-CPU maps), host order */
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

/* Emitted by the loader: once after HELLO (baseline), then at most once a
 * second whenever the total changed. Totals are cumulative since start. */
struct fl_lost {
	struct fl_hdr hdr;
	__u64 total;  /* records lost so far from this source, host order */
	__u32 source; /* FL_LOST_*, host order */
	__u32 pad;    /* zero */
};

_Static_assert(sizeof(struct fl_hdr) == 8, "fl_hdr size");
_Static_assert(sizeof(struct fl_hello) == 40, "fl_hello size");
_Static_assert(sizeof(struct fl_tcp_state) == 96, "fl_tcp_state size");
_Static_assert(sizeof(struct fl_lost) == 24, "fl_lost size");

#endif /* FLOWLENS_H */
