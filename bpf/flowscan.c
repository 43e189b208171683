// SPDX-License-Identifier: MIT
/*
 * Flow records from the tc flow table (flowtab.c). Every --flush-ms the loader reads the table,
 * sums each flow over CPUs (and over the counters kept from slots the tc programs took over for
 * other flows, fl_flow_part) and emits fl_flow records:
 *   START   the first time the loader sees a flow;
 *   UPDATE  counters changed and --update-ms passed since the last record of that flow;
 *   END     TCP RST, or FIN both ways, then no packet for --end-grace-ms (then its slots are freed);
 *   TIMEOUT no packet for --idle-timeout-ms (then its slots are freed).
 * A user-space table remembers which flows were announced. A last record is made from a fresh
 * read of the flow's slots, and exactly the slots read are freed (ack = the gen read), so
 * counters handed over meanwhile are recognised as already counted. Nothing is evicted silently:
 * a slot taken over hands its counters over first, and one that cannot be handed over (ring
 * buffer full) is counted in the kernel as FL_LOST_FLOW_EVICTED.
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

#include "flownodes.h"

/* The pair's counters matter when a record may be due or the flow may be over. */
static bool wants_pair(const struct options *o, const struct fnode *n, const struct merged *m, __u64 quiet, __u64 now,
		       bool fresh)
{
	return fresh || (m->all_flags & 0x05) /* FIN or RST */ || quiet >= o->idle_timeout_ms * 1000000ull ||
	       now - n->emitted_ns >= o->update_ms * 1000000ull;
}

static void emit_last(struct state *st, struct fnode *n, struct merged *m, const struct fl_taken *taken)
{
	m->f.event = flow_ended(m) ? FL_FLOW_END : FL_FLOW_TIMEOUT;
	emit(st, &m->f, sizeof(m->f));
	flowtab_ack(st, taken);
	node_kill(st->tab, n, m->f.last_ns);
}

/*
 * The last records of n and of its pair p (which ends with it): from fresh reads, the pair
 * filled, exactly the slots read freed. m: n's counters if nothing is left to read.
 */
static void finish(struct state *st, struct fnode *n, struct merged *m, struct fnode *p)
{
	static struct fl_taken tn, tp;
	struct merged fm, pm;

	if (read_flow(st, &n->key, &fm, &tn))
		*m = fm;
	else
		tn.n = 0;
	if (p && !read_flow(st, &p->key, &pm, &tp))
		p = NULL;
	if (p)
		fill_pair(st, n, m, p, &pm);
	emit_last(st, n, m, &tn);
	if (p)
		emit_last(st, p, &pm, &tp);
}

/* One look at flow k with its slots' counters v: START, UPDATE, or its last record. *due: when an
 * ended flow's grace is over. hs: the notice of a handshake packet of the flow (REOPEN, REOPEN_ACK), else NULL. */
