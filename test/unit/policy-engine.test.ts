// NetworkPolicy semantics, case by case from the networking.k8s.io/v1 reference and the upstream
// e2e netpol model (namespaces x, y, z with label ns=<name>; pods a, b, c with label pod=<name>;
// ports 80 and 81, TCP and UDP). Every case is checked on the indexed engine AND on the linear
// reference evaluator, so both must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyEngine } from '../../src/policy/engine';
import { LinearEvaluator } from '../../src/policy/linear';
import { parsePolicy } from '../../src/policy/parse';
import type { Cluster, EndpointRef, Pod, Policy, Protocol, Verdict } from '../../src/policy/types';

const NS = ['x', 'y', 'z'];
const PODS = ['a', 'b', 'c'];

function modelPods(): Pod[] {
  return NS.flatMap((n, i) => PODS.map((p, j): Pod => ({
    namespace: n, name: p, labels: { pod: p }, ips: [`10.0.${i}.${j + 10}`], hostNetwork: false,
    ports: [80, 81].flatMap((port) => (['TCP', 'UDP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol }))),
  })));
}

function policy(namespace: string, name: string, spec: Record<string, unknown>): Policy {
  return parsePolicy({ where: `test ${name}` }, { metadata: { namespace, name }, spec });
}

function cluster(policies: Policy[], pods = modelPods()): Cluster {
  return { namespaces: NS.map((n) => ({ name: n, labels: { ns: n } })), pods, policies };
}

function ref(c: Cluster, s: string): EndpointRef {
  if (!s.includes('/')) return { ip: s };
  const p = c.pods.find((x) => `${x.namespace}/${x.name}` === s);
  assert.ok(p, s);
  return { pod: p };
}

/** The verdict from both evaluators (asserting they agree). */
function verdict(c: Cluster, from: string, to: string, port = 80, protocol: Protocol = 'TCP'): Verdict {
  const q = { from: ref(c, from), to: ref(c, to), port, protocol };
  const v = new PolicyEngine(c).verdict(q);
  assert.deepEqual(v, new LinearEvaluator(c).verdict(q), `engine and linear disagree on ${from} -> ${to}:${port}/${protocol}`);
  return v;
}

/** Reachability matrix "x/a>y/b" -> allowed, for all 81 pairs. */
function matrix(c: Cluster, port = 80, protocol: Protocol = 'TCP'): Set<string> {
  const engine = new PolicyEngine(c);
  const linear = new LinearEvaluator(c);
  const out = new Set<string>();
  for (const f of c.pods) for (const t of c.pods) {
    const q = { from: { pod: f }, to: { pod: t }, port, protocol };
    const v = engine.verdict(q);
    assert.deepEqual(v, linear.verdict(q));
    if (v.allowed) out.add(`${f.namespace}/${f.name}>${t.namespace}/${t.name}`);
  }
  return out;
}

function expectOnly(c: Cluster, allowedTo: (from: string, to: string) => boolean, port = 80, protocol: Protocol = 'TCP'): void {
  const got = matrix(c, port, protocol);
  for (const f of c.pods) for (const t of c.pods) {
    const k = `${f.namespace}/${f.name}>${t.namespace}/${t.name}`;
    assert.equal(got.has(k), f === t || allowedTo(`${f.namespace}/${f.name}`, `${t.namespace}/${t.name}`), `${k} ${port}/${protocol}`);
  }
}

test('no policies: everything is allowed and nothing is isolated', () => {
  const v = verdict(cluster([]), 'x/a', 'y/b');
  assert.equal(v.allowed, true);
  assert.equal(v.egress.isolated, false);
  assert.equal(v.ingress.isolated, false);
});

test('default deny ingress (podSelector {}, no ingress rules) isolates only its namespace', () => {
  const c = cluster([policy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })]);
  expectOnly(c, (_f, t) => !t.startsWith('x/'));
  const v = verdict(c, 'y/a', 'x/b');
  assert.equal(v.ingress.isolated, true);
  assert.deepEqual(v.ingress.deniedBy.map((p) => p.policy), ['x/deny']);
  assert.equal(v.egress.allowed, true);
});

test('ingress: [] (empty list) denies; ingress: [{}] allows everything; absent ingress with Ingress type denies', () => {
  expectOnly(cluster([policy('x', 'p', { podSelector: {}, ingress: [] })]), (_f, t) => !t.startsWith('x/'));
  expectOnly(cluster([policy('x', 'p', { podSelector: {}, ingress: [{}] })]), () => true);
  const v = verdict(cluster([policy('x', 'p', { podSelector: {}, ingress: [{}] })]), 'z/c', 'x/a', 81, 'UDP');
  assert.deepEqual(v.ingress.allowedBy.map((m) => [m.policy, m.ruleIndex, m.peerIndex, m.portIndex]), [['x/p', 0, null, null]]);
  expectOnly(cluster([policy('x', 'p', { podSelector: {}, ingress: [{ from: [], ports: [] }] })]), () => true);
});

test('namespaceSelector alone: every pod of the selected namespaces', () => {
  const c = cluster([policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] })]);
  expectOnly(c, (f, t) => t !== 'x/a' || f.startsWith('y/'));
});

