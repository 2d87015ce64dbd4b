// Unary and oneway calls against a real erpc server over ws://.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client, Code, RpcError } from '../src/index.js';
import { eventually, startServer, withServerAndClient } from './support/server.js';

const shared = withServerAndClient();

test('unary calls in MessagePack (the default) and JSON, one and several arguments', async () => {
  assert.equal(await shared.client.call('Echo', 'hello', 'ada'), 'hello, ada');
  assert.equal(await shared.client.call('Echo', 'hello', 'ada', { codec: 'json' }), 'hello, ada');
  assert.equal(await shared.client.call('Echo', 'add', [2, 3]), 5);
  assert.equal(await shared.client.call('Echo', 'add', [-7, 3], { codec: 'json' }), -4);
  // A struct comes back as a map keyed by field name; no argument is nil/null.
  const stats = await shared.client.call('Echo', 'stats');
  assert.equal(typeof stats.aborted, 'number');
  assert.deepEqual(Object.keys(await shared.client.call('Echo', 'stats', undefined, { codec: 'json' })).sort(), ['aborted', 'finished', 'notified', 'started']);
});

test('many concurrent calls on one connection are answered to the right callers', async () => {
  const names = Array.from({ length: 200 }, (_, i) => `n${i}`);
  const replies = await Promise.all(names.map((n, i) => shared.client.call('Echo', 'hello', n, { codec: i % 2 ? 'json' : 'msgpack' })));
  assert.deepEqual(replies, names.map((n) => `hello, ${n}`));
});

test('metadata reaches the handler, from the client and from the call', async () => {
  const withDefaults = new Client(shared.server.ws, { metadata: { tenant: 'acme' } });
  try {
    assert.equal(await withDefaults.call('Echo', 'meta', 'tenant'), 'acme');
    assert.equal(await withDefaults.call('Echo', 'meta', 'authorization', { metadata: [['authorization', 'Bearer t0k3n']] }), 'Bearer t0k3n');
    assert.equal(await withDefaults.call('Echo', 'meta', 'absent'), null);
  } finally {
    withDefaults.close();
  }
});

test('the deadline travels relative and the server sees it', async () => {
  const remaining = await shared.client.call('Echo', 'remaining_ms', undefined, { timeout: 5_000 });
  assert.ok(remaining > 3_000 && remaining <= 5_000, `server saw ${remaining} ms left of 5000`);
});

test('a call past its deadline fails deadline_exceeded, and the server stops its handler', async () => {
  const before = await shared.client.call('Echo', 'stats');
  const started = performance.now();
  await assert.rejects(shared.client.call('Echo', 'sleep', 5_000, { timeout: 200 }), (e) => {
    assert.ok(e instanceof RpcError);
    assert.equal(e.code, Code.DEADLINE_EXCEEDED);
    assert.equal(e.name, 'deadline_exceeded');
    return true;
  });
  const took = performance.now() - started;
  assert.ok(took < 3_000, `deadline of 200 ms took ${took} ms to fire`);
  await eventually(async () => (await shared.client.call('Echo', 'stats')).aborted > before.aborted, 5_000, 'the server aborted the handler');
});

test('an AbortSignal cancels a call: it rejects cancelled and the CANCEL reaches the server', async () => {
  const before = await shared.client.call('Echo', 'stats');
  const controller = new AbortController();
  const call = shared.client.call('Echo', 'sleep', 30_000, { signal: controller.signal, timeout: 60_000 });
  // Abort once the handler runs, so the CANCEL (not the deadline) must be what stops it.
  await eventually(async () => (await shared.client.call('Echo', 'stats')).started > before.started, 5_000, 'handler started');
  controller.abort('user navigated away');
  await assert.rejects(call, (e) => e instanceof RpcError && e.code === Code.CANCELLED && /user navigated away/.test(e.message));
  const stats = await eventually(async () => {
    const s = await shared.client.call('Echo', 'stats');
    return s.aborted > before.aborted && s;
  }, 5_000, 'the server aborted the cancelled handler');
  assert.equal(stats.finished, before.finished, 'the cancelled handler did not run to its end');
  // Already aborted: refused before anything is sent.
  await assert.rejects(shared.client.call('Echo', 'hello', 'x', { signal: AbortSignal.abort() }), (e) => e.code === Code.CANCELLED);
});

