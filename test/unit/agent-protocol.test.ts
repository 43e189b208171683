import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClientMessage, parseServerMessage } from '../../src/agents/protocol';
import { ChannelDecoder, encodeDataFrame } from '../../src/agents/portforward';

test('client frames are validated with clear errors', () => {
  assert.deepEqual(parseClientMessage('{"type":"subscribe","last":5,"follow":true,"filters":{"allowlist":[{"source_pod":["a/b"]}]}}'), { ok: true, value: { type: 'subscribe', last: 5, follow: true, filters: { allowlist: [{ source_pod: ['a/b'] }], denylist: [] } } });
  assert.deepEqual(parseClientMessage('{"type":"subscribe","since":"2026-01-01T01:00:00+01:00"}'), { ok: true, value: { type: 'subscribe', since: '2026-01-01T00:00:00.000000000Z' } });
  const bad: [string, RegExp][] = [
    ['not json', /not JSON/],
    ['[]', /JSON object/],
    ['{"type":"nope"}', /unknown message type "nope"/],
    ['{"type":"subscribe","last":-1}', /last must be a non-negative integer/],
    ['{"type":"subscribe","last":1.5}', /last must be/],
    ['{"type":"subscribe","follow":"yes"}', /follow must be a boolean/],
    ['{"type":"subscribe","pod":"a/b"}', /unknown field "pod"/],
    ['{"type":"subscribe","first":1,"last":1}', /both first and last/],
    ['{"type":"subscribe","since":"yesterday"}', /since must be an RFC 3339 time/],
    ['{"type":"subscribe","filters":{"allowlist":[{"source_pod":"x"}]}}', /filters\.allowlist\[0\]\.source_pod must be an array/],
    ['x'.repeat(70_000), /too large/],
  ];
  for (const [text, err] of bad) {
    const r = parseClientMessage(text);
    assert.equal(r.ok, false, text.slice(0, 40));
    if (!r.ok) assert.match(r.error, err);
  }
});

test('server frames are validated', () => {
  assert.equal(parseServerMessage('{"type":"hello","version":2,"node":"n","agent":"flowlens"}').ok, true);
  assert.equal(parseServerMessage('{"type":"flows","flows":[1]}').ok, false);
  assert.equal(parseServerMessage('{"type":"lost_events","source":"x"}').ok, false);
});

test('port-forward channel frames: port prefix stripped once per channel', () => {
  const d = new ChannelDecoder();
  const port = Buffer.from([0x94, 0x10]);
  assert.deepEqual(d.decode(Buffer.concat([Buffer.from([0]), port])), { channel: 0, payload: Buffer.alloc(0) });
  assert.deepEqual(d.decode(Buffer.concat([Buffer.from([1]), port])), { channel: 1, payload: Buffer.alloc(0) });
  assert.deepEqual(d.decode(Buffer.from([0, 65, 66])), { channel: 0, payload: Buffer.from('AB') });
  assert.deepEqual(d.decode(Buffer.from([7, 1, 2])), { error: 'unexpected port-forward channel 7' });
  assert.deepEqual(new ChannelDecoder().decode(Buffer.from([0, 1])), { error: 'port-forward frame is missing its port prefix' });
  assert.deepEqual(encodeDataFrame(Buffer.from('hi')), Buffer.from([0, 104, 105]));
});
