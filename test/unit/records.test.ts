import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { LoaderProcess, defaultLoaderPath } from '../../src/agent/loader';
import {
  HEADER_BYTES, LAYOUT, LostSource, RECORD_MAX_BYTES, RECORD_SIZES, RECORD_VERSION, RecordDecodeError,
  RecordDecoder, RecordType, formatIPv6,
} from '../../src/agent/records';
import type { DecodedRecord, RecordFrames } from '../../src/agent/records';
import { LOST_SOURCE_NAMES } from '../../src/agent/layout';

const BPF_DIR = resolve(__dirname, '..', '..', 'bpf');
const LAYOUT_BIN = join(BPF_DIR, '.output', 'layout');

// Builds bpf/.output/layout (host C compiler only; no BTF, no root) once.
let built = false;
function layoutBin(): string {
  if (!built) {
    execFileSync('make', ['-s', '-C', BPF_DIR, '.output/layout'], { stdio: ['ignore', 'inherit', 'inherit'] });
    built = true;
  }
  return LAYOUT_BIN;
}

function cSample(): Buffer {
  return Buffer.from(execFileSync(layoutBin(), ['--sample'], { encoding: 'utf8' }).trim(), 'hex');
}

const FEATURES_SAMPLE = Object.fromEntries([
  'btf', 'ringbuf', 'mmap_array', 'sched_cls', 'tracepoint', 'cgroup_sock_addr', 'drop_reason_enum', 'kfree_skb_reason',
  'tcp_retransmit_tp', 'tcp_reset_tps', 'sock_state_tp', 'lru_hash', 'cgroup2', 'syscall_prog',
].map((n) => [n, n === 'btf' || n === 'ringbuf' || n === 'drop_reason_enum']));
const T = 1700000005000000000n;
const SK = 0xffff888123456780n;

// What bpf/layout.c --sample writes, field by field (see sample_*() there).
const EXPECTED_SAMPLE: DecodedRecord[] = [
  {
    type: 'hello', loaderVersion: 2, monoToWallNs: 1700000000000000000n, ringbufBytes: 4194304,
    attached: 9, attachedPrograms: ['tcp_state', 'kfree_skb'], attachedCount: 2, ncpus: 2,
    features: FEATURES_SAMPLE, flowEntries: 65536, flushMs: 250, kernelRelease: '6.18.0-test',
  },
  { type: 'lost', source: 'ringbuf_reserve.tcp_state', total: 7n },
  { type: 'drop_reason', value: 12, name: 'NETFILTER_DROP' },
  {
    type: 'tcp_state', timeNs: T, monoNs: 5000000000n, skaddr: SK,
    netns: 4026531840, pid: 4242, tid: 4243, comm: 'node', family: 4, saddr: '10.0.0.1',
    daddr: '192.168.1.254', sport: 40000, dport: 8080, oldState: 'SYN_SENT', newState: 'ESTABLISHED',
  },
  {
    type: 'tcp_state', timeNs: T, monoNs: 5000000000n, skaddr: SK,
    netns: 4026531840, pid: 4242, tid: 4243, comm: 'curl', family: 6, saddr: '2001:db8::1',
    daddr: 'fe80::211:22ff:fe33:4455', sport: 40000, dport: 8080, oldState: 'LISTEN', newState: 'SYN_RECV',
  },
  {
    type: 'flow', event: 'end', firstNs: T, lastNs: T + 300000n, family: 4, proto: 6, saddr: '10.244.0.5', daddr: '10.96.0.10',
    sport: 41000, dport: 80, ifindex: 17, origin: 'from_pod', bytes: [400, 900], payload: [100, 600], packets: [6, 5],
    tcpFlags: [0x1b, 0x13], icmpType: 0, icmpCode: 0, httpHeads: [3, 2],
  },
  {
    type: 'dns', timeNs: T, family: 4, proto: 17, saddr: '10.244.0.5', daddr: '10.96.0.10', sport: 5353, dport: 53, ifindex: 17,
    hook: 'from_pod', payloadLen: 12, tcpSeq: 0, tcpAck: 0, data: Buffer.from('123401000001000000000000', 'hex'),
  },
  {
    type: 'http', timeNs: T, family: 6, proto: 6, saddr: '2001:db8::1', daddr: 'fe80::211:22ff:fe33:4455', sport: 41000, dport: 80,
    ifindex: 17, hook: 'to_pod', payloadLen: 300, tcpSeq: 0x89abcdef, tcpAck: 1000, data: Buffer.from('GET /x HTTP/1.1\r\nHost: a\r\n\r\n'),
  },
  {
    type: 'drop', timeNs: T, reason: 12, location: 0xffffffff81000000n, family: 4, proto: 6, saddr: '10.244.0.5', daddr: '10.244.0.6',
    sport: 41000, dport: 9090, ifindex: 17, netns: 4026531840,
  },
  {
    type: 'tcp_event', kind: 'retransmit', timeNs: T, skaddr: SK, family: 4, saddr: '10.244.0.5', daddr: '10.244.0.6', sport: 41000,
    dport: 80, netns: 4026531840, state: 1,
  },
  { type: 'cmd_result', cmd: 'attach', arg: 17, seq: 3, err: -19 },
  { type: 'sock_addr', timeNs: T, cookie: 99n, skaddr: SK, daddr: '10.96.0.10', dport: 80, proto: 6, pid: 4242, comm: 'curl' },
];

