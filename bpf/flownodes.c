// SPDX-License-Identifier: MIT
/* The loader's table of announced flows and the pairing of a local connection's two flows (flownodes.h). */
#include <stdlib.h>
#include <string.h>
#include "flownodes.h"

static __u64 fnv(__u64 h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* The kernel's key hash (three multiplies over 8-byte words): FNV byte by byte over the 44-byte
 * key was a fifth of the loader's CPU under connection churn. */
static size_t hash_key(const struct fl_flow_key *k, size_t nb)
{
	return (size_t)(fl_key_hash(k) % nb);
}

static size_t hash_conn(const struct fnode *n, size_t nb)
{
	__u64 h = fnv(1469598103934665603ull, &n->init, sizeof(n->init));

	return (size_t)(fnv(h, &n->key.proto, 1) % nb);
}

struct flowtab *flowtab_new(size_t entries)
{
	struct flowtab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nb = entries * 2 + 1;
	t->b = calloc(t->nb, sizeof(*t->b));
	t->c = calloc(t->nb, sizeof(*t->c));
	t->used = calloc((t->nb + 63) / 64, sizeof(*t->used));
	if (!t->b || !t->c || !t->used) {
		free(t->b);
		free(t->c);
		free(t->used);
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
	free(t->used);
	free(t);
}

void node_insert(struct flowtab *t, struct fnode *n)
{
	size_t i = hash_key(&n->key, t->nb);

	n->next = t->b[i];
	t->b[i] = n;
	t->used[i / 64] |= 1ull << (i % 64);
}

struct fnode **node_find(struct flowtab *t, const struct fl_flow_key *k)
{
	struct fnode **pp = &t->b[hash_key(k, t->nb)];

	while (*pp && memcmp(&(*pp)->key, k, sizeof(*k)))
		pp = &(*pp)->next;
	return pp;
}

void conn_unlink(struct flowtab *t, struct fnode *n)
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


/* One flow's summed counters (canonical key order) as an oriented fl_flow record. */
void flow_merge(struct state *st, const struct fl_flow_key *k, const struct fl_flow_val *v, struct merged *m)
{
	struct fl_flow *f = &m->f;

	memset(m, 0, sizeof(*m));
	f->first_ns = v->first_ns;
	f->last_ns = flow_time_ns(st, v->last_ns);
	if (f->last_ns < f->first_ns) /* last at tick resolution, first exact */
		f->last_ns = f->first_ns;
	for (int d = 0; d < 2; d++) {
		f->bytes[d] = v->bytes[d];
		f->payload[d] = v->payload[d];
		f->pkts[d] = v->pkts[d];
		f->flags[d] = v->flags[d];
		f->l7[d] = v->l7[d];
	}
	f->origin = v->origin;
	f->icmp_type = v->icmp_type;
	f->icmp_code = v->icmp_code;
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
	if (v->init_rev)
		orient(f);
	m->all_flags = f->flags[0] | f->flags[1];
}

bool flow_ended(const struct merged *m)
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
struct fnode *pair_of(struct state *st, struct fnode *n)
{
	struct fnode *p = pick(st->tab, n);

	if (!p || pick(st->tab, p) != n)
		return NULL;
	if (!tc_ingress_seen(st, p->key.ifindex) && !tc_ingress_seen(st, n->key.ifindex))
		return NULL;
	return p;
}

/* A flow's counters now: its live slots (in *taken) and the counters kept from slots taken over. */
bool read_flow(struct state *st, const struct fl_flow_key *k, struct merged *m, struct fl_taken *taken)
{
	struct fnode *n = *node_find(st->tab, k);
	struct fl_flow_val sum;
	bool any = flowtab_read(st, k, &sum, taken);

	if (n && !n->dead && n->carried) {
		flow_sum_add(&sum, &n->part);
		any = true;
	}
	if (any)
		flow_merge(st, k, &sum, m);
	return any;
}

/* A node for a flow first seen now (or seen again after the loader deleted it). */
void node_start(struct flowtab *t, struct fnode *n, const struct merged *m)
{
	memcpy(n->init.addr, m->f.saddr, FL_ADDR_LEN);
	memcpy(n->resp.addr, m->f.daddr, FL_ADDR_LEN);
	n->init.port = m->f.sport;
	n->resp.port = m->f.dport;
	n->origin = m->f.origin;
	n->pkts = 0;
	n->emitted_ns = 0;
	n->dead = false;
	n->carried = false;
	n->announced = false;
	n->has_isn = false;
	memset(&n->part, 0, sizeof(n->part));
	size_t c = hash_conn(n, t->nb);
	n->cnext = t->c[c];
	t->c[c] = n;
}

/* Its last record is out and its slots freed: out of the pairing now, freed by the next sweep. */
void node_kill(struct flowtab *t, struct fnode *n, __u64 last_ns)
{
	conn_unlink(t, n);
	n->dead = true;
	n->dead_gen = t->gen;
	n->ended_ns = last_ns;
}

/* Each of a pair's records gets the direction the other counted for it (what its egress skipped). */
void fill_pair(struct state *st, const struct fnode *n, struct merged *m, const struct fnode *p, struct merged *pm)
{
	struct merged own = *m;

	if (tc_ingress_seen(st, p->key.ifindex))
		add_dir(m, pm, dir_to_pod(&m->f));
	if (tc_ingress_seen(st, n->key.ifindex))
		add_dir(pm, &own, dir_to_pod(&pm->f));
}

/*
 * n for key k (*fresh: new, or seen again after its last record), or NULL when k is only a stale
 * view of a flow whose last record is out. *v: its slots' counters.
 */
struct fnode *node_get(struct state *st, const struct fl_flow_key *k, struct fl_flow_val *v, bool *fresh)
{
	static struct fl_taken taken;
	struct fnode **pp = node_find(st->tab, k), *n = *pp;

	*fresh = !n;
	if (n && n->dead) {
		if (!flowtab_read(st, k, v, &taken))
			return NULL; /* freed with its pair earlier in this scan: the sum was read before */
		*fresh = true;       /* made again since */
	}
	if (!n) {
		if (!(n = calloc(1, sizeof(*n))))
			return NULL;
		n->key = *k;
		node_insert(st->tab, n);
	}
	return n;
}

