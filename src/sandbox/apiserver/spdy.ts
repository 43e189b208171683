// A server-side SPDY/3.1 session, enough for Kubernetes streaming (port-forward): the frames
// SYN_STREAM, SYN_REPLY, DATA, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE, with
// zlib header compression (one zlib stream per direction, seeded with the SPDY/3 dictionary).
// Like Go's spdystream (the client kubectl uses), it does no flow control.
import { EventEmitter } from 'node:events';
import * as zlib from 'node:zlib';
import { SPDY_DICTIONARY } from './spdy-dictionary';

const VERSION = 3;
export const FRAME = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, HEADERS: 8, WINDOW_UPDATE: 9 } as const;
const FLAG_FIN = 0x01;
export const RST = { PROTOCOL_ERROR: 1, INVALID_STREAM: 2, REFUSED_STREAM: 3, CANCEL: 5, INTERNAL_ERROR: 6 } as const;
const MAX_CONTROL_FRAME = 1024 * 1024;
const MAX_HEADER_BLOCK = 256 * 1024;
const DATA_CHUNK = 32 * 1024;

/** Where the session's bytes go: a socket, or a WebSocket carrying SPDY in binary messages. */
export interface SpdyTransport { write(buf: Buffer): void; close(): void }

export type Headers = Record<string, string>;

/** Runs buffers through a persistent zlib stream, one Z_SYNC_FLUSHed block at a time. */
class ZlibBlocks {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly z: zlib.Inflate | zlib.Deflate, private readonly limit: number) {
    z.on('data', (c: Buffer) => { this.chunks.push(c); this.size += c.length; });
    z.on('error', () => { /* reported through run() */ });
  }

  run(input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.z.once('error', onError);
      this.z.write(input);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.z.off('error', onError);
        const out = Buffer.concat(this.chunks);
        this.chunks = []; this.size = 0;
        if (out.length > this.limit) reject(new Error('header block too large')); else resolve(out);
      });
    });
  }

  close(): void { this.z.close(); }
}

