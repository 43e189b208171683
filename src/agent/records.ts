// Decoder for the loader's binary record stream. The C side is bpf/flowlens.h:
// keep the two in step (test/unit/records.test.ts compares LAYOUT with the C offsets).
//
// Stream: records back to back, each starting with {u16 type; u16 version; u32 len}, len being
// the whole record's bytes. Integers are little-endian (host order of x86_64/arm64, where the
// loader runs next to the agent); addresses are raw network-order bytes; ports are host order.
//
// Errors: a record that breaks the contract (unknown type, wrong version, wrong length, invalid
// field values, TCP_STATE before HELLO) throws a RecordDecodeError. The stream cannot be trusted
// after that (framing may be lost), so the decoder stays failed: every later push() throws the
// same error. The records decoded before the bad one are on `error.records`.

export const RECORD_VERSION = 1;
export const HEADER_BYTES = 8;
export const RECORD_MAX_BYTES = 4096;

export const RecordType = { HELLO: 1, TCP_STATE: 2, LOST: 3 } as const;
export type RecordTypeCode = (typeof RecordType)[keyof typeof RecordType];

export const LostSource = { RINGBUF_RESERVE: 1 } as const;
const LOST_SOURCE_NAMES: Readonly<Record<number, string>> = { 1: 'ringbuf_reserve' };

export const PROG_NAMES: readonly string[] = ['tcp_state']; // bit i of HelloRecord.attached

/** [offset, size] of every field, as printed by bpf/layout.c. */
export const LAYOUT = {
  hdr: { size: 8, fields: { type: [0, 2], version: [2, 2], len: [4, 4] } },
  hello: {
    size: 40,
    fields: {
      mono_to_wall_ns: [8, 8], ringbuf_bytes: [16, 8], loader_version: [24, 4],
      attached: [28, 4], attached_count: [32, 4], ncpus: [36, 4],
    },
  },
  tcp_state: {
    size: 96,
    fields: {
      ts_ns: [8, 8], skaddr: [16, 8], saddr: [24, 16], daddr: [40, 16], comm: [56, 16],
      netns: [72, 4], pid: [76, 4], tid: [80, 4], sport: [84, 2], dport: [86, 2],
      family: [88, 2], protocol: [90, 2], oldstate: [92, 1], newstate: [93, 1], pad: [94, 2],
    },
  },
  lost: { size: 24, fields: { total: [8, 8], source: [16, 4], pad: [20, 4] } },
} as const;

export const RECORD_SIZES: Readonly<Record<RecordTypeCode, number>> = {
  [RecordType.HELLO]: LAYOUT.hello.size,
  [RecordType.TCP_STATE]: LAYOUT.tcp_state.size,
  [RecordType.LOST]: LAYOUT.lost.size,
};

/** Index = kernel TCP_* value (include/net/tcp_states.h). */
export const TCP_STATES = [
  undefined, 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE',
  'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV',
] as const;
export type TcpState = Exclude<(typeof TCP_STATES)[number], undefined>;

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;

export interface HelloRecord {
  type: 'hello';
  loaderVersion: number;
  /** Add to a bpf_ktime_get_ns() (CLOCK_MONOTONIC) value to get wall-clock ns. */
  monoToWallNs: bigint;
  ringbufBytes: number;
  /** Bitmask of attached programs (bit i = PROG_NAMES[i]). */
  attached: number;
  attachedPrograms: string[];
  attachedCount: number;
  ncpus: number;
}

export interface TcpStateRecord {
  type: 'tcp_state';
  /** Wall clock (CLOCK_REALTIME) ns. */
  timeNs: bigint;
  /** CLOCK_MONOTONIC ns as taken in the kernel. */
  monoNs: bigint;
  /** Kernel address of the socket: opaque connection id (reused after the socket is freed). */
  skaddr: bigint;
  /** Inode number of the socket's network namespace. */
  netns: number;
  /** tgid of the task current when the state changed (may be unrelated in softirq). */
  pid: number;
  tid: number;
  comm: string;
  family: 4 | 6;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  oldState: TcpState;
  newState: TcpState;
}

export interface LostRecord {
  type: 'lost';
  source: string;
  /** Cumulative count since the loader started. */
  total: bigint;
}

export type DecodedRecord = HelloRecord | TcpStateRecord | LostRecord;

export class RecordDecodeError extends Error {
  override readonly name = 'RecordDecodeError';
  constructor(
    message: string,
    /** Byte offset of the bad record in the whole stream. */
    readonly streamOffset: number,
    /** Records decoded from the same push() before the bad one. */
    readonly records: DecodedRecord[] = [],
  ) {
    super(`${message} (at stream byte ${streamOffset})`);
  }
}

class Invalid extends Error {}

function fail(message: string): never {
  throw new Invalid(message);
}

