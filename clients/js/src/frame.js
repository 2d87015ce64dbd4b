// erpc frames (PROTOCOL.md §2, §3): a 24-byte header, a tag-length-value header block and a
// body. Pure functions over bytes, no I/O, so the spec's vectors can test them alone.

/** Frame kinds (§3). */
export const Kind = Object.freeze({
  REQUEST: 0x01,
  RESPONSE: 0x02,
  ONEWAY: 0x03,
  CANCEL: 0x04,
  PING: 0x05,
  PONG: 0x06,
  GOAWAY: 0x07,
  ERROR: 0x08,
  STREAM_OPEN: 0x10,
  STREAM_DATA: 0x11,
  STREAM_END: 0x12,
  STREAM_WINDOW: 0x13,
  STREAM_GAP: 0x14,
});

/** Header-block tags (§2.2). */
export const Tag = Object.freeze({
  SERVICE: 0x01,
  METHOD: 0x02,
  DEADLINE: 0x03,
  METADATA: 0x04,
  MESSAGE: 0x05,
  DETAILS: 0x06,
  ACCEPT_COMPRESSION: 0x07,
});

/** STREAM_DATA flag: more chunks of this message follow (§13). */
export const MORE = 0x01;

export const HEADER_LEN = 24;
const MAGIC0 = 0xee;
const MAGIC1 = 0x52;
export const VERSION = 1;

/** The receiver's default limits (§8): checked before a frame's bytes are read. */
export const DEFAULT_LIMITS = Object.freeze({
  maxBody: 4 << 20,
  maxHead: 16 << 10,
  maxMetadata: 64,
  // Larger frames are not worth skipping: the connection is closed.
  maxDiscard: 64 << 20,
});

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A problem with bytes a peer sent, with the status code the spec gives it (§9). */
export class FrameError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'FrameError';
    this.code = code;
  }
}

// Request ids are u64 on the wire; JavaScript numbers are exact up to 2^53, which is where
// our own ids stay. Larger ids (a server's opaque PING ids) stay BigInt so they echo exactly.
function idFromWire(big) {
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/**
 * Reads the fixed header. Returns null when fewer than 24 bytes are available.
 * Throws FrameError for bad magic or an unknown version (the connection must close).
 */
export function decodeHeader(bytes, offset = 0) {
  if (bytes.length - offset < HEADER_LEN) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, HEADER_LEN);
  if (view.getUint8(0) !== MAGIC0 || view.getUint8(1) !== MAGIC1) {
    throw new FrameError(3, 'bad magic: the peer is not speaking erpc');
  }
  const version = view.getUint8(2);
  if (version !== VERSION) {
    throw new FrameError(3, `unsupported protocol version ${version} (this peer speaks ${VERSION})`);
  }
  return {
    kind: view.getUint8(3),
    flags: view.getUint8(4),
    codec: view.getUint8(5),
    compression: view.getUint8(6),
    status: view.getUint8(7),
    id: idFromWire(view.getBigUint64(8)),
    headLen: view.getUint32(16),
    bodyLen: view.getUint32(20),
  };
}

/**
 * Parses a header block (§2.2) into
 * `{ service, method, deadlineMicros, metadata: [key, Uint8Array][], message, details, accept }`.
 * Throws FrameError (invalid_argument, resource_exhausted or unimplemented) for a malformed block.
 */
export function decodeHead(bytes, limits = DEFAULT_LIMITS) {
  const head = { metadata: [] };
  const seen = new Set();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 3) throw new FrameError(3, 'header block: a field header runs past head_len');
    const tag = view.getUint8(at);
    const len = view.getUint16(at + 1);
    const value = bytes.subarray(at + 3, at + 3 + len);
    if (value.length !== len) throw new FrameError(3, `header block: field ${tag} runs past head_len`);
    at += 3 + len;
    if (tag !== Tag.METADATA) {
      if (seen.has(tag)) throw new FrameError(3, `header block: field ${tag} repeats`);
      seen.add(tag);
    }
    switch (tag) {
      case Tag.SERVICE: head.service = text(value, 'service'); break;
      case Tag.METHOD: head.method = text(value, 'method'); break;
      case Tag.DEADLINE:
        if (len !== 8) throw new FrameError(3, `header block: deadline of ${len} bytes (must be 8)`);
        head.deadlineMicros = Number(new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0));
        break;
      case Tag.METADATA: {
        if (head.metadata.length >= limits.maxMetadata) {
          throw new FrameError(8, `more than ${limits.maxMetadata} metadata entries (maxMetadata)`);
        }
        const keyLen = len > 0 ? value[0] : 0;
        if (keyLen === 0 || keyLen + 1 > len) throw new FrameError(3, 'header block: metadata key_len is 0 or longer than its field');
        head.metadata.push([text(value.subarray(1, 1 + keyLen), 'metadata key'), value.slice(1 + keyLen)]);
        break;
      }
      case Tag.MESSAGE: head.message = text(value, 'status message'); break;
      case Tag.DETAILS: head.details = value.slice(); break;
      case Tag.ACCEPT_COMPRESSION:
        if (len < 1 || len > 16) throw new FrameError(3, `header block: accept-compression of ${len} bytes (1 to 16)`);
        head.accept = Array.from(value);
        break;
      default:
        // Unknown tags below 0x80 are skipped: that is how the protocol grows (§11).
        if (tag >= 0x80) throw new FrameError(12, `header block: unknown critical tag ${tag}`);
    }
  }
  return head;
}

