// SPDX-License-Identifier: MIT
/*
 * flowlens-loader: loads and attaches the Flowlens BPF programs (bpf/flowlens.bpf.c), copies
 * every ring-buffer record unchanged to stdout (binary, framed by fl_hdr.len), and turns the
 * per-CPU flow map into fl_flow records (flowscan.c).
 * Output order: HELLO; one LOST baseline per source; DROP_REASON names; then records as they
 * come, a LOST record at most once a second per source whose total changed, and a CMD_RESULT
 * per stdin command (commands.c: attach/detach IFINDEX, flush).
 *
 * Exits 0 on SIGTERM/SIGINT or when the reader of stdout goes away (EPIPE); 1 on errors
 * (human-readable message on stderr). Nothing is pinned; tracepoint and cgroup links go away
 * with the process, tc filters are removed on exit (a SIGKILLed loader leaves them: the next
 * one replaces them on attach, same handle and priority).
 */
#define _GNU_SOURCE /* vasprintf */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "loader.h"
#include "flowlens.skel.h"

#define STDOUT_BUF_BYTES (1 << 20)
#define POLL_TIMEOUT_MS 100
#define LOST_INTERVAL_NS 1000000000ull

static volatile sig_atomic_t exiting;
static bool verbose;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char *line = NULL;
	int n;

	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	/* Whole messages: a verifier log is one message of many kilobytes. */
	if (vasprintf(&line, fmt, args) < 0)
		return 0;
	/* bpf_tc_hook_create() where clsact already exists (EEXIST), or removing an old filter of ours
	 * where there is no clsact (ENOENT): both handled, not worth a line. */
	n = !verbose && (strstr(line, "Exclusivity flag on") || strstr(line, "Parent Qdisc doesn't exist")) ? 0 :
	    fputs(line, stderr);
	free(line);
	return n;
}

static void raise_memlock(void)
{
	struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };

	/* Kernels >= 5.11 account BPF memory to the cgroup; older ones need this. */
	if (setrlimit(RLIMIT_MEMLOCK, &r) && verbose)
		fprintf(stderr, "flowlens-loader: setrlimit(RLIMIT_MEMLOCK): %s\n", strerror(errno));
}

/* Tracepoint attach needs tracefs (for the event id); mount it if nobody did. */
static void ensure_tracefs(void)
{
	if (!access("/sys/kernel/tracing/events", F_OK) ||
	    !access("/sys/kernel/debug/tracing/events", F_OK))
		return;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		fprintf(stderr, "flowlens-loader: tracefs not mounted and mount on "
			"/sys/kernel/tracing failed: %s\n", strerror(errno));
}

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

__u64 clock_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* Returns false when stdout is gone (EPIPE) or broken. */
bool emit(struct state *st, const void *data, size_t len)
{
	if (st->output_gone)
		return false;
	if (fwrite(data, len, 1, stdout) != 1) {
		if (errno != EPIPE)
			fprintf(stderr, "flowlens-loader: write to stdout: %s\n", strerror(errno));
		st->output_gone = true;
		return false;
	}
	return true;
}

static bool flush_out(struct state *st)
{
	if (st->output_gone)
		return false;
	if (fflush(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "flowlens-loader: write to stdout: %s\n", strerror(errno));
		st->output_gone = true;
		return false;
	}
	return true;
}

/* A pipe whose reader closed reports POLLERR even when we have nothing to write. */
static bool stdout_closed(void)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = 0 };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL));
}

static void emit_hello(struct state *st)
{
	struct fl_hello h;
	struct utsname u;
	__u64 wall1 = clock_ns(CLOCK_REALTIME);
	__u64 mono = clock_ns(CLOCK_MONOTONIC);
	__u64 wall2 = clock_ns(CLOCK_REALTIME);

	memset(&h, 0, sizeof(h));
	h.hdr.type = FL_REC_HELLO;
	h.hdr.version = FL_REC_VERSION;
	h.hdr.len = sizeof(h);
	h.mono_to_wall_ns = (__s64)(wall1 + (wall2 - wall1) / 2) - (__s64)mono;
	h.ringbuf_bytes = st->o->ringbuf_bytes;
	h.features = st->features;
	h.loader_version = FL_LOADER_VERSION;
	h.attached = st->attached;
	h.attached_count = st->attached_count;
	h.ncpus = (__u32)st->ncpus;
	h.flow_entries = st->o->flow_entries;
	h.flush_ms = st->o->flush_ms;
	if (!uname(&u))
		memcpy(h.kernel_release, u.release, strnlen(u.release, sizeof(h.kernel_release) - 1));
	emit(st, &h, sizeof(h));
}

