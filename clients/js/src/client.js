// The client: calls by service and method name over one WebSocket connection at a time,
// opened on first use and again after it is lost, with backoff between failed attempts.

import { codecId, decodeBody, encodeBody } from './codec.js';
import { Connection } from './connection.js';
import { DEFAULT_LIMITS, encodeFrame, encodeHead, Kind } from './frame.js';
import { Code, RpcError } from './status.js';

const DEFAULTS = Object.freeze({
  codec: 'msgpack',
  timeout: 10_000,
  streamTimeout: undefined,
  metadata: [],
  connectTimeout: 5_000,
  heartbeatInterval: 15_000,
  heartbeatMisses: 3,
  backoffInitial: 100,
  backoffMax: 5_000,
  WebSocket: undefined,
});

/** Metadata as `[key, value]` pairs from an object, a Map or pairs. */
function pairs(metadata) {
  if (!metadata) return [];
  if (Array.isArray(metadata)) return metadata;
  if (metadata instanceof Map) return [...metadata];
  return Object.entries(metadata);
}

export class Client {
  /**
   * @param {string} url `ws://host:port/path` or `wss://…`: where the erpc server listens.
   * @param {object} [options] see index.d.ts (`ClientOptions`).
   */
  constructor(url, options = {}) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new TypeError(`${url}: this client speaks ws:// and wss:// only (browsers have no raw sockets)`);
    }
    this.url = url;
    this._options = { ...DEFAULTS, ...options, limits: { ...DEFAULT_LIMITS, ...options.limits } };
    this._codec = codecId(this._options.codec);
    this._conn = null;
    this._connecting = null;
    this._backoff = this._options.backoffInitial;
    this._retryAt = 0;
    this._lastError = null;
    this._closed = false;
  }

  /**
   * Calls `service.method(request)` and resolves with the decoded result, or rejects with an
   * RpcError. Several arguments go as an array, none as `undefined` (PROTOCOL.md §4).
   * @param {{timeout?: number, codec?: string, metadata?: object, signal?: AbortSignal}} [options]
   */
  async call(service, method, request, options = {}) {
    const { codec, deadline, metadata } = this._callOptions(options, this._options.timeout);
    const body = encodeBody(codec, request);
    const conn = await this._connection(options.signal);
    const id = conn.nextId();
    const name = `${service}.${method}`;
    const timeoutMs = deadline - performance.now();
    if (timeoutMs <= 0) {
      throw new RpcError(Code.DEADLINE_EXCEEDED, `${name}: deadline exceeded before the call was sent`);
    }
    const head = this._head(service, method, timeoutMs, metadata);
    const reply = await conn.unary(id, name, encodeFrame({ kind: Kind.REQUEST, id, codec, head, body }), { timeoutMs, signal: options.signal });
    return decodeBody(reply.codec, reply.body);
  }

  /**
   * A oneway call (ONEWAY): resolves once the frame is handed to the connection; nothing ever
   * comes back, not even a failure (§4).
   */
  async oneway(service, method, request, options = {}) {
    const { codec, deadline, metadata } = this._callOptions(options, this._options.timeout);
    const body = encodeBody(codec, request);
    const conn = await this._connection(options.signal);
    const id = conn.nextId();
    const head = this._head(service, method, deadline === undefined ? undefined : deadline - performance.now(), metadata);
    conn.write(encodeFrame({ kind: Kind.ONEWAY, id, codec, head, body }));
  }

  /**
   * Opens a streaming call (STREAM_OPEN) and returns its Stream: `send()`, `end()`, and
   * `for await` over the server's messages. No deadline unless `timeout` (or the client's
   * `streamTimeout`) is set, as in erpc: watches and subscriptions are meant to live.
   */
  async stream(service, method, options = {}) {
    const { codec, deadline, metadata } = this._callOptions(options, this._options.streamTimeout);
    const conn = await this._connection(options.signal);
    const id = conn.nextId();
    const name = `${service}.${method}`;
    const remaining = deadline === undefined ? undefined : deadline - performance.now();
    const head = this._head(service, method, remaining, metadata);
    const stream = conn.stream(id, name, codec, {
      maxBody: this._options.limits.maxBody,
      onGap: options.onGap,
      deadline,
      signal: options.signal,
    });
    try {
      conn.write({ kind: Kind.STREAM_OPEN, id, codec, head });
    } catch (e) {
      stream._finish(e);
      throw e;
    }
    return stream;
  }

  /** Server streaming: one request, then the server's messages as an async iterable. */
  async serverStream(service, method, request, options = {}) {
    const stream = await this.stream(service, method, options);
    // Not awaited: the reader sees any failure as the stream's error.
    stream.send(request).catch(() => {});
    stream.end().catch(() => {});
    return stream;
  }

  /**
   * Client streaming: sends every message of `messages` (an iterable or async iterable),
   * respecting the server's window, then resolves with the server's one answer.
   */
  async clientStream(service, method, messages, options = {}) {
    const stream = await this.stream(service, method, options);
    pump(stream, messages);
    const first = await stream.next();
    if (first.done) {
      throw new RpcError(Code.INTERNAL, `${service}.${method}: the server ended a client stream without an answer`);
    }
    // Read on to the end: a failure after the answer still fails the call.
    while (!(await stream.next()).done);
    return first.value;
  }

  /**
   * Bidirectional: sends `messages` (iterable or async iterable) while the caller reads the
   * returned Stream. For interactive use, `stream()` and `send()` directly.
   */
  async bidiStream(service, method, messages, options = {}) {
    const stream = await this.stream(service, method, options);
    pump(stream, messages);
    return stream;
  }

  /** Closes the connection; calls in flight fail `unavailable`; later calls are refused. */
  close() {
    this._closed = true;
    this._conn?.close('the client was closed');
    this._conn = null;
  }

  _callOptions(options, defaultTimeout) {
    if (options.signal?.aborted) {
      throw new RpcError(Code.CANCELLED, `cancelled before it was sent: ${options.signal.reason ?? 'aborted'}`, { cause: options.signal.reason });
    }
    const timeout = options.timeout ?? defaultTimeout;
    return {
      codec: options.codec === undefined ? this._codec : codecId(options.codec),
      deadline: timeout === undefined ? undefined : performance.now() + timeout,
      metadata: [...pairs(this._options.metadata), ...pairs(options.metadata)],
    };
  }

  /** The header block of a call, refused before sending if over the limits (§7). */
  _head(service, method, remainingMs, metadata) {
    const { maxHead, maxMetadata } = this._options.limits;
    if (metadata.length > maxMetadata) {
      throw new RpcError(Code.RESOURCE_EXHAUSTED, `client refused the call: ${metadata.length} metadata entries exceed the limit of ${maxMetadata} (limits.maxMetadata)`);
    }
    const fields = { service, method, metadata };
    // Relative: the microseconds left when the frame is written (§8).
    if (remainingMs !== undefined) fields.deadlineMicros = Math.max(0, remainingMs) * 1000;
    let head;
    try {
      head = encodeHead(fields);
    } catch (e) {
      throw new RpcError(e.code ?? Code.INVALID_ARGUMENT, `client refused the call: ${e.message}`);
    }
    if (head.length > maxHead) {
      throw new RpcError(Code.RESOURCE_EXHAUSTED, `client refused the call: header block of ${head.length} bytes exceeds the limit of ${maxHead} bytes (limits.maxHead)`);
    }
    return head;
  }

  /** The live connection, opening one if needed; fails fast while backing off. */
  async _connection(signal) {
    if (this._closed) throw new RpcError(Code.UNAVAILABLE, `the client of ${this.url} is closed`);
    if (this._conn?.usable) return this._conn;
    if (!this._connecting) {
      const wait = this._retryAt - performance.now();
      if (wait > 0) {
        throw new RpcError(Code.UNAVAILABLE, `${this.url} is unreachable (${this._lastError}); next attempt in ${Math.ceil(wait)} ms`);
      }
      this._connecting = this._dial().finally(() => {
        this._connecting = null;
      });
    }
    const conn = await this._connecting;
    if (signal?.aborted) throw new RpcError(Code.CANCELLED, `cancelled while connecting: ${signal.reason ?? 'aborted'}`);
    return conn;
  }

  async _dial() {
    try {
      const conn = await Connection.open(this.url, {
        ...this._options,
        onGoaway: (c) => {
          if (this._conn === c) this._conn = null;
        },
      });
      if (this._closed) {
        conn.close('the client was closed');
        throw new RpcError(Code.UNAVAILABLE, `the client of ${this.url} is closed`);
      }
      this._conn = conn;
      this._backoff = this._options.backoffInitial;
      this._retryAt = 0;
      return conn;
    } catch (e) {
      if (e instanceof RpcError) throw e;
      // Jittered exponential backoff, so many clients of a restarted server spread out.
      this._lastError = e.message;
      this._retryAt = performance.now() + this._backoff * (0.5 + Math.random() / 2);
      this._backoff = Math.min(this._backoff * 2, this._options.backoffMax);
      throw new RpcError(Code.UNAVAILABLE, `cannot connect to ${this.url}: ${e.message}`, { cause: e });
    }
  }
}

/** Sends every message of `messages`, then ends; a failure of the source cancels the call. */
function pump(stream, messages) {
  (async () => {
    for await (const message of messages) {
      if (!(await stream.send(message))) return; // the server ended the call
    }
    await stream.end();
  })().catch((e) => {
    if (!stream.finished) stream._abandon(e instanceof RpcError ? e : new RpcError(Code.CANCELLED, `the messages to send failed: ${e?.message ?? e}`, { cause: e }));
  });
}
