// The one filter parser and compiler against recorded flows: every hubble observe flag, its from-/to-
// forms, OR within a flag, AND across flags, --not, namespace folding, conflicts, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CASES, FLOWS } from '../helpers/recorded-flows';
import { parseFilterArgs, parseFilterText, tokenize } from '../../src/flows/filter-args';
import { compileFilterSet } from '../../src/flows/filter-compile';
import { validateFilterSet } from '../../src/flows/filter';

function observe(args: string): string {
  const set = parseFilterText(args);
  assert.ok(set.ok, `${args}: ${set.ok ? '' : set.error}`);
  const pred = compileFilterSet(set.value);
  assert.ok(pred.ok, `${args}: ${pred.ok ? '' : pred.error}`);
  return FLOWS.filter(pred.value).map((f) => f.uuid).join('');
}


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