static void emit_lost(struct state *st, __u32 source, __u64 total)
{
	struct fl_lost l;

	memset(&l, 0, sizeof(l));
	l.hdr.type = FL_REC_LOST;
	l.hdr.version = FL_REC_VERSION;
	l.hdr.len = sizeof(l);
	l.total = total;
	l.source = source;
	emit(st, &l, sizeof(l));
}

int read_lost(struct state *st, __u32 source, __u64 *total)
{
	int err, i;

	err = bpf_map__lookup_elem(st->skel->maps.lost, &source, sizeof(source), st->percpu,
				   sizeof(__u64) * (size_t)st->ncpus, 0);
	if (err) {
		fprintf(stderr, "flowlens-loader: reading lost counters: %s\n", strerror(-err));
		return err;
	}
	*total = source == FL_LOST_FLOW_EVICTED ? st->parts_late : 0;
	for (i = 0; i < st->ncpus; i++)
		*total += st->percpu[i];
	return 0;
}

static void emit_lost_changes(struct state *st, bool baseline)
{
	__u64 total;

	for (__u32 s = 1; s < FL_LOST_MAX; s++) {
		if (read_lost(st, s, &total))
			return;
		if (baseline || total != st->lost_totals[s]) {
			st->lost_totals[s] = total;
			emit_lost(st, s, total);
		}
	}
}

static const size_t rec_sizes[] = {
	[FL_REC_TCP_STATE] = sizeof(struct fl_tcp_state), [FL_REC_DNS] = sizeof(struct fl_dns),
	[FL_REC_HTTP] = sizeof(struct fl_http), [FL_REC_DROP] = sizeof(struct fl_drop),
	[FL_REC_TCP_EVENT] = sizeof(struct fl_tcp_event), [FL_REC_SOCK_ADDR] = sizeof(struct fl_sock_addr),
	[FL_REC_FLOW_NOTICE] = sizeof(struct fl_flow_notice), [FL_REC_FLOW_PART] = sizeof(struct fl_flow_part),
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct state *st = ctx;
	const struct fl_hdr *h = data;

	if (size < sizeof(*h) || size > FL_REC_MAX_BYTES || h->len != size ||
	    h->version != FL_REC_VERSION || h->type >= sizeof(rec_sizes) / sizeof(rec_sizes[0]) ||
	    rec_sizes[h->type] != size) {
		if (!st->bad_record)
			fprintf(stderr, "flowlens-loader: dropping malformed ring buffer record "
				"(%zu bytes, type %u, version %u, len %u)\n",
				size, size >= sizeof(*h) ? h->type : 0,
				size >= sizeof(*h) ? h->version : 0, size >= sizeof(*h) ? h->len : 0);
		st->bad_record = true;
		return 0;
	}
	if (h->type == FL_REC_FLOW_NOTICE || h->type == FL_REC_FLOW_PART) { /* loader-internal, never forwarded */
		if (h->type == FL_REC_FLOW_NOTICE)
			flow_notice(st, data);
		else
			flow_part(st, data);
		return st->output_gone ? -EPIPE : 0;
	}
	return emit(st, data, size) ? 0 : -EPIPE;
}

struct prog_spec {
	struct bpf_program *prog;
	struct bpf_link **link;
	__u32 bit;
	bool want;
	bool required; /* attach failure is fatal */
	bool cgroup;
	const char *what;
};

