// Streaming calls against a real erpc server over ws://: every shape, failures, cancel, and
// streams larger than the 256 KiB window in each direction with messages larger than one
// 64 KiB chunk — a client that ignored the server's window would be disconnected
// (resource_exhausted), one that granted no credit would stall.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Code, RpcError } from '../src/index.js';
import { eventually, withServerAndClient } from './support/server.js';

const shared = withServerAndClient();

/** Message `k` of Feed.blob: byte i is (k + i) % 251. */
function blob(k, size) {
  return Uint8Array.from({ length: size }, (_, i) => (k + i) % 251);
}

function fnv1a(hash, bytes) {
  for (const b of bytes) hash = Math.imul(hash ^ b, 0x01000193) >>> 0;
  return hash;
}

async function collect(iterable) {
  const out = [];
  for await (const x of iterable) out.push(x);
  return out;
}

test('server stream: count(5) in MessagePack and JSON', async () => {
  assert.deepEqual(await collect(await shared.client.serverStream('Feed', 'count', 5)), [0, 1, 2, 3, 4]);
  assert.deepEqual(await collect(await shared.client.serverStream('Feed', 'count', 3, { codec: 'json' })), [0, 1, 2]);
  assert.deepEqual(await collect(await shared.client.serverStream('Feed', 'count', 0)), []);
});

test('client stream: sum of an array, and of an async generator', async () => {
  assert.equal(await shared.client.clientStream('Feed', 'sum', [1, 2, 3, 4]), 10);
  async function* slowly() {
    for (let i = 1; i <= 5; i += 1) {
      await new Promise((r) => setTimeout(r, 5));
      yield i;
    }
  }
  assert.equal(await shared.client.clientStream('Feed', 'sum', slowly(), { codec: 'json' }), 15);
});

test('bidirectional: each number doubled as it goes, interactively', async () => {
  assert.deepEqual(await collect(await shared.client.bidiStream('Feed', 'double', [1, 2, 3])), [2, 4, 6]);
  // Interactive: send one, read its answer, send the next.
  const s = await shared.client.stream('Feed', 'double');
  const replies = s[Symbol.asyncIterator]();
  for (const n of [5, 6]) {
    await s.send(n);
    assert.deepEqual(await replies.next(), { value: n * 2, done: false });
  }
  await s.end();
  assert.equal((await replies.next()).done, true);
});

test('server stream of 2 MiB in 20 messages of 100 KiB: chunked and flow controlled', async () => {
  const count = 20;
  const size = 100 * 1024;
  let k = 0;
  for await (const message of await shared.client.serverStream('Feed', 'blob', [count, size])) {
    assert.ok(message instanceof Uint8Array);
    assert.deepEqual(message, blob(k, size), `message ${k}`);
    k += 1;
  }
  assert.equal(k, count);
});

test('client stream of 2 MiB in 20 messages of 100 KiB: waits for the server\'s credit', async () => {
  const parts = Array.from({ length: 20 }, (_, k) => blob(k, 100 * 1024));
  const digest = await shared.client.clientStream('Feed', 'gather', parts);
  assert.equal(digest.messages, 20);
  assert.equal(digest.bytes, 20 * 100 * 1024);
  assert.equal(digest.fnv1a, parts.reduce(fnv1a, 0x811c9dc5));
});

test('bidirectional 1 MiB each way with a slow reader: nothing lost, nothing reordered', async () => {
  const parts = Array.from({ length: 8 }, (_, k) => blob(k, 128 * 1024 + k));
  const echoed = await shared.client.bidiStream('Feed', 'echo', parts);
  let k = 0;
  for await (const part of echoed) {
    // A slow reader: the server must wait for our credit instead of flooding us.
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(part, parts[k], `part ${k}`);
    k += 1;
  }
  assert.equal(k, parts.length);
  // The connection survived: the server never saw us overrun a window.
  assert.equal(await shared.client.call('Echo', 'hello', 'still here'), 'hello, still here');
});

test('a stream failure after some messages: the messages, then an RpcError with details', async () => {
  const got = [];
  await assert.rejects(async () => {
    for await (const n of await shared.client.serverStream('Feed', 'fail_after', 2)) got.push(n);
  }, (e) => {
    assert.ok(e instanceof RpcError);
    assert.deepEqual([e.code, e.name, e.message], [Code.ABORTED, 'aborted', 'failed on purpose']);
    assert.deepEqual([...e.details], [1, 2, 3]);
    return true;
  });
  assert.deepEqual(got, [0, 1]);
  await assert.rejects(collect(await shared.client.serverStream('Feed', 'nope', 1)), (e) => e.code === Code.UNIMPLEMENTED);
});

test('cancelling a stream by AbortSignal or by leaving the loop stops the server\'s handler', async () => {
  const before = await shared.client.call('Echo', 'stats');
  const controller = new AbortController();
  const hanging = await shared.client.serverStream('Feed', 'hang', undefined, { signal: controller.signal });
  const it = hanging[Symbol.asyncIterator]();
  assert.deepEqual(await it.next(), { value: 7, done: false });
  controller.abort();
  await assert.rejects(it.next(), (e) => e.code === Code.CANCELLED);

  for await (const n of await shared.client.serverStream('Feed', 'hang')) {
    assert.equal(n, 7);
    break; // leaving the loop cancels the call
  }
  await eventually(async () => (await shared.client.call('Echo', 'stats')).aborted >= before.aborted + 2, 5_000, 'both handlers aborted');
});

test('a stream with a timeout ends deadline_exceeded', async () => {
  const s = await shared.client.serverStream('Feed', 'hang', undefined, { timeout: 300 });
  await assert.rejects(collect(s), (e) => e.code === Code.DEADLINE_EXCEEDED);
});
