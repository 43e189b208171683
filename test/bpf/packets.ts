// Crafted Ethernet frames for BPF_PROG_RUN tests of the tc programs, and a reference parser that
// states the rules bpf/tc_flow.bpf.h must follow (so random frames can be checked exactly).

export interface L4 { proto: 'tcp' | 'udp' | 'icmp'; sport?: number; dport?: number; flags?: number; payload?: Buffer; icmpType?: number; id?: number; seq?: number; ack?: number }

function csumless(b: Buffer): Buffer {
  return b; // the programs never check checksums
}

function ipv4(src: string, dst: string, proto: number, body: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + body.length, 2);
  h[8] = 64;
  h[9] = proto;
  src.split('.').forEach((o, i) => (h[12 + i] = Number(o)));
  dst.split('.').forEach((o, i) => (h[16 + i] = Number(o)));
  return Buffer.concat([h, body]);
}

export function v6bytes(a: string): Buffer {
  const [head = '', tail = ''] = a.split('::');
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts] : hs;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function ipv6(src: string, dst: string, next: number, body: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(body.length, 4);
  h[6] = next;
  h[7] = 64;
  v6bytes(src).copy(h, 8);
  v6bytes(dst).copy(h, 24);
  return Buffer.concat([h, body]);
}

function l4bytes(l: L4, v6: boolean): [number, Buffer] {
  const payload = l.payload ?? Buffer.alloc(0);
  if (l.proto === 'tcp') {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(l.sport ?? 0, 0);
    h.writeUInt16BE(l.dport ?? 0, 2);
    h.writeUInt32BE(l.seq ?? 0xa1b2c3d4, 4); // every byte distinct: a misread offset or byte order shows
    h.writeUInt32BE(l.ack ?? 0x0badf00d, 8);
    h[12] = 5 << 4;
    h[13] = l.flags ?? 0x10;
    h.writeUInt16BE(65535, 14);
    return [6, Buffer.concat([h, payload])];
  }
  if (l.proto === 'udp') {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(l.sport ?? 0, 0);
    h.writeUInt16BE(l.dport ?? 0, 2);
    h.writeUInt16BE(8 + payload.length, 4);
    return [17, Buffer.concat([h, payload])];
  }
  const h = Buffer.alloc(8);
  h[0] = l.icmpType ?? 8;
  h.writeUInt16BE(l.id ?? 0, 4);
  return [v6 ? 58 : 1, Buffer.concat([h, payload])];
}

const MAC = Buffer.from('02000000000102000000000208', 'hex').subarray(0, 12);

/** An Ethernet frame carrying src → dst (IPv6 when the addresses contain ':'). */
export function frame(src: string, dst: string, l: L4): Buffer {
  const v6 = src.includes(':');
  const [proto, body] = l4bytes(l, v6);
  const ip = v6 ? ipv6(src, dst, proto, body) : ipv4(src, dst, proto, body);
  const eth = Buffer.alloc(14);
  MAC.copy(eth, 0);
  eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  return csumless(Buffer.concat([eth, ip]));
}

/** An IPv6 extension header: hop-by-hop 0, routing 43, fragment 44, AH 51, destination options 60. */
export interface V6Ext { type: 0 | 43 | 44 | 51 | 60; bytes?: number; fragOffset?: number }

/** The IPv6 frame `f` with extension headers between its base header and its upper layer. */
export function withV6Ext(f: Buffer, exts: V6Ext[]): Buffer {
  const upper = f[20]!;
  const parts = exts.map((e, i) => {
    const size = e.type === 44 ? 8 : (e.bytes ?? 8);
    const h = Buffer.alloc(size);
    h[0] = i + 1 < exts.length ? exts[i + 1]!.type : upper;
    if (e.type === 51) h[1] = size / 4 - 2;
    else if (e.type !== 44) h[1] = size / 8 - 1;
    else h.writeUInt16BE((e.fragOffset ?? 0) << 3, 2);
    return h;
  });
  const out = Buffer.concat([f.subarray(0, 54), ...parts, f.subarray(54)]);
  out[20] = exts[0]?.type ?? upper;
  out.writeUInt16BE(out.length - 54, 18);
  return out;
}

