// Body codecs (PROTOCOL.md §5): how a message becomes a body and back. Structs travel as
// maps keyed by field name in both MessagePack and JSON, so a plain object is the natural
// JavaScript shape; no argument (the unit value) is null.

import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';

import { Code, RpcError } from './status.js';

/** Codec ids. */
export const CodecId = Object.freeze({ RAW: 0x00, MSGPACK: 0x01, JSON: 0x02 });

const BY_NAME = { raw: CodecId.RAW, msgpack: CodecId.MSGPACK, json: CodecId.JSON };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The id of a codec given by name (`'msgpack'`, `'json'`, `'raw'`) or id. */
export function codecId(codec) {
  if (typeof codec === 'number' && Object.values(CodecId).includes(codec)) return codec;
  const id = BY_NAME[codec];
  if (id === undefined) {
    throw new TypeError(`unknown codec ${JSON.stringify(codec)}: use 'msgpack', 'json' or 'raw'`);
  }
  return id;
}

/** Encodes `value` as a body in codec `id`. */
export function encodeBody(id, value) {
  switch (id) {
    case CodecId.MSGPACK:
      // undefined (no argument) travels as nil, like Rust's ().
      return msgpackEncode(value === undefined ? null : value);
    case CodecId.JSON:
      return utf8.encode(JSON.stringify(value === undefined ? null : value));
    case CodecId.RAW:
      if (!(value instanceof Uint8Array)) {
        throw new TypeError('the raw codec sends a Uint8Array as is; got ' + typeof value);
      }
      return value;
    default:
      throw new TypeError(`cannot encode codec ${id}`);
  }
}

/**
 * Decodes a body in the codec its frame names (a client MUST use the frame's codec, §4).
 * A body that does not decode fails the call with `invalid_argument`; a codec this client
 * does not know with `unimplemented`.
 */
export function decodeBody(id, body) {
  try {
    switch (id) {
      case CodecId.MSGPACK:
        return msgpackDecode(body);
      case CodecId.JSON:
        return JSON.parse(fromUtf8.decode(body));
      case CodecId.RAW:
        return body;
      default:
        break;
    }
  } catch (e) {
    throw new RpcError(Code.INVALID_ARGUMENT, `the server's ${CODEC_NAMES[id]} body does not decode: ${e.message}`, { cause: e });
  }
  throw new RpcError(Code.UNIMPLEMENTED, `the server answered in codec ${id}, which this client does not speak (raw, msgpack, json)`);
}

const CODEC_NAMES = { [CodecId.RAW]: 'raw', [CodecId.MSGPACK]: 'MessagePack', [CodecId.JSON]: 'JSON' };