test('TypeScript layout equals the C layout of bpf/flowlens.h', () => {
  const c = JSON.parse(execFileSync(layoutBin(), { encoding: 'utf8' })) as {
    version: number; maxBytes: number; types: Record<string, number>; lostSources: Record<string, number>;
    records: unknown;
  };
  assert.deepEqual(c.records, JSON.parse(JSON.stringify(LAYOUT)));
  assert.equal(c.version, RECORD_VERSION);
  assert.equal(c.maxBytes, RECORD_MAX_BYTES);
  assert.deepEqual(c.types, {
    hello: RecordType.HELLO, tcp_state: RecordType.TCP_STATE, lost: RecordType.LOST, flow: RecordType.FLOW, dns: RecordType.DNS,
    http: RecordType.HTTP, drop: RecordType.DROP, drop_reason: RecordType.DROP_REASON, tcp_event: RecordType.TCP_EVENT,
    cmd_result: RecordType.CMD_RESULT, sock_addr: RecordType.SOCK_ADDR,
  });
  assert.deepEqual(Object.values(c.lostSources), Object.values(LostSource));
  for (const [name, code] of Object.entries(c.lostSources)) assert.equal(LOST_SOURCE_NAMES[code], name);
  assert.equal(RECORD_SIZES[RecordType.TCP_STATE], 96);
  for (const [name, size] of Object.entries(LAYOUT)) if (name !== 'hdr') assert.equal(RECORD_SIZES[RecordType[name.toUpperCase() as keyof typeof RecordType]], size.size);
});

test('decodes records written by C', () => {
  assert.deepEqual(new RecordDecoder().push(cSample()), EXPECTED_SAMPLE);
});

