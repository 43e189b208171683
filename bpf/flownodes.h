/* SPDX-License-Identifier: MIT */
/*
 * flowscan.c's table of the flows the loader announced (flownodes.c): by key, and by connection
 * (family, protocol, initiator) for pairing the two veths' flows of a connection between two pods
 * of the node; the fl_flow record of a flow's summed counters.
 */
#ifndef FL_FLOWNODES_H
#define FL_FLOWNODES_H

#include "loader.h"

/* One end of a connection as a record has it (initiator or responder). */
struct endpoint {
	__u8 addr[FL_ADDR_LEN];
	__u16 port;
};

struct fnode {
	struct fl_flow_key key;
	__u64 pkts;
	__u64 emitted_ns;
	__u32 gen;
	__u32 dead_gen; /* the scan in which the loader deleted it (with dead) */
	bool armed;     /* in the END timer list */
	bool dead;      /* its last record is out (slots freed); freed by the next sweep */
	bool carried;   /* kept counters from slots taken over (part) */
	bool announced; /* its START is out */
	bool has_isn;   /* isn: the client ISN of the connection its last START was of (a handshake was told) */
	__u32 isn;
	__u8 origin;    /* FL_HOOK_* of the initiator's packets */
	__u64 ended_ns; /* dead: the last packet of its last record */
	struct fl_flow_val part;
	struct endpoint init, resp;
	struct fnode *next;  /* in flowtab.b */
	struct fnode *cnext; /* in flowtab.c, by connection (family, proto, initiator) */
};

struct flowtab {
	struct fnode **b, **c;
	__u64 *used; /* buckets of b that may hold nodes: a sweep visits only these */
	size_t nb;
	__u32 gen;
};

struct merged {
	struct fl_flow f;
	__u8 all_flags;
};

struct flowtab *flowtab_new(size_t entries);
struct fnode **node_find(struct flowtab *t, const struct fl_flow_key *k);
/* A new node (its key set) into its bucket. */
void node_insert(struct flowtab *t, struct fnode *n);
void conn_unlink(struct flowtab *t, struct fnode *n);
/* One flow's summed counters (canonical key order) as an oriented fl_flow record. */
void flow_merge(struct state *st, const struct fl_flow_key *k, const struct fl_flow_val *v, struct merged *m);
bool flow_ended(const struct merged *m);
/* n's pair: each picks the other, and at least one of them skips the other's packets at egress. */
struct fnode *pair_of(struct state *st, struct fnode *n);
/* Each of a pair's records gets the direction the other counted for it. */
void fill_pair(struct state *st, const struct fnode *n, struct merged *m, const struct fnode *p, struct merged *pm);
/* A flow's counters now: its live slots (in *taken) and the counters kept from slots taken over. */
bool read_flow(struct state *st, const struct fl_flow_key *k, struct merged *m, struct fl_taken *taken);
void node_start(struct flowtab *t, struct fnode *n, const struct merged *m);
void node_kill(struct flowtab *t, struct fnode *n, __u64 last_ns);
struct fnode *node_get(struct state *st, const struct fl_flow_key *k, struct fl_flow_val *v, bool *fresh);

#endif
