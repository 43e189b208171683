// The agent's Prometheus metrics: every flow counted once in each metric it concerns, with the
// right labels, through the cached labelled children (the same series as plain inc({labels})).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentMetrics } from '../../src/agent/metrics';
import { FLOWS } from '../helpers/recorded-flows';

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `series ${series} in\n${text}`);
  return Number(line.split(' ')[1]);
}

test('flows, drops, DNS, HTTP, TCP flags and lost events are counted with their labels', async () => {
  const m = new AgentMetrics('node-1', { processMetrics: false });
  for (let i = 0; i < 3; i++) for (const f of FLOWS) m.observe(f);
  m.lostEvents('ringbuf', 5);
  m.lostEvents('ringbuf', 2);
  m.lostEvents('agent_backlog', 0);
  const { body } = await m.text();
  const forwarded = FLOWS.filter((f) => f.Type === 'L3_L4' && f.verdict === 'FORWARDED' && !f.extensions?.tcp_event).length;
  assert.ok(forwarded > 0);
  assert.equal(value(body, `flowlens_flows_processed_total{type="L3_L4",subtype="",verdict="FORWARDED",node="node-1"}`), 3 * forwarded);
  assert.equal(value(body, `flowlens_drop_total{reason="POLICY_DENIED",protocol="TCP",node="node-1"}`), 3);
  assert.equal(value(body, `flowlens_dns_queries_total{rcode="0",qtypes="",node="node-1"}`), 3);
  assert.equal(value(body, `flowlens_http_requests_total{method="GET",status="503",node="node-1"}`), 3);
  const syn = FLOWS.filter((f) => f.l4.TCP?.flags?.SYN && f.IP.ipVersion === 'IPv4').length;
  assert.equal(value(body, `flowlens_tcp_flags_total{flag="SYN",family="IPv4",node="node-1"}`), 3 * syn);
  assert.equal(value(body, `flowlens_lost_events_total{source="ringbuf",node="node-1"}`), 7);
  assert.ok(!body.includes('source="agent_backlog"'), 'a zero loss is not a series');
});

test('two agents in one process keep separate registries', async () => {
  const a = new AgentMetrics('a', { processMetrics: false });
  const b = new AgentMetrics('b', { processMetrics: false });
  a.observe(FLOWS[1]!);
  const tb = (await b.text()).body;
  assert.ok(!tb.includes('flowlens_drop_total{'), tb);
  assert.equal(value((await a.text()).body, `flowlens_drop_total{reason="POLICY_DENIED",protocol="TCP",node="a"}`), 1);
});