test('a dual-stack socket talking IPv4 (v4-mapped addresses) decodes as IPv4; real IPv6 stays IPv6', () => {
  const sample = cSample();
  const v6At: number[] = []; // offsets of the sample's AF_INET6 tcp_state records
  for (let at = 0; at < sample.length; at += sample.readUInt32LE(at + 4)) {
    if (sample.readUInt16LE(at) === RecordType.TCP_STATE && sample.readUInt16LE(at + LAYOUT.tcp_state.fields.family[0]) === 10) v6At.push(at);
  }
  assert.equal(v6At.length, 1);
  const f = LAYOUT.tcp_state.fields;
  const v6 = (text: string) => {
    const b = Buffer.alloc(16);
    const m = /^::ffff:(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
    if (m) { b[10] = 0xff; b[11] = 0xff; for (let i = 0; i < 4; i++) b[12 + i] = Number(m[i + 1]); } else if (text !== '::') b.write(text.replace(/:/g, ''), 'hex');
    return b;
  };
  const decode = (src: string, dst: string) => {
    const rec = Buffer.from(sample.subarray(v6At[0], v6At[0]! + RECORD_SIZES[RecordType.TCP_STATE]!));
    v6(src).copy(rec, f.saddr[0]);
    v6(dst).copy(rec, f.daddr[0]);
    const hello = sample.subarray(0, sample.readUInt32LE(4)); // a stream starts with HELLO
    const [, r] = new RecordDecoder().push(Buffer.concat([hello, rec]));
    assert.equal(r?.type, 'tcp_state');
    return r.type === 'tcp_state' ? [r.family, r.saddr, r.daddr] : [];
  };
  assert.deepEqual(decode('::ffff:10.244.0.3', '::ffff:10.244.0.2'), [4, '10.244.0.3', '10.244.0.2'], 'an accept on [::] from an IPv4 pod');
  assert.deepEqual(decode('::', '::ffff:10.96.0.10'), [4, '0.0.0.0', '10.96.0.10'], 'a connect before its source is bound');
  assert.deepEqual(decode('::ffff:10.244.0.3', '::'), [4, '10.244.0.3', '0.0.0.0']);
  assert.deepEqual(decode('::', '::'), [6, '::', '::'], 'nothing says IPv4');
  assert.deepEqual(decode('::ffff:10.244.0.3', '20010db8000000000000000000000001'), [6, '::ffff:10.244.0.3', '2001:db8::1'], 'only one end mapped: as is');
});

test('reassembles records split at every byte boundary', () => {
  const stream = cSample();
  for (let i = 0; i <= stream.length; i++) {
    const d = new RecordDecoder();
    const got = [...d.push(stream.subarray(0, i)), ...d.push(stream.subarray(i))];
    assert.deepEqual(got, EXPECTED_SAMPLE, `split at ${i}`);
    assert.equal(d.bufferedBytes, 0);
  }
});

test('reassembles a stream fed one byte at a time, and across two split points', () => {
  const stream = cSample();
  const d = new RecordDecoder();
  const got: DecodedRecord[] = [];
  for (let i = 0; i < stream.length; i++) got.push(...d.push(stream.subarray(i, i + 1)));
  assert.deepEqual(got, EXPECTED_SAMPLE);
  for (let i = 0; i < stream.length; i += 7) {
    for (let j = i; j <= stream.length; j += 5) {
      const e = new RecordDecoder();
      const parts = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
      assert.deepEqual(parts.flatMap((p) => e.push(p)), EXPECTED_SAMPLE, `split at ${i}, ${j}`);
    }
  }
});

test('holds back an incomplete record until the rest arrives', () => {
  const stream = cSample();
  const d = new RecordDecoder();
  assert.deepEqual(d.push(stream.subarray(0, 120 + 10)), [EXPECTED_SAMPLE[0]]);
  assert.equal(d.bufferedBytes, 10);
});

function corrupt(edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(cSample());
  edit(b);
  return b;
}

const HELLO = 120;
const LOST = 24;
const REASON = 72;
const TCP4 = HELLO + LOST + REASON; // offset of the first TCP_STATE in the sample
const FLOW = TCP4 + 96 * 2;
const DNS = FLOW + 128;
const HTTP = DNS + 584;
const DROP = HTTP + 264;
const TCPEV = DROP + 80;
const CMD = TCPEV + 72;
const SOCK = CMD + 24;
const GARBAGE: Array<[string, (b: Buffer) => void, RegExp, number]> = [
  ['unknown type', (b) => b.writeUInt16LE(99, TCP4), /unknown record type 99/, TCP4],
  ['wrong version', (b) => b.writeUInt16LE(1, TCP4 + 2), new RegExp(`version 1, expected ${RECORD_VERSION}`), TCP4],
  ['wrong len', (b) => b.writeUInt32LE(100, TCP4 + 4), /len 100, expected 96/, TCP4],
  ['len below header', (b) => b.writeUInt32LE(0, HELLO + 4), /len 0, expected 24/, HELLO],
  ['bad family', (b) => b.writeUInt16LE(7, TCP4 + 88), /family 7/, TCP4],
  ['bad protocol', (b) => b.writeUInt16LE(17, TCP4 + 90), /protocol 17/, TCP4],
  ['bad new state', (b) => b.writeUInt8(13, TCP4 + 93), /newstate 13 is not a TCP state/, TCP4],
  ['bad old state', (b) => b.writeUInt8(0, TCP4 + 92), /oldstate 0 is not a TCP state/, TCP4],
  ['unknown lost source', (b) => b.writeUInt32LE(9, HELLO + 16), /LOST source 9 unknown/, HELLO],
  ['reason name not an enum name', (b) => b.write('x;', HELLO + LOST + 16), /DROP_REASON name "x;TFILTER_DROP" is not an enum name/, HELLO + LOST],
  ['flow event 0', (b) => b.writeUInt8(0, FLOW + 114), /FLOW event 0 unknown/, FLOW],
  ['flow family 5', (b) => b.writeUInt8(5, FLOW + 112), /FLOW family 5/, FLOW],
  ['flow origin 3', (b) => b.writeUInt8(3, FLOW + 115), /FLOW origin 3 unknown/, FLOW],
  ['flow counter beyond 2^53', (b) => b.writeBigUInt64LE(1n << 60n, FLOW + 24), /counter .* too large/, FLOW],
  ['dns captured > payload', (b) => b.writeUInt16LE(13, DNS + 58), /DNS captured 13 bytes of 12/, DNS],
  ['dns hook 0', (b) => b.writeUInt8(0, DNS + 62), /DNS hook 0 unknown/, DNS],
  ['http captured > 192', (b) => { b.writeUInt16LE(1000, HTTP + 56); b.writeUInt16LE(193, HTTP + 58); }, /HTTP captured 193 bytes of 1000 \(max 192\)/, HTTP],
  ['drop family 0', (b) => b.writeUInt8(0, DROP + 72), /DROP family 0/, DROP],
  ['tcp event kind 4', (b) => b.writeUInt8(4, TCPEV + 65), /TCP_EVENT kind 4 unknown/, TCPEV],
  ['cmd 9', (b) => b.writeUInt32LE(9, CMD + 12), /CMD_RESULT command 9 unknown/, CMD],
  ['sock_addr family 6', (b) => b.writeUInt8(6, SOCK + 74), /SOCK_ADDR family 6 is not 4/, SOCK],
];
const OFFSETS = [0, HELLO, HELLO + LOST, TCP4, TCP4 + 96, FLOW, DNS, HTTP, DROP, TCPEV, CMD, SOCK];

for (const [name, edit, message, offset] of GARBAGE) {
  test(`rejects garbage: ${name}`, () => {
    const d = new RecordDecoder();
    const err = catchDecode(() => d.push(corrupt(edit)));
    assert.match(err.message, message);
    assert.match(err.message, new RegExp(`at stream byte ${offset}\\b`));
    assert.equal(err.streamOffset, offset);
    assert.deepEqual(err.records, EXPECTED_SAMPLE.slice(0, OFFSETS.indexOf(offset)));
    assert.equal(d.error, err);
    assert.throws(() => d.push(Buffer.alloc(0)), (e) => e === err, 'decoder stays failed');
  });
}

test('stream offsets in errors count bytes of earlier pushes', () => {
  const b = corrupt((x) => x.writeUInt16LE(99, TCP4 + 96));
  const d = new RecordDecoder();
  d.push(b.subarray(0, TCP4 + 3));
  const err = catchDecode(() => d.push(b.subarray(TCP4 + 3)));
  assert.equal(err.streamOffset, TCP4 + 96);
  assert.equal(err.records.length, 1);
});

test('rejects timed records before HELLO', () => {
  const err = catchDecode(() => new RecordDecoder().push(cSample().subarray(TCP4)));
  assert.match(err.message, /record type 2 before HELLO/);
  assert.equal(err.streamOffset, 0);
});

test('a partial header is held, not judged', () => {
  const d = new RecordDecoder();
  assert.deepEqual(d.push(Buffer.from([1, 0, 1])), []);
  assert.equal(d.bufferedBytes, 3);
  assert.ok(HEADER_BYTES > 3);
});

test('frame() cuts whole records without decoding them; decode() later gives what push() gives', () => {
  const stream = cSample();
  for (const cuts of [[0], [1, 300], [TCP4 + 5, FLOW + 127, HTTP], [stream.length - 1]]) {
    const d = new RecordDecoder();
    const bounds = [0, ...cuts, stream.length];
    const frames = bounds.slice(1).map((end, i) => d.frame(stream.subarray(bounds[i], end))).filter((f) => f !== undefined);
    assert.equal(frames.reduce((n, f) => n + f.count, 0), EXPECTED_SAMPLE.length, `cuts ${cuts}`);
    frames.forEach((f, i) => assert.equal(f.offset, i === 0 ? 0 : frames[i - 1]!.offset + frames[i - 1]!.bytes.length));
    assert.deepEqual(frames.flatMap((f) => d.decode(f)), EXPECTED_SAMPLE, `cuts ${cuts}`);
    assert.equal(d.bufferedBytes, 0);
  }
});

test('control() decodes only the stream’s own records: HELLO, LOST, DROP_REASON, CMD_RESULT', () => {
  const d = new RecordDecoder();
  const frames = d.frame(cSample())!;
  assert.deepEqual(d.control(frames), EXPECTED_SAMPLE.filter((r) => ['hello', 'lost', 'drop_reason', 'cmd_result'].includes(r.type)));
  assert.deepEqual(d.decode(frames), EXPECTED_SAMPLE, 'the same frames still decode whole');
});

test('a bad header: frame() hands out the records before it and says where; then nothing more', () => {
  const d = new RecordDecoder();
  const frames = d.frame(corrupt((b) => b.writeUInt16LE(99, TCP4 + 96)))!;
  assert.equal(frames.count, 4);
  assert.match(d.badHeader ?? '', new RegExp(`unknown record type 99 .*at stream byte ${TCP4 + 96}\\)`));
  assert.equal(d.frame(cSample()), undefined);
  assert.deepEqual(d.decode(frames), EXPECTED_SAMPLE.slice(0, 4));
  const err = catchDecode(() => d.push(Buffer.alloc(0)));
  assert.equal(err.streamOffset, TCP4 + 96);
});

function catchDecode(fn: () => unknown): RecordDecodeError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RecordDecodeError, `expected RecordDecodeError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a RecordDecodeError');
}

function v6(hexGroups: string): Buffer {
  const b = Buffer.alloc(16);
  hexGroups.split(':').forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

test('formats IPv6 as RFC 5952', () => {
  const cases: Array<[string, string]> = [
    ['0:0:0:0:0:0:0:1', '::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:0db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['FE80:0:0:0:0211:22FF:FE33:4455', 'fe80::211:22ff:fe33:4455'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:0:0:0:ffff:c000:0201', '::ffff:192.0.2.1'], // IPv4-mapped
    ['0:0:0:0:0:0:c000:0201', '::c000:201'], // deprecated IPv4-compatible: plain hex
  ];
  for (const [input, want] of cases) assert.equal(formatIPv6(v6(input), 0), want, input);
});

test('IPv6 formatting agrees with the WHATWG URL serializer on random addresses', () => {
  let seed = 12345;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let n = 0; n < 2000; n++) {
    const b = Buffer.alloc(16);
    for (let i = 0; i < 8; i++) b.writeUInt16BE(rand() < 0.5 ? 0 : Math.floor(rand() * 0x10000), i * 2);
    if (b.readUInt16BE(10) === 0xffff) continue; // mapped: URL prints hex, RFC 5952 dotted
    const want = new URL(`http://[${formatIPv6(b, 0)}]/`).hostname.slice(1, -1);
    assert.equal(formatIPv6(b, 0), want, b.toString('hex'));
  }
});

