// The flow table and L7 capture that tc_flow.bpf.h must produce for a sequence of frames,
// computed in TypeScript from refParse(): the oracle of the BPF_PROG_RUN tests.
import type { RefPacket } from './packets';
import { refParse } from './packets';

export interface RefFlow {
  key: string; saddr: Buffer; daddr: Buffer; sport: number; dport: number; proto: number; family: 4 | 6; origin: number;
  packets: [number, number]; bytes: [number, number]; payload: [number, number]; flags: [number, number]; http: [number, number];
}
export interface RefCapture { kind: 'dns' | 'http'; data: Buffer; payloadLen: number; tcpSeq: number; tcpAck: number }

const HTTP_STARTS = ['GET ', 'POST', 'PUT ', 'HEAD', 'DELE', 'PATC', 'OPTI', 'CONN', 'TRAC'];

function keyOf(s: Buffer, d: Buffer, sp: number, dp: number, proto: number): string {
  return `${s.toString('hex')}|${d.toString('hex')}|${sp}|${dp}|${proto}`;
}

/** The packet itself says which end started the flow: TCP, DNS, ICMP echo. */
function tellsInitiator(p: RefPacket): boolean {
  if (p.proto === 6) return true;
  if (p.proto === 17) return p.sport === 53 || p.dport === 53;
  if (p.proto === 1) return p.icmpType === 0 || p.icmpType === 8;
  if (p.proto === 58) return p.icmpType === 128 || p.icmpType === 129;
  return false;
}

function responder(p: RefPacket): boolean {
  if (p.proto === 6) return (p.flags & 2) !== 0 ? (p.flags & 0x10) !== 0 : p.sport < p.dport;
  if (p.proto === 17) return p.sport === 53 && p.dport !== 53;
  if (p.proto === 1) return p.icmpType === 0;
  if (p.proto === 58) return p.icmpType === 129;
  return false;
}

export class RefTable {
  readonly flows = new Map<string, RefFlow>();
  readonly captures: RefCapture[] = [];
  /** Endpoints that started a flow at an ingress hook (the kernel's `initiators`; `flush` clears it). */
  private readonly initiators = new Set<string>();

  push(frame: Buffer, hook: 1 | 2): void {
    const p = refParse(frame);
    if (!p) return;
    const fwd = keyOf(p.saddr, p.daddr, p.sport, p.dport, p.proto);
    const rev = keyOf(p.daddr, p.saddr, p.dport, p.sport, p.proto);
    let f = this.flows.get(fwd);
    let dir = 0;
    if (!f && (f = this.flows.get(rev))) dir = 1;
    if (!f) {
      let r = responder(p);
      if (hook === 1 && !tellsInitiator(p)) {
        const end = (a: Buffer, port: number) => `${a.toString('hex')}|${port}|${p.family}|${p.proto}`;
        r = this.initiators.has(end(p.daddr, p.dport)); // a reply to a flow another veth saw start
        if (!r) this.initiators.add(end(p.saddr, p.sport));
      }
      const [s, d, sp, dp] = r ? [p.daddr, p.saddr, p.dport, p.sport] : [p.saddr, p.daddr, p.sport, p.dport];
      f = { key: r ? rev : fwd, saddr: s, daddr: d, sport: sp, dport: dp, proto: p.proto, family: p.family, origin: r ? 3 - hook : hook,
        packets: [0, 0], bytes: [0, 0], payload: [0, 0], flags: [0, 0], http: [0, 0] };
      this.flows.set(f.key, f);
      dir = r ? 1 : 0;
    }
    f.packets[dir]! += 1;
    f.bytes[dir]! += p.ipLen;
    f.payload[dir]! += p.payloadLen;
    f.flags[dir]! |= p.flags;
    if (this.capture(frame, p)) f.http[dir]! += 1;
  }

  /** Records the capture the kernel makes; true for an HTTP head (counted in the flow). */
  private capture(frame: Buffer, p: RefPacket): boolean {
    if (!p.hasL4) return false;
    const payload = frame.subarray(p.payloadOff, p.payloadOff + p.payloadLen);
    if ((p.sport === 53 || p.dport === 53) && (p.proto === 17 || (p.proto === 6 && p.payloadLen >= 14))) {
      if (p.payloadLen >= 12) this.captures.push({ kind: 'dns', data: Buffer.from(payload.subarray(0, 512)), payloadLen: p.payloadLen, tcpSeq: p.tcpSeq, tcpAck: p.tcpAck });
      return false;
    }
    if (p.proto === 6 && p.payloadLen >= 8) {
      const head = payload.subarray(0, 8).toString('latin1');
      if (HTTP_STARTS.includes(head.slice(0, 4)) || head.startsWith('HTTP/1.')) {
        this.captures.push({ kind: 'http', data: Buffer.from(payload.subarray(0, 192)), payloadLen: Math.min(p.payloadLen, 0xffff), tcpSeq: p.tcpSeq, tcpAck: p.tcpAck });
        return true;
      }
    }
    return false;
  }
}
