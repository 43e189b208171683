import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRestore, extChain, parseChains, sepChain, svcChain } from '../../src/sandbox/net/iptables';
import type { ServicePortRule } from '../../src/sandbox/net/iptables';
import { ourJumps, splitRule } from '../../src/sandbox/net/proxier';

function sp(over: Partial<ServicePortRule> = {}): ServicePortRule {
  return { namespace: 'shop', name: 'cart', portName: 'http', protocol: 'TCP', clusterIP: '10.96.0.20', port: 8080, endpoints: [], ...over };
}
const base = { podCidr: '10.244.0.0/24', clusterCidr: '10.244.0.0/16' };
const lines = (text: string): string[] => text.split('\n');

test('chain names match kube-proxy for well-known services', () => {
  const table: [Partial<ServicePortRule>, string][] = [
    [{ namespace: 'kube-system', name: 'kube-dns', portName: 'dns', protocol: 'UDP' }, 'KUBE-SVC-TCOU7JCQXEZGVUNU'],
    [{ namespace: 'kube-system', name: 'kube-dns', portName: 'dns-tcp', protocol: 'TCP' }, 'KUBE-SVC-ERIFXISQEP7F7OF4'],
    [{ namespace: 'kube-system', name: 'kube-dns', portName: 'metrics', protocol: 'TCP' }, 'KUBE-SVC-JD5MR3NA4I4DYORP'],
    [{ namespace: 'default', name: 'kubernetes', portName: 'https', protocol: 'TCP' }, 'KUBE-SVC-NPX46M4PTMTKRN6Y'],
    [{ namespace: 'default', name: 'nginx', portName: '', protocol: 'TCP' }, 'KUBE-SVC-2CMXP7HKUVJN7L6M'],
  ];
  for (const [over, want] of table) assert.equal(svcChain(sp(over)), want);
  assert.equal(extChain(sp({ namespace: 'default', name: 'kubernetes', portName: 'https' })), 'KUBE-EXT-NPX46M4PTMTKRN6Y');
  const a = sepChain(sp(), { ip: '10.244.0.5', port: 8080 });
  assert.match(a, /^KUBE-SEP-[A-Z2-7]{16}$/);
  assert.notEqual(a, sepChain(sp(), { ip: '10.244.0.6', port: 8080 }));
});

test('endpoints get probabilities 1/n, 1/(n-1), ... and the last one none', () => {
  const eps = [1, 2, 3, 4].map((i) => ({ ip: `10.244.0.${i + 1}`, port: 8080 }));
  const text = buildRestore({ ...base, services: [sp({ endpoints: eps })] });
  const svc = svcChain(sp());
  const jumps = lines(text).filter((l) => l.startsWith(`-A ${svc} `) && l.includes('-j KUBE-SEP-'));
  assert.equal(jumps.length, 4);
  assert.deepEqual(jumps.map((l) => /--probability (\S+)/.exec(l)?.[1] ?? 'none'), ['0.2500000000', '0.3333333333', '0.5000000000', 'none']);
  assert.ok(jumps[0]?.includes('-m comment --comment "shop/cart:http -> 10.244.0.2:8080"'));
});

test('service rules: KUBE-SERVICES match, masquerade for non-cluster sources, hairpin mark and DNAT per endpoint', () => {
  const ep = { ip: '10.244.0.5', port: 9000 };
  const text = buildRestore({ ...base, services: [sp({ endpoints: [ep] })] });
  const svc = svcChain(sp());
  const sep = sepChain(sp(), ep);
  const l = lines(text);
  assert.ok(l.includes(`-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "shop/cart:http cluster IP" -m tcp --dport 8080 -j ${svc}`));
  assert.ok(l.includes(`-A ${svc} ! -s 10.244.0.0/16 -d 10.96.0.20/32 -p tcp -m comment --comment "shop/cart:http cluster IP" -m tcp --dport 8080 -j KUBE-MARK-MASQ`));
  assert.ok(l.includes(`-A ${sep} -s 10.244.0.5/32 -m comment --comment "shop/cart:http" -j KUBE-MARK-MASQ`));
  assert.ok(l.includes(`-A ${sep} -p tcp -m comment --comment "shop/cart:http" -m tcp -j DNAT --to-destination 10.244.0.5:9000`));
  assert.ok(l.includes(`:${svc} - [0:0]`) && l.includes(`:${sep} - [0:0]`));
  const nodeports = l.findIndex((x) => x.includes('-j KUBE-NODEPORTS'));
  assert.ok(nodeports > l.findIndex((x) => x.startsWith('-A KUBE-SERVICES -d')), 'the nodeports jump is the last KUBE-SERVICES rule');
  assert.ok(l.includes('-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000'));
});

