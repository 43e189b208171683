// SPDX-License-Identifier: MIT
/*
 * The flow map scan: every --flush-ms the loader reads the per-CPU LRU flow map in batches,
 * sums each flow over CPUs and emits fl_flow records:
 *   START   the first scan that sees a flow;
 *   UPDATE  counters changed and --update-ms passed since the last record of that flow;
 *   END     TCP RST, or FIN both ways, then no packet for --end-grace-ms (then deleted);
 *   TIMEOUT no packet for --idle-timeout-ms (then deleted).
 * A user-space table remembers which flows were announced. The LRU may evict a flow before its
 * end is emitted: the kernel counts creations, so evicted = created - deleted by the loader -
 * still in the map, reported as lost source FL_LOST_FLOW_EVICTED (never silent).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "flowlens.skel.h"

#define BATCH 1024

struct fnode {
	struct fl_flow_key key;
	__u64 pkts;
	__u64 emitted_ns;
	__u32 gen;
	bool armed; /* in the END timer list */
	struct fnode *next;
};

struct flowtab {
	struct fnode **b;
	size_t nb;
	__u32 gen;
};

static size_t hash_key(const struct fl_flow_key *k, size_t nb)
{
	const unsigned char *p = (const unsigned char *)k;
	__u64 h = 1469598103934665603ull;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return (size_t)(h % nb);
}

static struct flowtab *flowtab_new(size_t entries)
{
	struct flowtab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nb = entries * 2 + 1;
	t->b = calloc(t->nb, sizeof(*t->b));
	if (!t->b) {
		free(t);
		return NULL;
	}
	return t;
}

void flowtab_free(struct flowtab *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nb; i++)
		for (struct fnode *n = t->b[i], *next; n; n = next) {
			next = n->next;
			free(n);
		}
	free(t->b);
	free(t);
}

static struct fnode **find(struct flowtab *t, const struct fl_flow_key *k)
{
	struct fnode **pp = &t->b[hash_key(k, t->nb)];

	while (*pp && memcmp(&(*pp)->key, k, sizeof(*k)))
		pp = &(*pp)->next;
	return pp;
}

#define SWAP(a, b) do { __typeof__(a) _t = (a); (a) = (b); (b) = _t; } while (0)

/* The map key is canonical (lower endpoint first); records go initiator -> responder. */
static void orient(struct fl_flow *f)
{
	__u8 a[FL_ADDR_LEN];

	memcpy(a, f->saddr, FL_ADDR_LEN);
	memcpy(f->saddr, f->daddr, FL_ADDR_LEN);
	memcpy(f->daddr, a, FL_ADDR_LEN);
	SWAP(f->sport, f->dport);
	SWAP(f->bytes[0], f->bytes[1]);
	SWAP(f->payload[0], f->payload[1]);
	SWAP(f->pkts[0], f->pkts[1]);
	SWAP(f->flags[0], f->flags[1]);
	SWAP(f->l7[0], f->l7[1]);
}

struct merged {
	struct fl_flow f;
	__u8 all_flags;
};

static void merge(struct state *st, const struct fl_flow_key *k, const struct fl_flow_val *v, struct merged *m)
{
	struct fl_flow *f = &m->f;
	bool rev = false;

	memset(m, 0, sizeof(*m));
	for (int c = 0; c < st->ncpus; c++, v++) {
		if (v->first_ns && (!f->first_ns || v->first_ns < f->first_ns))
			f->first_ns = v->first_ns;
		if (v->last_ns > f->last_ns)
			f->last_ns = v->last_ns;
		for (int d = 0; d < 2; d++) {
			f->bytes[d] += v->bytes[d];
			f->payload[d] += v->payload[d];
			f->pkts[d] += v->pkts[d];
			f->flags[d] |= v->flags[d];
			f->l7[d] += v->l7[d];
		}
		if (v->origin) {
			f->origin = v->origin;
			f->icmp_type = v->icmp_type;
			f->icmp_code = v->icmp_code;
			rev = v->init_rev;
		}
	}
	f->hdr.type = FL_REC_FLOW;
	f->hdr.version = FL_REC_VERSION;
	f->hdr.len = sizeof(*f);
	memcpy(f->saddr, k->saddr, FL_ADDR_LEN);
	memcpy(f->daddr, k->daddr, FL_ADDR_LEN);
	f->ifindex = k->ifindex;
	f->sport = k->sport;
	f->dport = k->dport;
	f->family = k->family;
	f->proto = k->proto;
	if (rev)
		orient(f);
	m->all_flags = f->flags[0] | f->flags[1];
}

