// SPDX-License-Identifier: MIT
/*
 * The stdin command channel, one command per line, each answered by an fl_cmd_result record
 * (seq = 1, 2, ... in stdin order):
 *   attach IFINDEX      tc clsact ingress + egress programs on that interface (replaces ours)
 *   detach IFINDEX      removes them (ENODEV/ENOENT when the interface or filter is gone)
 *   flush               emit every flow now and delete it from the map (shutdown, tests)
 *   run HOOK IFINDEX HEX   --prog-run only: BPF_PROG_RUN of tc_ingress (HOOK 1) or tc_egress
 *                          (HOOK 2) on one Ethernet frame given in hex; err = the return value
 * Malformed lines give err -EINVAL (cmd 0). Lines longer than the buffer are rejected whole.
 */
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

static int tc_one(int ifindex, enum bpf_tc_attach_point where, int prog_fd)
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

static void remember(struct state *st, int ifindex, bool on)
{
	size_t i;

	for (i = 0; i < st->tc_count && st->tc_ifindexes[i] != ifindex; i++)
		;
	if (!on) {
		if (i < st->tc_count)
			st->tc_ifindexes[i] = st->tc_ifindexes[--st->tc_count];
		return;
	}
	if (i < st->tc_count)
		return;
	if (st->tc_count == st->tc_cap) {
		size_t cap = st->tc_cap ? st->tc_cap * 2 : 64;
		int *p = realloc(st->tc_ifindexes, cap * sizeof(*p));

		if (!p)
			return;
		st->tc_ifindexes = p;
		st->tc_cap = cap;
	}
	st->tc_ifindexes[st->tc_count++] = ifindex;
}

static int tc_attach(struct state *st, int ifindex)
{
	int err;

	if (!(st->attached & FL_PROG_TC_INGRESS) || st->o->prog_run)
		return -EOPNOTSUPP;
	err = tc_one(ifindex, BPF_TC_INGRESS, bpf_program__fd(st->skel->progs.tc_ingress));
	if (!err)
		err = tc_one(ifindex, BPF_TC_EGRESS, bpf_program__fd(st->skel->progs.tc_egress));
	if (err)
		tc_one(ifindex, BPF_TC_INGRESS, -1);
	else
		remember(st, ifindex, true);
	return err;
}

static int tc_detach(struct state *st, int ifindex)
{
	int a = tc_one(ifindex, BPF_TC_INGRESS, -1);
	int b = tc_one(ifindex, BPF_TC_EGRESS, -1);

	remember(st, ifindex, false);
	return a ? a : b;
}

void tc_detach_all(struct state *st)
{
	while (st->tc_count > 0)
		tc_detach(st, st->tc_ifindexes[st->tc_count - 1]);
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
	struct bpf_program *p = hook == FL_HOOK_FROM_POD ? st->skel->progs.tc_ingress : st->skel->progs.tc_egress;
	int err;

	if (strlen(hex) % 2 || n > MAX_FRAME || (hook != FL_HOOK_FROM_POD && hook != FL_HOOK_TO_POD))
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
	char verb[16] = "", hex[2 * MAX_FRAME + 2] = "";
	int a = 0, b = 0, n;

	n = sscanf(line, "%15s %d %d %18433s", verb, &a, &b, hex);
	if (n == 2 && !strcmp(verb, "attach") && a > 0)
		result(st, FL_CMD_ATTACH, (__u32)a, tc_attach(st, a));
	else if (n == 2 && !strcmp(verb, "detach") && a > 0)
		result(st, FL_CMD_DETACH, (__u32)a, tc_detach(st, a));
	else if (n == 1 && !strcmp(verb, "flush"))
		result(st, FL_CMD_FLUSH, 0, flow_scan(st, true));
	else if (n == 4 && !strcmp(verb, "run") && st->o->prog_run && b > 0)
		result(st, FL_CMD_RUN, (__u32)b, prog_run(st, a, b, hex));
	else
		result(st, 0, 0, -EINVAL);
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
