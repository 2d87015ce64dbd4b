// Every vector of PROTOCOL.md decodes and re-encodes byte for byte, and the ones that carry
// a meaning decode to it.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeBody, decodeFrame, encodeFrame, Kind, MORE } from '../src/index.js';
import { protocolVectors } from './support/vectors.js';

const vectors = protocolVectors();
const text = (bytes) => new TextDecoder().decode(bytes);

test('PROTOCOL.md has the vectors this test knows', () => {
  // A vector renamed or dropped from the document fails here rather than going untested.
  for (const name of ['request', 'response', 'request-accept', 'response-gzip', 'error', 'json-request', 'oneway', 'cancel', 'ping', 'pong', 'goaway', 'connection-error', 'stream-open', 'stream-data', 'stream-end', 'stream-data-more', 'stream-data-last', 'stream-window', 'stream-gap', 'stream-end-error']) {
    assert.ok(vectors.has(name), `vector ${name} is missing from PROTOCOL.md`);
  }
});

for (const [name, bytes] of vectors) {
  test(`vector ${name} decodes and re-encodes byte for byte`, () => {
    const frame = decodeFrame(bytes);
    const again = encodeFrame({ ...frame, head: frame.head });
    assert.deepEqual(again, bytes);
  });
}

test('the request vector means what the document says', () => {
  const f = decodeFrame(vectors.get('request'));
  assert.equal(f.kind, Kind.REQUEST);
  assert.equal(f.id, 1);
  assert.equal(f.codec, 1);
  assert.equal(f.head.service, 'Greeter');
  assert.equal(f.head.method, 'hello');
  assert.equal(f.head.deadlineMicros, 1_500_000);
  assert.deepEqual(f.head.metadata.map(([k, v]) => [k, text(v)]), [['authorization', 'Bearer t0k3n'], ['trace-id', 'abc']]);
  assert.equal(decodeBody(f.codec, f.body), 'ada');
  assert.equal(decodeBody(1, decodeFrame(vectors.get('response')).body), 'hello, ada');
});

test('the JSON, error, accept and stream vectors mean what the document says', () => {
  const json = decodeFrame(vectors.get('json-request'));
  assert.equal(json.head.deadlineMicros, 250_000);
  assert.equal(decodeBody(json.codec, json.body), 'ada');

  const error = decodeFrame(vectors.get('error'));
  assert.deepEqual([error.status, error.head.message], [5, 'no such user']);

  assert.deepEqual(decodeFrame(vectors.get('request-accept')).head.accept, [1, 3]);

  const more = decodeFrame(vectors.get('stream-data-more'));
  const last = decodeFrame(vectors.get('stream-data-last'));
  assert.equal(more.flags & MORE, MORE);
  assert.equal(last.flags & MORE, 0);
  assert.equal(decodeBody(1, Uint8Array.from([...more.body, ...last.body])), 'hello');

  const window = decodeFrame(vectors.get('stream-window'));
  assert.equal(new DataView(window.body.buffer).getUint32(0), 65_536);
  const gap = decodeFrame(vectors.get('stream-gap'));
  assert.equal(new DataView(gap.body.buffer).getBigUint64(0), 42n);
  const end = decodeFrame(vectors.get('stream-end-error'));
  assert.deepEqual([end.kind, end.status, end.head.message], [Kind.STREAM_END, 10, 'feed closed']);
  assert.equal(decodeFrame(vectors.get('goaway')).head.message, 'server is shutting down');
  assert.equal(decodeFrame(vectors.get('ping')).id, 42);
});