static bool ended(const struct merged *m)
{
	if (m->f.proto != 6)
		return false;
	return (m->all_flags & 0x04) || ((m->f.flags[0] & 0x01) && (m->f.flags[1] & 0x01));
}

/* Returns true when the flow must be deleted from the map; *due: when an ended flow's grace is over. */
static bool visit(struct state *st, const struct fl_flow_key *k, const struct fl_flow_val *v, __u64 now, bool force,
		  __u64 *due)
{
	const struct options *o = st->o;
	struct fnode **pp = find(st->tab, k), *n = *pp;
	struct merged m;
	__u64 quiet, pkts;

	merge(st, k, v, &m);
	pkts = m.f.pkts[0] + m.f.pkts[1];
	quiet = now > m.f.last_ns ? now - m.f.last_ns : 0;
	if (force || (ended(&m) && quiet >= o->end_grace_ms * 1000000ull) ||
	    quiet >= o->idle_timeout_ms * 1000000ull) {
		m.f.event = ended(&m) ? FL_FLOW_END : FL_FLOW_TIMEOUT;
		emit(st, &m.f, sizeof(m.f));
		if (n) {
			*pp = n->next;
			free(n);
		}
		return true;
	}
	if (ended(&m))
		*due = m.f.last_ns + o->end_grace_ms * 1000000ull;
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n)
			return false;
		n->key = *k;
		n->next = *pp;
		*pp = n;
		m.f.event = FL_FLOW_START;
	} else if (pkts != n->pkts && now - n->emitted_ns >= o->update_ms * 1000000ull) {
		m.f.event = FL_FLOW_UPDATE;
	}
	n->gen = st->tab->gen;
	if (m.f.event) {
		emit(st, &m.f, sizeof(m.f));
		n->pkts = pkts;
		n->emitted_ns = now;
	}
	return false;
}

/* Flows announced earlier that the scan did not find: the LRU evicted them. */
static void sweep(struct state *st)
{
	struct flowtab *t = st->tab;

	for (size_t i = 0; i < t->nb; i++) {
		struct fnode **pp = &t->b[i];

		while (*pp) {
			if ((*pp)->gen == t->gen) {
				pp = &(*pp)->next;
				continue;
			}
			struct fnode *dead = *pp; /* evicted by the LRU: counted by count_evicted() */
			*pp = dead->next;
			free(dead);
		}
	}
}

static void arm(struct state *st, const struct fl_flow_key *k, __u64 due);

struct scanbuf {
	struct fl_flow_key keys[BATCH];
	struct fl_flow_key del[BATCH];
	struct fl_flow_val *vals;
};

static int scan_batches(struct state *st, struct scanbuf *sb, int fd, __u64 now, bool force)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 in = 0, out = 0, count, ndel;
	bool first = true;
	__u64 due;
	int err;

	for (;;) {
		count = BATCH;
		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, sb->keys, sb->vals, &count, &opts);
		if (err && errno != ENOENT)
			return -errno;
		ndel = 0;
		for (__u32 i = 0; i < count; i++) {
			due = 0;
			if (visit(st, &sb->keys[i], sb->vals + (size_t)i * st->ncpus, now, force, &due)) {
				sb->del[ndel++] = sb->keys[i];
				continue;
			}
			st->flows_live++;
			if (due)
				arm(st, &sb->keys[i], due); /* its notice was lost: END at the grace anyway */
		}
		for (__u32 i = 0; i < ndel; i++)
			bpf_map_delete_elem(fd, &sb->del[i]); /* ENOENT: evicted meanwhile, but already emitted */
		st->flows_removed += ndel;
		if (err)
			return 0; /* ENOENT: that was the last batch */
		in = out;
		first = false;
	}
}

/* Flows the kernel created (per-CPU slot FL_LOST_MAX of `lost`), summed. */
static __u64 flows_created(struct state *st)
{
	__u32 slot = FL_LOST_MAX;
	__u64 total = 0;

	if (bpf_map__lookup_elem(st->skel->maps.lost, &slot, sizeof(slot), st->percpu,
				 sizeof(__u64) * (size_t)st->ncpus, 0))
		return 0;
	for (int i = 0; i < st->ncpus; i++)
		total += st->percpu[i];
	return total;
}

