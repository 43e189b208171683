// SPDX-License-Identifier: MIT
/*
 * The loader's side of the tc flow table (struct fl_slot in flowlens.h): the `flows` array is
 * mmapped, one region of tab_slots slots per possible CPU, written by that CPU's tc programs.
 * Slots are read without stopping the writers: gen, contents, gen again (a slot whose gen is odd
 * or changed is being rewritten and is skipped). A flow is the sum of its live slots, one per
 * CPU at most, plus what the loader kept from slots the tc programs took over (fl_flow_part).
 * The loader frees a flow's slots by writing ack = the gen it read (the only field it writes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "flowlens.skel.h"

/* Slots per CPU for about `entries` flows in all: a power of two, at least 2 * FL_PROBES. */
__u32 flowtab_slots_per_cpu(__u32 entries, int ncpus)
{
	__u32 want = (entries + (__u32)ncpus - 1) / (__u32)ncpus, n = 2 * FL_PROBES;

	while (n < want)
		n <<= 1;
	return n;
}

int flowtab_map(struct state *st)
{
	size_t len = (size_t)st->tab_slots * (size_t)st->ncpus * sizeof(struct fl_slot);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	len = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(st->skel->maps.flows), 0);
	if (p == MAP_FAILED)
		return -errno;
	st->slots = p;
	st->slots_len = len;
	st->known = calloc(((size_t)st->tab_slots * (size_t)st->ncpus + 63) / 64, sizeof(*st->known));
	st->known_gen = calloc((size_t)st->tab_slots * (size_t)st->ncpus, sizeof(*st->known_gen));
	return st->known && st->known_gen ? 0 : -ENOMEM;
}

/*
 * The slots a scan reads: those the tc programs told of (a notice names the sending CPU's slot
 * and its gen), until the loader frees them at that gen. A scan reads these instead of the whole
 * table (65,536 slots of 152 bytes: ~0.7 ms a pass, 4 passes a second); a full pass (the first,
 * after a lost notice, on flush, without notices, and every FULL_PASS_EVERY passes as a safety
 * net) reads every slot and learns the live ones.
 */
void flowtab_known(const struct state *st, __u32 idx, __u32 gen)
{
	if (idx >= st->tab_slots * (__u32)st->ncpus)
		return;
	st->known[idx / 64] |= 1ull << (idx % 64);
	st->known_gen[idx] = gen;
}

static void forget(const struct state *st, __u32 idx)
{
	st->known[idx / 64] &= ~(1ull << (idx % 64));
}

/* The first slot at or after i that a pass reads (every one when full). */
static __u32 next_slot(const struct state *st, __u32 i, bool full)
{
	__u32 total = st->tab_slots * (__u32)st->ncpus;

	if (full)
		return i;
	while (i < total) {
		__u64 w = st->known[i / 64] >> (i % 64);

		if (w)
			return i + (__u32)__builtin_ctzll(w);
		i = (i / 64 + 1) * 64;
	}
	return total;
}

/* A consistent copy of slot i, if it holds a live flow. */
bool flowtab_slot(const struct state *st, __u32 i, struct fl_slot *out)
{
	const struct fl_slot *s = &st->slots[i];
	__u32 g = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);

	if ((g & 1) || g == __atomic_load_n(&s->ack, __ATOMIC_RELAXED))
		return false;
	memcpy(out, s, sizeof(*out));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&s->gen, __ATOMIC_RELAXED) != g)
		return false;
	out->gen = g;
	return out->key.family == 4 || out->key.family == 6;
}

/* Adds one CPU's (or one handed-over part's) counters; the orientation comes from the earliest. */
void flow_sum_add(struct fl_flow_val *acc, const struct fl_flow_val *v)
{
	if (v->origin && (!acc->origin || (v->first_ns && v->first_ns < acc->first_ns))) {
		acc->origin = v->origin;
		acc->init_rev = v->init_rev;
		acc->icmp_type = v->icmp_type;
		acc->icmp_code = v->icmp_code;
	}
	if (v->first_ns && (!acc->first_ns || v->first_ns < acc->first_ns))
		acc->first_ns = v->first_ns;
	if (v->last_ns > acc->last_ns)
		acc->last_ns = v->last_ns;
	for (int d = 0; d < 2; d++) {
		acc->bytes[d] += v->bytes[d];
		acc->payload[d] += v->payload[d];
		acc->pkts[d] += v->pkts[d];
		acc->flags[d] |= v->flags[d];
		acc->l7[d] += v->l7[d];
	}
}

