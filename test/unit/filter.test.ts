// The one filter parser and compiler against recorded flows: every hubble observe flag, its from-/to-
// forms, OR within a flag, AND across flags, --not, namespace folding, conflicts, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow } from '../../src/flows/flow';
import { parseFilterArgs, parseFilterText, tokenize } from '../../src/flows/filter-args';
import { compileFilterSet } from '../../src/flows/filter-compile';
import { validateFilterSet } from '../../src/flows/filter';

type Over = Partial<Flow> & { id: string };
function flow(o: Over): Flow {
  return {
    time: '2026-01-01T00:00:00.000000000Z', verdict: 'FORWARDED', IP: { source: '10.244.0.5', destination: '10.244.0.6', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 40000, destination_port: 8080 } }, source: {}, destination: {}, Type: 'L3_L4', node_name: 'node-1',
    traffic_direction: 'EGRESS', uuid: o.id, ...o,
  };
}
const ep = (ns: string, pod: string, labels: Record<string, string> = {}, workload?: { name: string; kind: string }) => ({
  namespace: ns, pod_name: pod, labels: [...Object.entries(labels).map(([k, v]) => `k8s:${k}=${v}`), `k8s:io.kubernetes.pod.namespace=${ns}`],
  ...(workload ? { workloads: [workload] } : {}),
});

