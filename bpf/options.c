// SPDX-License-Identifier: MIT
/* flowlens-loader command-line options (see usage()). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "loader.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flowlens-loader [options]\n"
		"  --ringbuf-bytes N      ring buffer size: a power of two, multiple of the page size (default %u)\n"
		"  --netns INODE          tcp_state: only sockets of this network namespace (default: all)\n"
		"  --flow-entries N       flow map size (default 65536)\n"
		"  --flush-ms N           flow map scan interval (default 250)\n"
		"  --end-grace-ms N       quiet time after FIN both ways/RST before END (default 100)\n"
		"  --idle-timeout-ms N    quiet time before TIMEOUT (default 30000)\n"
		"  --update-ms N          least time between UPDATE records of one flow (default 10000)\n"
		"  --cgroup PATH          cgroup v2 for connect4/sendmsg4 (default: the cgroup2 mount)\n"
		"  --http-per-flow N      HTTP heads captured per flow, direction and CPU in each window; the segments\n"
		"                         between are not looked at (default 8, 0: all)\n"
		"  --http-window-ms N     that window, from its first head (default 10000; 0: only the first N of a flow)\n"
		"  --wake-bytes N         records wake the loader only once N bytes wait in the ring buffer, else the\n"
		"                         loader reads them on its own wakes, at least every 100 ms (default: an eighth\n"
		"                         of the ring buffer; 0: every record wakes it)\n"
		"  --no-tc --no-cgroup --no-http --no-dns --no-drops   switch parts off\n"
		"  --no-notices           tc: no flow notices (START/END wait for the map scan; for comparison)\n"
		"  --tc-load-bytes        tc: read every header with bpf_skb_load_bytes (testing the non-linear path)\n"
		"  --no-tcx               tc: clsact filters even where the kernel has tcx links (6.6+; testing the fallback)\n"
		"  --no-jiffies           tc: flow times from the coarse clock helper, as before 5.14 (testing the fallback)\n"
		"  --no-egress-skip       tc: egress also counts packets our ingress hooks counted (every packet of a\n"
		"                         connection between two pods of this node twice; for comparison)\n"
		"  --prog-run             load the tc programs only, attach nothing; stdin: run HOOK IFINDEX HEX\n"
		"  --features             print the kernel features as JSON and exit\n"
		"  --poll-delay-ms N      sleep N ms between polls (testing: provokes ring buffer loss)\n"
		"  --verbose              libbpf debug output on stderr\n"
		"Writes fixed-width records (bpf/flowlens.h) to stdout; reads commands on stdin (commands.c).\n",
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

static int parse_u32_opt(int c, const char *arg, struct options *o)
{
	static const struct { int c; const char *name; __u64 min, max; size_t off; } t[] = {
		{ 'n', "--netns", 0, UINT_MAX, offsetof(struct options, netns) },
		{ 'e', "--flow-entries", 64, 1u << 24, offsetof(struct options, flow_entries) },
		{ 'f', "--flush-ms", 10, 60000, offsetof(struct options, flush_ms) },
		{ 'g', "--end-grace-ms", 0, 600000, offsetof(struct options, end_grace_ms) },
		{ 'i', "--idle-timeout-ms", 100, 3600000, offsetof(struct options, idle_timeout_ms) },
		{ 'u', "--update-ms", 0, 3600000, offsetof(struct options, update_ms) },
		{ 'd', "--poll-delay-ms", 0, 60000, offsetof(struct options, poll_delay_ms) },
		{ 'p', "--http-per-flow", 0, 1u << 30, offsetof(struct options, http_per_flow) },
		{ 'w', "--http-window-ms", 0, 3600000, offsetof(struct options, http_window_ms) },
		{ 'W', "--wake-bytes", 0, 1u << 30, offsetof(struct options, wake_bytes) },
	};
	__u64 v;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].c != c)
			continue;
		if (parse_u64(t[i].name, arg, t[i].max, &v))
			return -1;
		if (v < t[i].min) {
			fprintf(stderr, "flowlens-loader: %s must be at least %llu\n", t[i].name,
				(unsigned long long)t[i].min);
			return -1;
		}
		*(__u32 *)((char *)o + t[i].off) = (__u32)v;
		return 0;
	}
	return 1;
}

int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "ringbuf-bytes", required_argument, NULL, 'r' }, { "netns", required_argument, NULL, 'n' },
		{ "poll-delay-ms", required_argument, NULL, 'd' }, { "flow-entries", required_argument, NULL, 'e' },
		{ "flush-ms", required_argument, NULL, 'f' }, { "end-grace-ms", required_argument, NULL, 'g' },
		{ "idle-timeout-ms", required_argument, NULL, 'i' }, { "update-ms", required_argument, NULL, 'u' },
		{ "cgroup", required_argument, NULL, 'c' }, { "http-per-flow", required_argument, NULL, 'p' },
		{ "http-window-ms", required_argument, NULL, 'w' }, { "wake-bytes", required_argument, NULL, 'W' }, { "no-tc", no_argument, NULL, 'T' },
		{ "no-cgroup", no_argument, NULL, 'C' }, { "no-http", no_argument, NULL, 'H' },
		{ "no-dns", no_argument, NULL, 'D' }, { "no-drops", no_argument, NULL, 'K' },
		{ "prog-run", no_argument, NULL, 'P' }, { "features", no_argument, NULL, 'F' },
		{ "no-notices", no_argument, NULL, 'N' }, { "tc-load-bytes", no_argument, NULL, 'L' },
		{ "no-tcx", no_argument, NULL, 'X' }, { "no-egress-skip", no_argument, NULL, 'S' },
		{ "no-jiffies", no_argument, NULL, 'J' },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		r = parse_u32_opt(c, optarg, o);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		switch (c) {
		case 'r':
			if (parse_u64("--ringbuf-bytes", optarg, ~0ull, &o->ringbuf_bytes) ||
			    check_ringbuf_bytes(o->ringbuf_bytes))
				return -1;
			break;
		case 'c': o->cgroup = optarg; break;
		case 'T': o->no_tc = true; break;
		case 'C': o->no_cgroup = true; break;
		case 'H': o->no_http = true; break;
		case 'D': o->no_dns = true; break;
		case 'K': o->no_drops = true; break;
		case 'P': o->prog_run = true; break;
		case 'N': o->no_notices = true; break;
		case 'L': o->tc_load_bytes = true; break;
		case 'X': o->no_tcx = true; break;
		case 'S': o->no_egress_skip = true; break;
		case 'J': o->no_jiffies = true; break;
		case 'F': o->features_only = true; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "flowlens-loader: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->wake_bytes != UINT32_MAX && o->wake_bytes > o->ringbuf_bytes) {
		/* records would never wake the loader, and a burst could fill the ring between its wakes */
		fprintf(stderr, "flowlens-loader: --wake-bytes %u is more than the ring buffer (%llu bytes)\n",
			o->wake_bytes, (unsigned long long)o->ringbuf_bytes);
		return -1;
	}
	return 0;
}

