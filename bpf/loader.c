// SPDX-License-Identifier: MIT
/*
 * flowlens-loader: loads and attaches the Flowlens BPF programs, then copies
 * every ring-buffer record unchanged to stdout (binary, framed by fl_hdr.len).
 * First record: HELLO; then a LOST baseline; then TCP_STATE records, and a LOST
 * record at most once a second whenever the reserve-failure total changed.
 *
 * Exits 0 on SIGTERM/SIGINT or when the reader of stdout goes away (EPIPE);
 * 1 on errors (human-readable message on stderr). Nothing is pinned: the
 * programs are detached and unloaded when this process exits.
 */
#include <errno.h>
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
#include <sys/mount.h>
#include <sys/resource.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "flowlens.h"
#include "tcp_state.skel.h"

#define FL_LOADER_VERSION 1
#define STDOUT_BUF_BYTES (1 << 20)
#define POLL_TIMEOUT_MS 100
#define LOST_INTERVAL_NS 1000000000ull

struct options {
	__u64 ringbuf_bytes;
	__u32 netns;
	unsigned int poll_delay_ms;
	bool verbose;
};

struct state {
	struct tcp_state_bpf *skel;
	struct ring_buffer *rb;
	int ncpus;
	__u64 *percpu;
	__u64 lost_total;
	bool output_gone;
	bool bad_record;
};

static volatile sig_atomic_t exiting;
static bool verbose;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flowlens-loader [--ringbuf-bytes N] [--netns INODE] [--poll-delay-ms N] [--verbose]\n"
		"  --ringbuf-bytes N  ring buffer size: a power of two, multiple of the page size\n"
		"                     (default %u)\n"
		"  --netns INODE      only sockets of this network namespace (default: all)\n"
		"  --poll-delay-ms N  sleep N ms between polls (testing: provokes ring buffer loss)\n"
		"  --verbose          libbpf debug output on stderr\n"
		"Writes fixed-width records (bpf/flowlens.h) to stdout.\n",
		4u * 1024 * 1024);
}

