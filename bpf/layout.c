// SPDX-License-Identifier: MIT
/*
 * Prints the C layout of every record in flowlens.h as JSON:
 *   {"version":2,"types":{...},"records":{"tcp_state":{"size":96,"fields":{"ts_ns":[8,8],...}}}}
 * Each field is [offset, size]. test/unit/records.test.ts compares it with the decoder.
 * With --sample it prints instead, as hex, a stream of records filled in by C with the values
 * the test expects (see sample()).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "flowlens.h"

static int first;
#define BEGIN(name, s) printf("%s\"" name "\":{\"size\":%zu,\"fields\":{", first_rec ? "" : ",", sizeof(struct s)), first_rec = 0, first = 1
#define FIELD(s, f) printf("%s\"%s\":[%zu,%zu]", first ? "" : ",", #f, \
			   offsetof(struct s, f), sizeof(((struct s *)0)->f)), first = 0
#define PFIELD(s, f) printf("%s\"%s\":[%zu,%zu]", first ? "" : ",", #f, \
			    offsetof(struct s, pkt.f), sizeof(((struct s *)0)->pkt.f)), first = 0
#define END() printf("}}")

static int first_rec = 1;

static void layouts1(void)
{
	BEGIN("hdr", fl_hdr); FIELD(fl_hdr, type); FIELD(fl_hdr, version); FIELD(fl_hdr, len); END();
	BEGIN("hello", fl_hello); FIELD(fl_hello, mono_to_wall_ns); FIELD(fl_hello, ringbuf_bytes);
	FIELD(fl_hello, features); FIELD(fl_hello, loader_version); FIELD(fl_hello, attached);
	FIELD(fl_hello, attached_count); FIELD(fl_hello, ncpus); FIELD(fl_hello, flow_entries);
	FIELD(fl_hello, flush_ms); FIELD(fl_hello, kernel_release); END();
	BEGIN("tcp_state", fl_tcp_state); FIELD(fl_tcp_state, ts_ns); FIELD(fl_tcp_state, skaddr);
	FIELD(fl_tcp_state, saddr); FIELD(fl_tcp_state, daddr); FIELD(fl_tcp_state, comm);
	FIELD(fl_tcp_state, netns); FIELD(fl_tcp_state, pid); FIELD(fl_tcp_state, tid);
	FIELD(fl_tcp_state, sport); FIELD(fl_tcp_state, dport); FIELD(fl_tcp_state, family);
	FIELD(fl_tcp_state, protocol); FIELD(fl_tcp_state, oldstate); FIELD(fl_tcp_state, newstate);
	FIELD(fl_tcp_state, pad); END();
	BEGIN("lost", fl_lost); FIELD(fl_lost, total); FIELD(fl_lost, source); FIELD(fl_lost, pad); END();
	BEGIN("flow", fl_flow); FIELD(fl_flow, first_ns); FIELD(fl_flow, last_ns); FIELD(fl_flow, bytes);
	FIELD(fl_flow, payload); FIELD(fl_flow, pkts); FIELD(fl_flow, saddr); FIELD(fl_flow, daddr);
	FIELD(fl_flow, ifindex); FIELD(fl_flow, sport); FIELD(fl_flow, dport); FIELD(fl_flow, family);
	FIELD(fl_flow, proto); FIELD(fl_flow, event); FIELD(fl_flow, origin); FIELD(fl_flow, flags);
	FIELD(fl_flow, icmp_type); FIELD(fl_flow, icmp_code); FIELD(fl_flow, l7); END();
}

#define PKT_FIELDS(s) PFIELD(s, ts_ns); PFIELD(s, saddr); PFIELD(s, daddr); PFIELD(s, ifindex); \
	PFIELD(s, sport); PFIELD(s, dport); PFIELD(s, payload_len); PFIELD(s, captured); \
	PFIELD(s, family); PFIELD(s, proto); PFIELD(s, hook); PFIELD(s, pad); PFIELD(s, tcp_seq); PFIELD(s, tcp_ack)

static void layouts2(void)
{
	BEGIN("dns", fl_dns); PKT_FIELDS(fl_dns); FIELD(fl_dns, data); END();
	BEGIN("http", fl_http); PKT_FIELDS(fl_http); FIELD(fl_http, data); END();
	BEGIN("drop", fl_drop); FIELD(fl_drop, ts_ns); FIELD(fl_drop, location); FIELD(fl_drop, saddr);
	FIELD(fl_drop, daddr); FIELD(fl_drop, reason); FIELD(fl_drop, ifindex); FIELD(fl_drop, netns);
	FIELD(fl_drop, sport); FIELD(fl_drop, dport); FIELD(fl_drop, family); FIELD(fl_drop, proto);
	FIELD(fl_drop, pad); END();
	BEGIN("drop_reason", fl_drop_reason); FIELD(fl_drop_reason, value); FIELD(fl_drop_reason, pad);
	FIELD(fl_drop_reason, name); END();
	BEGIN("tcp_event", fl_tcp_event); FIELD(fl_tcp_event, ts_ns); FIELD(fl_tcp_event, skaddr);
	FIELD(fl_tcp_event, saddr); FIELD(fl_tcp_event, daddr); FIELD(fl_tcp_event, netns);
	FIELD(fl_tcp_event, sport); FIELD(fl_tcp_event, dport); FIELD(fl_tcp_event, family);
	FIELD(fl_tcp_event, kind); FIELD(fl_tcp_event, state); FIELD(fl_tcp_event, pad); END();
	BEGIN("cmd_result", fl_cmd_result); FIELD(fl_cmd_result, err); FIELD(fl_cmd_result, cmd);
	FIELD(fl_cmd_result, arg); FIELD(fl_cmd_result, seq); END();
	BEGIN("sock_addr", fl_sock_addr); FIELD(fl_sock_addr, ts_ns); FIELD(fl_sock_addr, cookie);
	FIELD(fl_sock_addr, skaddr); FIELD(fl_sock_addr, daddr); FIELD(fl_sock_addr, comm);
	FIELD(fl_sock_addr, netns); FIELD(fl_sock_addr, pid); FIELD(fl_sock_addr, dport);
	FIELD(fl_sock_addr, family); FIELD(fl_sock_addr, proto); FIELD(fl_sock_addr, pad); END();
}

static void hex(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

#define INIT(r, t) memset(&r, 0, sizeof(r)), r.hdr.type = t, r.hdr.version = FL_REC_VERSION, r.hdr.len = sizeof(r)

static const __u8 A6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const __u8 B6[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55 };

static void sample_tcp(int v6)
{
	struct fl_tcp_state r;

	INIT(r, FL_REC_TCP_STATE);
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
	memcpy(r.saddr, v6 ? A6 : (const __u8 *)"\x0a\x00\x00\x01", v6 ? 16 : 4);
	memcpy(r.daddr, v6 ? B6 : (const __u8 *)"\xc0\xa8\x01\xfe", v6 ? 16 : 4);
	hex(&r, sizeof(r));
}

static void sample_head(void)
{
	struct fl_hello h;
	struct fl_lost l;
	struct fl_drop_reason n;

	INIT(h, FL_REC_HELLO);
	h.mono_to_wall_ns = 1700000000000000000ll;
	h.ringbuf_bytes = 4194304;
	h.features = FL_FEAT_BTF | FL_FEAT_RINGBUF | FL_FEAT_DROP_REASON_ENUM;
	h.loader_version = 2;
	h.attached = FL_PROG_TCP_STATE | FL_PROG_KFREE_SKB;
	h.attached_count = 2;
	h.ncpus = 2;
	h.flow_entries = 65536;
	h.flush_ms = 250;
	strcpy(h.kernel_release, "6.18.0-test");
	hex(&h, sizeof(h));
	INIT(l, FL_REC_LOST);
	l.total = 7;
	l.source = FL_LOST_RB_TCP_STATE;
	hex(&l, sizeof(l));
	INIT(n, FL_REC_DROP_REASON);
	n.value = 12;
	strcpy(n.name, "NETFILTER_DROP");
	hex(&n, sizeof(n));
}

static void sample_flow(void)
{
	struct fl_flow f;

	INIT(f, FL_REC_FLOW);
	f.first_ns = 5000000000ull;
	f.last_ns = 5000300000ull;
	f.bytes[0] = 400; f.bytes[1] = 900;
	f.payload[0] = 100; f.payload[1] = 600;
	f.pkts[0] = 6; f.pkts[1] = 5;
	memcpy(f.saddr, "\x0a\xf4\x00\x05", 4);
	memcpy(f.daddr, "\x0a\x60\x00\x0a", 4);
	f.ifindex = 17;
	f.sport = 41000;
	f.dport = 80;
	f.family = 4;
	f.proto = 6;
	f.event = FL_FLOW_END;
	f.origin = FL_HOOK_FROM_POD;
	f.flags[0] = 0x1b; f.flags[1] = 0x13;
	f.l7[0] = 3; f.l7[1] = 2;
	hex(&f, sizeof(f));
}

static void sample_l7(void)
{
	static const char get[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	struct fl_dns d;
	struct fl_http h;

	INIT(d, FL_REC_DNS);
	d.pkt.ts_ns = 5000000000ull;
	memcpy(d.pkt.saddr, "\x0a\xf4\x00\x05", 4);
	memcpy(d.pkt.daddr, "\x0a\x60\x00\x0a", 4);
	d.pkt.ifindex = 17; d.pkt.sport = 5353; d.pkt.dport = 53;
	d.pkt.payload_len = 12; d.pkt.captured = 12; d.pkt.family = 4; d.pkt.proto = 17; d.pkt.hook = 1;
	memcpy(d.data, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	hex(&d, sizeof(d));
	INIT(h, FL_REC_HTTP);
	h.pkt = d.pkt;
	h.pkt.family = 6; h.pkt.proto = 6; h.pkt.sport = 41000; h.pkt.dport = 80; h.pkt.hook = 2;
	memcpy(h.pkt.saddr, A6, 16);
	memcpy(h.pkt.daddr, B6, 16);
	h.pkt.payload_len = 300; h.pkt.captured = sizeof(get) - 1;
	h.pkt.tcp_seq = 0x89abcdefu; h.pkt.tcp_ack = 1000;
	memcpy(h.data, get, sizeof(get) - 1);
	hex(&h, sizeof(h));
}

static void sample_events(void)
{
	struct fl_drop d;
	struct fl_tcp_event e;
	struct fl_cmd_result c;
	struct fl_sock_addr s;

	INIT(d, FL_REC_DROP);
	d.ts_ns = 5000000000ull; d.location = 0xffffffff81000000ull;
	memcpy(d.saddr, "\x0a\xf4\x00\x05", 4); memcpy(d.daddr, "\x0a\xf4\x00\x06", 4);
	d.reason = 12; d.ifindex = 17; d.netns = 4026531840u; d.sport = 41000; d.dport = 9090;
	d.family = 4; d.proto = 6;
	hex(&d, sizeof(d));
	INIT(e, FL_REC_TCP_EVENT);
	e.ts_ns = 5000000000ull; e.skaddr = 0xffff888123456780ull;
	memcpy(e.saddr, "\x0a\xf4\x00\x05", 4); memcpy(e.daddr, "\x0a\xf4\x00\x06", 4);
	e.netns = 4026531840u; e.sport = 41000; e.dport = 80; e.family = 4; e.kind = FL_TCP_RETRANSMIT; e.state = 1;
	hex(&e, sizeof(e));
	INIT(c, FL_REC_CMD_RESULT);
	c.err = -19; c.cmd = FL_CMD_ATTACH; c.arg = 17; c.seq = 3;
	hex(&c, sizeof(c));
	INIT(s, FL_REC_SOCK_ADDR);
	s.ts_ns = 5000000000ull; s.cookie = 99; s.skaddr = 0xffff888123456780ull;
	memcpy(s.daddr, "\x0a\x60\x00\x0a", 4); strcpy(s.comm, "curl");
	s.netns = 0; s.pid = 4242; s.dport = 80; s.family = 4; s.proto = 6;
	hex(&s, sizeof(s));
}

static void types(void)
{
	printf("\"types\":{\"hello\":%d,\"tcp_state\":%d,\"lost\":%d,\"flow\":%d,\"dns\":%d,\"http\":%d,"
	       "\"drop\":%d,\"drop_reason\":%d,\"tcp_event\":%d,\"cmd_result\":%d,\"sock_addr\":%d},",
	       FL_REC_HELLO, FL_REC_TCP_STATE, FL_REC_LOST, FL_REC_FLOW, FL_REC_DNS, FL_REC_HTTP,
	       FL_REC_DROP, FL_REC_DROP_REASON, FL_REC_TCP_EVENT, FL_REC_CMD_RESULT, FL_REC_SOCK_ADDR);
	printf("\"lostSources\":{\"ringbuf_reserve.tcp_state\":%d,\"ringbuf_reserve.dns\":%d,"
	       "\"ringbuf_reserve.http\":%d,\"ringbuf_reserve.drop\":%d,\"ringbuf_reserve.tcp_event\":%d,"
	       "\"ringbuf_reserve.sock_addr\":%d,\"flow_map_full\":%d,\"flow_evicted\":%d},",
	       FL_LOST_RB_TCP_STATE, FL_LOST_RB_DNS, FL_LOST_RB_HTTP, FL_LOST_RB_DROP, FL_LOST_RB_TCP_EVENT,
	       FL_LOST_RB_SOCK_ADDR, FL_LOST_FLOW_CREATE, FL_LOST_FLOW_EVICTED);
	printf("\"limits\":{\"dns\":%d,\"http\":%d},", FL_DNS_MAX, FL_HTTP_MAX);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--sample")) {
		sample_head();
		sample_tcp(0);
		sample_tcp(1);
		sample_flow();
		sample_l7();
		sample_events();
		printf("\n");
		return 0;
	}
	printf("{\"version\":%d,\"maxBytes\":%d,", FL_REC_VERSION, FL_REC_MAX_BYTES);
	types();
	printf("\"records\":{");
	layouts1();
	layouts2();
	printf("}}\n");
	(void)first;
	return 0;
}
