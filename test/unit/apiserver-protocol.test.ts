import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { applyPatch, jsonPatch, mergePatch } from '../../src/sandbox/apiserver/patch';
import { decodeHeaderBlock, encodeHeaderBlock, controlFrame, dataFrame, FRAME, SpdySession } from '../../src/sandbox/apiserver/spdy';
import type { SpdyStream } from '../../src/sandbox/apiserver/spdy';
import { SPDY_DICTIONARY } from '../../src/sandbox/apiserver/spdy-dictionary';
import { humanDuration, toTable, wantsTable } from '../../src/sandbox/apiserver/tables';
import { parseRoute } from '../../src/sandbox/apiserver/routes';

test('merge patch (RFC 7386) and strategic directives', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null, e: 4 }, f: [1] }), { a: 1, b: { d: 3, e: 4 }, f: [1] });
  assert.deepEqual(applyPatch('strategic', { spec: { x: 1 } }, { $setElementOrder: {}, spec: { y: 2, $retainKeys: ['y'] } }), { spec: { x: 1, y: 2 } });
});

test('json patch (RFC 6902)', () => {
  const doc = { metadata: { labels: { a: '1' } }, list: [1, 2] };
  const out = jsonPatch(doc, [
    { op: 'add', path: '/metadata/labels/b', value: '2' }, { op: 'remove', path: '/metadata/labels/a' },
    { op: 'replace', path: '/list/0', value: 9 }, { op: 'add', path: '/list/-', value: 3 },
    { op: 'copy', from: '/list/0', path: '/copied' }, { op: 'move', from: '/copied', path: '/moved' }, { op: 'test', path: '/moved', value: 9 },
  ]);
  assert.deepEqual(out, { metadata: { labels: { b: '2' } }, list: [9, 2, 3], moved: 9 });
  assert.deepEqual(doc.list, [1, 2], 'input untouched');
  assert.throws(() => jsonPatch(doc, [{ op: 'test', path: '/list/0', value: 5 }]), /does not apply/);
  assert.throws(() => jsonPatch(doc, [{ op: 'replace', path: '/nope/x', value: 5 }]), /not found/);
});

test('SPDY dictionary has the specified size', () => {
  assert.equal(SPDY_DICTIONARY.length, 1423);
  assert.equal(SPDY_DICTIONARY.subarray(0, 11).toString('latin1'), '\u0000\u0000\u0000\u0007options');
});

test('SPDY header blocks round-trip', () => {
  const h = { streamtype: 'data', port: '80', requestid: '0' };
  assert.deepEqual(decodeHeaderBlock(encodeHeaderBlock(h)), h);
  assert.throws(() => decodeHeaderBlock(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9])), /truncated/);
});

function inflater(): (b: Buffer) => Promise<Buffer> {
  const z = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  let out: Buffer[] = [];
  z.on('data', (c: Buffer) => out.push(c));
  return (b) => new Promise((resolve) => { z.write(b); z.flush(zlib.constants.Z_SYNC_FLUSH, () => { resolve(Buffer.concat(out)); out = []; }); });
}

test('SPDY session: SYN_STREAM gets SYN_REPLY, data flows, PING echoes, RST resets', async () => {
  const written: Buffer[] = [];
  const streams: SpdyStream[] = [];
  const session = new SpdySession({ write: (b) => written.push(b), close: () => undefined }, (s) => streams.push(s));
  const deflate = zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
  const chunks: Buffer[] = [];
  deflate.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((r) => { deflate.write(encodeHeaderBlock({ streamType: 'data', port: '80' })); deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => r()); });
  const syn = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...chunks]);
  const bytes = Buffer.concat([controlFrame(FRAME.SYN_STREAM, 0, syn), dataFrame(1, 0, Buffer.from('hi')), controlFrame(FRAME.PING, 0, Buffer.from([0, 0, 0, 7]))]);
  const got: string[] = [];
  for (const b of bytes) session.receive(Buffer.from([b])); // worst-case chunking
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(streams.length, 1);
  assert.equal(streams[0]!.headers.port, '80');
  assert.equal(streams[0]!.headers.streamtype, 'data');
  streams[0]!.on('data', (d: Buffer) => got.push(d.toString()));
  const reply = written[0]!;
  assert.equal(reply.readUInt16BE(2), FRAME.SYN_REPLY);
  assert.equal(reply.readUInt32BE(8), 1);
  assert.deepEqual(decodeHeaderBlock(await inflater()(reply.subarray(12))), {});
  assert.equal(written[1]!.readUInt16BE(2), FRAME.PING);
  streams[0]!.write(Buffer.from('yo'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(written[2]!.subarray(8).toString(), 'yo');
  let reset = false;
  streams[0]!.on('reset', () => { reset = true; });
  session.receive(controlFrame(FRAME.RST_STREAM, 0, Buffer.from([0, 0, 0, 1, 0, 0, 0, 5])));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(reset, true);
  session.shutdown();
});

