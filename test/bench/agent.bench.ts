// Benchmark: flows/s the agent's server filters and serves to 1 and 10 WebSocket subscribers (clients
// run in a worker thread, so they do not share the agent's event loop), and the agent's memory with
// a full store. `npm run bench -- agent`. Prints a table; asserts nothing.
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { AgentServer } from '../../src/agent/server';
import { parseFilterText } from '../../src/flows/filter-args';
import type { Flow } from '../../src/flows/flow';
import { DEFAULT_STORE_SIZE, FlowRing } from '../../src/flows/store';

const NSS = ['shop', 'data', 'web', 'ops'];
function flow(i: number): Flow {
  const ns = NSS[i % 4] as string;
  return {
    time: new Date(Date.UTC(2026, 0, 1) + i).toISOString().replace('Z', '000000Z'), verdict: i % 10 === 0 ? 'DROPPED' : 'FORWARDED',
    IP: { source: `10.244.${i % 200}.${i % 250}`, destination: '10.244.1.6', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 30000 + (i % 30000), destination_port: 8080, flags: { SYN: true } } },
    source: { namespace: ns, pod_name: `frontend-7d9f8-${i % 50}`, labels: [`k8s:app=frontend`, `k8s:io.kubernetes.pod.namespace=${ns}`], workloads: [{ name: 'frontend', kind: 'Deployment' }] },
    destination: { namespace: ns, pod_name: 'cart-0', labels: ['k8s:app=cart', `k8s:io.kubernetes.pod.namespace=${ns}`] }, destination_service: { name: 'cart', namespace: ns },
    Type: 'L3_L4', node_name: 'node-1', traffic_direction: 'EGRESS', Summary: 'TCP Flags: SYN', extensions: { tcp_event: 'connect', netns: 4026531840, pid: 1234, comm: 'curl' },
  };
}

const FILTER = '--namespace shop --namespace data --not --verdict DROPPED';

function workerMain(): void {
  const { port, clients, expect } = workerData as { port: number; clients: number; expect: number };
  const f = parseFilterText(FILTER);
  if (!f.ok) throw new Error(f.error);
  let done = 0;
  for (let i = 0; i < clients; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { maxPayload: 64 * 1024 * 1024 });
    let got = 0;
    let lost = 0;
    const TIME = Buffer.from('{"time":');
    ws.on('message', (d: Buffer) => {
      // Count without decoding or parsing (each flow object starts with "time"): the clients must not be the bottleneck.
      if (d[9] === 0x66 /* {"type":"f */) {
        for (let at = d.indexOf(TIME); at >= 0; at = d.indexOf(TIME, at + 8)) got++;
      } else {
        const s = d.toString();
        if (s.startsWith('{"type":"hello"')) ws.send(JSON.stringify({ type: 'subscribe', follow: true, filters: f.value }));
        else if (s.startsWith('{"type":"caught_up"')) parentPort?.postMessage({ subscribed: true });
        else if (s.startsWith('{"type":"lost_events"')) lost += (JSON.parse(s) as { count: number }).count;
      }
      if (got + lost >= expect) {
        parentPort?.postMessage({ finished: true, got, lost });
        ws.close();
        if (++done === clients) setTimeout(() => process.exit(0), 50);
      }
    });
  }
}

interface Run { offered: number; delivered: number; lost: number; ms: number; elu: number }

/** Offers `rate` flows/s for `seconds` (or as fast as possible when rate is 0) to `subscribers` clients. */
async function serve(subscribers: number, rate: number, seconds: number): Promise<Run> {
  const server = new AgentServer({ host: '127.0.0.1', port: 0, node: 'node-1', store: new FlowRing(1024), ready: () => true });
  const { port } = await server.listen();
  const flows = Array.from({ length: 4096 }, (_, i) => flow(i));
  const total = rate ? rate * seconds : 200_000;
  const matches = (x: Flow) => (x.source.namespace === 'shop' || x.source.namespace === 'data') && x.verdict !== 'DROPPED';
  let expect = 0;
  for (let i = 0; i < total; i++) if (matches(flows[i % flows.length] as Flow)) expect++;
  // The worker loads this same file through tsx's CommonJS hook.
  const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(__filename)});`, { eval: true, workerData: { port, clients: subscribers, expect } });
  let subscribed = 0;
  let finished = 0;
  let delivered = 0;
  let lost = 0;
  await new Promise<void>((resolve) => worker.on('message', (m: { subscribed?: boolean; finished?: boolean; got?: number; lost?: number }) => {
    if (m.subscribed && ++subscribed === subscribers) resolve();
    if (m.finished) { finished++; delivered += m.got ?? 0; lost += m.lost ?? 0; }
  }));
  const elu0 = performance.eventLoopUtilization();
  const start = Date.now();
  const slice = rate ? Math.max(1, Math.round(rate / 100)) : 2000;
  for (let i = 0, tick = 0; i < total; tick++) {
    for (const end = Math.min(total, i + slice); i < end; i++) server.publish(flows[i % flows.length] as Flow);
    if (rate) {
      const due = start + (tick + 1) * 10;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    } else await new Promise((r) => setImmediate(r));
  }
  const deadline = Date.now() + 30_000;
  while (finished < subscribers && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const ms = Date.now() - start;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  await worker.terminate();
  await server.close();
  return { offered: total, delivered, lost, ms, elu };
}

function memory(): { flows: number; heapMiB: number; bytesPerFlow: number; rssMiB: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const ring = new FlowRing(DEFAULT_STORE_SIZE);
  // Distinct objects, as the agent stores them (one object graph per flow).
  for (let i = 0; i < DEFAULT_STORE_SIZE; i++) ring.push(JSON.parse(JSON.stringify(flow(i))) as Flow);
  gc?.();
  const used = process.memoryUsage().heapUsed - before;
  const out = { flows: ring.size, heapMiB: used / 1048576, bytesPerFlow: used / ring.size, rssMiB: process.memoryUsage().rss / 1048576 };
  if (ring.size === 0) throw new Error('empty');
  return out;
}

async function main(): Promise<void> {
  console.log(`filter per subscriber: ${FILTER} (matches 45% of flows)`);
  console.log('rate 0 = as fast as the agent can publish; agent loop busy = event-loop utilisation of the agent thread\n');
  console.log('| subscribers | offered flows/s | flows offered | delivered per subscriber | lost (all subscribers) | agent loop busy | wall time |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const n of [1, 10]) {
    for (const rate of [50_000, 100_000, 0]) {
      const r = await serve(n, rate, 2);
      const offered = rate ? rate.toLocaleString('en-US') : `max: ${Math.round(r.offered / (r.ms / 1000)).toLocaleString('en-US')}`;
      console.log(`| ${n} | ${offered} | ${r.offered} | ${Math.round(r.delivered / n)} | ${r.lost} | ${(r.elu * 100).toFixed(0)}% | ${r.ms} ms |`);
    }
  }
  const m = memory();
  console.log(`\n| store | heap for the flows | bytes per flow | process RSS |\n| --- | --- | --- | --- |\n| ${m.flows} flows | ${m.heapMiB.toFixed(1)} MiB | ${m.bytesPerFlow.toFixed(0)} | ${m.rssMiB.toFixed(0)} MiB |`);
}

if (isMainThread) void main().then(() => process.exit(0), (e: unknown) => { console.error(e); process.exit(1); });
else workerMain();
