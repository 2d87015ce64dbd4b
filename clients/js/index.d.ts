// Types of erpc-client (handwritten; the module is plain JavaScript in src/).

/** Status codes (PROTOCOL.md §7); the numbers are gRPC's. */
export declare const Code: Readonly<{
  OK: 0; CANCELLED: 1; UNKNOWN: 2; INVALID_ARGUMENT: 3; DEADLINE_EXCEEDED: 4; NOT_FOUND: 5;
  ALREADY_EXISTS: 6; PERMISSION_DENIED: 7; RESOURCE_EXHAUSTED: 8; FAILED_PRECONDITION: 9;
  ABORTED: 10; OUT_OF_RANGE: 11; UNIMPLEMENTED: 12; INTERNAL: 13; UNAVAILABLE: 14;
  DATA_LOSS: 15; UNAUTHENTICATED: 16;
}>;

/** The spec's name of a code (`'not_found'`); unknown codes are `'unknown'`. */
export declare function codeName(code: number): string;

/** A metadata value: text, or bytes. */
export type MetadataValue = string | Uint8Array;
/** Metadata: an object, a Map or `[key, value]` pairs (keys may repeat; order is kept). */
export type Metadata = Record<string, MetadataValue> | Map<string, MetadataValue> | Array<[string, MetadataValue]>;

/** A call that ended with a non-zero status, from the server or from this client. */
export declare class RpcError extends Error {
  constructor(code: number, message: string, extra?: { details?: Uint8Array; metadata?: Array<[string, Uint8Array]>; cause?: unknown });
  /** The status code (`Code.NOT_FOUND` …). */
  readonly code: number;
  /** The code's name, `'not_found'` (as DOMException names kinds of failure). */
  readonly name: string;
  /** Status details: opaque bytes for programs; empty when none. */
  readonly details: Uint8Array;
  /** Metadata of the frame that carried the failure. */
  readonly metadata: Array<[string, Uint8Array]>;
}

export type CodecName = 'msgpack' | 'json' | 'raw';

export interface CallOptions {
  /** Milliseconds until the call's deadline. Unary default: the client's `timeout`; streams: none unless set. */
  timeout?: number;
  /** Body codec for this call. */
  codec?: CodecName;
  /** Sent after the client's own metadata. */
  metadata?: Metadata;
  /** Aborting sends CANCEL and rejects with `cancelled`. */
  signal?: AbortSignal;
}

export interface StreamOptions extends CallOptions {
  /** Called with the number of messages a pushing server dropped (STREAM_GAP). */
  onGap?: (dropped: number) => void;
}

export interface ClientOptions {
  /** Default codec. Default `'msgpack'`. */
  codec?: CodecName;
  /** Default unary deadline, ms. Default 10,000. */
  timeout?: number;
  /** Default stream deadline, ms. Default none. */
  streamTimeout?: number;
  /** Metadata sent with every call. */
  metadata?: Metadata;
  /** Give up connecting after this long, ms. Default 5,000. */
  connectTimeout?: number;
  /** Heartbeat check interval, ms. Default 15,000. */
  heartbeatInterval?: number;
  /** Silent intervals before the server is taken for dead. Default 3. */
  heartbeatMisses?: number;
  /** First wait after a failed connection attempt, ms (doubles, jittered). Default 100. */
  backoffInitial?: number;
  /** Longest wait between attempts, ms. Default 5,000. */
  backoffMax?: number;
  /** What this client accepts and sends, bytes / entries. */
  limits?: { maxBody?: number; maxHead?: number; maxMetadata?: number; maxDiscard?: number };
  /** A WebSocket constructor. Default: the platform's, else the `ws` package. */
  WebSocket?: unknown;
}

