// Policy compilation to per-pod allow lists and the iptables-restore text built from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, parseCidr, subtractCidrs } from '../../src/policy/cidr';
import { compileCluster } from '../../src/policy/compile';
import { parsePolicy } from '../../src/policy/parse';
import type { Cluster, Pod } from '../../src/policy/types';
import { enforcedPods } from '../../src/sandbox/net/netpol-apply';
import { buildNetpolRestore, NP_FORWARD, NP_INPUT, podChain } from '../../src/sandbox/net/netpol';

function pod(namespace: string, name: string, ip: string, extra: Partial<Pod> = {}): Pod {
  return { namespace, name, labels: { pod: name }, ips: [ip], hostNetwork: false, ports: [{ name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' }], ...extra };
}

const pods = [pod('x', 'a', '10.244.0.10'), pod('x', 'b', '10.244.0.11'), pod('y', 'a', '10.244.0.12', { ports: [{ name: 'serve-80-tcp', containerPort: 8080, protocol: 'TCP' }] })];

function cluster(specs: [string, string, Record<string, unknown>][]): Cluster {
  return { namespaces: [{ name: 'x', labels: { ns: 'x' } }, { name: 'y', labels: { ns: 'y' } }], pods, policies: specs.map(([ns, name, spec]) => parsePolicy({ where: name }, { metadata: { namespace: ns, name }, spec })) };
}

test('cidr subtraction turns ipBlock.except into plain CIDRs', () => {
  const out = subtractCidrs(parseCidr('10.0.0.0/16')!, [parseCidr('10.0.1.0/24')!, parseCidr('10.0.128.0/17')!]).map(formatCidr);
  assert.deepEqual(out, ['10.0.0.0/24', '10.0.2.0/23', '10.0.4.0/22', '10.0.8.0/21', '10.0.16.0/20', '10.0.32.0/19', '10.0.64.0/18']);
  assert.deepEqual(subtractCidrs(parseCidr('10.0.0.0/8')!, []).map(formatCidr), ['10.0.0.0/8']);
  assert.deepEqual(subtractCidrs(parseCidr('2001:db8::/32')!, [parseCidr('2001:db8::/33')!]).map(formatCidr), ['2001:db8:8000::/33']);
});

test('compile: selectors become pod addresses, named ports resolve per destination, unselected pods stay open', () => {
  const c = cluster([
    ['x', 'from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 'serve-80-tcp' }, { port: 90, endPort: 99, protocol: 'UDP' }] }] }],
    ['x', 'egress', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'serve-80-tcp' }] }, { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }] }] }],
  ]);
  const out = compileCluster(c);
  const xa = out.find((e) => e.pod.name === 'a' && e.pod.namespace === 'x');
  assert.deepEqual(xa?.ingress, [
    { policy: 'x/from-y', ruleIndex: 0, cidrs: ['10.244.0.12/32'], ports: [{ protocol: 'UDP', port: 90, endPort: 99 }] },
    { policy: 'x/from-y', ruleIndex: 0, cidrs: ['10.244.0.12/32'], ports: [{ protocol: 'TCP', port: 80 }] },
  ]);
  assert.equal(xa?.egress, undefined);
  const xb = out.find((e) => e.pod.name === 'b');
  assert.deepEqual(xb?.egress?.filter((e) => e.ruleIndex === 0).map((e) => [e.cidrs, e.ports]), [
    [['10.244.0.10/32'], [{ protocol: 'TCP', port: 80 }]], [['10.244.0.11/32'], [{ protocol: 'TCP', port: 80 }]], [['10.244.0.12/32'], [{ protocol: 'TCP', port: 8080 }]],
  ]);
  assert.equal(xb?.egress?.find((e) => e.ruleIndex === 1)?.cidrs?.length, 8, '0.0.0.0/0 minus 10/8');
  assert.equal(out.find((e) => e.pod.namespace === 'y')?.ingress, undefined);
});

test('iptables: per-pod chains behind physdev matches, conntrack first, DROP last, stale chains deleted', () => {
  const c = cluster([
    ['x', 'deny', { podSelector: { matchLabels: { pod: 'a' } } }],
    ['x', 'allow-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }, { protocol: 'UDP' }] }] }],
    ['y', 'egress-deny', { podSelector: {}, policyTypes: ['Egress'] }],
  ]);
  const veths = new Map([['x/a', 'flvaaaa'], ['x/b', 'flvbbbb'], ['y/a', 'flvcccc']]);
  const enforced = enforcedPods({ cluster: c, veths, errors: [] });
  const stale = `${podChain('ingress', 'gone', 'pod')}`;
  const text = buildNetpolRestore({ pods: enforced, existing: ['INPUT', NP_FORWARD, stale, 'KUBE-SERVICES'] });
  const lines = text.split('\n');
  const ia = podChain('ingress', 'x', 'a');
  const ec = podChain('egress', 'y', 'a');
  assert.equal(lines[0], '*filter');
  assert.ok(lines.includes(`:${ia} - [0:0]`) && lines.includes(`:${ec} - [0:0]`) && lines.includes(`:${stale} - [0:0]`));
  assert.ok(!text.includes(podChain('ingress', 'x', 'b')), 'x/b is not isolated: no chain');
  const fwd = lines.filter((l) => l.startsWith(`-A ${NP_FORWARD} `));
  assert.match(fwd[0] ?? '', /--ctstate RELATED,ESTABLISHED .* -j RETURN$/);
  assert.ok(fwd.includes(`-A ${NP_FORWARD} -m physdev --physdev-is-bridged --physdev-out flvaaaa -m comment --comment "x/a ingress" -j ${ia}`));
  assert.ok(fwd.includes(`-A ${NP_FORWARD} -m physdev --physdev-in flvcccc -m comment --comment "y/a egress" -j ${ec}`));
  assert.ok(lines.includes(`-A ${NP_INPUT} -m physdev --physdev-in flvcccc -m comment --comment "y/a egress to the node" -j ${ec}`));
  const chain = lines.filter((l) => l.startsWith(`-A ${ia} `));
  assert.deepEqual(chain, [
    `-A ${ia} -s 10.244.0.11/32 -p tcp -m tcp --dport 80 -m comment --comment "x/allow-b ingress rule 0" -j RETURN`,
    `-A ${ia} -s 10.244.0.11/32 -p udp -m comment --comment "x/allow-b ingress rule 0" -j RETURN`,
    `-A ${ia} -m comment --comment "x/a ingress isolated by x/deny,x/allow-b" -j DROP`,
  ]);
  assert.deepEqual(lines.filter((l) => l.startsWith(`-A ${ec} `)), [`-A ${ec} -m comment --comment "y/a egress isolated by y/egress-deny" -j DROP`]);
  assert.deepEqual(lines.slice(-3), [`-X ${stale}`, 'COMMIT', '']);
  assert.throws(() => buildNetpolRestore({ pods: [{ ...enforced[0]!, veth: 'bad veth; -j ACCEPT' }] }), /invalid veth/);
});

test('iptables: ranges and allow-all rules', () => {
  const c = cluster([['x', 'r', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ port: 80, endPort: 81 }] }, {}] }]]);
  const text = buildNetpolRestore({ pods: enforcedPods({ cluster: c, veths: new Map([['x/b', 'flvb']]), errors: [] }) });
  const ib = podChain('ingress', 'x', 'b');
  assert.ok(text.includes(`-A ${ib} -p tcp -m tcp --dport 80:81 -m comment --comment "x/r ingress rule 0" -j RETURN`));
  assert.ok(text.includes(`-A ${ib} -m comment --comment "x/r ingress rule 1" -j RETURN`));
});
