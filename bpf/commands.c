// SPDX-License-Identifier: MIT
/*
 * The stdin command channel, one command per line, each answered by an fl_cmd_result record
 * (seq = 1, 2, ... in stdin order):
 *   attach IFINDEX      tc ingress + egress programs on that interface: tcx links where the kernel
 *                       has tcx (6.6+), else clsact filters; a no-op when ours are already there
 *   attach IFINDEX BRIDGE  a pod port of that bridge: tc ingress on IFINDEX only, and
 *                       tc_bridge_egress on the bridge (once, while any of its ports is attached);
 *                       EEXIST when IFINDEX is already attached the other way
 *   detach IFINDEX      removes them (ENODEV/ENOENT when the interface or filter is gone), and the
 *                       pod addresses learned for it
 *   learn IFINDEX ADDR  the pod behind port IFINDEX has address ADDR (IPv4 or IPv6 text): seeds
 *                       pod_addrs for pods that have not sent since the loader started
 *   flush               emit every flow now and delete it from the map (shutdown, tests)
 *   run HOOK IFINDEX HEX   --prog-run only: BPF_PROG_RUN of tc_ingress (HOOK 1), tc_egress
 *                          (HOOK 2) or tc_bridge_egress (HOOK 3) on one Ethernet frame given in
 *                          hex; err = the return value
 * Malformed lines give err -EINVAL (cmd 0). Lines longer than the buffer are rejected whole.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include "loader.h"
#include "flowlens.skel.h"

#define MAX_FRAME 9216

static void result(struct state *st, __u32 cmd, __u32 arg, int err)
{
	struct fl_cmd_result r;

	memset(&r, 0, sizeof(r));
	r.hdr.type = FL_REC_CMD_RESULT;
	r.hdr.version = FL_REC_VERSION;
	r.hdr.len = sizeof(r);
	r.err = err;
	r.cmd = cmd;
	r.arg = arg;
	r.seq = ++st->seq;
	emit(st, &r, sizeof(r));
}

/* tcx (6.6+): BPF links on the device's own hook, no qdisc, no classifier walk; they go away with
 * the loader's fds. The attach types are spelled out: libbpf 1.1 and older uapi headers lack them. */
#define FL_BPF_TCX_INGRESS 46
#define FL_BPF_TCX_EGRESS 47

static int tc_legacy(int ifindex, enum bpf_tc_attach_point where, int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FL_TC_HANDLE, .priority = FL_TC_PRIORITY);
	int err;

	if (prog_fd < 0)
		return bpf_tc_detach(&hook, &opts);
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	opts.prog_fd = prog_fd;
	opts.flags = BPF_TC_F_REPLACE;
	return bpf_tc_attach(&hook, &opts);
}

/*
 * ingress_seen (tc_flow.bpf.h): the slot of ifindex holds it while our ingress program runs there.
 * A slot held by another interface leaves this one out: its packets are counted at egress too,
 * and the flow scan does not pair its flows (tc_ingress_seen says so).
 */
static void mark_seen(struct state *st, struct tc_attachment *a, bool on)
{
	__u32 slot = (__u32)a->ifindex % FL_SEEN_SLOTS, cur = 0, v = on ? (__u32)a->ifindex : 0;
	int fd = bpf_map__fd(st->skel->maps.ingress_seen);

	if (st->o->no_egress_skip || (!on && !a->seen) || bpf_map_lookup_elem(fd, &slot, &cur))
		return;
	if (on && cur != 0 && cur != (__u32)a->ifindex)
		return;
	if (!bpf_map_update_elem(fd, &slot, &v, BPF_ANY))
		a->seen = on;
}

bool tc_ingress_seen(const struct state *st, __u32 ifindex)
{
	for (size_t i = 0; i < st->tc_count; i++)
		if (st->tc[i].ifindex == (int)ifindex)
			return st->tc[i].seen;
	return false;
}