/* The live slots of key k on every CPU, summed into *sum; which slots (at which gen) in *taken. */
bool flowtab_read(const struct state *st, const struct fl_flow_key *k, struct fl_flow_val *sum, struct fl_taken *taken)
{
	__u32 h = fl_key_hash(k), mask = st->tab_slots - 1;
	struct fl_slot s;

	memset(sum, 0, sizeof(*sum));
	taken->n = 0;
	for (int c = 0; c < st->ncpus; c++)
		for (__u32 i = 0; i < FL_PROBES; i++) {
			__u32 idx = (__u32)c * st->tab_slots + ((h + i) & mask);

			if (!__atomic_load_n(&st->slots[idx].gen, __ATOMIC_ACQUIRE))
				break; /* never used: the key is not further on */
			if (!flowtab_slot(st, idx, &s) || memcmp(&s.key, k, sizeof(*k)))
				continue;
			flow_sum_add(sum, &s.val);
			if (taken->n < FL_TAKEN_MAX)
				taken->slot[taken->n++] = (struct fl_slot_ref){ idx, s.gen };
			break; /* one live slot per key and CPU */
		}
	return taken->n > 0;
}

/* The loader is done with these slots (their flow's last record is out): the tc programs may reuse them. */
void flowtab_ack(const struct state *st, const struct fl_taken *taken)
{
	for (__u32 i = 0; i < taken->n; i++) {
		__u32 idx = taken->slot[i].idx;

		__atomic_store_n(&st->slots[idx].ack, taken->slot[i].gen, __ATOMIC_RELEASE);
		if (st->known_gen[idx] == taken->slot[i].gen) /* a newer flow there keeps its place */
			forget(st, idx);
	}
}

/* Was this part's slot acked at its gen (the loader emitted its flow's end with these counters)? */
bool flowtab_acked(const struct state *st, __u32 idx, __u32 gen)
{
	return idx < st->tab_slots * (__u32)st->ncpus && __atomic_load_n(&st->slots[idx].ack, __ATOMIC_ACQUIRE) == gen;
}

/*
 * Every flow with a live slot, once, with its slots summed: one pass over the table into a hash
 * table of the keys seen, sized from the last pass (at most half full: when more flows come, the
 * rest wait for the next pass, which is sized for them). Returns 1 when some flows were left out.
 */
struct group {
	struct fl_flow_key key;
	bool used;
	struct fl_flow_val sum;
};

int flowtab_each(struct state *st, bool full, void (*fn)(struct state *, const struct fl_flow_key *, const struct fl_flow_val *))
{
	static struct group *g;
	static size_t cap, n = 64;
	__u32 total = st->tab_slots * (__u32)st->ncpus, used = 0;
	struct fl_slot s;

	if (n > cap) {
		free(g);
		if (!(g = calloc(n, sizeof(*g)))) {
			cap = 0;
			return -ENOMEM;
		}
		cap = n;
	} else {
		memset(g, 0, n * sizeof(*g));
	}
	for (__u32 i = next_slot(st, 0, full); i < total && used < n / 2; i = next_slot(st, i + 1, full)) {
		if (!flowtab_slot(st, i, &s)) {
			__u32 gen = __atomic_load_n(&st->slots[i].gen, __ATOMIC_ACQUIRE);

			if (!(gen & 1) && gen == __atomic_load_n(&st->slots[i].ack, __ATOMIC_RELAXED))
				forget(st, i); /* free (a slot being rewritten keeps its place: its notice comes) */
			continue;
		}
		if (full)
			flowtab_known(st, i, s.gen);
		size_t j = fl_key_hash(&s.key) & (n - 1);

		while (g[j].used && memcmp(&g[j].key, &s.key, sizeof(s.key)))
			j = (j + 1) & (n - 1);
		if (!g[j].used) { /* more live slots than counted (new flows meanwhile): the rest next time */
			g[j].used = true;
			g[j].key = s.key;
			used++;
		}
		flow_sum_add(&g[j].sum, &s.val);
	}
	for (size_t j = 0; j < n; j++)
		if (g[j].used)
			fn(st, &g[j].key, &g[j].sum);
	if (used >= n / 2) {
		n *= 4; /* full: the next pass is sized for more */
		return 1;
	}
	if (n > 64 && (size_t)used * 8 < n)
		n /= 2;
	return 0;
}