/*
 * Evicted = created - deleted by us - still in the map. `created` is read before the scan, so
 * flows created during it can only make the estimate smaller; the count never goes down.
 */
static void count_evicted(struct state *st, __u64 created)
{
	__u64 gone = st->flows_removed + st->flows_live;

	if (created > gone && created - gone > st->evicted)
		st->evicted = created - gone;
}

int flow_scan(struct state *st, bool force)
{
	static struct scanbuf *sb;
	__u64 created;
	int err;

	if (!st->skel->maps.flows || bpf_map__fd(st->skel->maps.flows) < 0)
		return 0;
	if (!st->tab && !(st->tab = flowtab_new(st->o->flow_entries)))
		return -ENOMEM;
	if (!sb) {
		sb = calloc(1, sizeof(*sb));
		if (sb)
			sb->vals = calloc((size_t)BATCH * st->ncpus, sizeof(struct fl_flow_val));
		if (!sb || !sb->vals)
			return -ENOMEM;
	}
	st->tab->gen++;
	created = flows_created(st);
	st->flows_live = 0;
	err = scan_batches(st, sb, bpf_map__fd(st->skel->maps.flows), clock_mono_ns(), force);
	if (err) {
		fprintf(stderr, "flowlens-loader: scanning the flow map: %s\n", strerror(-err));
		return err;
	}
	sweep(st);
	count_evicted(st, created);
	return 0;
}

/*
 * Prompt START/END: the tc programs send an fl_flow_notice when they create a flow and at the
 * first FIN (per direction) or RST. START is emitted at once; an ended flow gets a timer at
 * last packet + --end-grace-ms (re-armed while packets still come), so END does not wait for the
 * next scan. The scan stays for UPDATE/TIMEOUT and as the safety net (lost notices, full timer
 * list): the records and their counts are the same, only sooner.
 */
#define MAX_TIMERS 4096

struct endtimer {
	struct fl_flow_key key;
	__u64 due;
};

static struct endtimer timers[MAX_TIMERS];
static size_t ntimers;
static __u64 earliest; /* of the timers' due times (0: none) */

/* One entry per flow (the flow table node says it is armed); a fired timer re-arms if needed. */
static void arm(struct state *st, const struct fl_flow_key *k, __u64 due)
{
	struct fnode *n = *find(st->tab, k);

	if (!n || n->armed || ntimers == MAX_TIMERS) /* full: the scan ends it */
		return;
	n->armed = true;
	timers[ntimers++] = (struct endtimer){ *k, due };
	if (!earliest || due < earliest)
		earliest = due;
}

/* Looks at one flow now: START if new, END if over; arms its END timer. */
static void visit_key(struct state *st, const struct fl_flow_key *k, __u64 now)
{
	static struct fl_flow_val *vals;
	int fd = bpf_map__fd(st->skel->maps.flows);
	__u64 due = 0;

	if (!vals && !(vals = calloc((size_t)st->ncpus, sizeof(*vals))))
		return;
	if (!st->tab && !(st->tab = flowtab_new(st->o->flow_entries)))
		return;
	if (bpf_map_lookup_elem(fd, k, vals))
		return; /* gone: ended meanwhile, or evicted (counted by the scan) */
	if (visit(st, k, vals, now, false, &due)) {
		if (!bpf_map_delete_elem(fd, k))
			st->flows_removed++;
		return;
	}
	if (due)
		arm(st, k, due > now ? due : now + 1000000);
}

void flow_notice(struct state *st, const struct fl_flow_notice *n)
{
	if (st->o->prog_run || !st->skel->maps.flows)
		return; /* prog-run: flows only on `flush`, as the tests expect */
	visit_key(st, &n->key, clock_mono_ns());
}

__u64 flow_timers(struct state *st, __u64 now)
{
	size_t i = 0, n = ntimers;
	struct fnode *node;

	if (!earliest || now < earliest)
		return earliest;
	earliest = 0;
	while (i < n) {
		if (timers[i].due > now) {
			if (!earliest || timers[i].due < earliest)
				earliest = timers[i].due;
			i++;
			continue;
		}
		struct fl_flow_key k = timers[i].key;

		timers[i] = timers[--n];
		timers[n] = timers[--ntimers]; /* keeps entries re-armed during this loop */
		if ((node = *find(st->tab, &k)))
			node->armed = false;
		visit_key(st, &k, now); /* may re-arm k: appended after n, due later */
	}
	return earliest;
}
