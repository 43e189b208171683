// The built-in demo scenario for `flowlens sandbox up` without -f: a small shop in three
// namespaces, with two NetworkPolicies that deny some paths (enforced once policy enforcement lands).
function deployment(ns: string, name: string, replicas: number, ports: string[]): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
  labels: { app: ${name} }
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name}, tier: ${ns} }
    spec:
      containers:
        - name: ${name}
          image: flowlens/echo:demo
          ports:
${ports.map((p) => `            - ${p}`).join('\n')}
`;
}

function service(ns: string, name: string, ports: string[], extra = ''): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
  labels: { app: ${name} }
spec:
  selector: { app: ${name} }${extra}
  ports:
${ports.map((p) => `    - ${p}`).join('\n')}
`;
}

const HTTP = '{ name: http, containerPort: 8080, protocol: TCP }';
const SVC_HTTP = '{ name: http, port: 8080, targetPort: http, protocol: TCP }';

export const DEMO_SCENARIO = [
  ...['shop', 'payments', 'data'].map((ns) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels: { flowlens.dev/demo: "true" }\n`),
  deployment('shop', 'frontend', 2, [HTTP]),
  service('shop', 'frontend', ['{ name: http, port: 8080, targetPort: http, protocol: TCP, nodePort: 30080 }'], '\n  type: NodePort'),
  deployment('shop', 'cart', 1, [HTTP]),
  service('shop', 'cart', [SVC_HTTP]),
  deployment('shop', 'catalog', 2, [HTTP]),
  service('shop', 'catalog', [SVC_HTTP]),
  deployment('payments', 'payments', 2, [HTTP, '{ name: grpc, containerPort: 9090, protocol: TCP }']),
  service('payments', 'payments', [SVC_HTTP, '{ name: grpc, port: 9090, targetPort: grpc, protocol: TCP }']),
  deployment('data', 'redis', 1, ['{ name: redis, containerPort: 6379, protocol: TCP }']),
  service('data', 'redis', ['{ name: redis, port: 6379, targetPort: redis, protocol: TCP }']),
  deployment('data', 'statsd', 1, ['{ name: statsd, containerPort: 8125, protocol: UDP }']),
  service('data', 'statsd', ['{ name: statsd, port: 8125, targetPort: 8125, protocol: UDP }']),
  `# Only the cart may talk to redis (frontend -> redis is denied).
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: redis-allow-cart
  namespace: data
spec:
  podSelector:
    matchLabels: { app: redis }
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels: { kubernetes.io/metadata.name: shop }
          podSelector:
            matchLabels: { app: cart }
      ports:
        - { port: 6379, protocol: TCP }
`,
  `# Payments accept HTTP from the shop frontend only; the grpc port is closed to everyone.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: payments-from-frontend
  namespace: payments
spec:
  podSelector:
    matchLabels: { app: payments }
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels: { kubernetes.io/metadata.name: shop }
          podSelector:
            matchLabels: { app: frontend }
      ports:
        - { port: 8080, protocol: TCP }
`,
].join('---\n');
