import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFieldSelector, parseLabelSelector } from '../../src/sandbox/apiserver/selectors';
import { ApiError } from '../../src/sandbox/apiserver/types';
import type { KubeObject } from '../../src/sandbox/apiserver/types';

const labels = { app: 'web', tier: 'front', 'example.com/team': 'a' };

test('label selector operators', () => {
  const cases: [string, boolean][] = [
    ['', true], ['app=web', true], ['app==web', true], ['app=db', false], ['app!=db', true], ['app!=web', false],
    ['missing!=x', true], ['app in (web,db)', true], ['app in (db)', false], ['app notin (db)', true],
    ['app notin (web, db)', false], ['missing notin (x)', true], ['tier', true], ['missing', false], ['!missing', true],
    ['!app', false], ['app=web,tier=front', true], ['app=web,tier=back', false], ['example.com/team=a', true],
    ['app in (web),!missing,tier', true],
  ];
  for (const [sel, want] of cases) assert.equal(parseLabelSelector(sel)(labels), want, sel);
  assert.equal(parseLabelSelector('app')(undefined), false);
  assert.equal(parseLabelSelector('!app')(undefined), true);
});

test('label selector gt/lt', () => {
  assert.equal(parseLabelSelector('n>3')({ n: '5' }), true);
  assert.equal(parseLabelSelector('n<3')({ n: '5' }), false);
});

test('bad label selectors are 400', () => {
  for (const sel of ['app in (web', 'app=we b', '=x', 'app in web', 'a b c']) {
    assert.throws(() => parseLabelSelector(sel), (e: ApiError) => e instanceof ApiError && e.code === 400, sel);
  }
});

const pod: KubeObject = {
  apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'ns' },
  spec: { nodeName: 'n1' }, status: { phase: 'Running', podIP: '10.0.0.1' },
};

test('field selectors', () => {
  const cases: [string, boolean][] = [
    ['metadata.name=p1', true], ['metadata.name==p1', true], ['metadata.name!=p1', false], ['metadata.namespace=ns', true],
    ['spec.nodeName=n1', true], ['spec.nodeName=n2', false], ['status.phase!=Pending', true], ['status.podIP=10.0.0.1', true],
    ['spec.nodeName=n1,status.phase=Running', true], ['spec.nodeName=n1,status.phase=Failed', false],
    ['spec.missing=', true], ['spec.missing!=', false],
  ];
  for (const [sel, want] of cases) assert.equal(parseFieldSelector(sel)(pod), want, sel);
  assert.throws(() => parseFieldSelector('nonsense'), (e: ApiError) => e.code === 400);
});

test('field selector values may escape commas', () => {
  const o: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a,b' } };
  assert.equal(parseFieldSelector('metadata.name=a\\,b')(o), true);
});
