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
 *
 * Pairs: tc egress skips packets that came in through one of our ingress hooks (tc_flow.bpf.h),
 * so a connection between two pods of this node is counted once per packet, at the sender's
 * veth. Its two flows (one per veth: same initiator address, port and protocol, the initiator's
 * pod on one side and the responder's on the other) are paired here: each record gets the
 * direction its own egress skipped from the other veth's flow, so both still report both
 * directions, and the two END (or TIMEOUT) together. A packet dropped between the two veths is
 * then counted as received too; the drop itself is reported by skb:kfree_skb.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "flowlens.skel.h"

#define BATCH 1024

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
	bool dead;      /* deleted from the map with its pair; freed by the next sweep */
	__u8 origin;    /* FL_HOOK_* of the initiator's packets */
	struct endpoint init, resp;
	struct fnode *next;  /* in flowtab.b */
	struct fnode *cnext; /* in flowtab.c, by connection (family, proto, initiator) */
};

struct flowtab {
	struct fnode **b, **c;
	size_t nb;
	__u32 gen;
};

static __u64 fnv(__u64 h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static size_t hash_key(const struct fl_flow_key *k, size_t nb)
{
	return (size_t)(fnv(1469598103934665603ull, k, sizeof(*k)) % nb);
}

static size_t hash_conn(const struct fnode *n, size_t nb)
{
	__u64 h = fnv(1469598103934665603ull, &n->init, sizeof(n->init));

	return (size_t)(fnv(h, &n->key.proto, 1) % nb);
}

static struct flowtab *flowtab_new(size_t entries)
{
	struct flowtab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nb = entries * 2 + 1;
	t->b = calloc(t->nb, sizeof(*t->b));
	t->c = calloc(t->nb, sizeof(*t->c));
	if (!t->b || !t->c) {
		free(t->b);
		free(t->c);
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
	free(t->c);
	free(t);
}

static struct fnode **find(struct flowtab *t, const struct fl_flow_key *k)
{
	struct fnode **pp = &t->b[hash_key(k, t->nb)];

	while (*pp && memcmp(&(*pp)->key, k, sizeof(*k)))
		pp = &(*pp)->next;
	return pp;
}

static void conn_unlink(struct flowtab *t, struct fnode *n)
{
	struct fnode **pp = &t->c[hash_conn(n, t->nb)];

	while (*pp && *pp != n)
		pp = &(*pp)->cnext;
	if (*pp)
		*pp = n->cnext;
	n->cnext = NULL;
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
	f->first_ns = flow_time_ns(st, f->first_ns);
	f->last_ns = flow_time_ns(st, f->last_ns);
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

/* The direction of a flow that goes toward its own veth's pod: the one its egress hook sees. */
static int dir_to_pod(const struct fl_flow *f)
{
	return f->origin == FL_HOOK_FROM_POD ? 1 : 0;
}

/* Adds direction d of the other veth's flow (the same packets, counted at its ingress). */
static void add_dir(struct merged *m, const struct merged *o, int d)
{
	struct fl_flow *f = &m->f;
	const struct fl_flow *g = &o->f;

	f->bytes[d] += g->bytes[d];
	f->payload[d] += g->payload[d];
	f->pkts[d] += g->pkts[d];
	f->flags[d] |= g->flags[d];
	f->l7[d] += g->l7[d];
	if (g->first_ns && (!f->first_ns || g->first_ns < f->first_ns))
		f->first_ns = g->first_ns;
	if (g->last_ns > f->last_ns)
		f->last_ns = g->last_ns;
	m->all_flags = f->flags[0] | f->flags[1];
}

static bool same_conn(const struct fnode *a, const struct fnode *b)
{
	return a->key.family == b->key.family && a->key.proto == b->key.proto &&
	       !memcmp(&a->init, &b->init, sizeof(a->init));
}

/*
 * The other veth's flow of n's connection: same initiator, another interface, the other end's
 * pod there. Several candidates: the one with the same responder (no translation between the
 * veths), else none; one candidate with another responder is the translated view (a Service's
 * VIP on one side, its backend on the other), TCP and UDP only.
 */
static struct fnode *pick(struct flowtab *t, const struct fnode *n)
{
	struct fnode *one = NULL;
	int count = 0;

	for (struct fnode *p = t->c[hash_conn(n, t->nb)]; p; p = p->cnext) {
		if (p == n || !same_conn(p, n) || p->key.ifindex == n->key.ifindex || p->origin == n->origin)
			continue;
		if (!memcmp(&p->resp, &n->resp, sizeof(p->resp)))
			return p;
		one = p;
		count++;
	}
	return count == 1 && (n->key.proto == 6 || n->key.proto == 17) ? one : NULL;
}

/* n's pair: each picks the other, and at least one of them skips the other's packets at egress. */
static struct fnode *pair_of(struct state *st, struct fnode *n)
{
	struct fnode *p = pick(st->tab, n);

	if (!p || pick(st->tab, p) != n)
		return NULL;
	if (!tc_ingress_seen(st, p->key.ifindex) && !tc_ingress_seen(st, n->key.ifindex))
		return NULL;
	return p;
}

/* A flow's counters now, summed over CPUs; false when it is gone from the map. */
static bool read_flow(struct state *st, const struct fl_flow_key *k, struct merged *m)
{
	static struct fl_flow_val *vals;

	if (!vals && !(vals = calloc((size_t)st->ncpus, sizeof(*vals))))
		return false;
	if (bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.flows), k, vals))
		return false;
	merge(st, k, vals, m);
	return true;
}

/* A node for a flow first seen now (or seen again after the loader deleted it). */
static void node_start(struct flowtab *t, struct fnode *n, const struct merged *m)
{
	memcpy(n->init.addr, m->f.saddr, FL_ADDR_LEN);
	memcpy(n->resp.addr, m->f.daddr, FL_ADDR_LEN);
	n->init.port = m->f.sport;
	n->resp.port = m->f.dport;
	n->origin = m->f.origin;
	n->pkts = 0;
	n->emitted_ns = 0;
	n->dead = false;
	size_t c = hash_conn(n, t->nb);
	n->cnext = t->c[c];
	t->c[c] = n;
}

/* Deleted from the map by the loader: out of the pairing now, freed by the next sweep (a scan
 * batch read before the delete may still hold it). */
static void node_kill(struct flowtab *t, struct fnode *n)
{
	conn_unlink(t, n);
	n->dead = true;
	n->dead_gen = t->gen;
}

/* The pair's counters matter when a record may be due or the flow may be over. */
static bool wants_pair(const struct options *o, const struct fnode *n, const struct merged *m, __u64 quiet, __u64 now,
		       bool fresh)
{
	return fresh || (m->all_flags & 0x05) /* FIN or RST */ || quiet >= o->idle_timeout_ms * 1000000ull ||
	       now - n->emitted_ns >= o->update_ms * 1000000ull;
}

static void emit_last(struct state *st, struct merged *m)
{
	m->f.event = ended(m) ? FL_FLOW_END : FL_FLOW_TIMEOUT;
	emit(st, &m->f, sizeof(m->f));
}

/* Returns true when the flow must be deleted from the map; *due: when an ended flow's grace is over. */
static bool visit(struct state *st, const struct fl_flow_key *k, const struct fl_flow_val *v, __u64 now, bool force,
		  __u64 *due)
{
	const struct options *o = st->o;
	struct flowtab *t = st->tab;
	struct fnode **pp = find(t, k), *n = *pp, *p = NULL;
	struct merged m, own, pm;
	bool fresh = !n;
	__u64 quiet, pkts;

	merge(st, k, v, &m);
	if (n && n->dead) {
		if (!read_flow(st, k, &m))
			return false; /* deleted with its pair: a stale batch entry */
		fresh = true;     /* made again since */
	}
	if (!n) {
		if (!(n = calloc(1, sizeof(*n))))
			return false;
		n->key = *k;
		n->next = *pp;
		*pp = n;
	}
	if (fresh)
		node_start(t, n, &m);
	quiet = now > m.f.last_ns ? now - m.f.last_ns : 0;
	if (force || wants_pair(o, n, &m, quiet, now, fresh))
		p = pair_of(st, n);
	if (p && read_flow(st, &p->key, &pm)) {
		own = m;
		if (tc_ingress_seen(st, p->key.ifindex))
			add_dir(&m, &pm, dir_to_pod(&m.f));
		if (tc_ingress_seen(st, n->key.ifindex))
			add_dir(&pm, &own, dir_to_pod(&pm.f));
		quiet = now > m.f.last_ns ? now - m.f.last_ns : 0;
	} else {
		p = NULL;
	}
	pkts = m.f.pkts[0] + m.f.pkts[1];
	if (force || (ended(&m) && quiet >= o->end_grace_ms * 1000000ull) ||
	    quiet >= o->idle_timeout_ms * 1000000ull) {
		emit_last(st, &m);
		if (p) { /* the pair ends together: its last record needs this one's counters */
			emit_last(st, &pm);
			if (!bpf_map_delete_elem(bpf_map__fd(st->skel->maps.flows), &p->key))
				st->flows_removed++;
			node_kill(t, p);
		}
		node_kill(t, n);
		return true;
	}
	if (ended(&m))
		*due = m.f.last_ns + o->end_grace_ms * 1000000ull;
	if (fresh)
		m.f.event = FL_FLOW_START;
	else if (pkts != n->pkts && now - n->emitted_ns >= o->update_ms * 1000000ull)
		m.f.event = FL_FLOW_UPDATE;
	n->gen = t->gen;
	if (m.f.event) {
		emit(st, &m.f, sizeof(m.f));
		n->pkts = pkts;
		n->emitted_ns = now;
	}
	return false;
}

/* Flows announced earlier that the scan did not find (the LRU evicted them), and flows the loader
 * deleted. */
static void sweep(struct state *st)
{
	struct flowtab *t = st->tab;

	for (size_t i = 0; i < t->nb; i++) {
		struct fnode **pp = &t->b[i];

		while (*pp) {
			if ((*pp)->gen == t->gen && !(*pp)->dead) {
				pp = &(*pp)->next;
				continue;
			}
			struct fnode *gone = *pp; /* evicted by the LRU: counted by count_evicted() */
			*pp = gone->next;
			if (!gone->dead)
				conn_unlink(t, gone);
			free(gone);
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

/* `flush` forgets the flows' initiators too (tc_flow.bpf.h): nothing of the flows is left. */
static void clear_initiators(struct state *st)
{
	int fd = bpf_map__fd(st->skel->maps.initiators);
	struct fl_endpoint k;

	while (!bpf_map_get_next_key(fd, NULL, &k))
		if (bpf_map_delete_elem(fd, &k))
			break;
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
	if (force)
		clear_initiators(st);
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
