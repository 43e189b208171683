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

import {
  FEATURE_NAMES, HEADER_BYTES, LAYOUT, LOST_SOURCE_NAMES, PROG_NAMES, RECORD_VERSION, RecordType,
} from './layout';
import type { RecordTypeCode } from './layout';
import {
  decodeCmdResult, decodeDns, decodeDrop, decodeDropReason, decodeFlow, decodeHttp, decodeSockAddr, decodeTcpEvent,
} from './datarecords';
import type {
  CmdResultRecord, DnsRecord, DropReasonRecord, DropRecord, FlowRecord, HttpRecord, SockAddrRecord, TcpEventRecord,
} from './datarecords';
import { Invalid, fail, readCString, sockAddrs, u32le } from './wire';

export { HEADER_BYTES, LAYOUT, LostSource, RECORD_MAX_BYTES, RECORD_VERSION, RecordType, PROG_NAMES } from './layout';
export type { RecordTypeCode } from './layout';
export { formatIPv4, formatIPv6 } from './wire';

export const RECORD_SIZES: Readonly<Record<RecordTypeCode, number>> = {
  [RecordType.HELLO]: LAYOUT.hello.size,
  [RecordType.TCP_STATE]: LAYOUT.tcp_state.size,
  [RecordType.LOST]: LAYOUT.lost.size,
  [RecordType.FLOW]: LAYOUT.flow.size,
  [RecordType.DNS]: LAYOUT.dns.size,
  [RecordType.HTTP]: LAYOUT.http.size,
  [RecordType.DROP]: LAYOUT.drop.size,
  [RecordType.DROP_REASON]: LAYOUT.drop_reason.size,
  [RecordType.TCP_EVENT]: LAYOUT.tcp_event.size,
  [RecordType.CMD_RESULT]: LAYOUT.cmd_result.size,
  [RecordType.SOCK_ADDR]: LAYOUT.sock_addr.size,
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
  /** Kernel features (FEATURE_NAMES), probed by the loader at start. */
  features: Record<string, boolean>;
  flowEntries: number;
  flushMs: number;
  kernelRelease: string;
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

export type DecodedRecord = HelloRecord | TcpStateRecord | LostRecord | FlowRecord | DnsRecord | HttpRecord | DropRecord |
  DropReasonRecord | TcpEventRecord | CmdResultRecord | SockAddrRecord;
export type {
  CmdResultRecord, DnsRecord, DropReasonRecord, DropRecord, FlowRecord, HttpRecord, SockAddrRecord, TcpEventRecord,
} from './datarecords';

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

function tcpState(value: number, what: string): TcpState {
  return TCP_STATES[value] ?? fail(`${what} ${value} is not a TCP state (1..12)`);
}

function featureMap(bits: bigint): Record<string, boolean> {
  return Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, ((bits >> BigInt(i)) & 1n) === 1n]));
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
    features: featureMap(buf.readBigUInt64LE(at + f.features[0])),
    flowEntries: buf.readUInt32LE(at + f.flow_entries[0]),
    flushMs: buf.readUInt32LE(at + f.flush_ms[0]),
    kernelRelease: readCString(buf, at + f.kernel_release[0], f.kernel_release[1]),
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
  const { family, saddr, daddr } = sockAddrs(af === AF_INET ? 4 : 6, buf, at + f.saddr[0], at + f.daddr[0]);
  const monoNs = buf.readBigUInt64LE(at + f.ts_ns[0]);
  return {
    type: 'tcp_state',
    timeNs: monoNs + monoToWallNs,
    monoNs,
    skaddr: buf.readBigUInt64LE(at + f.skaddr[0]),
    netns: buf.readUInt32LE(at + f.netns[0]),
    pid: buf.readUInt32LE(at + f.pid[0]),
    tid: buf.readUInt32LE(at + f.tid[0]),
    comm: readCString(buf, at + f.comm[0], f.comm[1]),
    family,
    saddr,
    daddr,
    sport: buf.readUInt16LE(at + f.sport[0]),
    dport: buf.readUInt16LE(at + f.dport[0]),
    oldState: tcpState(buf[at + f.oldstate[0]] ?? 0, 'TCP_STATE oldstate'),
    newState: tcpState(buf[at + f.newstate[0]] ?? 0, 'TCP_STATE newstate'),
  };
}

