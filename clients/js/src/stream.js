// One streaming call (PROTOCOL.md §13) on a connection: messages cut into 64 KiB chunks,
// both flow-control windows, and the reader's side as an async iterator.

import { decodeBody, encodeBody } from './codec.js';
import { Kind, MORE } from './frame.js';
import { Code, RpcError } from './status.js';

/** Both windows start here (§13). */
export const INITIAL_WINDOW = 262_144;
/** Largest chunk of a message (§13). */
export const CHUNK = 65_536;
/** What each STREAM_DATA costs on top of its body, so empty messages are not free. */
const FRAME_COST = 32;
const GAP_COST = 8 + FRAME_COST;
/** Grant credit back once a quarter of the window has been consumed, as erpc does. */
const GRANT_AT = INITIAL_WINDOW / 4;
const MAX_WINDOW = 2 ** 31 - 1;

/**
 * A streaming call. Send with `send()` (waits for credit) and `end()`; read the server's
 * messages with `for await`, which grants credit as each message is taken, so a slow reader
 * holds the server back instead of buffering without bound. Leaving the loop early cancels
 * the call.
 */
export class Stream {
  /** @internal Made by Client.stream(). */
  constructor(conn, id, codec, { maxBody, onGap, deadline, signal }) {
    this.id = id;
    this._conn = conn;
    this._codec = codec;
    this._maxBody = maxBody;
    this._onGap = onGap;
    /** Messages the server dropped under its overflow policy (STREAM_GAP), so far. */
    this.dropped = 0;
    /** The server's trailing metadata, once the stream ended successfully. */
    this.trailers = [];

    this._sendWindow = INITIAL_WINDOW;
    this._creditWaiters = []; // { cost, resolve } in order: one sender at a time anyway
    this._sendTail = Promise.resolve(true);
    this._sentEnd = false;

    this._recvWindow = INITIAL_WINDOW;
    this._ungranted = 0;
    this._chunks = [];
    this._chunkBytes = 0;
    this._chunkCost = 0;
    this._queue = []; // { value, cost } | { gap, cost }
    this._readers = [];

    this._done = false;
    this._error = null;
    this._cleanups = [];

    if (deadline !== undefined) {
      const ms = Math.max(0, deadline - performance.now());
      const timer = setTimeout(() => {
        this._abandon(new RpcError(Code.DEADLINE_EXCEEDED, `stream ${conn.describe(id)}: deadline of ${Math.round(ms)} ms exceeded`));
      }, ms);
      this._cleanups.push(() => clearTimeout(timer));
    }
    if (signal) {
      const onAbort = () => this._abandon(new RpcError(Code.CANCELLED, `stream ${conn.describe(id)} cancelled: ${signal.reason ?? 'aborted'}`, { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
      this._cleanups.push(() => signal.removeEventListener('abort', onAbort));
    }
  }

  /** Whether the call has ended (successfully, with a status, or cancelled). */
  get finished() {
    return this._done;
  }

  /**
   * Sends one message, in order after earlier ones. Resolves `true` once it is written,
   * `false` if the server already ended the call successfully (it wants nothing more);
   * rejects with the call's RpcError if the call failed.
   */
  send(message) {
    let body;
    try {
      body = encodeBody(this._codec, message);
    } catch (e) {
      return Promise.reject(e);
    }
    this._sendTail = this._sendTail.then(() => this._sendNow(body));
    return this._sendTail;
  }

  /** No more messages from this side (STREAM_END); the server may still send. */
  end() {
    this._sendTail = this._sendTail.then(() => {
      if (this._done || this._sentEnd) return !this._done;
      this._sentEnd = true;
      this._conn.write({ kind: Kind.STREAM_END, id: this.id });
      return true;
    });
    return this._sendTail;
  }

  /** Cancels the call (CANCEL): the server stops its handler; readers get `cancelled`. */
  cancel(reason = 'cancelled by the caller') {
    this._abandon(new RpcError(Code.CANCELLED, `stream ${this._conn.describe(this.id)} ${reason}`));
  }

  async _sendNow(body) {
    if (this._done) return this._closedForSending();
    if (this._sentEnd) throw new RpcError(Code.FAILED_PRECONDITION, 'send() after end()');
    if (body.length > this._maxBody) {
      throw new RpcError(Code.RESOURCE_EXHAUSTED, `client refused to send a stream message of ${body.length} bytes: over the limit of ${this._maxBody} bytes (maxBody)`);
    }
    // An empty message is one empty frame; others are cut into chunks, MORE on all but the last.
    let at = 0;
    do {
      const chunk = body.subarray(at, at + CHUNK);
      at += chunk.length;
      const cost = chunk.length + FRAME_COST;
      if (this._sendWindow < cost) {
        await new Promise((resolve) => this._creditWaiters.push({ cost, resolve }));
        if (this._done) return this._closedForSending();
      }
      this._sendWindow -= cost;
      this._conn.write({
        kind: Kind.STREAM_DATA,
        id: this.id,
        codec: this._codec,
        flags: at < body.length ? MORE : 0,
        body: chunk,
      });
    } while (at < body.length);
    return true;
  }

  _closedForSending() {
    if (this._error) throw this._error;
    return false;
  }

  /** @internal A frame of this stream from the connection. */
  _onFrame(frame) {
    if (this._done) return; // in flight when we cancelled: expected, ignored (§9)
    switch (frame.kind) {
      case Kind.STREAM_DATA: return this._onData(frame);
      case Kind.STREAM_GAP: {
        if (frame.body.length !== 8) return this._conn.fail(Code.RESOURCE_EXHAUSTED, `STREAM_GAP with a ${frame.body.length}-byte body (must be 8)`);
        if (!this._spend(GAP_COST)) return;
        const count = Number(new DataView(frame.body.buffer, frame.body.byteOffset, 8).getBigUint64(0));
        return this._push({ gap: count, cost: GAP_COST });
      }
      case Kind.STREAM_WINDOW: {
        if (frame.body.length !== 4) return this._conn.fail(Code.RESOURCE_EXHAUSTED, `STREAM_WINDOW with a ${frame.body.length}-byte body (must be 4)`);
        this._sendWindow += new DataView(frame.body.buffer, frame.body.byteOffset, 4).getUint32(0);
        if (this._sendWindow > MAX_WINDOW) return this._conn.fail(Code.RESOURCE_EXHAUSTED, `STREAM_WINDOW grew stream ${this.id}'s window past 2^31 - 1`);
        while (this._creditWaiters.length > 0 && this._creditWaiters[0].cost <= this._sendWindow) {
          this._creditWaiters.shift().resolve();
        }
        return;
      }
      case Kind.STREAM_END:
        if (frame.status === Code.OK) {
          this.trailers = frame.head.metadata;
          return this._finish(null);
        }
        return this._finish(new RpcError(frame.status, frame.head.message ?? '', { details: frame.head.details, metadata: frame.head.metadata }));
      case Kind.RESPONSE:
        // A server that does not know the method as a stream may answer like a unary call.
        return this._finish(new RpcError(frame.status || Code.INTERNAL, frame.head.message ?? 'the server answered a stream with a RESPONSE'));
      default:
        return undefined;
    }
  }

  /** Charges `cost` to the window we granted; a server past it is broken (§13). */
  _spend(cost) {
    this._recvWindow -= cost;
    if (this._recvWindow < 0) {
      this._conn.fail(Code.RESOURCE_EXHAUSTED, `the server sent past stream ${this.id}'s window`);
      return false;
    }
    return true;
  }

  _onData(frame) {
    const cost = frame.body.length + FRAME_COST;
    if (!this._spend(cost)) return;
    if (frame.compression !== 0) {
      // This client accepts no compression and says so by sending no accept-compression field.
      return this._abandon(new RpcError(Code.UNIMPLEMENTED, `the server compressed a stream message with compression ${frame.compression}, which this client did not accept`));
    }
    this._chunks.push(frame.body);
    this._chunkBytes += frame.body.length;
    this._chunkCost += cost;
    if (this._chunkBytes > this._maxBody) {
      return this._abandon(new RpcError(Code.RESOURCE_EXHAUSTED, `a stream message of more than ${this._maxBody} bytes (maxBody)`));
    }
    if (frame.flags & MORE) return undefined;
    const body = this._chunks.length === 1 ? this._chunks[0] : concat(this._chunks, this._chunkBytes);
    const item = { cost: this._chunkCost };
    this._chunks = [];
    this._chunkBytes = 0;
    this._chunkCost = 0;
    try {
      item.value = decodeBody(frame.codec, body);
    } catch (e) {
      return this._abandon(e);
    }
    return this._push(item);
  }

  _push(item) {
    const reader = this._readers.shift();
    if (reader) {
      this._consumed(item);
      reader.resolve(item);
    } else {
      this._queue.push(item);
    }
  }

  /** The reader took `item`: once a quarter window is consumed, grant it back. */
  _consumed(item) {
    if (item.gap !== undefined) {
      this.dropped += item.gap;
      this._onGap?.(item.gap);
    }
    this._ungranted += item.cost;
    if (this._ungranted >= GRANT_AT && !this._done) {
      const body = new Uint8Array(4);
      new DataView(body.buffer).setUint32(0, this._ungranted);
      this._recvWindow += this._ungranted;
      this._ungranted = 0;
      this._conn.write({ kind: Kind.STREAM_WINDOW, id: this.id, body });
    }
  }

  /** The next message: `{ value, done }`, as an async iterator's next(). */
  async next() {
    for (;;) {
      let item = this._queue.shift();
      if (item) {
        this._consumed(item);
      } else if (this._done) {
        if (this._error) throw this._error;
        return { value: undefined, done: true };
      } else {
        item = await new Promise((resolve, reject) => this._readers.push({ resolve, reject }));
        if (item === null) continue; // woken by the end: report it above
      }
      if (item.gap === undefined) return { value: item.value, done: false };
    }
  }

  [Symbol.asyncIterator]() {
    return {
      next: () => this.next(),
      // Leaving a for-await loop early: the caller wants nothing more.
      return: async () => {
        if (!this._done) this.cancel('abandoned by its reader');
        return { value: undefined, done: true };
      },
    };
  }

  /** Ends the call on this side: CANCEL to the server, `error` to readers and senders. */
  _abandon(error) {
    if (this._done) return;
    this._conn.write({ kind: Kind.CANCEL, id: this.id }, { ifOpen: true });
    this._queue = []; // the caller gave up on what was still unread
    this._finish(error);
  }

  /** @internal Ends the call: `null` for success, else the RpcError everyone gets. */
  _finish(error) {
    if (this._done) return;
    this._done = true;
    this._error = error;
    for (const cleanup of this._cleanups) cleanup();
    this._conn.forget(this.id);
    for (const waiter of this._creditWaiters.splice(0)) waiter.resolve();
    for (const reader of this._readers.splice(0)) reader.resolve(null);
  }
}

function concat(chunks, length) {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
