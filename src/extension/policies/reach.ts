// "Why can't A reach B?": walks DNS → Service → endpoints → translation → egress policy →
// ingress policy → what the kernel saw, from the cluster model, the policy engine and recent
// flows, and names the first failing step. Pure: no vscode.
import type { Backend } from '../../cluster/model';
import type { Flow } from '../../flows/flow';
import type { KubeObject } from '../../sandbox/apiserver/types';
import type { PolicyEngine } from '../../policy/engine';
import type { Protocol } from '../../policy/types';
import { isDrop } from '../live/stats';

export type StepStatus = 'ok' | 'fail' | 'warn' | 'skip';
export interface Step { name: string; status: StepStatus; detail: string }
export interface ReachReport { from: string; to: string; port: number; protocol: Protocol; steps: Step[]; verdict: string }

export interface ReachInputs {
  source: KubeObject;
  /** "ns/pod", "ns/service", or a DNS name such as "cart.shop.svc.cluster.local" / "cart.shop" / "cart". */
  target: string;
  port: number;
  protocol: Protocol;
  pods: (ns?: string) => KubeObject[];
  services: (ns?: string) => KubeObject[];
  backendsOf: (svc: KubeObject) => Backend[];
  engine: PolicyEngine;
  flows: readonly Flow[];
}

interface Target { kind: 'pod'; pod: KubeObject } interface SvcTarget { kind: 'service'; svc: KubeObject }

function resolveTarget(i: ReachInputs, srcNs: string): { step: Step; target?: Target | SvcTarget } {
  const t = i.target.trim().replace(/\.$/, '');
  const slash = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(t);
  if (slash) {
    const [, ns, name] = slash as unknown as [string, string, string];
    const pod = i.pods(ns).find((p) => p.metadata.name === name);
    if (pod) return { step: { name: 'Target', status: 'ok', detail: `pod ${ns}/${name}` }, target: { kind: 'pod', pod } };
    const svc = i.services(ns).find((s) => s.metadata.name === name);
    if (svc) return { step: { name: 'Target', status: 'ok', detail: `service ${ns}/${name}` }, target: { kind: 'service', svc } };
    return { step: { name: 'Target', status: 'fail', detail: `no pod or service ${ns}/${name}` } };
  }
  const parts = t.split('.');
  const name = parts[0] ?? '';
  const ns = parts.length >= 2 && parts[1] !== 'svc' ? (parts[1] as string) : srcNs;
  const dnsOk = parts.length <= 2 || /\.svc(\.cluster\.local)?$/.test(t);
  const svc = i.services(ns).find((s) => s.metadata.name === name);
  if (!dnsOk) return { step: { name: 'DNS', status: 'warn', detail: `${t} is not a cluster name (name.namespace.svc.cluster.local); resolution depends on upstream DNS, which this check cannot see` } };
  if (!svc) return { step: { name: 'DNS', status: 'fail', detail: `${t} → NXDOMAIN: no service "${name}" in namespace "${ns}" (search path of ${srcNs}: ${srcNs}.svc.cluster.local svc.cluster.local cluster.local)` } };
  const ip = svc.spec?.clusterIP === 'None' ? 'headless: the ready endpoint IPs' : svc.spec?.clusterIP;
  return { step: { name: 'DNS', status: 'ok', detail: `${t} → ${ip} (service ${ns}/${name})` }, target: { kind: 'service', svc } };
}

function podIP(p: KubeObject): string | undefined {
  return typeof p.status?.podIP === 'string' ? p.status.podIP : undefined;
}