test('namespaceSelector {} selects all namespaces; podSelector alone stays in the policy namespace', () => {
  const all = cluster([policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
  expectOnly(all, (f, t) => t !== 'x/a' || f.endsWith('/b'));
  const same = cluster([policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
  expectOnly(same, (f, t) => t !== 'x/a' || f === 'x/b');
  const ownNs = cluster([policy('x', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })]);
  expectOnly(ownNs, (f, t) => !t.startsWith('x/') || f.startsWith('x/'));
});

test('namespaceSelector and podSelector in one peer are ANDed; in two peers they are ORed', () => {
  const and = cluster([policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
  expectOnly(and, (f, t) => t !== 'x/a' || f === 'y/b');
  const or = cluster([policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
  expectOnly(or, (f, t) => t !== 'x/a' || f.startsWith('y/') || f === 'x/b');
  const v = verdict(or, 'x/b', 'x/a');
  assert.deepEqual(v.ingress.allowedBy.map((m) => m.peerIndex), [1]);
});

test('matchExpressions: In, NotIn (matches when the key is absent), Exists, DoesNotExist', () => {
  const pods = modelPods();
  pods[0]!.labels = { pod: 'a', tier: 'web' };
  const sel = (e: Record<string, unknown>) => cluster([policy('x', 'p', { podSelector: { matchExpressions: [e] }, ingress: [] })], pods);
  expectOnly(sel({ key: 'pod', operator: 'In', values: ['a', 'b'] }), (_f, t) => t !== 'x/a' && t !== 'x/b');
  expectOnly(sel({ key: 'pod', operator: 'NotIn', values: ['a'] }), (_f, t) => !t.startsWith('x/') || t === 'x/a');
  expectOnly(sel({ key: 'tier', operator: 'NotIn', values: ['web'] }), (_f, t) => !t.startsWith('x/') || t === 'x/a');
  expectOnly(sel({ key: 'tier', operator: 'Exists' }), (_f, t) => t !== 'x/a');
  expectOnly(sel({ key: 'tier', operator: 'DoesNotExist' }), (_f, t) => !t.startsWith('x/') || t === 'x/a');
  const both = cluster([policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] }, ingress: [] })], pods);
  expectOnly(both, () => true);
});

test('ports: by number, protocol defaults to TCP, port absent = every port of the protocol', () => {
  const c = cluster([policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 80 }] }] })]);
  assert.equal(verdict(c, 'y/b', 'x/a', 80, 'TCP').allowed, true);
  assert.equal(verdict(c, 'y/b', 'x/a', 81, 'TCP').allowed, false);
  assert.equal(verdict(c, 'y/b', 'x/a', 80, 'UDP').allowed, false);
  const udp = cluster([policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'UDP' }] }] })]);
  assert.equal(verdict(udp, 'y/b', 'x/a', 81, 'UDP').allowed, true);
  assert.equal(verdict(udp, 'y/b', 'x/a', 81, 'TCP').allowed, false);
  assert.equal(verdict(udp, 'y/b', 'x/a', 4242, 'SCTP').allowed, false);
  const sctp = cluster([policy('x', 'p', { podSelector: {}, ingress: [{ ports: [{ protocol: 'SCTP', port: 80 }, { port: '81' }] }] })]);
  const v = verdict(sctp, 'y/b', 'x/a', 80, 'SCTP');
  assert.deepEqual([v.allowed, v.ingress.allowedBy[0]?.portIndex], [true, 0]);
  assert.deepEqual(verdict(sctp, 'y/b', 'x/a', 81, 'TCP').ingress.allowedBy[0]?.portIndex, 1, 'a numeric string port is a number');
});

