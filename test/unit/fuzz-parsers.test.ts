// Fuzz: 120,000 random and mutated inputs to the protocol and filter parsers. None may throw; every
// rejection must be one clear line (no "undefined", no JS internals); whatever is accepted must
// compile and run against flows without throwing. Seeded, so a failure reproduces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClientMessage, parseServerMessage } from '../../src/agents/protocol';
import { validateFilterSet } from '../../src/flows/filter';
import { parseFilterText } from '../../src/flows/filter-args';
import { compileFilterSet } from '../../src/flows/filter-compile';
import { parseTimeArg } from '../../src/flows/filter-time';
import type { Flow } from '../../src/flows/flow';

let seed = Number(process.env.FUZZ_SEED ?? 0x5eed1234) >>> 0 || 1;
function rnd(n: number): number {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;

const FLAG_SEEDS = [
  '--namespace shop', '-n data --pod cart', '--from-pod shop/cart --to-port 8080', '--not --verdict DROPPED', '--label "app in (a,b),!x"',
  '--ip 10.0.0.0/8 --not --ip 10.1.0.0/16', '--to-ip fd00::/8', '--http-status 5+ -t l7', '--http-path "^/api/\\d+$"', '--dns-query "\\.svc\\."',
  '--node-name "kind-*"', '--tcp-flags syn,ack', '--traffic-direction ingress', '--protocol udp --protocol dns', '--workload Deployment/web',
  '--service default/kubernetes', '--fqdn "*.cilium.io"', '--type trace:to-endpoint', '--drop-reason-desc POLICY_DENIED', '-4', '--uuid abc',
];
const FRAME_SEEDS = [
  '{"type":"subscribe","last":10,"follow":true,"filters":{"allowlist":[{"source_pod":["shop/"]}],"denylist":[{"verdict":["DROPPED"]}]}}',
  '{"type":"subscribe","since":"2026-01-01T00:00:00Z","until":"2026-01-02T00:00:00.5+02:00","first":3}',
  '{"type":"subscribe","filters":{"allowlist":[{"tcp_flags":[{"SYN":true}],"event_type":[{"type":4,"match_sub_type":true,"sub_type":0}],"source_workload":[{"kind":"Deployment","name":"x"}]}]}}',
  '{"type":"subscribe","filters":{"allowlist":[{"source_ip":["10.0.0.0/8"],"destination_port":["53"],"http_status_code":["5+"],"node_name":["a/*"],"source_label":["k8s:app=x"]}]}}',
  '{"type":"ping","id":7}', '{"type":"get_status"}',
];
const SERVER_SEEDS = [
  '{"type":"hello","version":2,"node":"n","agent":"flowlens"}', '{"type":"lost_events","source":"ringbuf_reserve","count":3}',
  '{"type":"flows","flows":[{"time":"t","IP":{},"source":{},"destination":{},"l4":{}}]}', '{"type":"node_status","node":"n","ready":true,"lost":{}}',
  '{"type":"end"}', '{"type":"pong","id":1}', '{"type":"error","message":"x"}',
];
const ALPHABET = ' -"\'\\/=,!()[]{}:.*+?^$|0123456789abcdefghijklmnopqrstuvwxyzABCDEFZ\u00e9\u0000\n\ttrue false null';
const TOKENS = ['--not', '--pod', '-n', '--label', '--ip', '--port', '--verdict', '--type', '--http-status', '"', "'", '\\', '=', '(', ')', ',', '/', '*', '{', '}', '[', ']', ':', '"type"', '"subscribe"', '"filters"', '"allowlist"', '1e309', '-1', '1.5', 'null', '[]', '{}', '"source_pod"', '"since"', '9'.repeat(30)];

function mutate(s: string): string {
  let out = s;
  for (let k = 1 + rnd(4); k > 0; k--) {
    const i = rnd(out.length + 1);
    switch (rnd(5)) {
      case 0: out = out.slice(0, i) + out.slice(i + 1 + rnd(8)); break;
      case 1: out = out.slice(0, i) + pick(TOKENS) + out.slice(i); break;
      case 2: out = out.slice(0, i) + ALPHABET[rnd(ALPHABET.length)] + out.slice(i + 1); break;
      case 3: out = out.slice(0, i) + out.slice(rnd(out.length), rnd(out.length)) + out.slice(i); break;
      default: out = out.slice(0, i) + ' ' + pick(FLAG_SEEDS) + ' ' + out.slice(i);
    }
  }
  return out;
}

function randomText(): string {
  let s = '';
  for (let n = rnd(60); n > 0; n--) s += rnd(3) === 0 ? pick(TOKENS) : ALPHABET[rnd(ALPHABET.length)];
  return s;
}

const SAMPLE_FLOWS: Flow[] = [
  { time: '2026-01-01T00:00:00.000000000Z', verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENIED', IP: { source: '10.0.0.1', destination: 'fd00::1', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 1, destination_port: 8080, flags: { SYN: true } } }, source: { namespace: 'shop', pod_name: 'cart-1', labels: ['k8s:app=a'], workloads: [{ name: 'x', kind: 'Deployment' }] }, destination: {}, Type: 'L7', node_name: 'kind-1', traffic_direction: 'INGRESS', l7: { http: { code: 503, method: 'GET', url: '/api/1' }, dns: { query: 'a.svc.' } }, source_names: ['a.cilium.io'] },
  { time: '2026-01-01T00:00:01.000000000Z', verdict: 'FORWARDED', IP: { source: '', destination: '1.2.3.4', ipVersion: 'IPv6' }, l4: { ICMPv6: { type: 1, code: 0 } }, source: {}, destination: { labels: ['reserved:world'] }, Type: 'L3_L4', node_name: 'c/n', traffic_direction: 'EGRESS' },
];

const unclear = /undefined|\[object Object\]|TypeError|Cannot read|is not a function|NaN/;

function checkError(kind: string, input: string, error: string): void {
  assert.ok(error.length > 0 && error.length < 600 && !error.includes('\n') && !unclear.test(error), `${kind}: unclear error ${JSON.stringify(error)} for ${JSON.stringify(input.slice(0, 200))}`);
}

function runAccepted(kind: string, input: string, compile: () => ReturnType<typeof compileFilterSet>): void {
  const c = compile();
  if (!c.ok) return checkError(`${kind} compile`, input, c.error);
  for (const f of SAMPLE_FLOWS) c.value(f);
}

test('120,000 random and mutated inputs: no crash, every rejection a clear error', () => {
  const start = Date.now();
  let rejected = 0;
  let accepted = 0;
  for (let i = 0; i < 30_000; i++) {
    const text = rnd(4) === 0 ? randomText() : mutate(pick(FLAG_SEEDS) + ' ' + pick(FLAG_SEEDS));
    const r = parseFilterText(text);
    if (r.ok) { accepted++; runAccepted('filter text', text, () => compileFilterSet(r.value)); } else { rejected++; checkError('filter text', text, r.error); }
  }
  for (let i = 0; i < 40_000; i++) {
    const text = rnd(5) === 0 ? randomText() : mutate(pick(FRAME_SEEDS));
    const r = parseClientMessage(text);
    if (!r.ok) { rejected++; checkError('client frame', text, r.error); continue; }
    accepted++;
    if (r.value.type === 'subscribe') runAccepted('client frame', text, () => compileFilterSet(r.value.type === 'subscribe' && r.value.filters ? r.value.filters : { allowlist: [], denylist: [] }));
  }
  for (let i = 0; i < 25_000; i++) {
    const text = rnd(5) === 0 ? randomText() : mutate(pick(SERVER_SEEDS));
    const r = parseServerMessage(text);
    if (r.ok) accepted++; else { rejected++; checkError('server frame', text, r.error); }
  }
  for (let i = 0; i < 15_000; i++) {
    let v: unknown;
    try { v = JSON.parse(mutate(pick(FRAME_SEEDS))); } catch { v = randomText(); }
    const filters = (v as { filters?: unknown })?.filters ?? v;
    const r = validateFilterSet(filters);
    if (r.ok) { accepted++; runAccepted('filter JSON', JSON.stringify(filters), () => compileFilterSet(r.value)); } else { rejected++; checkError('filter JSON', JSON.stringify(filters) ?? '', r.error); }
  }
  for (let i = 0; i < 10_000; i++) {
    const text = mutate(pick(['2026-01-01T00:00:00Z', '5m', '1h30m', '2026-01-01', '2026-01-01T00:00:00.123456789+05:30']));
    const r = parseTimeArg(text, 1_800_000_000_000);
    if (r.ok) { accepted++; assert.match(r.value, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/, text); } else { rejected++; checkError('time', text, r.error); }
  }
  assert.equal(accepted + rejected, 120_000);
  assert.ok(accepted > 5_000 && rejected > 20_000, `the mix exercises both paths (accepted ${accepted}, rejected ${rejected})`);
  assert.ok(Date.now() - start < 60_000, 'fuzzing stays fast');
});