// LoaderProcess with a stand-in binary (node writing bytes), so no root or BPF is needed.
async function runFake(bytesHex: string, extra = ''): Promise<{ records: DecodedRecord[]; exit: unknown[] }> {
  const script = `process.stdout.write(Buffer.from('${bytesHex}', 'hex'), () => { ${extra} });`;
  const loader = new LoaderProcess(process.execPath, { args: ['-e', script] });
  const records: DecodedRecord[] = [];
  loader.on('records', (r) => records.push(...r));
  const exit = new Promise<unknown[]>((res) => loader.on('exit', (...args) => res(args)));
  loader.start();
  return { records, exit: await exit };
}

test('LoaderProcess delivers decoded records and the exit status', async () => {
  const { records, exit } = await runFake(cSample().toString('hex'), 'process.exitCode = 3;');
  assert.deepEqual(records, EXPECTED_SAMPLE);
  assert.deepEqual(exit, [3, null, '']);
});

test('LoaderProcess stops the loader on an invalid stream and says why', async () => {
  const bad = corrupt((b) => b.writeUInt16LE(99, TCP4)).toString('hex');
  const { records, exit } = await runFake(bad, 'setInterval(() => {}, 1000);');
  assert.deepEqual(records, EXPECTED_SAMPLE.slice(0, 3));
  assert.equal(exit[1], 'SIGTERM');
  assert.match(String(exit[2]), /invalid record stream, stopping loader: unknown record type 99 .*at stream byte 216/);
});