static size_t prog_specs(struct state *st, struct prog_spec *ps)
{
	struct flowlens_bpf *s = st->skel;
	const struct options *o = st->o;
	__u64 f = st->features;
	bool run = !o->prog_run;
	bool tc = !o->no_tc && (f & FL_FEAT_SCHED_CLS) && (f & FL_FEAT_MMAP_ARRAY) && (f & FL_FEAT_LRU_HASH);
	bool drops = run && !o->no_drops && tracepoint_exists("skb", "kfree_skb");
	bool resets = run && (f & FL_FEAT_TCP_RESET_TPS);
	bool cg = run && !o->no_cgroup && (f & FL_FEAT_CGROUP_SOCK_ADDR) && (f & FL_FEAT_CGROUP2);
	size_t n = 0;

	ps[n++] = (struct prog_spec){ s->progs.tcp_state, &s->links.tcp_state, FL_PROG_TCP_STATE, run, true, false,
				      "tracepoint sock/inet_sock_set_state" };
	ps[n++] = (struct prog_spec){ s->progs.tc_ingress, NULL, FL_PROG_TC_INGRESS, tc, false, false, "tc ingress" };
	ps[n++] = (struct prog_spec){ s->progs.tc_egress, NULL, FL_PROG_TC_EGRESS, tc, false, false, "tc egress" };
	ps[n++] = (struct prog_spec){ s->progs.tc_bridge_egress, NULL, FL_PROG_TC_BRIDGE_EGRESS, tc, false, false,
				      "tc bridge egress" };
	ps[n++] = (struct prog_spec){ s->progs.kfree_skb, &s->links.kfree_skb, FL_PROG_KFREE_SKB, drops, false, false,
				      "tracepoint skb/kfree_skb" };
	ps[n++] = (struct prog_spec){ s->progs.tcp_retransmit, &s->links.tcp_retransmit, FL_PROG_TCP_RETRANSMIT,
				      run && (f & FL_FEAT_TCP_RETRANSMIT_TP), false, false, "tracepoint tcp/tcp_retransmit_skb" };
	ps[n++] = (struct prog_spec){ s->progs.tcp_send_reset, &s->links.tcp_send_reset, FL_PROG_TCP_SEND_RESET,
				      resets, false, false, "tracepoint tcp/tcp_send_reset" };
	ps[n++] = (struct prog_spec){ s->progs.tcp_recv_reset, &s->links.tcp_recv_reset, FL_PROG_TCP_RECV_RESET,
				      resets, false, false, "tracepoint tcp/tcp_receive_reset" };
	ps[n++] = (struct prog_spec){ s->progs.connect4, &s->links.connect4, FL_PROG_CONNECT4, cg, false, true,
				      "cgroup/connect4" };
	ps[n++] = (struct prog_spec){ s->progs.sendmsg4, &s->links.sendmsg4, FL_PROG_SENDMSG4, cg, false, true,
				      "cgroup/sendmsg4" };
	ps[n++] = (struct prog_spec){ s->progs.connect6, &s->links.connect6, FL_PROG_CONNECT6, cg, false, true,
				      "cgroup/connect6" };
	return n;
}

static int open_skel(struct state *st)
{
	const struct options *o = st->o;
	int err;

	st->skel = flowlens_bpf__open();
	if (!st->skel) {
		fprintf(stderr, "flowlens-loader: failed to open BPF skeleton: %s\n", strerror(errno));
		return -1;
	}
	st->skel->rodata->targ_netns = o->netns;
	st->skel->rodata->http_capture = !o->no_http;
	st->skel->rodata->dns_capture = !o->no_dns;
	st->skel->rodata->http_per_flow = o->http_per_flow;
	st->skel->rodata->rb_wake_bytes = o->wake_bytes == UINT32_MAX ? o->ringbuf_bytes / 8 : o->wake_bytes;
	st->skel->rodata->tc_direct = !o->tc_load_bytes;
	st->skel->rodata->tc_notices = !o->no_notices;
	st->skel->rodata->tc_jiffies = (st->features & FL_FEAT_SYSCALL_PROG) && !o->no_jiffies;
	st->no_tcx = o->no_tcx;
	st->tab_slots = flowtab_slots_per_cpu(o->flow_entries, st->ncpus);
	st->skel->rodata->tab_slots = st->tab_slots;
	err = bpf_map__set_max_entries(st->skel->maps.events, (__u32)o->ringbuf_bytes);
	if (!err)
		err = bpf_map__set_max_entries(st->skel->maps.flows, st->tab_slots * (__u32)st->ncpus);
	if (err)
		fprintf(stderr, "flowlens-loader: sizing maps: %s\n", strerror(-err));
	return err;
}

static int clock_pair(struct state *st, __u64 *jiffies, __u64 *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	if (bpf_prog_test_run_opts(bpf_program__fd(st->skel->progs.clock_pair), &opts))
		return -errno;
	*jiffies = st->skel->bss->fl_clock.jiffies;
	*ns = st->skel->bss->fl_clock.ns;
	return 0;
}

/*
 * The tc programs count flow times in jiffies: the tick length and one (jiffies, ns) pair taken
 * right after a tick. Samples of clock_pair (jiffies and ns read together in the kernel) are
 * polled; a tick boundary counts only when the sample before it is less than 50 us older (the
 * boundary is then known to within 50 us: a poll preempted across a boundary says nothing), and
 * the tick is measured between two such boundaries at least 50 ms apart. A tick near a common HZ
 * (100, 250, 300, 1000) is taken as exactly TICK_NSEC. (Measured between two adjacent boundaries,
 * as before, a preempted poll under load gave ticks of 72 us or 4.4 ms for HZ=250: flow times and
 * the HTTP capture window off by as much.)
 */
