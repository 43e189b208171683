// The panel plumbing without vscode: envelope validation, request ids and timeouts, the Flows
// contract's guards, flow → row mapping, the bounded row buffer and the secure shell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowResponse } from '../../src/flows/flow';
import { RequestClient, parseFromHost, parseFromWebview } from '../../src/panels/ipc';
import { type FlowsContract, MAX_LINE, type Snapshot, decodeLine, encodeRow, flowsGuards, isFlowRow, panelTitle } from '../../src/panels/flows/protocol';
import { RowBuffer, toRow } from '../../src/panels/flows/rows';
import { parseRecording, toCsv, toJsonLines } from '../../src/panels/flows/files';
import { contentSecurityPolicy, renderShell } from '../../src/panels/shell';

function flow(i: number, over: Partial<FlowResponse['flow']> = {}): FlowResponse {
  const time = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  return {
    time, node_name: 'node-1',
    flow: {
      time, verdict: 'FORWARDED', IP: { source: '10.0.0.1', destination: '10.0.0.2', ipVersion: 'IPv4' },
      l4: { TCP: { source_port: 40000 + i, destination_port: 8080, flags: { SYN: true, ACK: true } } },
      source: { namespace: 'shop', pod_name: 'frontend-1' }, destination: { namespace: 'shop', pod_name: 'cart-1' },
      Type: 'L3_L4', node_name: 'node-1', traffic_direction: 'EGRESS', destination_service: { namespace: 'shop', name: 'cart' },
      extensions: { tcp_event: 'connect' }, ...over,
    },
  };
}

test('messages from the webview: known commands and requests with ids only', () => {
  assert.deepEqual(parseFromWebview(flowsGuards, { kind: 'command', name: 'ready', payload: {} }), { ok: true, value: { kind: 'command', name: 'ready', payload: {} } });
  assert.equal(parseFromWebview(flowsGuards, { kind: 'command', name: 'pause', payload: { paused: true } }).ok, true);
  const bad = [
    { kind: 'command', name: 'pause', payload: { paused: 'yes' } },
    { kind: 'command', name: 'ready', payload: { extra: 1 } },
    { kind: 'command', name: 'constructor', payload: {} },
    { kind: 'command', name: '__proto__', payload: {} },
    { kind: 'command', name: 'nope', payload: {} },
    { kind: 'request', name: 'snapshot', payload: {} },
    { kind: 'request', id: -1, name: 'snapshot', payload: {} },
    { kind: 'request', id: 1.5, name: 'snapshot', payload: {} },
    { kind: 'notification', name: 'reset', payload: {} },
    'ready', null, [],
  ];
  for (const m of bad) assert.equal(parseFromWebview(flowsGuards, m).ok, false, JSON.stringify(m));
  assert.deepEqual(parseFromWebview(flowsGuards, { kind: 'request', id: 7, name: 'snapshot', payload: {} }), { ok: true, value: { kind: 'request', id: 7, name: 'snapshot', payload: {} } });
});

test('messages from the host: notifications are validated, responses carry ids', () => {
  const line = encodeRow(toRow(flow(1), 1));
  assert.equal(parseFromHost(flowsGuards, { kind: 'notification', name: 'batch', payload: { seq: 1, first: 1, lines: [line] } }).ok, true);
  assert.equal(parseFromHost(flowsGuards, { kind: 'notification', name: 'batch', payload: { seq: 1, first: 1, lines: [{ flow: 1 }] } }).ok, false, 'lines are text');
  assert.equal(parseFromHost(flowsGuards, { kind: 'notification', name: 'batch', payload: { seq: 1, first: -1, lines: [line] } }).ok, false);
  assert.equal(parseFromHost(flowsGuards, { kind: 'notification', name: 'batch', payload: { seq: 1, first: 1, lines: ['x'.repeat(MAX_LINE + 1)] } }).ok, false, 'a line is bounded');
  assert.deepEqual(decodeLine(line)?.flow, flow(1).flow, 'a line is the flow as hubble prints it');
  assert.equal(decodeLine('{"flow": {"verdict": "FORWARDED"}}'), undefined, 'a line without the flow fields is invalid');
  assert.equal(decodeLine('not json'), undefined);
  assert.equal(parseFromHost(flowsGuards, { kind: 'notification', name: 'status', payload: { agents: 1, connected: 1, paused: false } }).ok, true);
  assert.equal(parseFromHost(flowsGuards, { kind: 'notification', name: 'status', payload: { agents: -1, connected: 1, paused: false } }).ok, false);
  assert.equal(parseFromHost(flowsGuards, { kind: 'notification', name: 'hasOwnProperty', payload: {} }).ok, false);
  assert.deepEqual(parseFromHost(flowsGuards, { kind: 'response', id: 3, ok: false }), { ok: true, value: { kind: 'response', id: 3, ok: false, error: 'request failed' } });
  assert.equal(parseFromHost(flowsGuards, { kind: 'response', ok: true }).ok, false);
});