test('endPort: a range of ports, inclusive', () => {
  const c = cluster([policy('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: 81 }] }] })]);
  assert.equal(verdict(c, 'y/b', 'x/a', 80).allowed, true);
  assert.equal(verdict(c, 'y/b', 'x/a', 81).allowed, true);
  assert.equal(verdict(c, 'y/b', 'x/a', 82).allowed, false);
  assert.equal(verdict(c, 'y/b', 'x/a', 79).allowed, false);
});

test('named ports resolve against the destination pod, with protocol', () => {
  const pods = modelPods();
  pods[1]!.ports = [{ name: 'serve-80-tcp', containerPort: 8080, protocol: 'TCP' }]; // x/b calls 8080 serve-80-tcp
  const ing = cluster([policy('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-tcp' }] }] })], pods);
  assert.equal(verdict(ing, 'y/a', 'x/a', 80).allowed, true);
  assert.equal(verdict(ing, 'y/a', 'x/b', 80).allowed, false, 'x/b has no serve-80-tcp on 80');
  assert.equal(verdict(ing, 'y/a', 'x/b', 8080).allowed, true);
  assert.equal(verdict(ing, 'y/a', 'x/a', 81).allowed, false);
  const udpName = cluster([policy('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-udp' }] }] })], pods);
  assert.equal(verdict(udpName, 'y/a', 'x/a', 80, 'UDP').allowed, false, 'protocol of the rule (TCP by default) must match the named port');
  const udpOk = cluster([policy('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-udp', protocol: 'UDP' }] }] })], pods);
  assert.equal(verdict(udpOk, 'y/a', 'x/a', 80, 'UDP').allowed, true);
  const egr = cluster([policy('y', 'e', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-tcp' }] }] })], pods);
  assert.equal(verdict(egr, 'y/a', 'x/b', 8080).allowed, true, 'egress named port: the destination pod\'s number');
  assert.equal(verdict(egr, 'y/a', 'x/b', 80).allowed, false);
  assert.equal(verdict(egr, 'y/a', '192.0.2.1', 80).allowed, false, 'a named port never matches a non-pod destination');
});

test('ipBlock matches by address (pods too) and except carves holes', () => {
  const c = cluster([policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.1.0/24'] } }] }] })]);
  expectOnly(c, (f, t) => t !== 'x/a' || !f.startsWith('y/'));
  assert.equal(verdict(c, '10.0.200.1', 'x/a').allowed, true);
  assert.equal(verdict(c, '10.0.1.99', 'x/a').allowed, false, 'an except address that is not a pod');
  assert.equal(verdict(c, '192.0.2.1', 'x/a').allowed, false);
  const v6 = cluster([policy('x', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] } }] }] })]);
  assert.equal(verdict(v6, '2001:db8:2::5', 'x/a').allowed, true);
  assert.equal(verdict(v6, '2001:db8:1::5', 'x/a').allowed, false);
  assert.equal(verdict(v6, '10.0.1.10', 'x/a').allowed, false, 'an IPv4 peer never matches an IPv6 block');
  const egr = cluster([policy('x', 'e', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.2.0/24'] } }] }] })]);
  expectOnly(egr, (f, t) => !f.startsWith('x/') || !t.startsWith('z/'));
});

test('policyTypes: implied Ingress, Egress only when spec.egress is non-empty; explicit types win', () => {
  const implied = policy('x', 'p', { podSelector: {}, egress: [{ to: [{ podSelector: {} }] }] });
  assert.deepEqual(implied.types, { ingress: true, egress: true });
  expectOnly(cluster([implied]), (f, t) => !t.startsWith('x/') && (!f.startsWith('x/') || t.startsWith('x/')) || false);
  assert.deepEqual(policy('x', 'p', { podSelector: {}, egress: [] }).types, { ingress: true, egress: false });
  assert.deepEqual(policy('x', 'p', { podSelector: {}, policyTypes: [] }).types, { ingress: true, egress: false });
  const egressOnly = cluster([policy('x', 'p', { podSelector: {}, policyTypes: ['Egress'], ingress: [] })]);
  expectOnly(egressOnly, (f) => !f.startsWith('x/'));
  const both = cluster([policy('x', 'p', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]);
  expectOnly(both, (f, t) => !f.startsWith('x/') && !t.startsWith('x/'));
});

test('several policies combine as a union; only policies with the direction isolate', () => {
  const c = cluster([
    policy('x', 'from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
    policy('x', 'from-z-81', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }], ports: [{ port: 81 }] }] }),
    policy('x', 'egress-only', { podSelector: {}, policyTypes: ['Egress'], egress: [{}] }),
  ]);
  expectOnly(c, (f, t) => t !== 'x/a' || f.startsWith('y/'), 80);
  expectOnly(c, (f, t) => t !== 'x/a' || !f.startsWith('x/'), 81);
  const denied = verdict(c, 'x/b', 'x/a', 80);
  assert.deepEqual(denied.ingress.deniedBy.map((p) => p.policy), ['x/from-y', 'x/from-z-81']);
  assert.equal(denied.egress.isolated, true);
  assert.deepEqual(denied.egress.allowedBy.map((m) => m.policy), ['x/egress-only']);
});