/** Record size by type code, 0 = unknown type (a dense array: one indexed load per record). */
const SIZE_BY_TYPE: readonly number[] = Array.from({ length: 16 }, (_, t) => (RECORD_SIZES[t as RecordTypeCode] as number | undefined) ?? 0);

/** Validates the header at `at` (the caller checked that HEADER_BYTES are there); returns the record length. */
function checkHeader(buf: Buffer, at: number): number {
  const type = buf[at]! | (buf[at + 1]! << 8);
  const version = buf[at + 2]! | (buf[at + 3]! << 8);
  const len = u32le(buf, at + 4);
  const expected = type < SIZE_BY_TYPE.length ? SIZE_BY_TYPE[type]! : 0;
  if (expected === 0) fail(`unknown record type ${type} (version ${version}, len ${len})`);
  if (version !== RECORD_VERSION) fail(`record type ${type} has version ${version}, expected ${RECORD_VERSION}`);
  if (len !== expected) fail(`record type ${type} has len ${len}, expected ${expected}`);
  return len;
}

/**
 * Whole records cut from the stream and not decoded yet. A consumer that falls behind keeps its
 * backlog as these bytes (off the JS heap) rather than as decoded objects, which would outlive
 * young-generation collections and be copied and promoted: under connection churn that was most
 * of the agent's garbage-collection time.
 */
export interface RecordFrames {
  readonly bytes: Buffer;
  /** Stream offset of bytes[0]. */
  readonly offset: number;
  /** Records in bytes. */
  readonly count: number;
}

/** Records that are not observations: the stream's own state. */
const CONTROL_TYPES: ReadonlySet<number> = new Set([RecordType.HELLO, RecordType.LOST, RecordType.DROP_REASON, RecordType.CMD_RESULT]);