static int calibrate_jiffies(struct state *st)
{
	static const __u64 hz[] = { 100, 250, 300, 1000 };
	const __u64 precise_ns = 50000, span_ns = 50000000;
	__u64 deadline = clock_mono_ns() + 5000000000ull;
	__u64 j = 0, ns = 0, pj = 0, pns = 0, fj = 0, fns = 0, tick;
	int err, have_prev = 0, have_first = 0;

	for (;;) {
		if ((err = clock_pair(st, &j, &ns)))
			return err;
		if (have_prev && j == pj + 1 && ns - pns < precise_ns) {
			if (!have_first) {
				fj = j;
				fns = ns;
				have_first = 1;
			} else if (ns - fns >= span_ns) {
				break;
			}
		}
		pj = j;
		pns = ns;
		have_prev = 1;
		if (clock_mono_ns() > deadline)
			return -ETIME;
	}
	tick = (ns - fns) / (j - fj);
	for (size_t i = 0; i < sizeof(hz) / sizeof(hz[0]); i++) {
		__u64 nominal = (1000000000ull + hz[i] / 2) / hz[i];

		if (tick > nominal - nominal / 10 && tick < nominal + nominal / 10)
			tick = nominal;
	}
	st->jiffy_ns = tick;
	st->jiffy_ref = j;
	st->jiffy_ref_ns = ns;
	if (st->o->verbose)
		fprintf(stderr, "flowlens-loader: flow times in jiffies: tick %llu ns, jiffy %llu at %llu ns\n",
			(unsigned long long)tick, (unsigned long long)j, (unsigned long long)ns);
	return 0;
}

__u64 flow_time_ns(const struct state *st, __u64 t)
{
	if (!st->jiffy_ns || !t)
		return t;
	return st->jiffy_ref_ns + (__u64)((__s64)(t - st->jiffy_ref) * (__s64)st->jiffy_ns);
}

static int attach_one(struct state *st, struct prog_spec *p, int cg_fd)
{
	if (!p->link) { /* tc: attached per interface by command */
		st->attached |= p->bit;
		st->attached_count++;
		return 0;
	}
	if (p->cgroup && cg_fd < 0)
		return p->required ? -1 : 0;
	*p->link = p->cgroup ? bpf_program__attach_cgroup(p->prog, cg_fd) : bpf_program__attach(p->prog);
	if (!*p->link) {
		int err = -errno;

		fprintf(stderr, "flowlens-loader: failed to attach %s: %s%s\n", p->what, strerror(-err),
			p->required ? "" : " (continuing without it)");
		return p->required ? -1 : 0;
	}
	st->attached |= p->bit;
	st->attached_count++;
	return 0;
}