export function formatIPv4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** RFC 5952: lowercase, no leading zeros, longest zero run (>= 2 groups, first on tie) as '::'. */
export function formatIPv6(buf: Buffer, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(buf, off + 12)}`; // IPv4-mapped, RFC 5952 section 5
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function tcpState(value: number, what: string): TcpState {
  return TCP_STATES[value] ?? fail(`${what} ${value} is not a TCP state (1..12)`);
}

function readComm(buf: Buffer, off: number, size: number): string {
  const nul = buf.indexOf(0, off);
  const end = nul < 0 || nul > off + size ? off + size : nul;
  return buf.toString('utf8', off, end);
}

function decodeHello(buf: Buffer, at: number): HelloRecord {
  const f = LAYOUT.hello.fields;
  const attached = buf.readUInt32LE(at + f.attached[0]);
  const ringbufBytes = buf.readBigUInt64LE(at + f.ringbuf_bytes[0]);
  if (ringbufBytes > BigInt(Number.MAX_SAFE_INTEGER)) fail(`HELLO ringbuf_bytes ${ringbufBytes} too large`);
  return {
    type: 'hello',
    loaderVersion: buf.readUInt32LE(at + f.loader_version[0]),
    monoToWallNs: buf.readBigInt64LE(at + f.mono_to_wall_ns[0]),
    ringbufBytes: Number(ringbufBytes),
    attached,
    attachedPrograms: PROG_NAMES.filter((_, i) => (attached & (1 << i)) !== 0),
    attachedCount: buf.readUInt32LE(at + f.attached_count[0]),
    ncpus: buf.readUInt32LE(at + f.ncpus[0]),
  };
}

function decodeLost(buf: Buffer, at: number): LostRecord {
  const f = LAYOUT.lost.fields;
  const code = buf.readUInt32LE(at + f.source[0]);
  const source = LOST_SOURCE_NAMES[code] ?? fail(`LOST source ${code} unknown`);
  return { type: 'lost', source, total: buf.readBigUInt64LE(at + f.total[0]) };
}

function decodeTcpState(buf: Buffer, at: number, monoToWallNs: bigint): TcpStateRecord {
  const f = LAYOUT.tcp_state.fields;
  const af = buf.readUInt16LE(at + f.family[0]);
  if (af !== AF_INET && af !== AF_INET6) fail(`TCP_STATE family ${af} is neither AF_INET nor AF_INET6`);
  const proto = buf.readUInt16LE(at + f.protocol[0]);
  if (proto !== IPPROTO_TCP) fail(`TCP_STATE protocol ${proto} is not IPPROTO_TCP`);
  const fmt = af === AF_INET ? formatIPv4 : formatIPv6;
  const monoNs = buf.readBigUInt64LE(at + f.ts_ns[0]);
  return {
    type: 'tcp_state',
    timeNs: monoNs + monoToWallNs,
    monoNs,
    skaddr: buf.readBigUInt64LE(at + f.skaddr[0]),
    netns: buf.readUInt32LE(at + f.netns[0]),
    pid: buf.readUInt32LE(at + f.pid[0]),
    tid: buf.readUInt32LE(at + f.tid[0]),
    comm: readComm(buf, at + f.comm[0], f.comm[1]),
    family: af === AF_INET ? 4 : 6,
    saddr: fmt(buf, at + f.saddr[0]),
    daddr: fmt(buf, at + f.daddr[0]),
    sport: buf.readUInt16LE(at + f.sport[0]),
    dport: buf.readUInt16LE(at + f.dport[0]),
    oldState: tcpState(buf[at + f.oldstate[0]] ?? 0, 'TCP_STATE oldstate'),
    newState: tcpState(buf[at + f.newstate[0]] ?? 0, 'TCP_STATE newstate'),
  };
}

/** Validates the header at `at`; returns the record length. */
function checkHeader(buf: Buffer, at: number): number {
  const type = buf.readUInt16LE(at);
  const version = buf.readUInt16LE(at + 2);
  const len = buf.readUInt32LE(at + 4);
  const expected = RECORD_SIZES[type as RecordTypeCode] as number | undefined;
  if (expected === undefined) fail(`unknown record type ${type} (version ${version}, len ${len})`);
  if (version !== RECORD_VERSION) fail(`record type ${type} has version ${version}, expected ${RECORD_VERSION}`);
  if (len !== expected) fail(`record type ${type} has len ${len}, expected ${expected}`);
  return len;
}

/** Reassembles records from a byte stream split at arbitrary points. */
export class RecordDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private consumed = 0;
  private failure: RecordDecodeError | undefined;
  private monoToWallNs: bigint | undefined;

  /** Bytes held back waiting for the rest of a record. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  /** The error that stopped this decoder, if any. */
  get error(): RecordDecodeError | undefined {
    return this.failure;
  }

  push(chunk: Buffer): DecodedRecord[] {
    if (this.failure) throw this.failure;
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: DecodedRecord[] = [];
    let pos = 0;
    try {
      while (buf.length - pos >= HEADER_BYTES) {
        const len = checkHeader(buf, pos);
        if (buf.length - pos < len) break;
        out.push(this.decodeOne(buf, pos));
        pos += len;
      }
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      this.failure = new RecordDecodeError(err.message, this.consumed + pos, out);
      this.pending = Buffer.alloc(0);
      throw this.failure;
    }
    this.consumed += pos;
    // Copy the (small) remainder so a large chunk is not kept alive by a subarray.
    this.pending = pos < buf.length ? Buffer.from(buf.subarray(pos)) : Buffer.alloc(0);
    return out;
  }

  private decodeOne(buf: Buffer, at: number): DecodedRecord {
    const type = buf.readUInt16LE(at) as RecordTypeCode;
    switch (type) {
      case RecordType.HELLO: {
        const hello = decodeHello(buf, at);
        this.monoToWallNs = hello.monoToWallNs;
        return hello;
      }
      case RecordType.LOST:
        return decodeLost(buf, at);
      case RecordType.TCP_STATE:
        if (this.monoToWallNs === undefined) fail('TCP_STATE record before HELLO');
        return decodeTcpState(buf, at, this.monoToWallNs);
    }
  }
}