test('a service without endpoints is rejected in filter, with no nat chain', () => {
  const text = buildRestore({ ...base, services: [sp({ protocol: 'UDP', port: 53 })] });
  const filter = text.slice(0, text.indexOf('*nat'));
  assert.ok(filter.includes('-A KUBE-SERVICES -d 10.96.0.20/32 -p udp -m comment --comment "shop/cart:http has no endpoints" -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable'));
  assert.ok(!text.includes(svcChain(sp({ protocol: 'UDP', port: 53 }))));
});

test('stale service chains are flushed and deleted; foreign chains untouched', () => {
  const text = buildRestore({ ...base, services: [], existing: { nat: ['KUBE-SVC-AAAAAAAAAAAAAAAA', 'KUBE-SEP-BBBBBBBBBBBBBBBB', 'DOCKER', 'KUBE-SERVICES'], filter: [] } });
  const l = lines(text);
  assert.ok(l.includes(':KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]') && l.includes('-X KUBE-SVC-AAAAAAAAAAAAAAAA'));
  assert.ok(l.includes('-X KUBE-SEP-BBBBBBBBBBBBBBBB'));
  assert.ok(!text.includes('DOCKER'));
  assert.ok(!l.includes('-X KUBE-SERVICES'));
  assert.ok(l.indexOf('-X KUBE-SVC-AAAAAAAAAAAAAAAA') > l.indexOf('*nat') && l.indexOf('-X KUBE-SVC-AAAAAAAAAAAAAAAA') < l.lastIndexOf('COMMIT'));
});

test('session affinity uses -m recent per endpoint, NodePort gets a KUBE-EXT chain', () => {
  const ep = { ip: '10.244.0.7', port: 80 };
  const s = sp({ endpoints: [ep], affinityTimeoutSeconds: 600, nodePort: 30080 });
  const text = buildRestore({ ...base, services: [s] });
  const sep = sepChain(s, ep);
  assert.ok(text.includes(`-m recent --name ${sep} --mask 255.255.255.255 --rsource --rcheck --seconds 600 --reap -j ${sep}`));
  assert.ok(text.includes(`-m recent --name ${sep} --mask 255.255.255.255 --rsource --set -m tcp -j DNAT --to-destination 10.244.0.7:80`));
  assert.ok(text.includes(`-A KUBE-NODEPORTS -p tcp -m comment --comment "shop/cart:http" -m tcp --dport 30080 -j ${extChain(s)}`));
  assert.ok(text.includes(`-A ${extChain(s)} -j ${svcChain(s)}`));
});

test('output is deterministic regardless of input order', () => {
  const a = sp({ endpoints: [{ ip: '10.244.0.9', port: 1 }, { ip: '10.244.0.3', port: 1 }] });
  const b = sp({ name: 'alpha', endpoints: [{ ip: '10.244.0.4', port: 1 }] });
  const rev = { ...a, endpoints: [...a.endpoints].reverse() };
  assert.equal(buildRestore({ ...base, services: [a, b] }), buildRestore({ ...base, services: [b, rev] }));
});

test('invalid values cannot inject rules', () => {
  const bad: Partial<ServicePortRule>[] = [
    { name: 'x" -j ACCEPT' }, { namespace: 'A' }, { clusterIP: '10.96.0.300' }, { port: 0 }, { port: 70000 },
    { endpoints: [{ ip: '1.2.3.4 -j DROP', port: 1 }] }, { protocol: 'ICMP' as never }, { affinityTimeoutSeconds: -1 }, { portName: 'a b' },
  ];
  for (const over of bad) assert.throws(() => buildRestore({ ...base, services: [sp({ endpoints: [{ ip: '10.244.0.2', port: 80 }], ...over })] }), /invalid/, JSON.stringify(over));
});

test('parseChains, splitRule and ourJumps read iptables-save output', () => {
  const save = ['*nat', ':PREROUTING ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':DOCKER - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
    '-A POSTROUTING -m comment --comment "flowlens sandbox pod egress (10.244.0.0/24)" -j FLOWLENS-MASQ',
    '-A KUBE-SERVICES -j KUBE-NODEPORTS', 'COMMIT', '*filter', ':FORWARD ACCEPT [0:0]', ':KUBE-FORWARD - [0:0]', 'COMMIT'].join('\n');
  assert.deepEqual(parseChains(save), { nat: ['PREROUTING', 'KUBE-SERVICES', 'DOCKER'], filter: ['FORWARD', 'KUBE-FORWARD'] });
  assert.deepEqual(splitRule('-A X -m comment --comment "a b \\"c\\"" -j Y'), ['-A', 'X', '-m', 'comment', '--comment', 'a b "c"', '-j', 'Y']);
  assert.deepEqual(ourJumps(save), [
    ['-D', 'PREROUTING', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'],
    ['-D', 'POSTROUTING', '-m', 'comment', '--comment', 'flowlens sandbox pod egress (10.244.0.0/24)', '-j', 'FLOWLENS-MASQ'],
  ]);
});