test('a connection needs egress at the source and ingress at the destination', () => {
  const c = cluster([
    policy('x', 'egress-to-y', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
    policy('y', 'deny-b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [] }),
  ]);
  expectOnly(c, (f, t) => (!f.startsWith('x/') || t.startsWith('y/')) && t !== 'y/b');
  const v = verdict(c, 'x/a', 'y/b');
  assert.deepEqual([v.allowed, v.egress.allowed, v.ingress.allowed], [false, true, false]);
  assert.deepEqual(v.egress.allowedBy.map((m) => [m.policy, m.ruleIndex, m.peerIndex, m.portIndex]), [['x/egress-to-y', 0, 0, null]]);
  assert.deepEqual(v.ingress.deniedBy.map((p) => p.policy), ['y/deny-b']);
});

test('traffic to and from addresses that are not pods: only the pod side is evaluated', () => {
  const c = cluster([policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]);
  const out = verdict(c, 'x/a', '192.0.2.7');
  assert.deepEqual([out.allowed, out.egress.isolated, out.ingress.evaluated], [false, true, false]);
  const inb = verdict(c, '192.0.2.7', 'x/a');
  assert.deepEqual([inb.allowed, inb.egress.evaluated, inb.ingress.allowed], [false, false, false]);
  assert.equal(verdict(c, '192.0.2.7', '192.0.2.8').allowed, true);
  assert.equal(verdict(c, '10.0.0.10', '192.0.2.8').allowed, false, 'an address that belongs to a pod is that pod');
});

test('a pod talking to itself (loopback) is always allowed, as upstream\'s AllowLoopback expects', () => {
  const c = cluster([policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]);
  const v = verdict(c, 'x/a', 'x/a', 81, 'UDP');
  assert.deepEqual([v.allowed, v.egress.reason, v.ingress.reason, v.ingress.evaluated], [true, 'loopback', 'loopback', false]);
  assert.equal(verdict(c, 'x/a', '10.0.0.10').allowed, true, 'its own address is itself');
  assert.equal(verdict(c, 'x/a', 'x/b').allowed, false);
});

test('host-network pods are never selected and count as their address', () => {
  const pods = modelPods();
  const host: Pod = { namespace: 'x', name: 'node-agent', labels: { pod: 'a' }, ips: ['10.0.9.1'], hostNetwork: true, ports: [] };
  const c = cluster([
    policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy('y', 'from-a', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'a' } } }] }] }),
  ], [...pods, host]);
  const v = verdict(c, 'x/node-agent', 'y/b');
  assert.deepEqual([v.egress.evaluated, v.ingress.allowed], [false, false], 'not selected as a source, not matched by podSelector as a peer');
  assert.equal(verdict(c, 'y/b', 'x/node-agent').allowed, true);
});

