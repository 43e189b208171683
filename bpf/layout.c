// SPDX-License-Identifier: MIT
/*
 * Prints the C layout of every record in flowlens.h as JSON:
 *   {"version":1,"types":{...},"records":{"tcp_state":{"size":96,"fields":{"ts_ns":[8,8],...}}}}
 * Each field is [offset, size]. test/unit/records.test.ts compares it with the decoder.
 * With --sample it prints instead, as hex, a stream of records filled in by C
 * (HELLO, LOST, TCP_STATE IPv4, TCP_STATE IPv6) with the values the test expects.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "flowlens.h"

#define FIELD(s, f) printf("%s\"%s\":[%zu,%zu]", first ? "" : ",", #f, \
			   offsetof(struct s, f), sizeof(((struct s *)0)->f)), first = 0

static void hdr(void)
{
	int first = 1;

	printf("\"hdr\":{\"size\":%zu,\"fields\":{", sizeof(struct fl_hdr));
	FIELD(fl_hdr, type);
	FIELD(fl_hdr, version);
	FIELD(fl_hdr, len);
	printf("}}");
}

static void hello(void)
{
	int first = 1;

	printf(",\"hello\":{\"size\":%zu,\"fields\":{", sizeof(struct fl_hello));
	FIELD(fl_hello, mono_to_wall_ns);
	FIELD(fl_hello, ringbuf_bytes);
	FIELD(fl_hello, loader_version);
	FIELD(fl_hello, attached);
	FIELD(fl_hello, attached_count);
	FIELD(fl_hello, ncpus);
	printf("}}");
}

static void tcp_state(void)
{
	int first = 1;

	printf(",\"tcp_state\":{\"size\":%zu,\"fields\":{", sizeof(struct fl_tcp_state));
	FIELD(fl_tcp_state, ts_ns);
	FIELD(fl_tcp_state, skaddr);
	FIELD(fl_tcp_state, saddr);
	FIELD(fl_tcp_state, daddr);
	FIELD(fl_tcp_state, comm);
	FIELD(fl_tcp_state, netns);
	FIELD(fl_tcp_state, pid);
	FIELD(fl_tcp_state, tid);
	FIELD(fl_tcp_state, sport);
	FIELD(fl_tcp_state, dport);
	FIELD(fl_tcp_state, family);
	FIELD(fl_tcp_state, protocol);
	FIELD(fl_tcp_state, oldstate);
	FIELD(fl_tcp_state, newstate);
	FIELD(fl_tcp_state, pad);
	printf("}}");
}

static void lost(void)
{
	int first = 1;

	printf(",\"lost\":{\"size\":%zu,\"fields\":{", sizeof(struct fl_lost));
	FIELD(fl_lost, total);
	FIELD(fl_lost, source);
	FIELD(fl_lost, pad);
	printf("}}");
}

static void hex(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static void sample_tcp(int v6)
{
	static const __u8 a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const __u8 b6[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff,
				     0xfe, 0x33, 0x44, 0x55 };
	struct fl_tcp_state r;

	memset(&r, 0, sizeof(r));
	r.hdr.type = FL_REC_TCP_STATE;
	r.hdr.version = FL_REC_VERSION;
	r.hdr.len = sizeof(r);
	r.ts_ns = 5000000000ull;
	r.skaddr = 0xffff888123456780ull;
	r.netns = 4026531840u;
	r.pid = 4242;
	r.tid = 4243;
	strcpy(r.comm, v6 ? "curl" : "node");
	r.family = v6 ? 10 : 2;
	r.protocol = 6;
	r.sport = 40000;
	r.dport = 8080;
	r.oldstate = v6 ? 10 : 2;  /* LISTEN / SYN_SENT */
	r.newstate = v6 ? 3 : 1;   /* SYN_RECV / ESTABLISHED */
	if (v6) {
		memcpy(r.saddr, a6, 16);
		memcpy(r.daddr, b6, 16);
	} else {
		memcpy(r.saddr, "\x0a\x00\x00\x01", 4);
		memcpy(r.daddr, "\xc0\xa8\x01\xfe", 4);
	}
	hex(&r, sizeof(r));
}

static void sample(void)
{
	struct fl_hello h;
	struct fl_lost l;

	memset(&h, 0, sizeof(h));
	h.hdr.type = FL_REC_HELLO;
	h.hdr.version = FL_REC_VERSION;
	h.hdr.len = sizeof(h);
	h.mono_to_wall_ns = 1700000000000000000ll;
	h.ringbuf_bytes = 4194304;
	h.loader_version = 1;
	h.attached = FL_PROG_TCP_STATE;
	h.attached_count = 1;
	h.ncpus = 2;
	hex(&h, sizeof(h));
	memset(&l, 0, sizeof(l));
	l.hdr.type = FL_REC_LOST;
	l.hdr.version = FL_REC_VERSION;
	l.hdr.len = sizeof(l);
	l.total = 7;
	l.source = FL_LOST_RINGBUF_RESERVE;
	hex(&l, sizeof(l));
	sample_tcp(0);
	sample_tcp(1);
	printf("\n");
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--sample")) {
		sample();
		return 0;
	}
	printf("{\"version\":%d,\"maxBytes\":%d,", FL_REC_VERSION, FL_REC_MAX_BYTES);
	printf("\"types\":{\"hello\":%d,\"tcp_state\":%d,\"lost\":%d},",
	       FL_REC_HELLO, FL_REC_TCP_STATE, FL_REC_LOST);
	printf("\"lostSources\":{\"ringbuf_reserve\":%d},", FL_LOST_RINGBUF_RESERVE);
	printf("\"records\":{");
	hdr();
	hello();
	tcp_state();
	lost();
	printf("}}\n");
	return 0;
}