static void visit(struct state *st, const struct fl_flow_key *k, const struct fl_flow_val *v, __u64 now, bool force,
		  __u64 *due, const struct fl_flow_notice *hs)
{
	static struct fl_taken scratch;
	const struct options *o = st->o;
	struct fl_flow_val sum = *v;
	struct fnode *n, *p = NULL;
	struct merged m, pm;
	bool fresh;
	__u64 quiet, pkts, reopen;

	if (!(n = node_get(st, k, &sum, &fresh)))
		return;
	if (fresh) {
		flow_merge(st, k, &sum, &m);
		node_start(st->tab, n, &m);
	}
	if (n->carried)
		flow_sum_add(&sum, &n->part);
	flow_merge(st, k, &sum, &m);
	fresh = !n->announced;
	/* A handshake of another connection than the one the flow last STARTed for (its ISN differs):
	 * a new connection on this 5-tuple (a client port reused while the flow's counters are still
	 * kept). START again, the counters the flow's, stamped with the handshake's time, so that the
	 * agent knows whose views it joins. A retransmitted SYN, or the SYN-ACK of the SYN that
	 * STARTed the flow, has the same ISN. */
	reopen = 0;
	if (hs && hs->at && !n->dead) {
		if (!fresh && (!n->has_isn || hs->isn != n->isn)) {
			reopen = hs->at;
			fresh = true;
		}
		n->has_isn = true;
		n->isn = hs->isn;
	}
	quiet = now > m.f.last_ns ? now - m.f.last_ns : 0;
	if (force || wants_pair(o, n, &m, quiet, now, fresh))
		p = pair_of(st, n);
	if (p && read_flow(st, &p->key, &pm, &scratch)) {
		fill_pair(st, n, &m, p, &pm);
		quiet = now > m.f.last_ns ? now - m.f.last_ns : 0;
	} else {
		p = NULL;
	}
	pkts = m.f.pkts[0] + m.f.pkts[1];
	n->gen = st->tab->gen;
	if (force || (flow_ended(&m) && quiet >= o->end_grace_ms * 1000000ull) ||
	    quiet >= o->idle_timeout_ms * 1000000ull) {
		finish(st, n, &m, p);
		return;
	}
	if (flow_ended(&m))
		*due = m.f.last_ns + o->end_grace_ms * 1000000ull;
	if (fresh) {
		m.f.event = FL_FLOW_START;
		if (reopen) { /* a new connection on this 5-tuple: its START says when it began */
			m.f.first_ns = reopen;
			if (m.f.last_ns < m.f.first_ns) /* last at tick resolution */
				m.f.last_ns = m.f.first_ns;
		}
	} else if (pkts != n->pkts && now - n->emitted_ns >= o->update_ms * 1000000ull)
		m.f.event = FL_FLOW_UPDATE;
	if (m.f.event) {
		emit(st, &m.f, sizeof(m.f));
		n->announced = true;
		n->pkts = pkts;
		n->emitted_ns = now;
	}
}

static void arm(struct state *st, const struct fl_flow_key *k, __u64 due);

static const struct fl_flow_val no_slots;

/*
 * After a scan: flows that were not in it. Those with kept counters (every slot taken over) are
 * looked at once more (they END or time out like the others); the rest, and flows whose last
 * record is out, are forgotten. After a partial scan only the latter.
 */
static void sweep_bucket(struct state *st, size_t i, __u64 now, bool force, bool partial)
{
	struct flowtab *t = st->tab;
	struct fnode **pp = &t->b[i];
	__u64 due;

	while (*pp) {
		struct fnode *n = *pp;

		if (partial && !n->dead) {
			pp = &n->next;
			continue;
		}
		if (n->gen != t->gen && !n->dead && n->carried) {
			due = 0;
			visit(st, &n->key, &no_slots, now, force, &due, NULL);
			if (due)
				arm(st, &n->key, due);
		}
		if (n->gen == t->gen && !n->dead) {
			pp = &n->next;
			continue;
		}
		*pp = n->next;
		if (!n->dead)
			conn_unlink(t, n);
		free(n);
	}
	if (!t->b[i])
		t->used[i / 64] &= ~(1ull << (i % 64));
}

