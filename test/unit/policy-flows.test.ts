// Policy verdicts on flows (client side): Hubble's PolicyRef shape, allowed_by / denied_by, and a
// denied connection attempt (connect_failed) becomes DROPPED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow } from '../../src/flows/flow';
import { FlowVerdicts } from '../../src/flows/verdict';
import type { ApiObject } from '../../src/policy/objects';

const ns = (name: string): ApiObject => ({ metadata: { name, labels: { ns: name } } } as ApiObject);
const pod = (namespace: string, name: string, ip: string): ApiObject => ({ metadata: { namespace, name, labels: { pod: name } }, spec: { containers: [] }, status: { podIP: ip, phase: 'Running' } } as ApiObject);
const pol = (namespace: string, name: string, spec: Record<string, unknown>): ApiObject => ({ metadata: { namespace, name, uid: `uid-${name}`, resourceVersion: '42' }, spec } as ApiObject);

function source(policies: ApiObject[]) {
  const listeners: (() => void)[] = [];
  const s = {
    policies,
    namespaces: () => [ns('x'), ns('y')], pods: () => [pod('x', 'a', '10.0.0.1'), pod('y', 'b', '10.0.0.2')], networkPolicies: () => s.policies,
    onDidChange: (l: () => void) => { listeners.push(l); return () => undefined; }, fire: () => listeners.forEach((l) => l()),
  };
  return s;
}

function flow(event: 'connect' | 'connect_failed', port = 80): Flow {
  return {
    time: '2025-01-01T00:00:00Z', verdict: 'FORWARDED', IP: { source: '10.0.0.1', destination: '10.0.0.2', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 40000, destination_port: port } },
    source: { namespace: 'x', pod_name: 'a' }, destination: { namespace: 'y', pod_name: 'b' }, Type: 'SOCK', node_name: 'n', traffic_direction: 'EGRESS', extensions: { tcp_event: event },
  };
}

test('a denied connect_failed flow is DROPPED and names the isolating policy in Hubble\'s shape', () => {
  const v = new FlowVerdicts(source([pol('y', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })]));
  const f = v.apply(flow('connect_failed'));
  assert.equal(f.verdict, 'DROPPED');
  assert.equal(f.drop_reason_desc, 'POLICY_DENIED');
  assert.deepEqual(f.ingress_denied_by, [{ name: 'deny', namespace: 'y', kind: 'NetworkPolicy', revision: '42', labels: [
    'k8s:io.cilium.k8s.policy.derived-from=NetworkPolicy', 'k8s:io.cilium.k8s.policy.name=deny', 'k8s:io.cilium.k8s.policy.namespace=y', 'k8s:io.cilium.k8s.policy.uid=uid-deny'] }]);
  assert.equal(f.egress_denied_by, undefined);
});

test('allowed flows carry allowed_by; unisolated flows are untouched; the engine follows model changes', () => {
  const s = source([pol('y', 'allow-80', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] }), pol('x', 'egress', { podSelector: {}, policyTypes: ['Egress'], egress: [{}] })]);
  const v = new FlowVerdicts(s);
  const ok = v.apply(flow('connect'));
  assert.equal(ok.verdict, 'FORWARDED');
  assert.deepEqual(ok.ingress_allowed_by?.map((p) => p.name), ['allow-80']);
  assert.deepEqual(ok.egress_allowed_by?.map((p) => p.name), ['egress']);
  const denied = v.apply(flow('connect', 81));
  assert.equal(denied.verdict, 'FORWARDED', 'an established connection is not rewritten');
  assert.deepEqual(denied.ingress_denied_by?.map((p) => p.name), ['allow-80']);
  s.policies = [];
  s.fire();
  const plain = v.apply(flow('connect_failed', 81));
  assert.equal(plain.verdict, 'FORWARDED');
  assert.equal(plain.ingress_denied_by, undefined);
  assert.equal(plain.extensions?.policy, undefined);
});