static int parse_u64(const char *name, const char *s, __u64 max, __u64 *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0' || *s == '-' || v > max) {
		fprintf(stderr, "flowlens-loader: invalid %s: '%s'\n", name, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int check_ringbuf_bytes(__u64 n)
{
	long page = sysconf(_SC_PAGESIZE);

	if (n < (__u64)page || (n & (n - 1)) || n % (__u64)page || n > (1ull << 30)) {
		fprintf(stderr, "flowlens-loader: --ringbuf-bytes %llu: must be a power of two, "
			"a multiple of the page size (%ld) and at most 1 GiB\n",
			(unsigned long long)n, page);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "ringbuf-bytes", required_argument, NULL, 'r' },
		{ "netns", required_argument, NULL, 'n' },
		{ "poll-delay-ms", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	__u64 v;
	int c;

	while ((c = getopt_long(argc, argv, "r:n:d:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (parse_u64("--ringbuf-bytes", optarg, ~0ull, &o->ringbuf_bytes) ||
			    check_ringbuf_bytes(o->ringbuf_bytes))
				return -1;
			break;
		case 'n':
			if (parse_u64("--netns", optarg, UINT_MAX, &v))
				return -1;
			o->netns = (__u32)v;
			break;
		case 'd':
			if (parse_u64("--poll-delay-ms", optarg, 60000, &v))
				return -1;
			o->poll_delay_ms = (unsigned int)v;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "flowlens-loader: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
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

/* Returns false when stdout is gone (EPIPE) or broken. */
static bool emit(struct state *st, const void *data, size_t len)
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

static void emit_hello(struct state *st, const struct options *o)
{
	struct fl_hello h;
	__u64 wall1 = clock_ns(CLOCK_REALTIME);
	__u64 mono = clock_ns(CLOCK_MONOTONIC);
	__u64 wall2 = clock_ns(CLOCK_REALTIME);

	memset(&h, 0, sizeof(h));
	h.hdr.type = FL_REC_HELLO;
	h.hdr.version = FL_REC_VERSION;
	h.hdr.len = sizeof(h);
	h.mono_to_wall_ns = (__s64)(wall1 + (wall2 - wall1) / 2) - (__s64)mono;
	h.ringbuf_bytes = o->ringbuf_bytes;
	h.loader_version = FL_LOADER_VERSION;
	h.attached = FL_PROG_TCP_STATE;
	h.attached_count = 1;
	h.ncpus = (__u32)st->ncpus;
	emit(st, &h, sizeof(h));
}

static void emit_lost(struct state *st)
{
	struct fl_lost l;

	memset(&l, 0, sizeof(l));
	l.hdr.type = FL_REC_LOST;
	l.hdr.version = FL_REC_VERSION;
	l.hdr.len = sizeof(l);
	l.total = st->lost_total;
	l.source = FL_LOST_RINGBUF_RESERVE;
	emit(st, &l, sizeof(l));
}

static int read_lost(struct state *st, __u64 *total)
{
	__u32 key = 0;
	int err, i;

	err = bpf_map__lookup_elem(st->skel->maps.lost, &key, sizeof(key), st->percpu,
				   sizeof(__u64) * (size_t)st->ncpus, 0);
	if (err) {
		fprintf(stderr, "flowlens-loader: reading lost counters: %s\n", strerror(-err));
		return err;
	}
	*total = 0;
	for (i = 0; i < st->ncpus; i++)
		*total += st->percpu[i];
	return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct state *st = ctx;
	const struct fl_hdr *h = data;

	if (size < sizeof(*h) || size > FL_REC_MAX_BYTES || h->len != size ||
	    h->version != FL_REC_VERSION || h->type != FL_REC_TCP_STATE ||
	    size != sizeof(struct fl_tcp_state)) {
		if (!st->bad_record)
			fprintf(stderr, "flowlens-loader: dropping malformed ring buffer record "
				"(%zu bytes, type %u, version %u, len %u)\n",
				size, size >= sizeof(*h) ? h->type : 0,
				size >= sizeof(*h) ? h->version : 0, size >= sizeof(*h) ? h->len : 0);
		st->bad_record = true;
		return 0;
	}
	return emit(st, data, size) ? 0 : -EPIPE;
}

static int setup(struct state *st, const struct options *o)
{
	int err;

	st->skel = tcp_state_bpf__open();
	if (!st->skel) {
		fprintf(stderr, "flowlens-loader: failed to open BPF skeleton: %s\n", strerror(errno));
		return -1;
	}
	st->skel->rodata->targ_netns = o->netns;
	err = bpf_map__set_max_entries(st->skel->maps.events, (__u32)o->ringbuf_bytes);
	if (!err)
		err = tcp_state_bpf__load(st->skel);
	if (err) {
		fprintf(stderr, "flowlens-loader: failed to load BPF programs: %s\n", strerror(-err));
		return -1;
	}
	ensure_tracefs();
	err = tcp_state_bpf__attach(st->skel);
	if (err) {
		fprintf(stderr, "flowlens-loader: failed to attach tcp_state "
			"(tracepoint sock/inet_sock_set_state): %s\n", strerror(-err));
		return -1;
	}
	st->rb = ring_buffer__new(bpf_map__fd(st->skel->maps.events), on_record, st, NULL);
	if (!st->rb) {
		fprintf(stderr, "flowlens-loader: failed to create ring buffer reader: %s\n",
			strerror(errno));
		return -1;
	}
	return 0;
}

static void maybe_emit_lost(struct state *st, __u64 *next_ns)
{
	__u64 now = clock_ns(CLOCK_MONOTONIC), total;

	if (now < *next_ns)
		return;
	*next_ns = now + LOST_INTERVAL_NS;
	if (read_lost(st, &total) == 0 && total != st->lost_total) {
		st->lost_total = total;
		emit_lost(st);
	}
}

static int run(struct state *st, const struct options *o)
{
	__u64 next_lost = 0;
	int err;

	while (!exiting) {
		err = ring_buffer__poll(st->rb, POLL_TIMEOUT_MS);
		if (err < 0 && err != -EINTR && err != -EPIPE) {
			fprintf(stderr, "flowlens-loader: polling ring buffer: %s\n", strerror(-err));
			return 1;
		}
		maybe_emit_lost(st, &next_lost);
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

int main(int argc, char **argv)
{
	struct options o = { .ringbuf_bytes = 4u * 1024 * 1024 };
	struct state st = { 0 };
	int rc = 1;

	if (parse_args(argc, argv, &o))
		return 2;
	verbose = o.verbose;
	install_signals();
	libbpf_set_print(print_libbpf);
	raise_memlock();
	st.ncpus = libbpf_num_possible_cpus();
	if (st.ncpus <= 0) {
		fprintf(stderr, "flowlens-loader: cannot count possible CPUs: %s\n", strerror(-st.ncpus));
		return 1;
	}
	st.percpu = calloc((size_t)st.ncpus, sizeof(__u64));
	if (!st.percpu || setvbuf(stdout, NULL, _IOFBF, STDOUT_BUF_BYTES))
		goto out;
	if (setup(&st, &o))
		goto out;
	emit_hello(&st, &o);
	emit_lost(&st);
	rc = flush_out(&st) ? run(&st, &o) : 0;
out:
	ring_buffer__free(st.rb);
	tcp_state_bpf__destroy(st.skel);
	free(st.percpu);
	return rc;
}