static void sweep(struct state *st, __u64 now, bool force, bool partial)
{
	const struct flowtab *t = st->tab;

	for (size_t w = 0; w < (t->nb + 63) / 64; w++)
		for (__u64 bits = t->used[w]; bits; bits &= bits - 1)
			sweep_bucket(st, w * 64 + (size_t)__builtin_ctzll(bits), now, force, partial);
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

static __u64 scan_now;
static bool scan_force;

static void scan_one(struct state *st, const struct fl_flow_key *k, const struct fl_flow_val *sum)
{
	__u64 due = 0;

	visit(st, k, sum, scan_now, scan_force, &due, NULL);
	if (due)
		arm(st, k, due); /* its notice was lost: END at the grace anyway */
}

static bool table_ready(struct state *st)
{
	return st->slots && (st->tab || (st->tab = flowtab_new(st->o->flow_entries)));
}

#define FULL_PASS_EVERY 240 /* a minute at the default --flush-ms */

/* Every slot, or only those the notices named: see flowtab_known. */
static bool full_pass(struct state *st, bool force)
{
	__u64 lost = 0;
	bool full = force || st->o->no_notices || st->full_again || st->scans++ % FULL_PASS_EVERY == 0;

	if (!read_lost(st, FL_SLOT_NOTICE_LOST, &lost) && lost != st->notices_lost) {
		st->notices_lost = lost;
		full = true;
	}
	return full;
}

int flow_scan(struct state *st, bool force)
{
	bool full;
	int err;

	if (!table_ready(st))
		return st->slots ? -ENOMEM : 0;
	st->tab->gen++;
	scan_now = clock_mono_ns();
	scan_force = force;
	full = full_pass(st, force);
	err = flowtab_each(st, full, scan_one);
	st->full_again = full && err > 0; /* a full pass cut short (more flows than it was sized for) */
	if (err < 0) {
		fprintf(stderr, "flowlens-loader: scanning the flow table: %s\n", strerror(-err));
		return err;
	}
	if (err && force) /* flush: every flow now */
		return flow_scan(st, true);
	sweep(st, scan_now, force, err > 0);
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
	struct fnode *n = *node_find(st->tab, k);

	if (!n || n->armed || ntimers == MAX_TIMERS) /* full: the scan ends it */
		return;
	n->armed = true;
	timers[ntimers++] = (struct endtimer){ *k, due };
	if (!earliest || due < earliest)
		earliest = due;
}

/* Looks at one flow now: START if new, END if over; arms its END timer. */
static void visit_key(struct state *st, const struct fl_flow_key *k, __u64 now, const struct fl_flow_notice *hs)
{
	static struct fl_taken taken;
	struct fl_flow_val sum;
	struct fnode *n;
	__u64 due = 0;

	if (!table_ready(st))
		return;
	if (!flowtab_read(st, k, &sum, &taken) && (!(n = *node_find(st->tab, k)) || n->dead || !n->carried))
		return; /* gone: its last record is out */
	visit(st, k, &sum, now, false, &due, hs);
	if (due)
		arm(st, k, due > now ? due : now + 1000000);
}

void flow_notice(struct state *st, const struct fl_flow_notice *n)
{
	if (st->slots)
		flowtab_known(st, n->slot, n->gen);
	if (st->o->prog_run)
		return; /* prog-run: flows only on `flush`, as the tests expect */
	visit_key(st, &n->key, clock_mono_ns(), n->event & (FL_NOTICE_REOPEN | FL_NOTICE_REOPEN_ACK) ? n : NULL);
}

/*
 * Counters of a live flow from a slot the tc programs took over: kept with the flow. Already in
 * a last record (the slot was freed at that gen): ignored. Come after the flow's last record
 * without being in it: lost, and counted so (FL_LOST_FLOW_EVICTED).
 */
void flow_part(struct state *st, const struct fl_flow_part *r)
{
	struct fnode *n;

	if (flowtab_acked(st, r->slot, r->gen) || !table_ready(st))
		return;
	n = *node_find(st->tab, &r->key);
	if (n && n->dead && r->val.first_ns <= n->ended_ns) {
		st->parts_late++;
		return;
	}
	if (!n || n->dead) { /* never seen, or a new flow of the same key: kept, announced by the next look */
		struct merged m;

		if (!n) {
			if (!(n = calloc(1, sizeof(*n))))
				return;
			n->key = r->key;
			node_insert(st->tab, n);
		}
		flow_merge(st, &r->key, &r->val, &m);
		node_start(st->tab, n, &m);
		n->gen = st->tab->gen - 1; /* not seen by a scan yet: the sweep looks at it */
	}
	flow_sum_add(&n->part, &r->val);
	n->carried = true;
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
		if ((node = *node_find(st->tab, &k)))
			node->armed = false;
		visit_key(st, &k, now, NULL); /* may re-arm k: appended after n, due later */
	}
	return earliest;
}
