/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps and helpers shared by every Flowlens BPF program (one object: flowlens.bpf.c). */
#ifndef FL_COMMON_BPF_H
#define FL_COMMON_BPF_H

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_ARP 0x0806
#define ETH_HLEN 14
#define TC_ACT_UNSPEC (-1)

/* Settings, written by the loader between open and load. */
const volatile __u32 targ_netns = 0; /* tcp_state: 0 = every network namespace */
const volatile __u32 http_capture = 1; /* tc: copy HTTP/1.x first bytes */
const volatile __u32 dns_capture = 1;  /* tc: copy DNS messages on UDP 53 */
const volatile __u32 http_per_flow = 8; /* tc: HTTP heads captured per flow, direction and CPU in each
                                         * window (0: all) */
const volatile __u32 tc_direct = 1;     /* tc: direct packet access when the headers are linear (0: testing,
                                         * every header through bpf_skb_load_bytes) */
const volatile __u32 tc_notices = 1;    /* tc: fl_flow_notice on create/FIN/RST (0: the scan only) */
const volatile __u32 tc_jiffies = 0;    /* tc: flow times in jiffies (bpf_jiffies64 is inlined: no call per
                                         * packet); set when the loader can calibrate them (clock_pair) */

/* Records wake the loader only once this many bytes are waiting (0: every record wakes it); below
 * that the loader's own wakes (at least every 100 ms) read them: one wake per batch, not per record. */
const volatile __u64 rb_wake_bytes = 0;

/* Written by the loader after load (it knows the tick length only then): the HTTP capture window in
 * the units of fl_flow_val.last_ns (jiffies or ns). 0: no window, only the first http_per_flow heads. */
__u64 http_window = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024); /* default; the loader may resize before load */
} events SEC(".maps");

/* bpf_ringbuf_submit flags: wake the loader only past rb_wake_bytes waiting (a helper call: record
 * paths only, never per packet). */
static __always_inline __u64 rb_wake(void)
{
	if (!rb_wake_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= rb_wake_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Per-CPU counters of lost records, indexed by FL_LOST_*; slot FL_LOST_MAX is unused (it counted
 * flow creations for the hash map the flow table replaced), FL_SLOT_NOTICE_LOST failed
 * fl_flow_notice reserves (loader-internal: the scan still emits those flows, later). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_LOST_MAX + 2);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count_slot(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &slot);

	if (n)
		*n += 1; /* per-CPU slot: no atomics needed */
}

static __always_inline void count_lost(__u32 source)
{
	count_slot(source);
}

static __always_inline void fill_hdr(struct fl_hdr *h, __u16 type, __u32 len)
{
	h->type = type;
	h->version = FL_REC_VERSION;
	h->len = len;
}

#endif