test('tables', () => {
  assert.equal(humanDuration(5_000), '5s');
  assert.equal(humanDuration(150_000), '2m30s');
  assert.equal(humanDuration(3 * 3600_000), '3h');
  assert.equal(humanDuration(50 * 3600_000), '2d2h');
  assert.ok(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json'));
  assert.ok(!wantsTable('application/json'));
  const t = toTable('pods', [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'n', creationTimestamp: new Date().toISOString() },
    spec: { nodeName: 'n1', containers: [{}] }, status: { phase: 'Running', podIP: '1.2.3.4', containerStatuses: [{ ready: true, restartCount: 2 }] } }], 'Metadata', '7');
  const cols = (t.columnDefinitions as { name: string; priority: number }[]);
  assert.deepEqual(cols.filter((c) => c.priority === 0).map((c) => c.name), ['Name', 'Ready', 'Status', 'Restarts', 'Age']);
  const row = (t.rows as { cells: unknown[]; object: { kind: string } }[])[0]!;
  assert.deepEqual(row.cells.slice(0, 4), ['p', '1/1', 'Running', '2']);
  assert.deepEqual(row.cells.slice(5, 7), ['1.2.3.4', 'n1']);
  assert.equal(row.object.kind, 'PartialObjectMetadata');
});

test('routes', () => {
  const r = parseRoute('/api/v1/namespaces/ns1/pods/p1/status');
  assert.ok(r.kind === 'resource' && r.route.namespace === 'ns1' && r.route.name === 'p1' && r.route.subresource === 'status');
  const n = parseRoute('/api/v1/namespaces/ns1');
  assert.ok(n.kind === 'resource' && n.route.info.resource === 'namespaces' && n.route.name === 'ns1' && n.route.namespace === undefined);
  const w = parseRoute('/apis/apps/v1/watch/namespaces/x/deployments');
  assert.ok(w.kind === 'resource' && w.route.watchPath && w.route.info.resource === 'deployments');
  assert.throws(() => parseRoute('/api/v1/namespaces/x/nodes'), /could not find/);
  assert.throws(() => parseRoute('/apis/apps/v1/pods'), /could not find/);
  assert.throws(() => parseRoute('/api/v1/namespaces/x/pods/p/exec'), /could not find/);
});

test('kubeconfig: valid YAML, mode 0600, token and CA only when given', async () => {
  const { mkdtempSync, readFileSync, statSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { parse } = await import('yaml');
  const { writeKubeconfig } = await import('../../src/sandbox/apiserver/kubeconfig');
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  try {
    const p = join(dir, 'config');
    writeKubeconfig(p, 'http://127.0.0.1:1234', { token: 't0k', namespace: 'shop' });
    assert.equal(statSync(p).mode & 0o777, 0o600);
    const kc = parse(readFileSync(p, 'utf8'));
    assert.equal(kc['current-context'], 'flowlens-sandbox');
    assert.equal(kc.clusters[0].cluster.server, 'http://127.0.0.1:1234');
    assert.equal(kc.users[0].user.token, 't0k');
    assert.equal(kc.contexts[0].context.namespace, 'shop');
    writeKubeconfig(p, 'http://127.0.0.1:1234', { contextName: 'x' });
    const plain = parse(readFileSync(p, 'utf8'));
    assert.deepEqual([plain['current-context'], plain.users[0].user], ['x', {}]);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
