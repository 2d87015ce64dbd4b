"""Status codes (PROTOCOL.md section 7) and the exception a failed call raises."""

from enum import IntEnum


class Code(IntEnum):
    """Status codes; the numbers are gRPC's."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class RpcError(Exception):
    """A call that ended with a non-zero status, from the server (a RESPONSE or STREAM_END
    with a status) or from this client (deadline, connection lost: ``UNAVAILABLE``).

    ``code`` is a :class:`Code` (a code the client does not know becomes ``UNKNOWN``, as the
    spec says), ``name`` its spec name (``"not_found"``), ``message`` the text for people,
    ``details`` the opaque bytes for programs (``b""`` when none), ``metadata`` the failing
    frame's ``(key, bytes)`` entries.
    """

    def __init__(self, code, message, details=b"", metadata=()):
        try:
            self.code = Code(code)
        except ValueError:
            self.code = Code.UNKNOWN
        self.name = self.code.name.lower()
        self.message = message
        self.details = bytes(details)
        self.metadata = list(metadata)
        super().__init__(f"{self.name}: {message}")
