// Status codes (PROTOCOL.md §7) and the error a failed call rejects with.

/** Status codes by name; the numbers are gRPC's. */
export const Code = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
});

const NAMES = Object.keys(Code).map((k) => k.toLowerCase());

/** The spec's name of a code (`not_found`); codes it does not know are `unknown` (§7). */
export function codeName(code) {
  return NAMES[code] ?? 'unknown';
}

/**
 * A call that ended with a non-zero status: from the server (a RESPONSE or STREAM_END with a
 * status), or from this client (deadline, cancel, connection lost: `unavailable`).
 *
 * Like DOMException, `name` tells the kind of failure (`'not_found'`), so
 * `err.name === 'deadline_exceeded'` reads as it should; `code` is the number.
 */
export class RpcError extends Error {
  /**
   * @param {number} code status code; unknown codes become 2 (`unknown`)
   * @param {string} message for people
   * @param {{details?: Uint8Array, metadata?: Array<[string, Uint8Array]>, cause?: unknown}} [extra]
   */
  constructor(code, message, { details, metadata, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = NAMES[code] === undefined ? Code.UNKNOWN : code;
    this.name = codeName(this.code);
    /** Opaque bytes for programs (status details, tag 06); empty when none. */
    this.details = details ?? new Uint8Array(0);
    /** The failing frame's metadata entries, in order. */
    this.metadata = metadata ?? [];
  }
}