static int setup(struct state *st)
{
	struct prog_spec ps[16];
	size_t n;
	int err, cg_fd = -1;

	if (open_skel(st))
		return -1;
	n = prog_specs(st, ps);
	for (size_t i = 0; i < n; i++)
		bpf_program__set_autoload(ps[i].prog, ps[i].want);
	bpf_program__set_autoload(st->skel->progs.clock_pair, st->skel->rodata->tc_jiffies);
	err = flowlens_bpf__load(st->skel);
	if (err) {
		fprintf(stderr, "flowlens-loader: failed to load BPF programs: %s\n", strerror(-err));
		return -1;
	}
	if ((err = flowtab_map(st))) {
		fprintf(stderr, "flowlens-loader: mapping the flow table: %s\n", strerror(-err));
		return -1;
	}
	if (st->skel->rodata->tc_jiffies && (err = calibrate_jiffies(st))) {
		fprintf(stderr, "flowlens-loader: calibrating jiffies: %s\n", strerror(-err));
		return -1;
	}
	/* the HTTP capture window in the units of the flow times (jiffies or ns), at least one */
	if (st->o->http_window_ms) {
		__u64 w = (__u64)st->o->http_window_ms * 1000000ull;

		if (st->jiffy_ns)
			w /= st->jiffy_ns;
		st->skel->bss->http_window = w ? w : 1;
	}
	ensure_tracefs();
	if (ps[n - 1].want) {
		const char *cg = st->o->cgroup ? st->o->cgroup : find_cgroup2();

		cg_fd = cg ? open(cg, O_RDONLY | O_DIRECTORY) : -1;
		if (cg_fd < 0)
			fprintf(stderr, "flowlens-loader: cgroup %s: %s (no connect4/sendmsg4)\n", cg ? cg : "v2",
				cg ? strerror(errno) : "not mounted");
	}
	for (size_t i = 0; i < n && !err; i++)
		if (ps[i].want)
			err = attach_one(st, &ps[i], cg_fd);
	if (cg_fd >= 0)
		close(cg_fd);
	if (err)
		return -1;
	st->rb = ring_buffer__new(bpf_map__fd(st->skel->maps.events), on_record, st, NULL);
	if (!st->rb) {
		fprintf(stderr, "flowlens-loader: failed to create ring buffer reader: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int poll_once(struct state *st, __u64 next_wake)
{
	struct pollfd fds[2] = {
		{ .fd = ring_buffer__epoll_fd(st->rb), .events = POLLIN },
		{ .fd = st->stdin_eof ? -1 : STDIN_FILENO, .events = POLLIN },
	};
	__u64 now = clock_mono_ns();
	int timeout = POLL_TIMEOUT_MS, err;

	if (next_wake > now && (next_wake - now + 999999) / 1000000 < (__u64)timeout)
		timeout = (int)((next_wake - now + 999999) / 1000000);
	else if (next_wake <= now)
		timeout = 0;
	if (poll(fds, 2, timeout) < 0 && errno != EINTR)
		return -errno;
	err = ring_buffer__consume(st->rb);
	if (err < 0 && err != -EINTR && err != -EPIPE)
		return err;
	if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
		read_commands(st);
	return 0;
}

static int run(struct state *st)
{
	const struct options *o = st->o;
	__u64 next_lost = 0, next_scan = clock_mono_ns() + o->flush_ms * 1000000ull, next_end = 0, now;
	int err;

	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
	while (!exiting) {
		err = poll_once(st, next_end && next_end < next_scan ? next_end : next_scan);
		if (err) {
			fprintf(stderr, "flowlens-loader: polling ring buffer: %s\n", strerror(-err));
			return 1;
		}
		now = clock_mono_ns();
		if (!o->prog_run)
			next_end = flow_timers(st, now); /* ENDs whose grace is over (timers armed by notices) */
		if (now >= next_scan) {
			/* --prog-run: no scan (tests flush), but the next wake still moves on: no busy loop */
			if (!o->prog_run)
				flow_scan(st, false);
			next_scan = now + o->flush_ms * 1000000ull;
			next_end = flow_timers(st, now); /* the scan arms timers for ended flows */
		}
		if (now >= next_lost) {
			next_lost = now + LOST_INTERVAL_NS;
			emit_lost_changes(st, false);
		}
		if (!flush_out(st) || stdout_closed())
			return 0;
		if (o->poll_delay_ms)
			usleep(o->poll_delay_ms * 1000u);
	}
	return 0;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int features_only(__u64 features)
{
	struct utsname u;

	uname(&u);
	printf("{\"loader_version\":%d,\"kernel\":\"%s\",\"features\":", FL_LOADER_VERSION, u.release);
	print_features(stdout, features);
	printf("}\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {
		.ringbuf_bytes = 4u * 1024 * 1024, .flow_entries = 65536, .flush_ms = 250,
		.end_grace_ms = 100, .idle_timeout_ms = 30000, .update_ms = 10000, .http_per_flow = 8,
		.http_window_ms = 10000, .wake_bytes = UINT32_MAX,
	};
	struct state st = { .o = &o };
	struct btf *btf;
	int rc = 1;

	if (parse_args(argc, argv, &o))
		return 2;
	verbose = o.verbose;
	install_signals();
	libbpf_set_print(print_libbpf);
	raise_memlock();
	ensure_tracefs();
	btf = btf__load_vmlinux_btf();
	if (libbpf_get_error(btf))
		btf = NULL;
	st.features = probe_features(btf);
	if (o.features_only) {
		btf__free(btf);
		return features_only(st.features);
	}
	st.ncpus = libbpf_num_possible_cpus();
	if (st.ncpus <= 0) {
		fprintf(stderr, "flowlens-loader: cannot count possible CPUs: %s\n", strerror(-st.ncpus));
		return 1;
	}
	st.percpu = calloc((size_t)st.ncpus, sizeof(__u64));
	if (!st.percpu || setvbuf(stdout, NULL, _IOFBF, STDOUT_BUF_BYTES))
		goto out;
	if (setup(&st))
		goto out;
	emit_hello(&st);
	emit_lost_changes(&st, true);
	emit_drop_reasons(&st, btf);
	rc = flush_out(&st) ? run(&st) : 0;
out:
	tc_detach_all(&st);
	ring_buffer__free(st.rb);
	flowlens_bpf__destroy(st.skel);
	flowtab_free(st.tab);
	if (st.slots)
		munmap(st.slots, st.slots_len);
	free(st.known);
	free(st.known_gen);
	btf__free(btf);
	free(st.tc);
	free(st.percpu);
	return rc;
}
