// Recorded flows and the filter flags' expected selections, shared by the filter parser's unit
// test and the end-to-end test of `flowlens observe` (test/integration/observe-filters.test.ts).
import type { Flow } from '../../src/flows/flow';

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
export const FLOWS: Flow[] = [
  flow({ id: 'a', source: ep('shop', 'frontend-7d9', { app: 'frontend' }, { name: 'frontend', kind: 'Deployment' }), destination: ep('shop', 'cart-1', { app: 'cart', tier: 'be' }), destination_service: { name: 'cart', namespace: 'shop' }, l4: { TCP: { source_port: 40001, destination_port: 8080, flags: { SYN: true } } } }),
  flow({ id: 'b', verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENIED', source: ep('shop', 'cart-1', { app: 'cart', tier: 'be' }), destination: ep('data', 'redis-0', { app: 'redis' }, { name: 'redis', kind: 'StatefulSet' }), IP: { source: '10.244.0.6', destination: '10.244.1.9', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 40002, destination_port: 6379, flags: { SYN: true, ACK: true } } } }),
  flow({ id: 'c', Type: 'L7', source: ep('shop', 'frontend-7d9', { app: 'frontend' }), destination: ep('kube-system', 'coredns-1', { 'k8s-app': 'kube-dns' }), IP: { source: '10.244.0.5', destination: '10.96.0.10', ipVersion: 'IPv4' }, l4: { UDP: { source_port: 5353, destination_port: 53 } }, l7: { type: 'REQUEST', dns: { query: 'cart.shop.svc.cluster.local.', rcode: 0 } }, destination_names: ['kube-dns.kube-system.svc.cluster.local'] }),
  flow({ id: 'd', Type: 'L7', source: ep('shop', 'frontend-7d9', { app: 'frontend' }), destination: ep('shop', 'cart-1', { app: 'cart' }), l7: { type: 'RESPONSE', http: { code: 503, method: 'GET', url: 'http://cart.shop:8080/api/items/42?x=1' } }, traffic_direction: 'INGRESS' }),
  flow({ id: 'e', node_name: 'kind-worker2', traffic_direction: 'INGRESS', IP: { source: '192.168.1.7', destination: '10.244.2.3', ipVersion: 'IPv4' }, l4: { UDP: { source_port: 9000, destination_port: 8125 } }, destination: ep('metrics', 'statsd-0') }),
  flow({ id: 'f', IP: { source: '10.244.0.5', destination: '10.244.0.6', ipVersion: 'IPv4' }, l4: { ICMPv4: { type: 8, code: 0 } }, source: ep('shop', 'frontend-7d9'), destination: ep('shop', 'cart-1') }),
  flow({ id: 'g', IP: { source: 'fd00::5', destination: '2001:db8::1', ipVersion: 'IPv6' }, source: { labels: ['reserved:world'] }, destination: ep('default', 'web-1', { app: 'web' }), l4: { TCP: { source_port: 443, destination_port: 80, flags: { FIN: true, ACK: true } } } }),
];

/** [filter flags, ids of the selected flows in FLOWS, in order]. */
export const CASES: [string, string][] = [
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