export function encodeHeaderBlock(headers: Headers): Buffer {
  const parts: Buffer[] = [u32(Object.keys(headers).length)];
  for (const [k, v] of Object.entries(headers)) {
    const name = Buffer.from(k.toLowerCase(), 'utf8');
    const value = Buffer.from(v, 'utf8');
    parts.push(u32(name.length), name, u32(value.length), value);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(buf: Buffer): Headers {
  const out: Headers = {};
  if (buf.length < 4) throw new Error('truncated header block');
  const n = buf.readUInt32BE(0);
  let off = 4;
  const take = (): string => {
    if (off + 4 > buf.length) throw new Error('truncated header block');
    const len = buf.readUInt32BE(off); off += 4;
    if (off + len > buf.length) throw new Error('truncated header block');
    const s = buf.toString('utf8', off, off + len); off += len;
    return s;
  };
  for (let i = 0; i < n; i++) { const k = take().toLowerCase(); out[k] = take(); }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(payload.length, 4);
  h[4] = flags;
  return Buffer.concat([h, payload]);
}

export function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE(data.length, 4);
  h[4] = flags;
  return Buffer.concat([h, data]);
}

/** One SPDY stream opened by the client. Emits 'data' (Buffer), 'end' (remote FIN), 'reset'. */
export class SpdyStream extends EventEmitter {
  remoteClosed = false;
  localClosed = false;
  constructor(readonly id: number, readonly headers: Headers, private readonly session: SpdySession) { super(); }

  write(data: Buffer): void {
    if (this.localClosed) return;
    for (let off = 0; off < data.length; off += DATA_CHUNK) {
      this.session.send(dataFrame(this.id, 0, data.subarray(off, off + DATA_CHUNK)));
    }
  }

  end(): void {
    if (this.localClosed) return;
    this.localClosed = true;
    this.session.send(dataFrame(this.id, FLAG_FIN, Buffer.alloc(0)));
    this.session.maybeForget(this);
  }

  reset(status: number = RST.CANCEL): void {
    if (this.localClosed && this.remoteClosed) return;
    this.localClosed = this.remoteClosed = true;
    this.session.send(controlFrame(FRAME.RST_STREAM, 0, Buffer.concat([u32(this.id), u32(status)])));
    this.session.maybeForget(this);
  }
}

/**
 * Server side of a SPDY/3.1 connection. Feed it bytes with receive(); it replies SYN_REPLY to every
 * SYN_STREAM before handing the stream to onStream, answers PINGs, and closes on GOAWAY.
 */
export class SpdySession extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyStream>();
  private readonly inflate = new ZlibBlocks(zlib.createInflate({ dictionary: SPDY_DICTIONARY }), MAX_HEADER_BLOCK);
  private readonly deflate = new ZlibBlocks(zlib.createDeflate({ dictionary: SPDY_DICTIONARY }), Infinity);
  private inQueue: Promise<void> = Promise.resolve();
  private outQueue: Promise<void> = Promise.resolve();
  private lastClientStream = 0;
  closed = false;

  constructor(private readonly transport: SpdyTransport, private readonly onStream: (s: SpdyStream) => void) { super(); }

  /** Bytes from the client, in any chunking. */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      const control = (this.buf[0]! & 0x80) !== 0;
      if (control && len > MAX_CONTROL_FRAME) { this.fail(new Error(`control frame too large: ${len}`)); return; }
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      this.inQueue = this.inQueue.then(() => this.handleFrame(frame)).catch((err: Error) => this.fail(err));
    }
  }

  /** Queues bytes for the client, after any header blocks still being compressed. */
  send(frame: Buffer): void {
    if (this.closed) return;
    this.outQueue = this.outQueue.then(() => { if (!this.closed) this.transport.write(frame); });
  }

  private sendCompressed(type: number, flags: number, prefix: Buffer, headers: Headers): void {
    if (this.closed) return;
    this.outQueue = this.outQueue.then(async () => {
      const block = await this.deflate.run(encodeHeaderBlock(headers));
      if (!this.closed) this.transport.write(controlFrame(type, flags, Buffer.concat([prefix, block])));
    }).catch((err: Error) => this.fail(err));
  }

  close(): void {
    if (this.closed) return;
    this.send(controlFrame(FRAME.GOAWAY, 0, Buffer.concat([u32(this.lastClientStream), u32(0)])));
    void this.outQueue.then(() => this.shutdown());
  }

  /** Tears the session down: every open stream sees 'reset'. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) { s.remoteClosed = s.localClosed = true; s.emit('reset'); }
    this.streams.clear();
    this.inflate.close(); this.deflate.close();
    this.transport.close();
    this.emit('close');
  }

  maybeForget(s: SpdyStream): void {
    if (s.localClosed && s.remoteClosed) this.streams.delete(s.id);
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.emit('protocolError', err);
    this.send(controlFrame(FRAME.GOAWAY, 0, Buffer.concat([u32(this.lastClientStream), u32(1)])));
    void this.outQueue.then(() => this.shutdown());
  }

  private async handleFrame(frame: Buffer): Promise<void> {
    if (this.closed) return;
    const payload = frame.subarray(8);
    const flags = frame[4]!;
    if ((frame[0]! & 0x80) === 0) { this.handleData(frame.readUInt32BE(0) & 0x7fffffff, flags, payload); return; }
    const version = frame.readUInt16BE(0) & 0x7fff;
    if (version !== VERSION) throw new Error(`unsupported SPDY version ${version}`);
    const type = frame.readUInt16BE(2);
    if (payload.length < 4 && type !== FRAME.SETTINGS) throw new Error(`short control frame type ${type}`);
    switch (type) {
      case FRAME.SYN_STREAM: await this.handleSynStream(flags, payload); break;
      case FRAME.SYN_REPLY: case FRAME.HEADERS: await this.inflate.run(payload.subarray(4)); break;
      case FRAME.RST_STREAM: this.handleReset(payload.readUInt32BE(0) & 0x7fffffff); break;
      case FRAME.PING: this.send(controlFrame(FRAME.PING, 0, payload.subarray(0, 4))); break;
      case FRAME.GOAWAY: this.shutdown(); break;
      default: break; // SETTINGS, WINDOW_UPDATE, unknown: ignored (no flow control, like spdystream)
    }
  }

  private async handleSynStream(flags: number, payload: Buffer): Promise<void> {
    if (payload.length < 10) throw new Error('short SYN_STREAM');
    const id = payload.readUInt32BE(0) & 0x7fffffff;
    const headers = decodeHeaderBlock(await this.inflate.run(payload.subarray(10)));
    if (id % 2 === 0 || id <= this.lastClientStream) {
      this.send(controlFrame(FRAME.RST_STREAM, 0, Buffer.concat([u32(id), u32(RST.PROTOCOL_ERROR)])));
      return;
    }
    this.lastClientStream = id;
    const stream = new SpdyStream(id, headers, this);
    this.streams.set(id, stream);
    this.sendCompressed(FRAME.SYN_REPLY, 0, u32(id), {});
    if (flags & FLAG_FIN) stream.remoteClosed = true;
    this.onStream(stream);
    if (flags & FLAG_FIN) stream.emit('end');
  }

  private handleData(id: number, flags: number, data: Buffer): void {
    const s = this.streams.get(id);
    if (!s || s.remoteClosed) return;
    if (data.length) s.emit('data', Buffer.from(data));
    if (flags & FLAG_FIN) { s.remoteClosed = true; s.emit('end'); this.maybeForget(s); }
  }

  private handleReset(id: number): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.remoteClosed = s.localClosed = true;
    this.streams.delete(id);
    s.emit('reset');
  }
}