/** What tc_flow.bpf.h must make of a frame: undefined = not accounted (not IP or malformed). */
export interface RefPacket {
  family: 4 | 6; proto: number; saddr: Buffer; daddr: Buffer; sport: number; dport: number;
  ipLen: number; payloadLen: number; payloadOff: number; flags: number; icmpType: number; hasL4: boolean;
  tcpSeq: number; tcpAck: number; // TCP: the header's sequence and acknowledgment numbers, else 0
}

function refL4(b: Buffer, p: RefPacket, off: number, end: number): RefPacket | undefined {
  if (p.proto === 6) {
    if (off + 20 > end) return undefined;
    const doff = (b[off + 12]! >> 4) * 4;
    if (doff < 20 || off + doff > end) return undefined;
    return { ...p, sport: b.readUInt16BE(off), dport: b.readUInt16BE(off + 2), flags: b[off + 13]!, payloadOff: off + doff, payloadLen: end - off - doff, hasL4: true, tcpSeq: b.readUInt32BE(off + 4), tcpAck: b.readUInt32BE(off + 8) };
  }
  if (p.proto === 17) {
    if (off + 8 > end) return undefined;
    const ulen = b.readUInt16BE(off + 4);
    if (ulen < 8 || off + ulen > end) return undefined;
    return { ...p, sport: b.readUInt16BE(off), dport: b.readUInt16BE(off + 2), payloadOff: off + 8, payloadLen: ulen - 8, hasL4: true };
  }
  if (p.proto === 1 || p.proto === 58) {
    if (off + 8 > end) return undefined;
    const t = b[off]!;
    const echo = p.proto === 1 ? t === 8 || t === 0 : t === 128 || t === 129;
    const id = echo ? b.readUInt16BE(off + 4) : 0;
    return { ...p, icmpType: t, sport: id, dport: id, hasL4: true };
  }
  return p;
}

export function refParse(b: Buffer): RefPacket | undefined {
  if (b.length < 14) return undefined;
  const et = b.readUInt16BE(12);
  const base = { sport: 0, dport: 0, payloadLen: 0, payloadOff: 0, flags: 0, icmpType: 0, hasL4: false, tcpSeq: 0, tcpAck: 0 };
  if (et === 0x0800) {
    if (b.length < 34 || b[14]! >> 4 !== 4) return undefined;
    const ihl = (b[14]! & 15) * 4;
    const tot = b.readUInt16BE(16);
    if (ihl < 20 || tot < ihl || tot > b.length - 14) return undefined;
    const p: RefPacket = { ...base, family: 4, proto: b[23]!, saddr: pad16(b.subarray(26, 30)), daddr: pad16(b.subarray(30, 34)), ipLen: tot };
    if (b.readUInt16BE(20) & 0x1fff) return p;
    return refL4(b, p, 14 + ihl, 14 + tot);
  }
  if (et === 0x86dd) {
    if (b.length < 54 || b[14]! >> 4 !== 6) return undefined;
    const tot = 40 + b.readUInt16BE(18);
    if (tot > b.length - 14) return undefined;
    const p: RefPacket = { ...base, family: 6, proto: b[20]!, saddr: Buffer.from(b.subarray(22, 38)), daddr: Buffer.from(b.subarray(38, 54)), ipLen: tot };
    // Extension headers: up to 4 walked (hop-by-hop, routing, destination options, fragment, AH).
    const ext = (nh: number) => nh === 0 || nh === 43 || nh === 60 || nh === 44 || nh === 51;
    let off = 54;
    for (let i = 0; i < 4 && ext(p.proto); i++) {
      if (off + 8 > 14 + tot) return undefined;
      const nh = p.proto;
      p.proto = b[off]!;
      if (nh === 44) {
        if (b.readUInt16BE(off + 2) & 0xfff8) return p; // not the first fragment
        off += 8;
      } else off += nh === 51 ? (b[off + 1]! + 2) * 4 : (b[off + 1]! + 1) * 8;
    }
    if (ext(p.proto)) return p;
    if (off > 14 + tot) return undefined;
    return refL4(b, p, off, 14 + tot);
  }
  return undefined;
}

function pad16(b: Buffer): Buffer {
  const o = Buffer.alloc(16);
  b.copy(o);
  return o;
}
