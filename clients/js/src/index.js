// erpc-client: an erpc client for browsers and Node.js over WebSocket (PROTOCOL.md §12.3).
// Types: ../index.d.ts.

export { Client } from './client.js';
export { Code, codeName, RpcError } from './status.js';
export { CodecId, decodeBody, encodeBody } from './codec.js';
export { Stream } from './stream.js';
export {
  decodeFrame,
  decodeHead,
  decodeHeader,
  encodeFrame,
  encodeHead,
  FrameError,
  Kind,
  MORE,
  Tag,
} from './frame.js';