test('requests are matched by id, validated, and time out', async () => {
  const posted: { id: number }[] = [];
  const client = new RequestClient<FlowsContract>(flowsGuards.requests, (m) => posted.push(m), 50);
  const a = client.request('snapshot', {});
  const b = client.request('snapshot', {});
  assert.equal(posted.length, 2);
  const [ida, idb] = posted.map((m) => m.id);
  assert.notEqual(ida, idb);
  const snapB: Snapshot = { seq: 2, first: 0, lines: [], filter: {}, maxRows: 10 };
  assert.equal(client.settle({ kind: 'response', id: idb as number, ok: true, payload: snapB }), true);
  assert.equal(client.settle({ kind: 'response', id: ida as number, ok: true, payload: { wrong: true } }), true);
  assert.deepEqual(await b, snapB);
  await assert.rejects(a, /malformed response/);
  assert.equal(client.settle({ kind: 'response', id: 999, ok: true, payload: snapB }), false);
  const c = client.request('snapshot', {});
  await assert.rejects(c, /timed out after 50 ms/);
  const d = client.request('snapshot', {});
  client.settle({ kind: 'response', id: (posted.at(-1) as { id: number }).id, ok: false, error: 'boom' });
  await assert.rejects(d, /boom/);
});

test('flows become rows: pods, ports, service, flags and lifecycle event', () => {
  const f = flow(1);
  const r = toRow(f, 42);
  assert.deepEqual(r, {
    id: 42, time: '2026-01-01T00:00:01.000Z',
    src: { ip: '10.0.0.1', port: 40001, namespace: 'shop', pod: 'frontend-1' },
    dst: { ip: '10.0.0.2', port: 8080, namespace: 'shop', pod: 'cart-1' },
    proto: 'TCP', flags: 'connect SYN ACK', verdict: 'FORWARDED', direction: 'EGRESS', node: 'node-1', service: 'shop/cart',
    l7: '', policy: '', flow: f.flow,
  });
  assert.equal(isFlowRow(r), true);
  const drop = toRow(flow(2, { verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENIED', l4: { UDP: { source_port: 1, destination_port: 53 } }, source: {}, destination_service: undefined, extensions: undefined }), 1);
  assert.deepEqual([drop.proto, drop.flags, drop.src, drop.service, drop.dropReason], ['UDP', '', { ip: '10.0.0.1', port: 1 }, undefined, 'POLICY_DENIED']);
  const icmp = toRow(flow(3, { l4: { ICMPv4: { type: 8, code: 0 } }, extensions: undefined }), 1);
  assert.deepEqual([icmp.proto, icmp.flags, icmp.dst.port], ['ICMPv4', 'type 8/0', undefined]);
});

test('L7 and policy summaries', () => {
  const dns = toRow(flow(1, { l7: { type: 'RESPONSE', latency_ns: 1_500_000, dns: { query: 'cart.shop.svc.cluster.local.', qtypes: ['A'], rcode: 3, ips: [] } } }), 1);
  assert.equal(dns.l7, 'DNS A? cart.shop.svc.cluster.local. → NXDOMAIN (1.5 ms)');
  const http = toRow(flow(2, { l7: { type: 'RESPONSE', http: { method: 'GET', url: 'http://cart:8080/items?x=1', code: 503 } } }), 1);
  assert.equal(http.l7, 'GET /items → 503');
  assert.equal(toRow(flow(3, { l7: { type: 'REQUEST', http: { method: 'POST', url: '/pay' } } }), 1).l7, 'POST /pay');
  const denied = toRow(flow(4, { verdict: 'DROPPED', ingress_denied_by: [{ namespace: 'data', name: 'redis-allow-cart' }], egress_allowed_by: [{ namespace: 'shop', name: 'egress-all' }] }), 1);
  assert.equal(denied.policy, '✕ data/redis-allow-cart, shop/egress-all');
});

test('recordings: JSON lines round trip, bad lines skipped with their line numbers; CSV escapes', () => {
  const rows = [toRow(flow(2), 1), toRow(flow(1, { destination_service: { namespace: 'a', name: 'x,"y"' } }), 2)];
  const rec = parseRecording(toJsonLines(rows) + 'not json\n{"flow": {"time": 1}}\n');
  assert.deepEqual(rec.flows.map((f) => f.flow.time), ['2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z'], 'sorted by time');
  assert.deepEqual(rec.skipped.map((s) => s.line), [3, 4]);
  const csv = toCsv(rows).split('\n');
  assert.equal(csv[0], 'time,source,source_ip,destination,destination_ip,destination_port,service,protocol,flags,l7,verdict,drop_reason,direction,node,policy');
  assert.match(csv[2] ?? '', /,"a\/x,""y""",/);
});

test('the row buffer finds rows by id', () => {
  const buf = new RowBuffer(100);
  buf.add([flow(1), flow(2), flow(3)]);
  assert.equal(buf.find(2)?.time, '2026-01-01T00:00:02.000Z');
  assert.equal(buf.find(9), undefined);
  assert.equal(buf.all().length, 3);
});

test('the row buffer: sequence numbers, batches and snapshots as wire lines, and the maxRows bound', () => {
  const buf = new RowBuffer(100);
  assert.equal(buf.takeBatch(), undefined);
  buf.add([flow(1), flow(2)]);
  const b1 = buf.takeBatch();
  assert.deepEqual([b1?.seq, b1?.first, b1?.lines.length], [1, 1, 2]);
  assert.equal(decodeLine(b1?.lines[1] ?? '')?.time, flow(2).time, 'row first + 1 is the second flow');
  buf.add([flow(3)]);
  const s = buf.snapshot({ pod: 'shop/cart-1' });
  assert.deepEqual([s.seq, s.first, s.lines.length, s.filter, s.maxRows], [2, 1, 3, { pod: 'shop/cart-1' }, 100]);
  assert.equal(buf.takeBatch(), undefined, 'the snapshot included the pending rows');
  buf.add(Array.from({ length: 500 }, (_, i) => flow(i)));
  const b = buf.takeBatch();
  assert.deepEqual([b?.seq, b?.first, b?.lines.length], [3, 404, 100], 'the newest 100 of rows 4..503');
  const all = buf.snapshot({});
  assert.deepEqual([all.first, all.lines.length], [404, 100]);
  assert.ok(buf.size <= 100);
  buf.clear();
  assert.deepEqual(buf.snapshot({}).lines, []);
});

test('the shell: strict CSP with a nonce, state in a data attribute, escaped', () => {
  const csp = contentSecurityPolicy('https://x.vscode-cdn.net', 'abc');
  assert.match(csp, /^default-src 'none'; script-src 'nonce-abc'; style-src https:\/\/x\.vscode-cdn\.net; font-src https:\/\/x\.vscode-cdn\.net/);
  assert.doesNotMatch(csp, /unsafe/);
  const html = renderShell({ title: 'Flows — pod <x>', cspSource: 'https://x', nonce: 'n1', scriptUri: 'https://x/flows.js', styleUri: 'https://x/flows.css', codiconsUri: 'https://x/codicon.css', state: { filter: { pod: '"><script>alert(1)</script>' }, maxRows: 5 } });
  assert.match(html, /<script type="module" nonce="n1" src="https:\/\/x\/flows.js"><\/script>/);
  assert.equal((html.match(/<script/g) ?? []).length, 1, 'one script, by nonce');
  assert.match(html, /data-state="\{&quot;filter&quot;:\{&quot;pod&quot;:&quot;\\&quot;&gt;&lt;script&gt;/);
  assert.match(html, /<title>Flows — pod &lt;x&gt;<\/title>/);
  assert.match(html, /id="vscode-codicon-stylesheet"/);
});

test('panel titles name the filter', () => {
  assert.equal(panelTitle({}), 'Flows');
  assert.equal(panelTitle({ pod: 'shop/cart-xyz' }), 'Flows — pod shop/cart-xyz');
  assert.equal(panelTitle({ namespace: 'shop' }), 'Flows — namespace shop');
});