// Recorded flows: a (shop frontend -> cart via svc), b (cart -> redis in data, dropped), c (DNS), d (HTTP 503), e (UDP, ingress, other node), f (ICMP), g (IPv6 world)
const FLOWS: Flow[] = [
  flow({ id: 'a', source: ep('shop', 'frontend-7d9', { app: 'frontend' }, { name: 'frontend', kind: 'Deployment' }), destination: ep('shop', 'cart-1', { app: 'cart', tier: 'be' }), destination_service: { name: 'cart', namespace: 'shop' }, l4: { TCP: { source_port: 40001, destination_port: 8080, flags: { SYN: true } } } }),
  flow({ id: 'b', verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENIED', source: ep('shop', 'cart-1', { app: 'cart', tier: 'be' }), destination: ep('data', 'redis-0', { app: 'redis' }, { name: 'redis', kind: 'StatefulSet' }), IP: { source: '10.244.0.6', destination: '10.244.1.9', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 40002, destination_port: 6379, flags: { SYN: true, ACK: true } } } }),
  flow({ id: 'c', Type: 'L7', source: ep('shop', 'frontend-7d9', { app: 'frontend' }), destination: ep('kube-system', 'coredns-1', { 'k8s-app': 'kube-dns' }), IP: { source: '10.244.0.5', destination: '10.96.0.10', ipVersion: 'IPv4' }, l4: { UDP: { source_port: 5353, destination_port: 53 } }, l7: { type: 'REQUEST', dns: { query: 'cart.shop.svc.cluster.local.', rcode: 0 } }, destination_names: ['kube-dns.kube-system.svc.cluster.local'] }),
  flow({ id: 'd', Type: 'L7', source: ep('shop', 'frontend-7d9', { app: 'frontend' }), destination: ep('shop', 'cart-1', { app: 'cart' }), l7: { type: 'RESPONSE', http: { code: 503, method: 'GET', url: 'http://cart.shop:8080/api/items/42?x=1' } }, traffic_direction: 'INGRESS' }),
  flow({ id: 'e', node_name: 'kind-worker2', traffic_direction: 'INGRESS', IP: { source: '192.168.1.7', destination: '10.244.2.3', ipVersion: 'IPv4' }, l4: { UDP: { source_port: 9000, destination_port: 8125 } }, destination: ep('metrics', 'statsd-0') }),
  flow({ id: 'f', IP: { source: '10.244.0.5', destination: '10.244.0.6', ipVersion: 'IPv4' }, l4: { ICMPv4: { type: 8, code: 0 } }, source: ep('shop', 'frontend-7d9'), destination: ep('shop', 'cart-1') }),
  flow({ id: 'g', IP: { source: 'fd00::5', destination: '2001:db8::1', ipVersion: 'IPv6' }, source: { labels: ['reserved:world'] }, destination: ep('default', 'web-1', { app: 'web' }), l4: { TCP: { source_port: 443, destination_port: 80, flags: { FIN: true, ACK: true } } } }),
];

function observe(args: string): string {
  const set = parseFilterText(args);
  assert.ok(set.ok, `${args}: ${set.ok ? '' : set.error}`);
  const pred = compileFilterSet(set.value);
  assert.ok(pred.ok, `${args}: ${pred.ok ? '' : pred.error}`);
  return FLOWS.filter(pred.value).map((f) => f.uuid).join('');
}

const CASES: [string, string][] = [
  ['', 'abcdefg'],
  ['--namespace shop', 'abcdf'], ['-n data', 'b'], ['--from-namespace shop', 'abcdf'], ['--to-namespace shop', 'adf'], ['-n shop -n data', 'abcdf'],
  ['--pod shop/cart', 'abdf'], ['--from-pod shop/cart', 'b'], ['--to-pod shop/cart', 'adf'], ['--pod web', 'g'], ['--pod shop/', 'abcdf'], ['-n shop --pod cart', 'abdf'],
  ['--to-pod data/redis --to-pod kube-system/coredns', 'bc'],
  ['--label app=cart', 'abd'], ['--from-label app=cart', 'b'], ['--to-label "app in (redis,web)"', 'bg'], ['-l k8s:tier=be', 'ab'],
  ['--label reserved:world', 'g'], ['--to-label app!=cart', 'bcefg'], ['--to-label "!app"', 'cef'],
  ['--workload frontend', 'a'], ['--workload StatefulSet/redis', 'b'], ['--to-workload Deployment/redis', ''],
  ['--service shop/cart', 'a'], ['--to-service shop/ca', 'a'], ['--from-service shop/cart', ''],
  ['--ip 10.244.0.5', 'acdf'], ['--from-ip 10.244.0.0/24', 'abcdf'], ['--to-ip 10.244.1.0/24 --to-ip 10.96.0.10', 'bc'], ['--ip 2001:db8::/32', 'g'], ['--from-ip 192.168.0.0/16', 'e'],
  ['--port 8080', 'ad'], ['--to-port 6379', 'b'], ['--from-port 443', 'g'], ['--port 53 --port 8125', 'ce'],
  ['--protocol udp', 'ce'], ['--protocol tcp', 'abdg'], ['--protocol icmp', 'f'], ['--protocol dns', 'c'], ['--protocol http', 'd'], ['--protocol UDP --protocol http', 'cde'],
  ['--verdict DROPPED', 'b'], ['--verdict FORWARDED --verdict DROPPED', 'abcdefg'], ['--drop-reason-desc POLICY_DENIED', 'b'], ['--drop-reason-desc policy_denied', 'b'],
  ['--traffic-direction ingress', 'de'], ['--traffic-direction EGRESS', 'abcfg'],
  ['--tcp-flags SYN', 'ab'], ['--tcp-flags syn,ack', 'b'], ['--tcp-flags fin --tcp-flags rst', 'g'],
  ['--http-method get', 'd'], ['--http-path "^/api/items/\\d+$"', 'd'], ['--http-status 5+', 'd'], ['--http-status 503', 'd'], ['--http-status 4+', ''], ['--http-status 50+', 'd'],
  ['--dns-query "^cart\\."', 'c'], ['--dns-query redis', ''],
  ['--node-name node-1', 'abcdfg'], ['--node-name "kind-*"', 'e'], ['--node-name "default/node-*"', 'abcdfg'], ['--node-name "other/*"', ''],
  ['--type drop', 'b'], ['--type l7', 'cd'], ['--type trace', 'aefg'], ['-t trace -t drop', 'abefg'],
  ['--fqdn "*.kube-system.svc.cluster.local"', 'c'], ['--uuid e', 'e'], ['-6', 'g'], ['--ip-version v4', 'abcdef'],
  // AND across flags, OR within a flag
  ['-n shop --verdict DROPPED', 'b'], ['--protocol udp --traffic-direction ingress', 'e'], ['--from-pod shop/frontend --to-port 8080', 'ad'],
  // --not negates only the next flag; several --not flags form one denylist filter (Hubble)
  ['--not --verdict DROPPED', 'acdefg'], ['-n shop --not --protocol udp', 'abdf'], ['--not --pod shop/cart', 'ceg'],
  ['--not --protocol udp --not --traffic-direction ingress', 'abcdfg'], ['--not --namespace shop --verdict FORWARDED', 'eg'],
];

test('every filter flag selects the expected recorded flows', () => {
  for (const [args, want] of CASES) assert.equal(observe(args), want, `flowlens observe ${args}`);
});

test('namespace folding and hubble conflicts', () => {
  assert.deepEqual(parseFilterText('-n shop --pod cart'), { ok: true, value: { allowlist: [{ source_pod: ['shop/cart'] }, { destination_pod: ['shop/cart'] }], denylist: [] } });
  assert.deepEqual(parseFilterText('--verdict DROPPED'), { ok: true, value: { allowlist: [{ verdict: ['DROPPED'] }], denylist: [] } });
  const errs: [string, RegExp][] = [
    ['--from-pod a --namespace x', /filters --namespace and --from-pod cannot be combined/],
    ['--label a=b --from-label c=d', /--from-label and --label cannot be combined/],
    ['-n shop --pod data/redis', /namespace conflict: "shop" does not contain "data\/redis"/],
    ['--not --not --pod a', /consecutive --not/], ['--pod a --not', /trailing --not/],
    ['--verdict nope', /--verdict: invalid verdict "nope"/], ['--from-ip 1.2.3', /--from-ip: invalid IP address "1.2.3"/],
    ['--to-ip 10.0.0.0/33', /invalid CIDR "10.0.0.0\/33"/], ['--port 70000', /--port: invalid port "70000"/],
    ['--protocol sctp2', /unknown protocol|invalid protocol "sctp2"/], ['--tcp-flags syn,foo', /unknown TCP flag "foo"/],
    ['--http-status 6+', /invalid HTTP status code "6\+"/], ['--http-path "("', /--http-path: invalid HTTP path regular expression/],
    ['--label "app in (a"', /unbalanced parentheses/], ['--label "=x"', /invalid label key/], ['--node-name "a/b/c"', /too many slashes/],
    ['--type nope', /unknown event type "nope"/], ['--type trace:nope', /unknown event sub-type "nope"/], ['--workload a/b/c', /invalid workload/],
    ['--pod', /--pod needs a value/], ['--bogus 1', /unknown filter flag "--bogus"/], ['cart', /unexpected "cart"/], ['--pod "a', /unterminated " quote/],
    ['-4=x', /--ipv4 takes no value/], ['--http-path "(a+)+$"', /nests quantifiers/], ['--dns-query "(x)\\1"', /backreferences/], ['--traffic-direction up', /invalid traffic direction "up"/],
  ];
  for (const [args, re] of errs) {
    const r = parseFilterText(args);
    assert.equal(r.ok, false, args);
    if (!r.ok) assert.match(r.error, re, args);
  }
});

test('http status needs an l7-compatible type filter, like the Hubble server', () => {
  const s = parseFilterText('--http-status 5+ -t trace');
  assert.ok(s.ok);
  const c = compileFilterSet(s.value);
  assert.equal(c.ok, false);
  if (!c.ok) assert.match(c.error, /allowlist\[0\]\.http_status_code: .*'l7'/);
});

test('tokenizer: quotes, escapes, --flag=value', () => {
  assert.deepEqual(tokenize(`--pod 'a b' --x="c d" e\\ f`), { ok: true, value: ['--pod', 'a b', '--x=c d', 'e f'] });
  assert.equal(observe('--to-port=6379'), 'b');
  assert.deepEqual(parseFilterArgs(['--pod', 'shop/cart', '--not', '--verdict', 'DROPPED']), parseFilterText('--pod shop/cart --not --verdict DROPPED'));
});

test('JSON form is validated field by field and compiles to the same result', () => {
  const set = validateFilterSet({ allowlist: [{ source_pod: ['shop/cart'] }], denylist: [{ verdict: ['FORWARDED'] }] });
  assert.ok(set.ok);
  const p = compileFilterSet(set.value);
  assert.ok(p.ok);
  assert.deepEqual(FLOWS.filter(p.value).map((f) => f.uuid), ['b']);
  const bad: [unknown, RegExp][] = [
    [[], /must be an object/], [{ allowlist: {} }, /allowlist must be an array/], [{ other: [] }, /unknown field "other"/],
    [{ allowlist: [{ source_pod: 'x' }] }, /allowlist\[0\]\.source_pod must be an array/], [{ allowlist: [{ nope: [] }] }, /unknown field "nope"/],
    [{ denylist: [{ verdict: ['MAYBE'] }] }, /denylist\[0\]\.verdict\[0\] must be one of/], [{ allowlist: [{ tcp_flags: [{ XYZ: true }] }] }, /unknown TCP flag "XYZ"/],
    [{ allowlist: [{ event_type: [{ type: -1 }] }] }, /type must be an integer/], [{ allowlist: Array(65).fill({}) }, /at most 64/],
    [{ allowlist: [{ source_ip: ['x'.repeat(2000)] }] }, /at most 1024 characters/],
  ];
  for (const [v, re] of bad) {
    const r = validateFilterSet(v);
    assert.equal(r.ok, false, JSON.stringify(v).slice(0, 80));
    if (!r.ok) assert.match(r.error, re);
  }
  const ip = validateFilterSet({ allowlist: [{ source_ip: ['nope'] }] });
  assert.ok(ip.ok);
  const c = compileFilterSet(ip.value);
  assert.equal(c.ok, false);
  if (!c.ok) assert.equal(c.error, 'allowlist[0].source_ip[0]: invalid IP address "nope"');
});
