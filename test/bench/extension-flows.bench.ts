// Benchmark: the Flows panel webview (the real bundle, in the real shell and CSP, in Debian's
// Chromium, against a fake host) holding 100,000 rows while ingesting 20,000 flows/s as the host
// sends them (sequence-numbered batches at 15 Hz): frame time p50/p95/p99 from requestAnimationFrame,
// and the filter bar's time over 100,000 rows (hubble flags through the shared parser, and a word
// search), from the input event to the filtered rows (synchronous part) plus the next frame.
// `npm run bench -- extension-flows`
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, buildExtension } from '../e2e/harness';
import { INIT_SCRIPT, serveShell } from '../e2e/fake-flows-host';

const ROWS = 100_000;
const RATE = 20_000;
const HZ = 15;
const SECONDS = 10;

/** Runs in the page: makes rows like the host's (with the whole flow), posts them as the host would. */
const PAGE_HELPERS = `
window.__mkRow = (id) => {
  const ns = ['shop', 'data', 'payments', 'kube-system'][id % 4];
  const src = { ip: '10.244.' + ((id >> 8) & 255) + '.' + (id & 255), port: 30000 + (id % 30000), namespace: 'shop', pod: 'frontend-' + (id % 50) };
  const dst = { ip: '10.244.9.' + (id % 250), port: [8080, 6379, 53, 9090][id % 4], namespace: ns, pod: 'svc-' + (id % 97) };
  const verdict = id % 10 === 0 ? 'DROPPED' : 'FORWARDED';
  const time = new Date(1767225600000 + id).toISOString();
  const flow = { time, verdict, IP: { source: src.ip, destination: dst.ip, ipVersion: 'IPv4' }, l4: { TCP: { source_port: src.port, destination_port: dst.port, flags: { SYN: true } } },
    source: { namespace: src.namespace, pod_name: src.pod, labels: ['k8s:app=frontend'] }, destination: { namespace: dst.namespace, pod_name: dst.pod, labels: ['k8s:app=x'] },
    Type: 'L3_L4', node_name: 'node-1', traffic_direction: 'EGRESS', destination_service: { namespace: dst.namespace, name: 'svc' } };
  return { id, time, src, dst, service: dst.namespace + '/svc', proto: 'TCP', flags: 'connect SYN', verdict, direction: 'EGRESS', node: 'node-1', l7: '', policy: '', flow };
};
window.__post = (m) => window.postMessage(m, '*');
`;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function main(): Promise<void> {
  buildExtension();
  const { server, url } = await serveShell({ filter: {}, maxRows: ROWS });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.addInitScript(INIT_SCRIPT + PAGE_HELPERS);
    await page.goto(url);
    await page.waitForFunction('window.__sent.length > 0');
    await page.evaluate(`(() => { const rows = []; for (let i = 1; i <= ${ROWS}; i++) rows.push(window.__mkRow(i));
      window.__post({ kind: 'notification', name: 'reset', payload: { seq: 1, rows, filter: {}, maxRows: ${ROWS} } }); })()`);
    await page.waitForFunction(`document.getElementById('count').textContent === '${ROWS}'`, undefined, { timeout: 60_000 });
    const frames = (await page.evaluate(`new Promise((resolve) => {
      const per = Math.round(${RATE} / ${HZ}); let id = ${ROWS} + 1; let seq = 1; const deltas = []; let running = true;
      const batches = []; for (let b = 0; b < ${HZ * SECONDS}; b++) { const rows = []; for (let i = 0; i < per; i++) rows.push(window.__mkRow(id++)); batches.push(rows); }
      let next = 0; let delivered = 0; let last = performance.now();
      const tick = (t) => { deltas.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
      requestAnimationFrame((t) => { last = t; requestAnimationFrame(tick); });
      const timer = setInterval(() => { const rows = batches[next++]; if (!rows) return; delivered += rows.length; window.__post({ kind: 'notification', name: 'batch', payload: { seq: ++seq, rows } }); }, ${Math.round(1000 / HZ)});
      setTimeout(() => { clearInterval(timer); running = false; resolve({ deltas, delivered, held: document.getElementById('count').textContent }); }, ${SECONDS * 1000});
    })`)) as { deltas: number[]; delivered: number; held: string };
    const d = frames.deltas.slice(5);
    console.log('| measure | value |\n| --- | --- |');
    console.log(`| ingest | ${frames.delivered} flows in ${SECONDS} s (${Math.round(frames.delivered / SECONDS)} flows/s, ${HZ} batches/s), ${frames.held} rows held |`);
    console.log(`| frame time p50 / p95 / p99 / max | ${pct(d, 50).toFixed(1)} / ${pct(d, 95).toFixed(1)} / ${pct(d, 99).toFixed(1)} / ${Math.max(...d).toFixed(1)} ms (${d.length} frames) |`);
    for (const text of ['--verdict DROPPED', '--to-namespace data --port 6379', '--pod shop/frontend-7 --not --verdict DROPPED', 'frontend-7 svc-3', '']) {
      const times = (await page.evaluate(`(async () => { const out = []; const f = document.getElementById('filter');
        for (let i = 0; i < 5; i++) { f.value = i % 2 ? '' : ${JSON.stringify(text)}; const t = performance.now(); f.dispatchEvent(new Event('input'));
          const sync = performance.now() - t; await new Promise((r) => requestAnimationFrame(() => r())); out.push([sync, performance.now() - t]); }
        f.value = ${JSON.stringify(text)}; f.dispatchEvent(new Event('input'));
        return { out, shown: document.getElementById('count').textContent }; })()`)) as { out: [number, number][]; shown: string };
      const sync = times.out.filter((_, i) => i % 2 === 0).map((x) => x[0]);
      const frame = times.out.filter((_, i) => i % 2 === 0).map((x) => x[1]);
      console.log(`| filter \`${text || '(none)'}\` over ${ROWS} rows: filter / to next frame (median of 3) | ${pct(sync, 50).toFixed(1)} / ${pct(frame, 50).toFixed(1)} ms → ${times.shown} shown |`);
    }
  } finally {
    await browser.close();
    server.close();
  }
}

void main().then(() => process.exit(0), (e: unknown) => { console.error(e); process.exit(1); });