function text(bytes, what) {
  try {
    return fromUtf8.decode(bytes);
  } catch {
    throw new FrameError(3, `header block: ${what} is not UTF-8`);
  }
}

/** Encodes a header block, fields in tag order as erpc writes them. */
export function encodeHead(head = {}) {
  const fields = [];
  const push = (tag, value) => {
    if (value.length > 0xffff) throw new FrameError(8, `header field ${tag} of ${value.length} bytes is over 65,535`);
    fields.push(tag, value);
  };
  if (head.service !== undefined) push(Tag.SERVICE, utf8.encode(head.service));
  if (head.method !== undefined) push(Tag.METHOD, utf8.encode(head.method));
  if (head.deadlineMicros !== undefined) {
    const v = new Uint8Array(8);
    new DataView(v.buffer).setBigUint64(0, BigInt(Math.max(0, Math.round(head.deadlineMicros))));
    push(Tag.DEADLINE, v);
  }
  for (const [key, value] of head.metadata ?? []) {
    const k = utf8.encode(key);
    if (k.length < 1 || k.length > 255) throw new FrameError(3, `metadata key ${JSON.stringify(key)} is ${k.length} bytes (1 to 255)`);
    const v = typeof value === 'string' ? utf8.encode(value) : value;
    const entry = new Uint8Array(1 + k.length + v.length);
    entry[0] = k.length;
    entry.set(k, 1);
    entry.set(v, 1 + k.length);
    push(Tag.METADATA, entry);
  }
  if (head.message !== undefined) push(Tag.MESSAGE, utf8.encode(head.message));
  if (head.details !== undefined) push(Tag.DETAILS, head.details);
  if (head.accept !== undefined) push(Tag.ACCEPT_COMPRESSION, Uint8Array.from(head.accept));
  let size = 0;
  for (let i = 1; i < fields.length; i += 2) size += 3 + fields[i].length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (let i = 0; i < fields.length; i += 2) {
    view.setUint8(at, fields[i]);
    view.setUint16(at + 1, fields[i + 1].length);
    out.set(fields[i + 1], at + 3);
    at += 3 + fields[i + 1].length;
  }
  return out;
}

/**
 * Encodes a whole frame. `frame`: `{ kind, id, flags?, codec?, compression?, status?,
 * head?: object for encodeHead | Uint8Array already encoded, body?: Uint8Array }`.
 * Frames carrying no message write codec 01, as erpc does (§2.1).
 */
export function encodeFrame(frame) {
  const head = frame.head instanceof Uint8Array ? frame.head : encodeHead(frame.head);
  const body = frame.body ?? new Uint8Array(0);
  const out = new Uint8Array(HEADER_LEN + head.length + body.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, MAGIC0);
  view.setUint8(1, MAGIC1);
  view.setUint8(2, VERSION);
  view.setUint8(3, frame.kind);
  view.setUint8(4, frame.flags ?? 0);
  view.setUint8(5, frame.codec ?? 1);
  view.setUint8(6, frame.compression ?? 0);
  view.setUint8(7, frame.status ?? 0);
  view.setBigUint64(8, BigInt(frame.id ?? 0));
  view.setUint32(16, head.length);
  view.setUint32(20, body.length);
  out.set(head, HEADER_LEN);
  out.set(body, HEADER_LEN + head.length);
  return out;
}

/** Decodes exactly one whole frame (the header, its parsed header block and its body). */
export function decodeFrame(bytes, limits = DEFAULT_LIMITS) {
  const header = decodeHeader(bytes);
  if (header === null || bytes.length !== HEADER_LEN + header.headLen + header.bodyLen) {
    throw new FrameError(3, `not one whole frame: ${bytes.length} bytes`);
  }
  const head = decodeHead(bytes.subarray(HEADER_LEN, HEADER_LEN + header.headLen), limits);
  return { ...header, head, body: bytes.slice(HEADER_LEN + header.headLen) };
}