/* Our attachment on ifindex: its slot in st->tc, or -1. */
static int tc_find(const struct state *st, int ifindex)
{
	for (size_t i = 0; i < st->tc_count; i++)
		if (st->tc[i].ifindex == ifindex)
			return (int)i;
	return -1;
}

static int tc_add(struct state *st, const struct tc_attachment *a)
{
	if (st->tc_count == st->tc_cap) {
		size_t cap = st->tc_cap ? st->tc_cap * 2 : 64;
		struct tc_attachment *p = realloc(st->tc, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		st->tc = p;
		st->tc_cap = cap;
	}
	st->tc[st->tc_count] = *a;
	mark_seen(st, &st->tc[st->tc_count++], true);
	return 0;
}

/* Undoes one attachment: closes its links (tcx) or removes our clsact filters. */
static int tc_undo(const struct tc_attachment *a)
{
	int x, y;

	if (a->link[0] >= 0 || a->link[1] >= 0) {
		if (a->link[0] >= 0)
			close(a->link[0]);
		if (a->link[1] >= 0)
			close(a->link[1]);
		return 0;
	}
	x = tc_legacy(a->ifindex, BPF_TC_INGRESS, -1);
	y = a->bridge ? 0 : tc_legacy(a->ifindex, BPF_TC_EGRESS, -1);
	return x ? x : y;
}

static int tcx_link(int prog_fd, int ifindex, int type)
{
	int fd = bpf_link_create(prog_fd, ifindex, (enum bpf_attach_type)type, NULL);

	return fd < 0 ? -errno : fd;
}

/*
 * Programs in (egress: -1 for none) on ifindex: tcx links, else (a kernel before tcx, 6.6) clsact
 * filters from now on. link[] gets the tcx links, or stays -1 with clsact.
 */
static int tc_links(struct state *st, int ifindex, int in, int eg, int link[2])
{
	int err;

	link[0] = link[1] = -1;
	if (!st->no_tcx) {
		link[0] = in >= 0 ? tcx_link(in, ifindex, FL_BPF_TCX_INGRESS) : 0;
		if (link[0] >= 0 && eg >= 0)
			link[1] = tcx_link(eg, ifindex, FL_BPF_TCX_EGRESS);
		if (in < 0)
			link[0] = -1;
		if ((in < 0 || link[0] >= 0) && (eg < 0 || link[1] >= 0)) {
			/* A filter of ours left on clsact by an older loader would count every packet twice. */
			if (in >= 0)
				tc_legacy(ifindex, BPF_TC_INGRESS, -1);
			if (eg >= 0)
				tc_legacy(ifindex, BPF_TC_EGRESS, -1);
			return 0;
		}
		err = in >= 0 && link[0] < 0 ? link[0] : link[1];
		if (link[0] >= 0)
			close(link[0]);
		link[0] = link[1] = -1;
		if (err != -EINVAL && err != -EOPNOTSUPP)
			return err; /* e.g. ENODEV: no such interface */
		st->no_tcx = true;
		if (st->o->verbose)
			fprintf(stderr, "flowlens-loader: no tcx (%s): tc programs go on clsact\n", strerror(-err));
	}
	err = in >= 0 ? tc_legacy(ifindex, BPF_TC_INGRESS, in) : 0;
	if (!err && eg >= 0)
		err = tc_legacy(ifindex, BPF_TC_EGRESS, eg);
	if (err && in >= 0)
		tc_legacy(ifindex, BPF_TC_INGRESS, -1);
	return err;
}

static struct br_attachment *br_find(struct state *st, int ifindex)
{
	for (size_t i = 0; i < st->br_count; i++)
		if (st->br[i].ifindex == ifindex)
			return &st->br[i];
	return NULL;
}

/* tc_bridge_egress on bridge, attached by its first pod port. */
static int br_ref(struct state *st, int bridge)
{
	struct br_attachment *b = br_find(st, bridge);
	int link[2], err;

	if (b) {
		b->refs++;
		return 0;
	}
	if (st->br_count == FL_MAX_BRIDGES)
		return -ENOSPC;
	err = tc_links(st, bridge, -1, bpf_program__fd(st->skel->progs.tc_bridge_egress), link);
	if (err)
		return err;
	st->br[st->br_count++] = (struct br_attachment){ .ifindex = bridge, .link = link[1], .refs = 1 };
	return 0;
}

/* ... and detached with its last one. */
static void br_unref(struct state *st, int bridge)
{
	struct br_attachment *b = br_find(st, bridge);

	if (!b || --b->refs > 0)
		return;
	if (b->link >= 0)
		close(b->link);
	else
		tc_legacy(b->ifindex, BPF_TC_EGRESS, -1);
	*b = st->br[--st->br_count];
}

/* Drops the addresses learned for a port that is gone (its ifindex may be reused). */
static void forget_port(struct state *st, int ifindex)
{
	int fd = bpf_map__fd(st->skel->maps.pod_addrs);
	struct fl_endpoint k, next;
	__u32 v;
	bool first = true;

	while (!bpf_map_get_next_key(fd, first ? NULL : &k, &next)) {
		first = false;
		k = next;
		if (!bpf_map_lookup_elem(fd, &next, &v) && v == (__u32)ifindex)
			bpf_map_delete_elem(fd, &next); /* k stays: get_next_key of a deleted key restarts at worst */
	}
}

static int tc_attach(struct state *st, int ifindex, int bridge)
{
	int in = bpf_program__fd(st->skel->progs.tc_ingress), eg = bpf_program__fd(st->skel->progs.tc_egress);
	struct tc_attachment a = { .ifindex = ifindex, .link = { -1, -1 }, .seen = false, .bridge = bridge };
	int err, i;

	if (!(st->attached & FL_PROG_TC_INGRESS) || st->o->prog_run || bridge == ifindex)
		return -EOPNOTSUPP;
	if ((i = tc_find(st, ifindex)) >= 0)
		return st->tc[i].bridge == bridge ? 0 : -EEXIST; /* already ours: the same programs run there */
	if (bridge && (err = br_ref(st, bridge)))
		return err;
	err = tc_links(st, ifindex, in, bridge ? -1 : eg, a.link);
	if (!err)
		err = tc_add(st, &a);
	if (err) {
		tc_undo(&a);
		if (bridge)
			br_unref(st, bridge);
	}
	return err;
}

static int tc_detach(struct state *st, int ifindex)
{
	int i = tc_find(st, ifindex), err;
	struct tc_attachment a = { .ifindex = ifindex, .link = { -1, -1 } };

	if (i >= 0) {
		a = st->tc[i];
		mark_seen(st, &a, false);
		st->tc[i] = st->tc[--st->tc_count];
		forget_port(st, ifindex);
	}
	err = tc_undo(&a); /* not ours (any more): still removes a clsact filter of ours */
	if (a.bridge)
		br_unref(st, a.bridge);
	return err;
}

static int learn(struct state *st, int ifindex, const char *text)
{
	struct fl_endpoint k;
	__u32 v = (__u32)ifindex;

	memset(&k, 0, sizeof(k));
	if (inet_pton(AF_INET, text, k.addr) == 1)
		k.family = 4; /* as in flow keys */
	else if (inet_pton(AF_INET6, text, k.addr) == 1)
		k.family = 6;
	else
		return -EINVAL;
	if (tc_find(st, ifindex) < 0 && !st->o->prog_run)
		return -ENOENT; /* not a port of ours */
	return bpf_map_update_elem(bpf_map__fd(st->skel->maps.pod_addrs), &k, &v, BPF_ANY) ? -errno : 0;
}

void tc_detach_all(struct state *st)
{
	while (st->tc_count > 0)
		tc_detach(st, st->tc[st->tc_count - 1].ifindex);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int prog_run(struct state *st, int hook, int ifindex, const char *hex)
{
	static unsigned char frame[MAX_FRAME];
	struct __sk_buff ctx = { .ifindex = (__u32)ifindex };
	size_t n = strlen(hex) / 2;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	struct bpf_program *p = hook == FL_HOOK_FROM_POD ? st->skel->progs.tc_ingress
				: hook == FL_HOOK_TO_POD ? st->skel->progs.tc_egress
							 : st->skel->progs.tc_bridge_egress;
	int err;

	if (strlen(hex) % 2 || n > MAX_FRAME || hook < FL_HOOK_FROM_POD || hook > FL_HOOK_TO_POD + 1)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		frame[i] = (unsigned char)(hi << 4 | lo);
	}
	opts.data_size_in = (__u32)n;
	err = bpf_prog_test_run_opts(bpf_program__fd(p), &opts);
	return err ? err : (int)opts.retval;
}

static void run_line(struct state *st, char *line)
{
	char verb[16] = "", hex[2 * MAX_FRAME + 2] = "", extra[2] = "";
	int a = 0, b = 0, n, r = -EINVAL;
	__u32 kind = 0, arg = 0;

	if (!strncmp(line, "learn ", 6)) {
		char addr[INET6_ADDRSTRLEN] = "";

		if (sscanf(line, "learn %d %45s %1s", &a, addr, extra) == 2 && a > 0)
			kind = FL_CMD_LEARN, arg = (__u32)a, r = learn(st, a, addr);
		goto done;
	}
	n = sscanf(line, "%15s %d %d %18433s", verb, &a, &b, hex);
	if (n == 2 && !strcmp(verb, "attach") && a > 0)
		kind = FL_CMD_ATTACH, arg = (__u32)a, r = tc_attach(st, a, 0);
	else if (n == 3 && !strcmp(verb, "attach") && a > 0 && b > 0)
		kind = FL_CMD_ATTACH, arg = (__u32)a, r = tc_attach(st, a, b);
	else if (n == 2 && !strcmp(verb, "detach") && a > 0)
		kind = FL_CMD_DETACH, arg = (__u32)a, r = tc_detach(st, a);
	else if (n == 1 && !strcmp(verb, "flush"))
		kind = FL_CMD_FLUSH, r = flow_scan(st, true);
	else if (n == 4 && !strcmp(verb, "run") && st->o->prog_run && b > 0)
		kind = FL_CMD_RUN, arg = (__u32)b, r = prog_run(st, a, b, hex);
done:
	/* the records a command made (a run's captures, notices) come before its result: records
	 * do not wake the loader one by one (rb_wake_bytes) */
	if (st->rb)
		ring_buffer__consume(st->rb);
	result(st, kind, arg, r);
}

void read_commands(struct state *st)
{
	ssize_t got;
	char *nl;

	if (st->stdin_eof)
		return;
	got = read(STDIN_FILENO, st->cmd_buf + st->cmd_len, sizeof(st->cmd_buf) - 1 - st->cmd_len);
	if (got <= 0) {
		if (got == 0 || (errno != EAGAIN && errno != EINTR))
			st->stdin_eof = true;
		return;
	}
	st->cmd_len += (size_t)got;
	st->cmd_buf[st->cmd_len] = '\0';
	while ((nl = strchr(st->cmd_buf, '\n'))) {
		*nl = '\0';
		run_line(st, st->cmd_buf);
		st->cmd_len -= (size_t)(nl + 1 - st->cmd_buf);
		memmove(st->cmd_buf, nl + 1, st->cmd_len + 1);
	}
	if (st->cmd_len == sizeof(st->cmd_buf) - 1) { /* no newline in a full buffer */
		st->cmd_len = 0;
		result(st, 0, 0, -E2BIG);
	}
}