test('LoaderProcess lazy: frames wait undecoded until decode(), which does the HELLO and command bookkeeping', async () => {
  const script = `process.stdout.write(Buffer.from('${cSample().toString('hex')}', 'hex')); setInterval(() => {}, 1000);`;
  const loader = new LoaderProcess(process.execPath, { args: ['-e', script], lazy: true });
  const frames: RecordFrames[] = [];
  let decodedEvents = 0;
  loader.on('records', () => decodedEvents++);
  const got = new Promise<void>((res) => loader.on('frames', (f) => { frames.push(f); if (frames.reduce((n, x) => n + x.count, 0) === EXPECTED_SAMPLE.length) res(); }));
  let ready = false;
  const readyP = loader.ready().then(() => { ready = true; });
  loader.start();
  await got;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(ready, false, 'HELLO not decoded yet');
  const [first, ...rest] = frames;
  const records = loader.decode(first!);
  await readyP;
  assert.deepEqual([...records, ...rest.flatMap((f) => loader.decode(f))], EXPECTED_SAMPLE);
  assert.equal(decodedEvents, 0, 'no records events in lazy mode');
  await loader.stop();
});

test('LoaderProcess lazy: an invalid header stops the loader at once; the frames before it still decode', async () => {
  const bad = corrupt((b) => b.writeUInt16LE(99, TCP4)).toString('hex');
  const loader = new LoaderProcess(process.execPath, { args: ['-e', `process.stdout.write(Buffer.from('${bad}', 'hex')); setInterval(() => {}, 1000);`], lazy: true });
  const frames: RecordFrames[] = [];
  loader.on('frames', (f) => frames.push(f));
  const exit = new Promise<unknown[]>((res) => loader.on('exit', (...args) => res(args)));
  loader.start();
  const [, signal, stderr] = await exit;
  assert.equal(signal, 'SIGTERM');
  assert.match(String(stderr), /invalid record stream, stopping loader: unknown record type 99 .*at stream byte 216/);
  assert.deepEqual(frames.flatMap((f) => loader.decode(f)), EXPECTED_SAMPLE.slice(0, 3));
});