test('a server-side failure is an RpcError with code, name, message and details', async () => {
  await assert.rejects(shared.client.call('Echo', 'fail', [5, 'no such user']), (e) => {
    assert.ok(e instanceof RpcError && e instanceof Error);
    assert.equal(e.code, 5);
    assert.equal(e.name, 'not_found');
    assert.equal(e.message, 'no such user');
    assert.equal(new TextDecoder().decode(e.details), 'details: no such user');
    return true;
  });
  await assert.rejects(shared.client.call('Echo', 'nope'), (e) => e.code === Code.UNIMPLEMENTED);
  // A body the handler cannot decode: invalid_argument.
  await assert.rejects(shared.client.call('Echo', 'add', 'not two numbers'), (e) => e.code === Code.INVALID_ARGUMENT);
});

test('a oneway call is delivered and answered by nothing', async () => {
  const before = await shared.client.call('Echo', 'stats');
  await shared.client.oneway('Echo', 'notify', 3);
  await eventually(async () => (await shared.client.call('Echo', 'stats')).notified === before.notified + 3, 5_000, 'oneway counted');
});

test('requests over the client limits are refused before sending, naming the setting', async () => {
  const many = Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']);
  await assert.rejects(shared.client.call('Echo', 'hello', 'x', { metadata: many }), (e) => e.code === Code.RESOURCE_EXHAUSTED && /limits.maxMetadata/.test(e.message));
  await assert.rejects(shared.client.call('Echo', 'hello', 'x', { metadata: { big: 'x'.repeat(20_000) } }), (e) => e.code === Code.RESOURCE_EXHAUSTED && /limits.maxHead/.test(e.message));
});

test('the client answers the server\'s PINGs: a quiet connection stays up', async () => {
  // The server pings after 100 ms of silence and gives up after 3 silent intervals.
  const chatty = await startServer(['--heartbeat-ms', '100']);
  const quiet = new Client(chatty.ws);
  try {
    const peer = await quiet.call('Echo', 'peer');
    await new Promise((r) => setTimeout(r, 1_000));
    // Same connection: had the client not answered, the server would have closed it and
    // this call would have gone out on a new one, from another port.
    assert.equal(await quiet.call('Echo', 'peer'), peer);
  } finally {
    quiet.close();
    await chatty.stop();
  }
});

test('a lost server fails calls unavailable, and the client reconnects with backoff', async () => {
  const first = await startServer(['--listen', 'ws://127.0.0.1:0/erpc']);
  const port = new URL(first.ws).port;
  const c = new Client(first.ws, { backoffInitial: 50, backoffMax: 400 });
  try {
    assert.equal(await c.call('Echo', 'hello', 'a'), 'hello, a');
    const inFlight = assert.rejects(c.call('Echo', 'sleep', 10_000, { timeout: 30_000 }), (e) => e.code === Code.UNAVAILABLE);
    await eventually(async () => (await c.call('Echo', 'stats')).started >= 1, 5_000, 'sleep started');
    await first.stop({ kill: true });
    await inFlight;
    // While it is down, calls fail fast rather than hang.
    const t0 = performance.now();
    await assert.rejects(c.call('Echo', 'hello', 'b'), (e) => e.code === Code.UNAVAILABLE);
    assert.ok(performance.now() - t0 < 5_000);
    const second = await startServer(['--listen', `ws://127.0.0.1:${port}/erpc`]);
    try {
      const reply = await eventually(() => c.call('Echo', 'hello', 'c'), 10_000, 'reconnected');
      assert.equal(reply, 'hello, c');
    } finally {
      await second.stop();
    }
  } finally {
    c.close();
  }
});

test('a graceful shutdown (GOAWAY) lets a running call finish', async () => {
  const s = await startServer(['--listen', 'ws://127.0.0.1:0/erpc']);
  const c = new Client(s.ws);
  try {
    const running = c.call('Echo', 'sleep', 300);
    await eventually(async () => (await c.call('Echo', 'stats')).started >= 1, 5_000, 'sleep started');
    const stopped = s.stop(); // stdin ends: the server sends GOAWAY and drains
    assert.equal(await running, 300);
    await stopped;
  } finally {
    c.close();
  }
});

test('bad arguments are refused with a clear error', () => {
  assert.throws(() => new Client('http://127.0.0.1:1/'), /ws:\/\/ and wss:\/\//);
  assert.throws(() => new Client('ws://127.0.0.1:1/', { codec: 'xml' }), /unknown codec "xml"/);
});
