// One WebSocket connection to an erpc server (PROTOCOL.md §12.3): erpc's byte stream travels
// in binary messages, cut anywhere, so frames are reassembled from a byte buffer. It owns the
// calls in flight on it, answers PINGs, sends its own when the server falls silent (§10) and
// handles GOAWAY and ERROR.

import { decodeHead, decodeHeader, encodeFrame, FrameError, HEADER_LEN, Kind } from './frame.js';
import { Code, RpcError } from './status.js';
import { Stream } from './stream.js';

/** The WebSocket class: the platform's (browsers, Node ≥ 22), else the `ws` package (Node 20). */
export async function webSocketClass(given) {
  if (given) return given;
  if (globalThis.WebSocket) return globalThis.WebSocket;
  const ws = await import('ws');
  return ws.WebSocket ?? ws.default;
}

export class Connection {
  /**
   * Opens a connection to `url`. Rejects with an Error saying why after `connectTimeout` ms.
   * @param {{WebSocket: any, connectTimeout: number, heartbeatInterval: number, heartbeatMisses: number, limits: object, onGoaway: Function}} options
   */
  static async open(url, options) {
    const WS = await webSocketClass(options.WebSocket);
    const ws = new WS(url);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`no WebSocket connection within ${options.connectTimeout} ms`));
      }, options.connectTimeout);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve();
      };
      // Browsers say nothing about why (on purpose); the `ws` package does.
      ws.onerror = (event) => {
        clearTimeout(timer);
        reject(new Error(event?.message || event?.error?.message || 'WebSocket error'));
      };
      ws.onclose = (event) => {
        clearTimeout(timer);
        reject(new Error(`closed during the WebSocket handshake (code ${event.code})`));
      };
    });
    return new Connection(ws, url, options);
  }

  constructor(ws, url, options) {
    this._ws = ws;
    this.url = url;
    this._limits = options.limits;
    this._onGoaway = options.onGoaway;
    this._nextId = 1;
    /** id → { unary: {resolve, reject} } or a Stream. */
    this._calls = new Map();
    this.closed = false;
    /** Set by GOAWAY: running calls finish here, new ones go to a new connection. */
    this.draining = false;

    this._buf = new Uint8Array(64 << 10);
    this._start = 0;
    this._end = 0;
    this._discard = 0;

    ws.onmessage = (event) => this._onMessage(event.data);
    ws.onclose = (event) => this._closed(`the server closed the connection (WebSocket code ${event.code}${event.reason ? `: ${event.reason}` : ''})`);
    ws.onerror = (event) => this._closed(`WebSocket error: ${event?.message || 'connection lost'}`);

    // Heartbeats (§10): any traffic is a sign of life; after `misses` silent intervals the
    // server is taken for dead, so a vanished peer never leaves calls hanging.
    this._heard = false;
    this._silent = 0;
    this._heartbeat = setInterval(() => {
      if (this._heard) {
        this._heard = false;
        this._silent = 0;
        return;
      }
      this._silent += 1;
      if (this._silent >= options.heartbeatMisses) {
        this.close(`no frame from the server in ${this._silent} heartbeat intervals of ${options.heartbeatInterval} ms`);
      } else {
        this.write({ kind: Kind.PING, id: 0 }, { ifOpen: true });
      }
    }, options.heartbeatInterval);
    // A timer must not keep a Node process alive on its own.
    this._heartbeat.unref?.();
  }

  /** Whether new calls may start here. */
  get usable() {
    return !this.closed && !this.draining;
  }

  /** A fresh request id: counts up from 1 (§3). */
  nextId() {
    return this._nextId++;
  }

  describe(id) {
    const call = this._calls.get(id);
    return call?.name ? `${call.name} (id ${id})` : `id ${id}`;
  }

  /**
   * Writes a frame (an object for encodeFrame, or its bytes). Throws `unavailable` when the
   * connection is closed, unless `ifOpen` (best-effort frames: CANCEL, PONG, PING).
   */
  write(frame, { ifOpen = false } = {}) {
    if (this.closed) {
      if (ifOpen) return;
      throw new RpcError(Code.UNAVAILABLE, `connection to ${this.url} is closed`);
    }
    this._ws.send(frame instanceof Uint8Array ? frame : encodeFrame(frame));
  }

  /**
   * Sends a REQUEST (or ONEWAY) already encoded and waits for its RESPONSE.
   * Resolves `{ codec, body, metadata }`; rejects with RpcError.
   */
  unary(id, name, bytes, { timeoutMs, signal }) {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.write({ kind: Kind.CANCEL, id }, { ifOpen: true });
        call.settle(new RpcError(Code.CANCELLED, `${name} cancelled: ${signal.reason ?? 'aborted'}`, { cause: signal.reason }));
      };
      const timer = setTimeout(() => {
        // The server gives up too, but the caller is told now and the server stops at once.
        this.write({ kind: Kind.CANCEL, id }, { ifOpen: true });
        call.settle(new RpcError(Code.DEADLINE_EXCEEDED, `${name}: deadline of ${Math.round(timeoutMs)} ms exceeded`));
      }, timeoutMs);
      const call = {
        name,
        settle: (error, value) => {
          this.forget(id);
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve(value);
        },
      };
      this._calls.set(id, call);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.write(bytes);
      } catch (e) {
        call.settle(e);
      }
    });
  }

  /** Registers a stream whose STREAM_OPEN the caller writes next. */
  stream(id, name, codec, options) {
    const stream = new Stream(this, id, codec, options);
    stream.name = name;
    this._calls.set(id, stream);
    return stream;
  }

  /** @internal A call is over: frames still arriving for it are ignored. */
  forget(id) {
    this._calls.delete(id);
    if (this.draining && this._calls.size === 0) this.close('the server went away (GOAWAY)');
  }

  _onMessage(data) {
    if (typeof data === 'string') {
      // §12.3: a text message is a protocol error.
      return this.fail(Code.INVALID_ARGUMENT, 'the server sent a WebSocket text message (erpc uses binary messages only)');
    }
    this._heard = true;
    let chunk = new Uint8Array(data);
    if (this._discard > 0) {
      const n = Math.min(this._discard, chunk.length);
      this._discard -= n;
      chunk = chunk.subarray(n);
    }
    this._append(chunk);
    try {
      this._drain();
    } catch (e) {
      if (e instanceof FrameError) return this.fail(e.code, `the server's bytes: ${e.message}`);
      throw e;
    }
    return undefined;
  }

  _append(chunk) {
    if (this._end + chunk.length > this._buf.length) {
      const live = this._end - this._start;
      const size = Math.max(this._buf.length, (live + chunk.length) * 2);
      if (size > this._buf.length) {
        const next = new Uint8Array(size);
        next.set(this._buf.subarray(this._start, this._end), 0);
        this._buf = next;
      } else {
        this._buf.copyWithin(0, this._start, this._end);
      }
      this._start = 0;
      this._end = live;
    }
    this._buf.set(chunk, this._end);
    this._end += chunk.length;
  }

  /** Decodes every whole frame in the buffer. */
  _drain() {
    for (;;) {
      if (this.closed) return;
      const bytes = this._buf.subarray(this._start, this._end);
      const header = decodeHeader(bytes);
      if (header === null) return;
      const total = HEADER_LEN + header.headLen + header.bodyLen;
      // Checked before anything is read or allocated for the rest of the frame (§2.1).
      if (header.headLen > this._limits.maxHead || header.bodyLen > this._limits.maxBody) {
        if (total > this._limits.maxDiscard) {
          return this.fail(Code.RESOURCE_EXHAUSTED, `the server sent a frame of ${total} bytes, over the ${this._limits.maxDiscard}-byte discard limit`);
        }
        const what = header.headLen > this._limits.maxHead
          ? `header block of ${header.headLen} bytes exceeds the limit of ${this._limits.maxHead} bytes (maxHead)`
          : `body of ${header.bodyLen} bytes exceeds the limit of ${this._limits.maxBody} bytes (maxBody)`;
        this._failCall(header.id, new RpcError(Code.RESOURCE_EXHAUSTED, `client refused the frame: ${what}`));
        const skip = Math.min(total, bytes.length);
        this._start += skip;
        this._discard = total - skip;
        if (this._discard > 0) {
          this._start = this._end = 0;
          return;
        }
        continue;
      }
      if (bytes.length < total) return;
      const headBytes = bytes.subarray(HEADER_LEN, HEADER_LEN + header.headLen);
      // The body is copied out: the buffer is reused.
      header.body = bytes.slice(HEADER_LEN + header.headLen, total);
      this._start += total;
      if (this._start === this._end) this._start = this._end = 0;
      try {
        header.head = decodeHead(headBytes, this._limits);
      } catch (e) {
        if (!(e instanceof FrameError)) throw e;
        this._failCall(header.id, new RpcError(e.code, `the server's header block: ${e.message}`));
        continue;
      }
      this._dispatch(header);
    }
  }

  _dispatch(frame) {
    switch (frame.kind) {
      case Kind.RESPONSE: {
        const call = this._calls.get(frame.id);
        if (!call) return; // cancelled or timed out: ignored (§3)
        if (call instanceof Stream) return call._onFrame(frame);
        if (frame.status !== Code.OK) {
          return call.settle(new RpcError(frame.status, frame.head.message ?? '', { details: frame.head.details, metadata: frame.head.metadata }));
        }
        if (frame.compression !== 0) {
          return call.settle(new RpcError(Code.UNIMPLEMENTED, `the server compressed the response with compression ${frame.compression}, which this client did not accept (it accepts none)`));
        }
        return call.settle(null, { codec: frame.codec, body: frame.body, metadata: frame.head.metadata });
      }
      case Kind.STREAM_DATA:
      case Kind.STREAM_END:
      case Kind.STREAM_WINDOW:
      case Kind.STREAM_GAP: {
        const call = this._calls.get(frame.id);
        if (call instanceof Stream) call._onFrame(frame);
        return undefined;
      }
      case Kind.PING:
        return this.write({ kind: Kind.PONG, id: frame.id }, { ifOpen: true });
      case Kind.GOAWAY: {
        this.draining = true;
        // Calls above the last accepted id did not run: safe to retry elsewhere (§10).
        for (const id of [...this._calls.keys()]) {
          if (id > frame.id) this._failCall(id, new RpcError(Code.UNAVAILABLE, `the server is going away and did not accept this call: ${frame.head.message ?? ''}`));
        }
        this._onGoaway?.(this);
        if (this._calls.size === 0) this.close('the server went away (GOAWAY) and no call is left');
        return undefined;
      }
      case Kind.ERROR: {
        const message = `the server closed the connection: ${frame.head.message ?? 'ERROR'} (status ${frame.status})`;
        if (frame.id !== 0) this._failCall(frame.id, new RpcError(frame.status, message));
        return this.close(message);
      }
      default:
        return undefined; // PONG, and kinds this client does not know: ignored (§3)
    }
  }

  _failCall(id, error) {
    const call = this._calls.get(id);
    if (!call) return;
    if (call instanceof Stream) call._finish(error);
    else call.settle(error);
  }

  /** Closes the connection over a protocol violation, telling the server why (ERROR). */
  fail(code, message) {
    this.write({ kind: Kind.ERROR, id: 0, status: code, head: { message } }, { ifOpen: true });
    this.close(message);
  }

  /** Closes the connection; every call still on it fails `unavailable` with `reason`. */
  close(reason = 'closed by the client') {
    if (this.closed) return;
    this._ws.close();
    this._closed(reason);
  }

  _closed(reason) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this._heartbeat);
    const calls = [...this._calls.values()];
    this._calls.clear();
    for (const call of calls) {
      const error = new RpcError(Code.UNAVAILABLE, `${reason}; the call's outcome is unknown`);
      if (call instanceof Stream) call._finish(error);
      else call.settle(error);
    }
  }
}