test('LoaderProcess.ready() resolves on HELLO and rejects when the loader dies first', async () => {
  const ok = new LoaderProcess(process.execPath, { args: ['-e', `process.stdout.write(Buffer.from('${cSample().toString('hex')}', 'hex')); setInterval(() => {}, 1000);`] });
  ok.start();
  assert.equal((await ok.ready()).loaderVersion, 2);
  await ok.stop();
  assert.equal(ok.running, false);
  const dead = new LoaderProcess(process.execPath, { args: ['-e', 'console.error("libbpf: failed to attach: Permission denied"); process.exit(1)'] });
  dead.start();
  await assert.rejects(dead.ready(), /exited before HELLO \(code 1.*Permission denied/);
  const missing = new LoaderProcess('/nonexistent/flowlens-loader');
  missing.start();
  await assert.rejects(missing.ready(), /cannot run \/nonexistent\/flowlens-loader: spawn .* ENOENT/);
});

test('LoaderProcess.stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
  const stubborn = new LoaderProcess(process.execPath, { args: ['-e', `process.on('SIGTERM', () => {}); process.stdout.write(Buffer.from('${cSample().toString('hex')}', 'hex')); setInterval(() => {}, 1000);`] });
  const exit = new Promise<unknown[]>((res) => stubborn.on('exit', (...args) => res(args)));
  stubborn.start();
  await stubborn.ready();
  const t0 = Date.now();
  await stubborn.stop();
  assert.ok(Date.now() - t0 >= 1900, 'waited ~2 s before SIGKILL');
  assert.equal((await exit)[1], 'SIGKILL');
});

test('default loader path: FLOWLENS_LOADER, else bpf/.output under the repo root', () => {
  const saved = process.env.FLOWLENS_LOADER;
  try {
    delete process.env.FLOWLENS_LOADER;
    assert.equal(defaultLoaderPath(), join(BPF_DIR, '.output', 'flowlens-loader'));
    process.env.FLOWLENS_LOADER = '/opt/x/loader';
    assert.equal(defaultLoaderPath(), '/opt/x/loader');
  } finally {
    if (saved === undefined) delete process.env.FLOWLENS_LOADER;
    else process.env.FLOWLENS_LOADER = saved;
  }
});
