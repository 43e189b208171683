// Observed flows (hubble JSON lines) as policy input: a reply is its connection, seen from the side
// that opened it, so advice never opens a client's ephemeral port and what-if judges the connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advise } from '../../src/policy/advise';
import { parseFlows } from '../../src/policy/flows';

const ep = (ns: string, pod: string, app: string) => ({ namespace: ns, pod_name: pod, labels: [`k8s:app=${app}`] });
const request = { IP: { source: '10.0.0.1', destination: '10.0.0.2' }, l4: { TCP: { source_port: 41234, destination_port: 8080 } }, source: ep('shop', 'web-1', 'web'), destination: ep('shop', 'cart-1', 'cart'), verdict: 'FORWARDED' };
const reply = { ...request, is_reply: true, IP: { source: '10.0.0.2', destination: '10.0.0.1' }, l4: { TCP: { source_port: 8080, destination_port: 41234 } }, source: request.destination, destination: request.source };

test('a reply is parsed as the connection its destination opened', () => {
  const [r, q] = parseFlows([JSON.stringify({ flow: reply }), JSON.stringify({ flow: request })].join('\n'), 'f.jsonl');
  assert.deepEqual([r!.src.pod, r!.dst.pod, r!.port, r!.protocol], ['web-1', 'cart-1', 8080, 'TCP']);
  assert.deepEqual([r!.src, r!.dst, r!.port], [q!.src, q!.dst, q!.port]);
});

test('advice from a request and its reply opens the server port only, never the client\'s ephemeral port', () => {
  const advice = advise(parseFlows([JSON.stringify({ flow: request }), JSON.stringify({ flow: reply })].join('\n'), 'f.jsonl'));
  const text = JSON.stringify(advice);
  assert.match(text, /8080/);
  assert.doesNotMatch(text, /41234/);
});

test('a reply without its source port is rejected with the field named', () => {
  const bad = { ...reply, l4: { TCP: { destination_port: 41234 } } };
  assert.throws(() => parseFlows(JSON.stringify({ flow: bad }), 'f.jsonl'), /f\.jsonl: line 1.*flow\.l4\.TCP\.source_port/s);
});
