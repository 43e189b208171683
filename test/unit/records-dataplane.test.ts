// Dataplane reading: the Service frontends and backends kube-proxy programmed, from the sandbox's
// own kube-proxy-style iptables rules (round trip) and from kube-proxy's nftables JSON shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIptablesNat, parseNftKubeProxy, splitRule } from '../../src/agent/dataplane';
import { buildRestore } from '../../src/sandbox/net/iptables';

test('iptables: the sandbox rules parse back to frontends with weighted backends', () => {
  const text = buildRestore({
    podCidr: '10.244.0.0/24', clusterCidr: '10.244.0.0/16',
    services: [
      { namespace: 'shop', name: 'web', portName: 'http', protocol: 'TCP', clusterIP: '10.96.0.20', port: 80,
        endpoints: [{ ip: '10.244.0.5', port: 8080 }, { ip: '10.244.0.6', port: 8080 }, { ip: '10.244.0.7', port: 8080 }] },
      { namespace: 'kube-system', name: 'kube-dns', portName: 'dns', protocol: 'UDP', clusterIP: '10.96.0.10', port: 53, affinityTimeoutSeconds: 10800,
        endpoints: [{ ip: '10.0.0.1', port: 53 }] },
      { namespace: 'shop', name: 'empty', portName: '', protocol: 'TCP', clusterIP: '10.96.0.30', port: 9000, endpoints: [] },
    ],
  } as Parameters<typeof buildRestore>[0]);
  const fronts = parseIptablesNat(text).sort((a, b) => a.ip.localeCompare(b.ip));
  assert.deepEqual(fronts, [
    { ip: '10.96.0.10', port: 53, protocol: 'UDP', service: 'kube-system/kube-dns:dns', backends: [{ ip: '10.0.0.1', port: 53, weight: 1 }] },
    { ip: '10.96.0.20', port: 80, protocol: 'TCP', service: 'shop/web:http', backends: [
      { ip: '10.244.0.5', port: 8080, weight: 0.333333 }, { ip: '10.244.0.6', port: 8080, weight: 0.333333 }, { ip: '10.244.0.7', port: 8080, weight: 0.333333 }] },
    { ip: '10.96.0.30', port: 9000, protocol: 'TCP', service: 'shop/empty', backends: [] },
  ]);
});

test('iptables: quoting, unknown rules and broken DNAT targets are tolerated', () => {
  assert.deepEqual(splitRule('-A X -m comment --comment "a \\"b\\" c" -j Y'), ['-A', 'X', '-m', 'comment', '--comment', 'a "b" c', '-j', 'Y']);
  const text = ['*nat', '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-A', '-A KUBE-SVC-A -j KUBE-SEP-B', '-A KUBE-SEP-B -p tcp -j DNAT --to-destination nonsense',
    '-A KUBE-SERVICES -d 10.96.0.2/32 -p icmp -j KUBE-SVC-C', '-A OTHER -j ACCEPT', 'COMMIT'].join('\n');
  assert.deepEqual(parseIptablesNat(text), [{ ip: '10.96.0.1', port: 443, protocol: 'TCP', backends: [] }]);
});

test('nftables: kube-proxy service-ips map, numgen vmap and endpoint dnat', () => {
  const svc = 'service-ULMVA6XW-kube-system/kube-dns/udp/dns';
  const ep = (ip: string) => `endpoint-ABC-kube-system/kube-dns/udp/dns__${ip}/53`;
  const json = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.9' } }, { table: { family: 'ip', name: 'kube-proxy' } },
    { map: { family: 'ip', table: 'kube-proxy', name: 'service-ips', type: ['ipv4_addr', 'inet_proto', 'inet_service'], map: 'verdict',
      elem: [[{ concat: ['10.96.0.10', 'udp', 53] }, { goto: { target: svc } }], [{ concat: ['bad'] }, { accept: null }]] } },
    { rule: { chain: svc, expr: [{ vmap: { key: { numgen: { mode: 'random', mod: 2, offset: 0 } }, data: { set: [[0, { goto: { target: ep('10.244.0.3') } }], [1, { goto: { target: ep('10.244.0.4') } }]] } } }] } },
    { rule: { chain: ep('10.244.0.3'), expr: [{ dnat: { family: 'ip', addr: '10.244.0.3', port: 53 } }] } },
    { rule: { chain: ep('10.244.0.4'), expr: [{ dnat: { family: 'ip', addr: '10.244.0.4', port: 53 } }] } },
  ] });
  assert.deepEqual(parseNftKubeProxy(json), [{ ip: '10.96.0.10', port: 53, protocol: 'UDP', service: 'kube-system/kube-dns:dns', backends: [
    { ip: '10.244.0.3', port: 53, weight: 0.5 }, { ip: '10.244.0.4', port: 53, weight: 0.5 }] }]);
  assert.deepEqual(parseNftKubeProxy('{"nftables":[]}'), []);
});