function serviceSteps(i: ReachInputs, svc: KubeObject): { steps: Step[]; backends: Backend[] } {
  const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
  const ports = (svc.spec?.ports ?? []) as { port: number; protocol?: string; targetPort?: number | string; name?: string }[];
  const sp = ports.find((p) => p.port === i.port && (p.protocol ?? 'TCP') === i.protocol);
  const steps: Step[] = [];
  if (!sp) {
    steps.push({ name: 'Service port', status: 'fail', detail: `${key} has no port ${i.port}/${i.protocol} (ports: ${ports.map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(', ') || 'none'})` });
    return { steps, backends: [] };
  }
  steps.push({ name: 'Service port', status: 'ok', detail: `${key} port ${sp.port}/${sp.protocol ?? 'TCP'} → targetPort ${sp.targetPort ?? sp.port}` });
  const all = i.backendsOf(svc);
  const ready = all.filter((b) => b.ready);
  if (ready.length === 0) {
    const sel = Object.entries((svc.spec?.selector ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
    steps.push({ name: 'Endpoints', status: 'fail', detail: all.length ? `${all.length} endpoint(s), none ready: connections are rejected` : `no endpoints${sel ? ` (selector ${sel})` : ''}: kube-proxy rejects connections to ${key}` });
    return { steps, backends: [] };
  }
  steps.push({ name: 'Endpoints', status: 'ok', detail: `${ready.length} ready of ${all.length}: ${ready.map((b) => b.pod?.metadata.name ?? b.ip).join(', ')}` });
  return { steps, backends: ready };
}

function translationStep(i: ReachInputs, svc: KubeObject, srcIP: string): Step {
  const seen = i.flows.filter((f) => f.IP.source === srcIP && f.destination_service?.name === svc.metadata.name && f.destination_service.namespace === svc.metadata.namespace);
  if (seen.length === 0) return { name: 'Translation', status: 'skip', detail: 'no recent connection from the source to this service to show which backend it reached' };
  // A flow still addressed to a service IP (dropped or refused before NAT) shows no translation.
  const vips = new Set<string>([...((svc.spec?.clusterIPs as string[] | undefined) ?? []), String(svc.spec?.clusterIP ?? '')]);
  const translated = seen.filter((f) => !vips.has(f.IP.destination));
  if (translated.length === 0) return { name: 'Translation', status: 'skip', detail: `${seen.length} recent connection(s) to the service address, none seen translated to a backend` };
  const to = [...new Set(translated.map((f) => `${f.destination.pod_name ?? f.IP.destination}`))];
  return { name: 'Translation', status: 'ok', detail: `recent connections via ${translated[0]?.extensions?.original_destination?.ip ?? 'the service'} reached ${to.join(', ')}` };
}

function policySteps(i: ReachInputs, srcIP: string, dstIPs: string[]): Step[] {
  const verdicts = dstIPs.map((ip) => ({ ip, v: i.engine.verdict({ from: podRef(i, srcIP), to: podRef(i, ip), port: i.port, protocol: i.protocol }) }));
  const dir = (d: 'egress' | 'ingress'): Step => {
    const denied = verdicts.filter((x) => !x.v[d].allowed);
    const name = d === 'egress' ? 'Egress policy' : 'Ingress policy';
    if (denied.length === 0) {
      const by = [...new Set(verdicts.flatMap((x) => x.v[d].allowedBy.map((r) => `${r.namespace}/${r.name} rule ${r.ruleIndex + 1}`)))];
      return { name, status: 'ok', detail: by.length ? `allowed by ${by.join(', ')}` : `no NetworkPolicy isolates ${d === 'egress' ? 'the source' : 'the destination'} for ${d}` };
    }
    const pols = [...new Set(denied.flatMap((x) => x.v[d].deniedBy.map((p) => `${p.namespace}/${p.name}`)))];
    return { name, status: 'fail', detail: `denied${denied.length < verdicts.length ? ` for ${denied.length} of ${verdicts.length} backends` : ''}: ${pols.join(', ')} select${pols.length === 1 ? 's' : ''} the ${d === 'egress' ? 'source' : 'destination'} and no rule allows port ${i.port}/${i.protocol}` };
  };
  return [dir('egress'), dir('ingress')];
}

function podRef(i: ReachInputs, ip: string): { pod: NonNullable<ReturnType<PolicyEngine['podByIP']>>; ip: string } | { ip: string } {
  const pod = i.engine.podByIP(ip);
  return pod ? { pod, ip } : { ip };
}

function kernelStep(i: ReachInputs, srcIP: string, dstIPs: string[], vip?: string): Step {
  const mine = i.flows.filter((f) => f.IP.source === srcIP && (dstIPs.includes(f.IP.destination) || f.IP.destination === vip || f.extensions?.original_destination?.ip === vip)
    && (f.l4.TCP?.destination_port === i.port || f.l4.UDP?.destination_port === i.port || f.extensions?.original_destination?.port === i.port));
  if (mine.length === 0) return { name: 'Kernel', status: 'skip', detail: 'no recent flows from the source to the target on this port (try the connection, then run this again)' };
  const drops = mine.filter(isDrop);
  if (drops.length === 0) return { name: 'Kernel', status: 'ok', detail: `${mine.length} recent flow(s), all forwarded` };
  const why = [...new Set(drops.map((f) => f.drop_reason_desc ?? (f.extensions?.tcp_event === 'connect_failed' ? 'connection refused or reset' : f.verdict)))];
  return { name: 'Kernel', status: 'fail', detail: `${drops.length} of ${mine.length} recent flow(s) dropped or failed: ${why.join(', ')}` };
}

export function diagnoseReach(i: ReachInputs): ReachReport {
  const srcNs = i.source.metadata.namespace ?? 'default';
  const from = `${srcNs}/${i.source.metadata.name}`;
  const srcIP = podIP(i.source);
  const report: ReachReport = { from, to: i.target, port: i.port, protocol: i.protocol, steps: [], verdict: '' };
  if (!srcIP) {
    report.steps.push({ name: 'Source', status: 'fail', detail: `${from} has no pod IP (phase ${i.source.status?.phase ?? 'unknown'})` });
    return finish(report);
  }
  const t = resolveTarget(i, srcNs);
  report.steps.push(t.step);
  if (!t.target) return finish(report);
  let dstIPs: string[];
  let vip: string | undefined;
  if (t.target.kind === 'service') {
    const s = serviceSteps(i, t.target.svc);
    report.steps.push(...s.steps);
    if (s.backends.length === 0) return finish(report);
    report.steps.push(translationStep(i, t.target.svc, srcIP));
    dstIPs = s.backends.map((b) => b.ip);
    vip = t.target.svc.spec?.clusterIP;
  } else {
    const ip = podIP(t.target.pod);
    if (!ip) { report.steps.push({ name: 'Target', status: 'fail', detail: 'the target pod has no IP' }); return finish(report); }
    dstIPs = [ip];
  }
  report.steps.push(...policySteps(i, srcIP, dstIPs), kernelStep(i, srcIP, dstIPs, vip));
  return finish(report);
}

function finish(r: ReachReport): ReachReport {
  const fail = r.steps.find((s) => s.status === 'fail');
  r.verdict = fail ? `${r.from} cannot reach ${r.to}:${r.port}/${r.protocol}: ${fail.name} — ${fail.detail}` : `Nothing blocks ${r.from} → ${r.to}:${r.port}/${r.protocol}`;
  return r;
}

const ICON: Record<StepStatus, string> = { ok: '✅', fail: '❌', warn: '⚠️', skip: '➖' };

export function reachMarkdown(r: ReachReport): string {
  const esc = (s: string) => s.replace(/[|\\`*_[\]<>]/g, (c) => `\\${c}`);
  return [`# Why can't ${esc(r.from)} reach ${esc(r.to)}:${r.port}/${r.protocol}?`, '', `**${esc(r.verdict)}**`, '', '| | Step | Finding |', '| --- | --- | --- |',
    ...r.steps.map((s) => `| ${ICON[s.status]} | ${s.name} | ${esc(s.detail)} |`), ''].join('\n');
}