test('explanations carry YAML ranges when the policy came from a file', async () => {
  const { readObjects } = await import('../../src/policy/source');
  const text = `apiVersion: v1
kind: Namespace
metadata: { name: x, labels: { ns: x } }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: two-rules
  namespace: x
spec:
  podSelector: {}
  ingress:
    - from:
        - podSelector: { matchLabels: { pod: c } }
    - ports:
        - port: 81
`;
  const set = readObjects(text, 'pol.yaml');
  const c: Cluster = { namespaces: set.namespaces, pods: modelPods(), policies: set.policies };
  const v = new PolicyEngine(c).verdict({ from: ref(c, 'y/a'), to: ref(c, 'x/a'), port: 81, protocol: 'TCP' });
  const m = v.ingress.allowedBy[0];
  assert.equal(m?.ruleIndex, 1);
  assert.deepEqual([m?.range?.file, m?.range?.document, m?.range?.start.line], ['pol.yaml', 2, 15]);
  const d = new PolicyEngine(c).verdict({ from: ref(c, 'y/a'), to: ref(c, 'x/a'), port: 80, protocol: 'TCP' });
  assert.deepEqual([d.ingress.deniedBy[0]?.range?.start.line, d.ingress.deniedBy[0]?.range?.document], [5, 2]);
});

test('random policies: the indexed engine always agrees with the linear evaluator', () => {
  let seed = 7;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const pick = <T>(xs: T[]): T => xs[rnd(xs.length)] as T;
  const sel = (key: string, vals: string[]): Record<string, unknown> => pick([{}, { matchLabels: { [key]: pick(vals) } }, { matchExpressions: [{ key, operator: pick(['In', 'NotIn']), values: [pick(vals)] }] }, { matchExpressions: [{ key, operator: pick(['Exists', 'DoesNotExist']) }] }]);
  const peer = (): Record<string, unknown> => pick([
    { podSelector: sel('pod', PODS) }, { namespaceSelector: sel('ns', NS) }, { namespaceSelector: sel('ns', NS), podSelector: sel('pod', PODS) },
    { ipBlock: { cidr: '10.0.0.0/22', except: [pick(['10.0.1.0/24', '10.0.0.11/32'])] } },
  ]);
  const port = (): Record<string, unknown> => pick([{ port: 80 }, { port: 81, protocol: 'UDP' }, { port: 'serve-81-tcp' }, { port: 80, endPort: 81 }, { protocol: 'UDP' }]);
  const rule = (k: 'from' | 'to'): Record<string, unknown> => ({ ...(rnd(3) ? { [k]: [peer(), peer()].slice(rnd(2)) } : {}), ...(rnd(3) ? { ports: [port()] } : {}) });
  for (let round = 0; round < 30; round++) {
    const policies = Array.from({ length: 1 + rnd(5) }, (_, i) => policy(pick(NS), `p${i}`, {
      podSelector: sel('pod', PODS), ...(rnd(2) ? { policyTypes: pick([['Ingress'], ['Egress'], ['Ingress', 'Egress']]) } : {}),
      ...(rnd(4) ? { ingress: Array.from({ length: rnd(3) }, () => rule('from')) } : {}), ...(rnd(2) ? { egress: Array.from({ length: rnd(3) }, () => rule('to')) } : {}),
    }));
    for (const p of [80, 81]) for (const proto of ['TCP', 'UDP'] as const) matrix(cluster(policies), p, proto);
  }
});