/** A streaming call: send with `send`/`end`, read with `for await`. */
export declare class Stream<Out = unknown, In = unknown> implements AsyncIterable<In> {
  readonly id: number;
  /** Whether the call has ended. */
  readonly finished: boolean;
  /** Messages dropped by a pushing server so far. */
  readonly dropped: number;
  /** Trailing metadata of a successful end. */
  readonly trailers: Array<[string, Uint8Array]>;
  /** Sends one message once the server's window allows; `false` if the server already ended the call successfully. */
  send(message: Out): Promise<boolean>;
  /** No more messages from this side. */
  end(): Promise<boolean>;
  /** Sends CANCEL; readers get `cancelled`. */
  cancel(reason?: string): void;
  next(): Promise<IteratorResult<In, undefined>>;
  [Symbol.asyncIterator](): AsyncIterator<In, undefined>;
}

export declare class Client {
  /** `url`: `ws://host:port/path` or `wss://…`. Connects on the first call. */
  constructor(url: string, options?: ClientOptions);
  readonly url: string;
  call<R = unknown>(service: string, method: string, request?: unknown, options?: CallOptions): Promise<R>;
  oneway(service: string, method: string, request?: unknown, options?: CallOptions): Promise<void>;
  stream<Out = unknown, In = unknown>(service: string, method: string, options?: StreamOptions): Promise<Stream<Out, In>>;
  serverStream<In = unknown>(service: string, method: string, request?: unknown, options?: StreamOptions): Promise<Stream<never, In>>;
  clientStream<R = unknown, Out = unknown>(service: string, method: string, messages: Iterable<Out> | AsyncIterable<Out>, options?: StreamOptions): Promise<R>;
  bidiStream<In = unknown, Out = unknown>(service: string, method: string, messages: Iterable<Out> | AsyncIterable<Out>, options?: StreamOptions): Promise<Stream<Out, In>>;
  /** Closes the connection; later calls fail `unavailable`. */
  close(): void;
}

// The protocol layer, for tools and tests.

export declare const CodecId: Readonly<{ RAW: 0; MSGPACK: 1; JSON: 2 }>;
export declare function encodeBody(codec: number, value: unknown): Uint8Array;
export declare function decodeBody(codec: number, body: Uint8Array): unknown;

export declare const Kind: Readonly<{
  REQUEST: 1; RESPONSE: 2; ONEWAY: 3; CANCEL: 4; PING: 5; PONG: 6; GOAWAY: 7; ERROR: 8;
  STREAM_OPEN: 16; STREAM_DATA: 17; STREAM_END: 18; STREAM_WINDOW: 19; STREAM_GAP: 20;
}>;
export declare const Tag: Readonly<{ SERVICE: 1; METHOD: 2; DEADLINE: 3; METADATA: 4; MESSAGE: 5; DETAILS: 6; ACCEPT_COMPRESSION: 7 }>;
/** STREAM_DATA flag: more chunks of the message follow. */
export declare const MORE: 1;

export interface Head {
  service?: string;
  method?: string;
  /** Microseconds left until the deadline when the frame was written. */
  deadlineMicros?: number;
  metadata?: Array<[string, MetadataValue]>;
  message?: string;
  details?: Uint8Array;
  /** Accept-compression ids: asked first, then accepted. */
  accept?: number[];
}

export interface Header {
  kind: number; flags: number; codec: number; compression: number; status: number;
  /** A number, or a BigInt above 2^53. */
  id: number | bigint;
  headLen: number; bodyLen: number;
}

export interface Frame extends Header {
  head: Head & { metadata: Array<[string, Uint8Array]> };
  body: Uint8Array;
}

export declare class FrameError extends Error {
  /** The status the spec gives this problem. */
  readonly code: number;
}
export declare function encodeHead(head?: Head): Uint8Array;
export declare function decodeHead(bytes: Uint8Array, limits?: { maxMetadata: number }): Head & { metadata: Array<[string, Uint8Array]> };
export declare function decodeHeader(bytes: Uint8Array, offset?: number): Header | null;
export declare function encodeFrame(frame: { kind: number; id?: number | bigint; flags?: number; codec?: number; compression?: number; status?: number; head?: Head | Uint8Array; body?: Uint8Array }): Uint8Array;
export declare function decodeFrame(bytes: Uint8Array, limits?: { maxMetadata: number }): Frame;
