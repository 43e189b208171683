// Stored flows packed into columns. A node keeps tens of thousands of recent flows; kept as objects,
// each is five to eight young objects (the flow, IP, l4, its TCP or UDP part, extensions, a
// Service, the L7 parts) that outlive two scavenges and are copied twice, then marked and swept in
// the old generation: a fifth of the agent's CPU under connection churn (docs/BENCHMARKS.md). Here a
// flow of a known shape is taken apart into a Float64Array (its numbers) and an array of references
// (its strings, booleans and the objects flows share: endpoints, flag objects, the join's
// addresses), and its own objects are built again when it is read. Any flow with a key or a value
// the layout does not know (drops, resets, DNS, policy fields, a new field somebody adds) is kept
// as the object itself, so nothing is lost. Keys come back in one canonical order, which is the
// order the agent's builders write them in (tcflows, socket flows, L7 HTTP flows).
import type { Flow } from './flow';

// Reference columns.
const R_TIME = 0, R_VERDICT = 1, R_SRC_IP = 2, R_DST_IP = 3, R_IPV = 4, R_SRC = 5, R_DST = 6, R_TYPE = 7, R_NODE = 8,
  R_REPLY = 9, R_DIR = 10, R_POINT = 11, R_SUMMARY = 12, R_FLAGS = 13, R_NAMES = 14, R_SVC_NAME = 15, R_SVC_NS = 16,
  R_L7_TYPE = 17, R_L7_LATENCY = 18, R_HTTP_METHOD = 19, R_HTTP_URL = 20, R_HTTP_PROTO = 21, R_EXT = 22;
// Number columns.
const N_SPORT = 0, N_DPORT = 1, N_HTTP_CODE = 2, N_EXT = 3;

/** Extensions the layout knows, in canonical order: a number column or a reference column each. */
const EXT_KEYS = [
  'flow_event', 'tcp_event', 'ifindex', 'connect_latency_ns', 'duration_ns', 'packets_sent', 'packets_received', 'bytes_sent',
  'bytes_received', 'payload_bytes_sent', 'payload_bytes_received', 'tcp_flags_sent', 'tcp_flags_received', 'http_requests_captured',
  'http_responses_captured', 'l7_payload_bytes', 'original_destination', 'original_source', 'retransmits', 'netns', 'pid', 'comm',
] as const;
const EXT_REF = new Set<string>(['flow_event', 'tcp_event', 'tcp_flags_sent', 'tcp_flags_received', 'original_destination', 'original_source', 'comm']);
const EXT_BIT = new Map<string, number>(EXT_KEYS.map((k, i) => [k, i]));
const EXT_IS_REF: readonly boolean[] = EXT_KEYS.map((k) => EXT_REF.has(k));
/** Column of each extension: an index into the reference or the number columns. */
const EXT_COL: readonly number[] = (() => {
  let r = R_EXT, n = N_EXT;
  return EXT_KEYS.map((k) => (EXT_REF.has(k) ? r++ : n++));
})();
const REFS = R_EXT + EXT_REF.size;
const NUMS = N_EXT + EXT_KEYS.length - EXT_REF.size;

// Bits of a slot's layout word.
const K_PACKED = 1, K_REPLY = 2, K_POINT = 4, K_SUMMARY = 8, K_EXT = 16, K_NAMES = 32, K_SVC = 64, K_FLAGS = 128, K_L7 = 256,
  K_L7_LATENCY = 512, K_HTTP_REQ = 1024, K_HTTP_CODE = 2048, K_HTTP_METHOD = 4096, K_HTTP_URL = 8192;