/** Reassembles records from a byte stream split at arbitrary points. */
export class RecordDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private consumed = 0;
  private failure: RecordDecodeError | undefined;
  /** A bad header found by frame(): the records before it are still handed out and decoded. */
  private framingError: { message: string; offset: number } | undefined;
  private monoToWallNs: bigint | undefined;

  /** Bytes held back waiting for the rest of a record. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  /** The error that stopped this decoder, if any: a field that did not decode, or a bad header push() met (frame() alone reports one in `badHeader`). */
  get error(): RecordDecodeError | undefined {
    return this.failure;
  }

  /** Set once frame() met a bad header (nothing after it is handed out): what and where. */
  get badHeader(): string | undefined {
    const e = this.framingError;
    return e && `${e.message} (at stream byte ${e.offset})`;
  }

  /** Records decoded from the chunk (frame, then decode). Throws RecordDecodeError with those before a bad one. */
  push(chunk: Buffer): DecodedRecord[] {
    if (this.failure) throw this.failure;
    const frames = this.frame(chunk);
    const out = frames ? this.decode(frames) : [];
    if (this.framingError) throw this.fail(this.framingError.message, this.framingError.offset, out);
    return out;
  }

  /**
   * The whole records this chunk completes (with the held-back head of the last chunk), headers
   * checked, fields not decoded; undefined when it completes none. After a bad header it returns
   * the records before it and `badHeader` says what and where; then nothing more.
   */
  frame(chunk: Buffer): RecordFrames | undefined {
    if (this.framingError || this.failure) return undefined;
    // Only a partial record is ever held back (< RECORD_MAX_BYTES), so joining copies at most one chunk.
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    let count = 0;
    try {
      while (buf.length - pos >= HEADER_BYTES) {
        const len = checkHeader(buf, pos);
        if (buf.length - pos < len) break;
        pos += len;
        count++;
      }
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      this.framingError = { message: err.message, offset: this.consumed + pos };
    }
    const offset = this.consumed;
    this.consumed += pos;
    // Copy the (small) remainder so a large chunk is not kept alive by a subarray.
    this.pending = this.framingError || pos === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
    return count > 0 ? { bytes: buf.subarray(0, pos), offset, count } : undefined;
  }

  /**
   * Decodes frames from frame(), in stream order. Throws RecordDecodeError (with the records
   * before the bad one) on a field that does not decode; the decoder is then stopped.
   */
  decode(frames: RecordFrames): DecodedRecord[] {
    if (this.failure) throw this.failure;
    const buf = frames.bytes;
    const out: DecodedRecord[] = [];
    let pos = 0;
    try {
      while (pos < buf.length) {
        const wall = this.monoToWallNs;
        // FLOW records are nearly all of the stream: straight to their decoder.
        out.push(buf[pos] === RecordType.FLOW && buf[pos + 1] === 0 && wall !== undefined ? decodeFlow(buf, pos, wall) : this.decodeOne(buf, pos));
        pos += u32le(buf, pos + 4);
      }
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      throw this.fail(err.message, frames.offset + pos, out);
    }
    return out;
  }

  /**
   * Only the control records of frames (HELLO, LOST, DROP_REASON, CMD_RESULT), for a consumer
   * that sheds the rest: its loss counts, the loader's state and command results stay whole.
   */
  control(frames: RecordFrames): DecodedRecord[] {
    const buf = frames.bytes;
    const out: DecodedRecord[] = [];
    for (let pos = 0; pos < buf.length; pos += u32le(buf, pos + 4)) {
      if (CONTROL_TYPES.has(buf[pos]! | (buf[pos + 1]! << 8))) {
        try {
          out.push(this.decodeOne(buf, pos));
        } catch (err) {
          if (!(err instanceof Invalid)) throw err;
          throw this.fail(err.message, frames.offset + pos, out);
        }
      }
    }
    return out;
  }

  private fail(message: string, offset: number, records: DecodedRecord[]): RecordDecodeError {
    this.failure = new RecordDecodeError(message, offset, records);
    this.pending = Buffer.alloc(0);
    return this.failure;
  }

  private decodeOne(buf: Buffer, at: number): DecodedRecord {
    const type = buf.readUInt16LE(at) as RecordTypeCode;
    switch (type) {
      case RecordType.HELLO: {
        const hello = decodeHello(buf, at);
        this.monoToWallNs = hello.monoToWallNs;
        return hello;
      }
      case RecordType.LOST: return decodeLost(buf, at);
      case RecordType.DROP_REASON: return decodeDropReason(buf, at);
      case RecordType.CMD_RESULT: return decodeCmdResult(buf, at);
      default: return this.decodeTimed(type, buf, at);
    }
  }

  private decodeTimed(type: RecordTypeCode, buf: Buffer, at: number): DecodedRecord {
    const wall = this.monoToWallNs ?? fail(`record type ${type} before HELLO`);
    switch (type) {
      case RecordType.TCP_STATE: return decodeTcpState(buf, at, wall);
      case RecordType.FLOW: return decodeFlow(buf, at, wall);
      case RecordType.DNS: return decodeDns(buf, at, wall);
      case RecordType.HTTP: return decodeHttp(buf, at, wall);
      case RecordType.DROP: return decodeDrop(buf, at, wall);
      case RecordType.TCP_EVENT: return decodeTcpEvent(buf, at, wall);
      case RecordType.SOCK_ADDR: return decodeSockAddr(buf, at, wall);
      default: return fail(`record type ${type} is not decodable here`);
    }
  }
}
