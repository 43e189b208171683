/* SPDX-License-Identifier: MIT */
/* Shared state of flowlens-loader's parts (loader.c, flowscan.c, features.c, commands.c). */
#ifndef FL_LOADER_H
#define FL_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <bpf/btf.h>
#include "flowlens.h"

#define FL_LOADER_VERSION 2
#define FL_TC_HANDLE 0xf10e
#define FL_TC_PRIORITY 0xf1

struct options {
	__u64 ringbuf_bytes;
	__u32 netns;
	unsigned int poll_delay_ms;
	__u32 flow_entries;
	__u32 flush_ms;
	__u32 end_grace_ms;
	__u32 idle_timeout_ms;
	__u32 update_ms;
	__u32 http_per_flow;
	__u32 http_window_ms;
	__u32 wake_bytes; /* UINT32_MAX: an eighth of the ring buffer */
	const char *cgroup;
	bool verbose, prog_run, features_only, no_tc, no_cgroup, no_http, no_dns, no_drops;
	bool tc_load_bytes, no_notices, no_tcx, no_egress_skip, no_jiffies;
};

struct flowtab;

/* A flow table slot the loader read, at the gen it read it. */
struct fl_slot_ref {
	__u32 idx, gen;
};
#define FL_TAKEN_MAX 1024 /* at most one slot per CPU and key */
struct fl_taken {
	__u32 n;
	struct fl_slot_ref slot[FL_TAKEN_MAX];
};

/* tc programs on one interface: two tcx links, or (link = -1) our clsact filters. */
struct tc_attachment {
	int ifindex;
	int link[2];
	bool seen;  /* in the ingress_seen map: its egress skips what our ingress hooks counted */
	int bridge; /* a pod port of this bridge: ingress only here, tc_bridge_egress on the bridge */
};

/* tc_bridge_egress on a bridge, for as long as one of its ports is attached as a pod port. */
struct br_attachment {
	int ifindex;
	int link; /* tcx link, or -1: our clsact filter */
	int refs;
};
#define FL_MAX_BRIDGES 16

struct state {
	struct flowlens_bpf *skel;
	struct ring_buffer *rb;
	const struct options *o;
	int ncpus;
	__u64 *percpu;                 /* ncpus slots, scratch */
	__u64 lost_totals[FL_LOST_MAX]; /* last emitted totals */
	__u64 parts_late;              /* handed-over counters that came after their flow's last record (lost) */
	__u64 features;
	__u32 attached, attached_count;
	struct bpf_link *cg_links[2];
	struct flowtab *tab;
	struct fl_slot *slots; /* the tc flow table, mmapped: ncpus regions of tab_slots */
	size_t slots_len;
	__u32 tab_slots;
	__u64 *known;          /* slots the tc programs told of (notices) and not freed since: what a scan reads */
	__u32 *known_gen;      /* the gen each was told at */
	__u64 notices_lost;    /* FL_SLOT_NOTICE_LOST at the last scan: a change makes the next pass full */
	__u32 scans;
	bool full_again;       /* the last full pass was cut short: the next one is full too */
	struct tc_attachment *tc;
	size_t tc_count, tc_cap;
	struct br_attachment br[FL_MAX_BRIDGES];
	size_t br_count;
	bool no_tcx; /* the kernel has no tcx: clsact */
	__u64 jiffy_ns, jiffy_ref, jiffy_ref_ns; /* flow times in jiffies: tick length, one (jiffies, ns) pair */
	__u32 seq;
	char cmd_buf[20000];
	size_t cmd_len;
	bool stdin_eof, output_gone, bad_record;
};

/* options.c: 0, or -1 after printing why */
int parse_args(int argc, char **argv, struct options *o);
/* loader.c */
bool emit(struct state *st, const void *data, size_t len);
__u64 clock_mono_ns(void);
/* loader.c: the total of a per-CPU lost counter (FL_LOST_* or FL_SLOT_NOTICE_LOST) */
int read_lost(struct state *st, __u32 source, __u64 *total);
/* loader.c: a flow time (jiffies when st->jiffy_ns) as CLOCK_MONOTONIC ns */
__u64 flow_time_ns(const struct state *st, __u64 t);
/* flowscan.c: scan the flow map; force: emit and delete every flow now. */
int flow_scan(struct state *st, bool force);
/* flowscan.c: a tc notice (flow created, first FIN/RST): START at once, arm the END timer. */
void flow_notice(struct state *st, const struct fl_flow_notice *n);
/* flowscan.c: counters of a slot the tc programs took over: kept with their flow. */
void flow_part(struct state *st, const struct fl_flow_part *p);
/* flowscan.c: END the flows whose grace is over; returns the next due time (0: none). */
__u64 flow_timers(struct state *st, __u64 now);
void flowtab_free(struct flowtab *t);
/* flowtab.c: the tc flow table in user space */
__u32 flowtab_slots_per_cpu(__u32 entries, int ncpus);
int flowtab_map(struct state *st);
bool flowtab_slot(const struct state *st, __u32 i, struct fl_slot *out);
void flow_sum_add(struct fl_flow_val *acc, const struct fl_flow_val *v);
bool flowtab_read(const struct state *st, const struct fl_flow_key *k, struct fl_flow_val *sum, struct fl_taken *taken);
void flowtab_ack(const struct state *st, const struct fl_taken *taken);
bool flowtab_acked(const struct state *st, __u32 idx, __u32 gen);
void flowtab_known(const struct state *st, __u32 idx, __u32 gen);
int flowtab_each(struct state *st, bool full, void (*fn)(struct state *, const struct fl_flow_key *, const struct fl_flow_val *));
/* features.c */
__u64 probe_features(struct btf *vmlinux);
void print_features(FILE *f, __u64 features);
bool tracepoint_exists(const char *category, const char *name);
const char *find_cgroup2(void);
void emit_drop_reasons(struct state *st, struct btf *vmlinux);
/* commands.c */
void read_commands(struct state *st);
void tc_detach_all(struct state *st);
/* commands.c: packets that came in through this interface are counted at its ingress only */
bool tc_ingress_seen(const struct state *st, __u32 ifindex);

#endif