const L4_SHIFT = 16; // 3 bits: 0 = {}, 1 TCP, 2 UDP, 3 ICMPv4, 4 ICMPv6
const L4_NAMES = ['', 'TCP', 'UDP', 'ICMPv4', 'ICMPv6'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A fixed number of slots, each holding one flow (packed, or the object when its shape is not known). */
export class PackedFlows {
  private readonly refs: unknown[];
  private readonly nums: Float64Array;
  private readonly layout: Uint32Array;
  private readonly exts: Uint32Array;

  constructor(readonly slots: number) {
    this.refs = new Array<unknown>(slots * REFS).fill(undefined);
    this.nums = new Float64Array(slots * NUMS);
    this.layout = new Uint32Array(slots);
    this.exts = new Uint32Array(slots);
  }

  /** Stores `flow` in slot `i` (packed when its shape allows). */
  set(i: number, flow: Flow): void {
    if (!this.pack(i, flow)) {
      this.clearRefs(i);
      this.layout[i] = 0;
      this.refs[i * REFS] = flow;
    }
  }

  /** The flow in slot `i`, built again (a packed one) or as stored. */
  get(i: number): Flow {
    const kind = this.layout[i]!;
    const r = i * REFS;
    return kind & K_PACKED ? this.unpack(i, kind) : this.refs[r] as Flow;
  }

  /** The time of the flow in slot `i`, without building it. */
  time(i: number): string {
    return this.layout[i]! & K_PACKED ? this.refs[i * REFS + R_TIME] as string : (this.refs[i * REFS] as Flow).time;
  }

  /** Whether slot `i` holds its flow packed (for tests and the store's status). */
  packed(i: number): boolean {
    return (this.layout[i]! & K_PACKED) !== 0;
  }

  /** Lets go of what slot `i` references. */
  clear(i: number): void {
    this.clearRefs(i);
    this.layout[i] = 0;
  }

  private clearRefs(i: number): void {
    this.refs.fill(undefined, i * REFS, i * REFS + REFS);
  }

  private pack(i: number, f: Flow): boolean {
    const r = i * REFS, n = i * NUMS, refs = this.refs, nums = this.nums;
    let kind = K_PACKED, keys = 0, ext = 0;
    for (const k in f) {
      keys++;
      const v = (f as unknown as Record<string, unknown>)[k];
      switch (k) {
        case 'time': if (typeof v !== 'string') return false; refs[r + R_TIME] = v; break;
        case 'verdict': refs[r + R_VERDICT] = v; break;
        case 'IP': {
          if (!isObject(v)) return false;
          let c = 0;
          for (const ik in v) {
            c++;
            if (ik === 'source') refs[r + R_SRC_IP] = v[ik];
            else if (ik === 'destination') refs[r + R_DST_IP] = v[ik];
            else if (ik === 'ipVersion') refs[r + R_IPV] = v[ik];
            else return false;
          }
          if (c !== 3) return false;
          break;
        }
        case 'l4': {
          if (!isObject(v)) return false;
          let c = 0;
          for (const lk in v) {
            if (++c > 1) return false;
            const p = lk === 'TCP' ? 1 : lk === 'UDP' ? 2 : lk === 'ICMPv4' ? 3 : lk === 'ICMPv6' ? 4 : 0;
            const part = v[lk];
            if (p === 0 || !isObject(part)) return false;
            kind |= p << L4_SHIFT;
            const a = p <= 2 ? 'source_port' : 'type', b = p <= 2 ? 'destination_port' : 'code';
            let pc = 0;
            for (const pk in part) {
              pc++;
              const x = part[pk];
              if (pk === a && typeof x === 'number') nums[n + N_SPORT] = x;
              else if (pk === b && typeof x === 'number') nums[n + N_DPORT] = x;
              else if (pk === 'flags' && p === 1 && x !== undefined) { refs[r + R_FLAGS] = x; kind |= K_FLAGS; } else return false;
            }
            if (pc !== (kind & K_FLAGS ? 3 : 2)) return false;
          }
          break;
        }
        case 'source': refs[r + R_SRC] = v; break;
        case 'destination': refs[r + R_DST] = v; break;
        case 'Type': refs[r + R_TYPE] = v; break;
        case 'node_name': refs[r + R_NODE] = v; break;
        case 'is_reply': if (v === undefined) return false; refs[r + R_REPLY] = v; kind |= K_REPLY; break;
        case 'traffic_direction': refs[r + R_DIR] = v; break;
        case 'trace_observation_point': if (v === undefined) return false; refs[r + R_POINT] = v; kind |= K_POINT; break;
        case 'Summary': if (v === undefined) return false; refs[r + R_SUMMARY] = v; kind |= K_SUMMARY; break;
        case 'destination_names': if (v === undefined) return false; refs[r + R_NAMES] = v; kind |= K_NAMES; break;
        case 'extensions': {
          if (!isObject(v)) return false;
          kind |= K_EXT;
          for (const ek in v) {
            const bit = EXT_BIT.get(ek);
            const x = v[ek];
            if (bit === undefined || x === undefined) return false;
            const col = EXT_COL[bit]!;
            if (EXT_IS_REF[bit]) refs[r + col] = x;
            else if (typeof x === 'number') nums[n + col] = x;
            else return false;
            ext |= 1 << bit;
          }
          break;
        }
        case 'destination_service': {
          if (!isObject(v)) return false;
          let c = 0;
          for (const sk in v) {
            c++;
            if (sk === 'name') refs[r + R_SVC_NAME] = v[sk];
            else if (sk === 'namespace') refs[r + R_SVC_NS] = v[sk];
            else return false;
          }
          if (c !== 2) return false;
          kind |= K_SVC;
          break;
        }
        case 'l7': {
          const l7 = this.packL7(r, n, v);
          if (l7 === 0) return false;
          kind |= l7;
          break;
        }
        default: return false;
      }
    }
    // Required keys: time verdict IP l4 source destination Type node_name traffic_direction.
    const optional = ((kind & K_REPLY) && 1) + ((kind & K_POINT) && 1) + ((kind & K_SUMMARY) && 1) + ((kind & K_EXT) && 1) +
      ((kind & K_NAMES) && 1) + ((kind & K_SVC) && 1) + ((kind & K_L7) && 1);
    if (keys !== 9 + optional) return false;
    // The previous flow's references in columns this one does not use must go (they would be kept alive).
    this.dropUnused(r, kind, ext);
    this.layout[i] = kind;
    this.exts[i] = ext;
    return true;
  }

  /** The L7 part of an HTTP flow as the agent builds it ({type, latency_ns?, http: {...}}); 0 when it is something else. */
  private packL7(r: number, n: number, v: unknown): number {
    if (!isObject(v)) return 0;
    const refs = this.refs;
    let kind = K_L7, c = 0, http: Record<string, unknown> | undefined;
    for (const k in v) {
      c++;
      const x = v[k];
      if (k === 'type' && typeof x === 'string') refs[r + R_L7_TYPE] = x;
      else if (k === 'latency_ns' && typeof x === 'string') { refs[r + R_L7_LATENCY] = x; kind |= K_L7_LATENCY; } else if (k === 'http' && isObject(x)) http = x;
      else return 0;
    }
    if (!http || c !== (kind & K_L7_LATENCY ? 3 : 2)) return 0;
    // Two orders: a request's {method, url, protocol, headers}, a response's {code, protocol, method?, url?, headers}.
    let rank = -1, first = true, response = false, protocol = false;
    for (const k in http) {
      const x = http[k];
      if (first) response = k === 'code';
      first = false;
      const at = (response ? RESPONSE_RANK : REQUEST_RANK)[k];
      if (at === undefined || at <= rank) return 0;
      rank = at;
      if (k === 'method' && typeof x === 'string') { refs[r + R_HTTP_METHOD] = x; kind |= K_HTTP_METHOD; } else if (k === 'url' && typeof x === 'string') { refs[r + R_HTTP_URL] = x; kind |= K_HTTP_URL; } else if (k === 'protocol' && typeof x === 'string') { refs[r + R_HTTP_PROTO] = x; protocol = true; } else if (k === 'code' && typeof x === 'number') { this.nums[n + N_HTTP_CODE] = x; kind |= K_HTTP_CODE; } else if (!(k === 'headers' && Array.isArray(x) && x.length === 0)) return 0;
    }
    if (!protocol || rank !== (response ? 4 : 3)) return 0; // protocol and headers (the last) are always there
    return kind & K_HTTP_CODE ? kind : kind | K_HTTP_REQ;
  }

  private dropUnused(r: number, kind: number, ext: number): void {
    const refs = this.refs;
    if (!(kind & K_FLAGS)) refs[r + R_FLAGS] = undefined;
    if (!(kind & K_REPLY)) refs[r + R_REPLY] = undefined;
    if (!(kind & K_POINT)) refs[r + R_POINT] = undefined;
    if (!(kind & K_SUMMARY)) refs[r + R_SUMMARY] = undefined;
    if (!(kind & K_NAMES)) refs[r + R_NAMES] = undefined;
    if (!(kind & K_SVC)) refs[r + R_SVC_NAME] = refs[r + R_SVC_NS] = undefined;
    if (!(kind & K_L7)) refs[r + R_L7_TYPE] = undefined;
    if (!(kind & K_L7_LATENCY)) refs[r + R_L7_LATENCY] = undefined;
    if (!(kind & K_HTTP_METHOD)) refs[r + R_HTTP_METHOD] = undefined;
    if (!(kind & K_HTTP_URL)) refs[r + R_HTTP_URL] = undefined;
    if (!(kind & K_L7)) refs[r + R_HTTP_PROTO] = undefined;
    for (let b = 0; b < EXT_KEYS.length; b++) if (!(ext & (1 << b)) && EXT_IS_REF[b]) refs[r + EXT_COL[b]!] = undefined;
  }

  private unpack(i: number, kind: number): Flow {
    const r = i * REFS, n = i * NUMS, refs = this.refs, nums = this.nums;
    const p = (kind >>> L4_SHIFT) & 7;
    let l4: Flow['l4'] = {};
    if (p === 1) l4 = { TCP: kind & K_FLAGS ? { source_port: nums[n + N_SPORT]!, destination_port: nums[n + N_DPORT]!, flags: refs[r + R_FLAGS] as object } : { source_port: nums[n + N_SPORT]!, destination_port: nums[n + N_DPORT]! } };
    else if (p === 2) l4 = { UDP: { source_port: nums[n + N_SPORT]!, destination_port: nums[n + N_DPORT]! } };
    else if (p >= 3) l4 = { [L4_NAMES[p]!]: { type: nums[n + N_SPORT]!, code: nums[n + N_DPORT]! } };
    const f = {
      time: refs[r + R_TIME],
      verdict: refs[r + R_VERDICT],
      IP: { source: refs[r + R_SRC_IP], destination: refs[r + R_DST_IP], ipVersion: refs[r + R_IPV] },
      l4,
      source: refs[r + R_SRC],
      destination: refs[r + R_DST],
      Type: refs[r + R_TYPE],
      node_name: refs[r + R_NODE],
    } as Record<string, unknown>;
    if (kind & K_REPLY) f.is_reply = refs[r + R_REPLY];
    f.traffic_direction = refs[r + R_DIR];
    if (kind & K_POINT) f.trace_observation_point = refs[r + R_POINT];
    if (kind & K_SUMMARY) f.Summary = refs[r + R_SUMMARY];
    if (kind & K_EXT) {
      const ext: Record<string, unknown> = {};
      const bits = this.exts[i]!;
      for (let b = 0; b < EXT_KEYS.length; b++) {
        if (!(bits & (1 << b))) continue;
        const k = EXT_KEYS[b]!;
        ext[k] = EXT_IS_REF[b] ? refs[r + EXT_COL[b]!] : nums[n + EXT_COL[b]!];
      }
      f.extensions = ext;
    }
    if (kind & K_L7) {
      const http: Record<string, unknown> = {};
      const method = () => { if (kind & K_HTTP_METHOD) http.method = refs[r + R_HTTP_METHOD]; };
      const url = () => { if (kind & K_HTTP_URL) http.url = refs[r + R_HTTP_URL]; };
      if (kind & K_HTTP_REQ) {
        method(); url();
        http.protocol = refs[r + R_HTTP_PROTO];
      } else {
        http.code = nums[n + N_HTTP_CODE];
        http.protocol = refs[r + R_HTTP_PROTO];
        method(); url();
      }
      http.headers = [];
      f.l7 = kind & K_L7_LATENCY ? { type: refs[r + R_L7_TYPE], latency_ns: refs[r + R_L7_LATENCY], http } : { type: refs[r + R_L7_TYPE], http };
    }
    if (kind & K_NAMES) f.destination_names = refs[r + R_NAMES];
    if (kind & K_SVC) f.destination_service = { name: refs[r + R_SVC_NAME], namespace: refs[r + R_SVC_NS] };
    return f as unknown as Flow;
  }
}

const REQUEST_RANK: Readonly<Record<string, number>> = Object.assign(Object.create(null) as object, { method: 0, url: 1, protocol: 2, headers: 3 });
const RESPONSE_RANK: Readonly<Record<string, number>> = Object.assign(Object.create(null) as object, { code: 0, protocol: 1, method: 2, url: 3, headers: 4 });
