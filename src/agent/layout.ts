// The C layout of every record in bpf/flowlens.h, as printed by bpf/layout.c: [offset, size] of
// each field. test/unit/records.test.ts compares this table with the C side. Keep in step.

export const RECORD_VERSION = 3;
export const HEADER_BYTES = 8;
export const RECORD_MAX_BYTES = 4096;

export const RecordType = {
  HELLO: 1, TCP_STATE: 2, LOST: 3, FLOW: 4, DNS: 5, HTTP: 6, DROP: 7, DROP_REASON: 8, TCP_EVENT: 9, CMD_RESULT: 10, SOCK_ADDR: 11,
} as const;
export type RecordTypeCode = (typeof RecordType)[keyof typeof RecordType];

/** fl_lost.source codes (FL_LOST_*) and the names the agent reports them under. */
export const LostSource = {
  RB_TCP_STATE: 1, RB_DNS: 2, RB_HTTP: 3, RB_DROP: 4, RB_TCP_EVENT: 5, RB_SOCK_ADDR: 6, FLOW_MAP_FULL: 7, FLOW_EVICTED: 8,
} as const;
export const LOST_SOURCE_NAMES: Readonly<Record<number, string>> = {
  1: 'ringbuf_reserve.tcp_state', 2: 'ringbuf_reserve.dns', 3: 'ringbuf_reserve.http', 4: 'ringbuf_reserve.drop',
  5: 'ringbuf_reserve.tcp_event', 6: 'ringbuf_reserve.sock_addr', 7: 'flow_map_full', 8: 'flow_evicted',
};

/** Bit i of HelloRecord.attached (FL_PROG_*). */
export const PROG_NAMES: readonly string[] = [
  'tcp_state', 'tc_ingress', 'tc_egress', 'kfree_skb', 'tcp_retransmit', 'tcp_send_reset', 'tcp_receive_reset', 'connect4', 'sendmsg4', 'tc_bridge_egress',
  'connect6',
];

/** Bit i of HelloRecord.features (FL_FEAT_*), named as `flowlens-loader --features` prints them. */
export const FEATURE_NAMES: readonly string[] = [
  'btf', 'ringbuf', 'mmap_array', 'sched_cls', 'tracepoint', 'cgroup_sock_addr', 'drop_reason_enum', 'kfree_skb_reason',
  'tcp_retransmit_tp', 'tcp_reset_tps', 'sock_state_tp', 'lru_hash', 'cgroup2', 'syscall_prog',
];

export const DNS_MAX = 512;
export const HTTP_MAX = 192;

export const LAYOUT = {
  hdr: {
    size: 8,
    fields: {
      type: [0, 2], version: [2, 2], len: [4, 4],
    },
  },
  hello: {
    size: 120,
    fields: {
      mono_to_wall_ns: [8, 8], ringbuf_bytes: [16, 8], features: [24, 8], loader_version: [32, 4],
      attached: [36, 4], attached_count: [40, 4], ncpus: [44, 4], flow_entries: [48, 4], flush_ms: [52, 4],
      kernel_release: [56, 64],
    },
  },
  tcp_state: {
    size: 96,
    fields: {
      ts_ns: [8, 8], skaddr: [16, 8], saddr: [24, 16], daddr: [40, 16], comm: [56, 16], netns: [72, 4],
      pid: [76, 4], tid: [80, 4], sport: [84, 2], dport: [86, 2], family: [88, 2], protocol: [90, 2],
      oldstate: [92, 1], newstate: [93, 1], pad: [94, 2],
    },
  },
  lost: {
    size: 24,
    fields: {
      total: [8, 8], source: [16, 4], pad: [20, 4],
    },
  },
  flow: {
    size: 128,
    fields: {
      first_ns: [8, 8], last_ns: [16, 8], bytes: [24, 16], payload: [40, 16], pkts: [56, 16],
      saddr: [72, 16], daddr: [88, 16], ifindex: [104, 4], sport: [108, 2], dport: [110, 2],
      family: [112, 1], proto: [113, 1], event: [114, 1], origin: [115, 1], flags: [116, 2],
      icmp_type: [118, 1], icmp_code: [119, 1], l7: [120, 8],
    },
  },
  dns: {
    size: 584,
    fields: {
      ts_ns: [8, 8], saddr: [16, 16], daddr: [32, 16], ifindex: [48, 4], sport: [52, 2], dport: [54, 2],
      payload_len: [56, 2], captured: [58, 2], family: [60, 1], proto: [61, 1], hook: [62, 1], pad: [63, 1],
      tcp_seq: [64, 4], tcp_ack: [68, 4], data: [72, 512],
    },
  },
  http: {
    size: 264,
    fields: {
      ts_ns: [8, 8], saddr: [16, 16], daddr: [32, 16], ifindex: [48, 4], sport: [52, 2], dport: [54, 2],
      payload_len: [56, 2], captured: [58, 2], family: [60, 1], proto: [61, 1], hook: [62, 1], pad: [63, 1],
      tcp_seq: [64, 4], tcp_ack: [68, 4], data: [72, 192],
    },
  },
  drop: {
    size: 80,
    fields: {
      ts_ns: [8, 8], location: [16, 8], saddr: [24, 16], daddr: [40, 16], reason: [56, 4], ifindex: [60, 4],
      netns: [64, 4], sport: [68, 2], dport: [70, 2], family: [72, 1], proto: [73, 1], pad: [74, 6],
    },
  },
  drop_reason: {
    size: 72,
    fields: {
      value: [8, 4], pad: [12, 4], name: [16, 56],
    },
  },
  tcp_event: {
    size: 72,
    fields: {
      ts_ns: [8, 8], skaddr: [16, 8], saddr: [24, 16], daddr: [40, 16], netns: [56, 4], sport: [60, 2],
      dport: [62, 2], family: [64, 1], kind: [65, 1], state: [66, 1], pad: [67, 1],
    },
  },
  cmd_result: {
    size: 24,
    fields: {
      err: [8, 4], cmd: [12, 4], arg: [16, 4], seq: [20, 4],
    },
  },
  sock_addr: {
    size: 80,
    fields: {
      ts_ns: [8, 8], cookie: [16, 8], skaddr: [24, 8], daddr: [32, 16], comm: [48, 16], netns: [64, 4],
      pid: [68, 4], dport: [72, 2], family: [74, 1], proto: [75, 1], pad: [76, 4],
    },
  },
} as const;
