// SPDX-License-Identifier: MIT
/*
 * Prints the C layout of every record in flowlens.h as JSON:
 *   {"version":1,"types":{...},"records":{"tcp_state":{"size":96,"fields":{"ts_ns":[8,8],...}}}}
 * Each field is [offset, size]. test/unit/records.test.ts compares it with the decoder.
 */
#include <stddef.h>
#include <stdio.h>
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

int main(void)
{
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
